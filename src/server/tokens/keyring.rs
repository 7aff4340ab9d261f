//! The Ed25519 keys that sign access tokens, shared by every instance through the store.
//!
//! The newest unretired key signs. It is replaced once it is `rotate_every` old (by
//! whichever instance notices first; the store lets one win), and a replaced key stays
//! published until every token it can have signed has expired. Each instance caches the
//! keys and reads them again every [`REFRESH_MS`], so a key created by another instance
//! is seen within that time (and at once when a token names an unknown `kid`).

use super::random_bytes;
use crate::server::store::{SigningKeyRecord, Store, StoreResult};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ring::signature::{Ed25519KeyPair, KeyPair};
use std::sync::{Arc, RwLock};

/// How often an instance reads the keys again, ms.
pub const REFRESH_MS: i64 = 60_000;
/// Least time between two reads forced by unknown key ids, ms: a stream of made-up `kid`s
/// must not turn into a stream of database reads.
const FORCED_REFRESH_MS: i64 = 1_000;

/// One signing key.
pub struct SigningKey {
    /// Its id, the JWT header's `kid`.
    pub kid: String,
    pair: Ed25519KeyPair,
    /// UNIX ms.
    pub created_at: i64,
    /// When a newer key replaced it, UNIX ms.
    pub retired_at: Option<i64>,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SigningKey({}, <private>)", self.kid)
    }
}

impl SigningKey {
    fn from_record(record: &SigningKeyRecord) -> Option<Self> {
        let der = STANDARD.decode(&record.private_key).ok()?;
        let pair = Ed25519KeyPair::from_pkcs8_maybe_unchecked(&der).ok()?;
        Some(SigningKey {
            kid: record.kid.clone(),
            pair,
            created_at: record.created_at,
            retired_at: record.retired_at,
        })
    }

    /// The raw 32-byte public key.
    pub fn public_key(&self) -> &[u8] {
        self.pair.public_key().as_ref()
    }

    /// The Ed25519 signature of `message`.
    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        self.pair.sign(message).as_ref().to_vec()
    }

    /// The key as a JWK (RFC 7517, RFC 8037).
    pub fn jwk(&self) -> serde_json::Value {
        serde_json::json!({
            "kty": "OKP",
            "crv": "Ed25519",
            "x": URL_SAFE_NO_PAD.encode(self.public_key()),
            "kid": self.kid,
            "use": "sig",
            "alg": super::jwt::ALG,
        })
    }
}

struct Cached {
    fetched_at: i64,
    /// Newest first.
    keys: Vec<Arc<SigningKey>>,
}

/// The signing keys as this instance last read them.
#[derive(Default)]
pub struct Keyring {
    cached: RwLock<Option<Cached>>,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Keyring(..)")
    }
}

/// How long keys live: rotation age and how long tokens they sign live.
#[derive(Debug, Clone, Copy)]
pub struct Lifetimes {
    /// A key older than this (ms) is replaced.
    pub rotate_every_ms: i64,
    /// Access-token lifetime, ms.
    pub token_ttl_ms: i64,
}

impl Lifetimes {
    /// Until when (UNIX ms) a key retired at `retired_at` must stay published: its last
    /// tokens may have been signed by an instance that had not yet seen the rotation.
    fn published_until(&self, retired_at: i64) -> i64 {
        retired_at
            .saturating_add(self.token_ttl_ms)
            .saturating_add(2 * REFRESH_MS)
    }
}

impl Keyring {
    fn read(&self) -> Option<(i64, Vec<Arc<SigningKey>>)> {
        let cached = self.cached.read().unwrap_or_else(|e| e.into_inner());
        cached.as_ref().map(|c| (c.fetched_at, c.keys.clone()))
    }

    async fn refresh(&self, store: &Store, now: i64) -> StoreResult<Vec<Arc<SigningKey>>> {
        let keys: Vec<Arc<SigningKey>> = store
            .signing_keys()
            .await?
            .iter()
            .filter_map(SigningKey::from_record)
            .map(Arc::new)
            .collect();
        let mut cached = self.cached.write().unwrap_or_else(|e| e.into_inner());
        *cached = Some(Cached {
            fetched_at: now,
            keys: keys.clone(),
        });
        Ok(keys)
    }

    async fn keys(&self, store: &Store, now: i64) -> StoreResult<Vec<Arc<SigningKey>>> {
        match self.read() {
            Some((fetched_at, keys)) if now.saturating_sub(fetched_at) < REFRESH_MS => Ok(keys),
            _ => self.refresh(store, now).await,
        }
    }

    /// The key to sign with now, rotating first when the newest is too old (or there is
    /// none yet).
    pub async fn current(
        &self,
        store: &Store,
        now: i64,
        lifetimes: Lifetimes,
    ) -> StoreResult<Arc<SigningKey>> {
        let rotate_before = now.saturating_sub(lifetimes.rotate_every_ms);
        let keys = self.keys(store, now).await?;
        if let Some(key) = keys.iter().find(|k| k.retired_at.is_none())
            && key.created_at >= rotate_before
        {
            return Ok(key.clone());
        }
        let record = new_record(now).ok_or_else(|| {
            crate::server::store::StoreError::Unavailable(
                "the OS random generator failed to make a signing key".into(),
            )
        })?;
        let forget_before = now
            .saturating_sub(lifetimes.token_ttl_ms)
            .saturating_sub(2 * REFRESH_MS);
        store
            .rotate_signing_key(&record, rotate_before, forget_before)
            .await?;
        let keys = self.refresh(store, now).await?;
        keys.into_iter()
            .find(|k| k.retired_at.is_none())
            .ok_or_else(|| {
                crate::server::store::StoreError::Corrupt("no usable signing key stored".into())
            })
    }

    /// The key named `kid`, reading the store again (at most once a second) when it is
    /// not cached: another instance may have just created it.
    pub async fn find(
        &self,
        store: &Store,
        kid: &str,
        now: i64,
    ) -> StoreResult<Option<Arc<SigningKey>>> {
        let keys = self.keys(store, now).await?;
        if let Some(key) = keys.iter().find(|k| k.kid == kid) {
            return Ok(Some(key.clone()));
        }
        let recently = self
            .read()
            .is_some_and(|(at, _)| now.saturating_sub(at) < FORCED_REFRESH_MS);
        if recently {
            return Ok(None);
        }
        let keys = self.refresh(store, now).await?;
        Ok(keys.into_iter().find(|k| k.kid == kid))
    }

    /// The JWKS document: every key that signs or may still have signed unexpired tokens.
    pub async fn jwks(
        &self,
        store: &Store,
        now: i64,
        lifetimes: Lifetimes,
    ) -> StoreResult<serde_json::Value> {
        // Makes sure a key exists, so the first verifier does not see an empty set.
        self.current(store, now, lifetimes).await?;
        let keys = self.keys(store, now).await?;
        let published: Vec<serde_json::Value> = keys
            .iter()
            .filter(|k| {
                k.retired_at
                    .is_none_or(|at| lifetimes.published_until(at) > now)
            })
            .map(|k| k.jwk())
            .collect();
        Ok(serde_json::json!({ "keys": published }))
    }
}

/// A fresh Ed25519 key, as the store keeps it. The kid is random, so that instances
/// rotating at the same moment cannot collide.
fn new_record(now: i64) -> Option<SigningKeyRecord> {
    let doc = Ed25519KeyPair::generate_pkcs8(&ring::rand::SystemRandom::new()).ok()?;
    Some(SigningKeyRecord {
        kid: URL_SAFE_NO_PAD.encode(random_bytes::<12>()),
        private_key: STANDARD.encode(doc.as_ref()),
        created_at: now,
        retired_at: None,
    })
}
