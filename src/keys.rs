//! RSA device keys and nonce signatures (protocol.md section 4), shared by the client
//! (which signs) and the server (which verifies), so both agree on the exact bytes.

use crate::error::{Error, Result};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ring::signature::{
    RSA_PKCS1_2048_8192_SHA256, RSA_PKCS1_SHA256, RsaKeyPair, UnparsedPublicKey,
};
use rsa::pkcs1::EncodeRsaPublicKey;
use rsa::pkcs8::{
    DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey, LineEnding,
};
use rsa::traits::PublicKeyParts;
use rsa::{RsaPrivateKey, RsaPublicKey};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

/// Size of keys the library generates.
pub const GENERATED_KEY_BITS: usize = 2048;
/// Smallest key the server accepts.
pub const MIN_KEY_BITS: usize = 2048;
/// Largest key the server accepts.
pub const MAX_KEY_BITS: usize = 4096;
/// Longest PEM text accepted, far above a 4096-bit key.
const MAX_PEM_BYTES: usize = 16 * 1024;

/// A device's private key. Never leaves the device.
///
/// Clones share one nonce clock ([`DeviceKey::next_nonce_timestamp`]), so that every
/// copy of a key (the C handle, the device that registered it, other threads) hands out
/// distinct timestamps.
#[derive(Clone)]
pub struct DeviceKey {
    // ring signs (fast, constant time); the rsa crate generates and encodes.
    signing: Arc<RsaKeyPair>,
    private: RsaPrivateKey,
    /// The last timestamp handed out for a nonce. The server accepts each
    /// (device, timestamp) once, and two nonces made in the same millisecond would
    /// otherwise carry the same timestamp: the second would be refused as a replay.
    last_nonce_ms: Arc<AtomicI64>,
}

impl std::fmt::Debug for DeviceKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DeviceKey(<private>)")
    }
}

impl DeviceKey {
    /// Generates an RSA-2048 key from the OS CSPRNG.
    pub fn generate() -> Result<Self> {
        let private = RsaPrivateKey::new(&mut rsa::rand_core::OsRng, GENERATED_KEY_BITS)
            .map_err(|e| Error::Crypto(format!("key generation failed: {e}")))?;
        Self::from_private(private)
    }

    fn from_private(private: RsaPrivateKey) -> Result<Self> {
        let der = private
            .to_pkcs8_der()
            .map_err(|e| Error::Crypto(format!("PKCS#8 encoding failed: {e}")))?;
        let signing = RsaKeyPair::from_pkcs8(der.as_bytes())
            .map_err(|e| Error::Crypto(format!("unusable RSA key: {e}")))?;
        Ok(DeviceKey {
            signing: Arc::new(signing),
            private,
            last_nonce_ms: Arc::new(AtomicI64::new(0)),
        })
    }

    /// The timestamp for a new nonce: the current time, or one past the last timestamp
    /// this key (or any clone of it) handed out, whichever is later. Never the same twice,
    /// even from several threads in one millisecond.
    pub fn next_nonce_timestamp(&self) -> i64 {
        let now = crate::clock::now_ms();
        let mut last = self.last_nonce_ms.load(Ordering::Relaxed);
        loop {
            let next = now.max(last.saturating_add(1));
            match self.last_nonce_ms.compare_exchange_weak(
                last,
                next,
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => return next,
                Err(seen) => last = seen,
            }
        }
    }

    /// Makes `self` continue the nonce clock of `other`: a rotated key signs for the same
    /// device id, whose used timestamps the server remembers whatever key signed them.
    pub(crate) fn sharing_nonce_clock_of(mut self, other: &DeviceKey) -> Self {
        self.last_nonce_ms = Arc::clone(&other.last_nonce_ms);
        self
    }

    /// Whether `self` and `other` are copies of the same key object (cheap identity, not
    /// a comparison of key material).
    pub(crate) fn is_same_key(&self, other: &DeviceKey) -> bool {
        Arc::ptr_eq(&self.signing, &other.signing)
    }

    /// Reads a PKCS#8 PEM private key (`-----BEGIN PRIVATE KEY-----`).
    pub fn from_pkcs8_pem(pem: &str) -> Result<Self> {
        check_pem_size(pem)?;
        let private = RsaPrivateKey::from_pkcs8_pem(pem.trim()).map_err(|e| {
            Error::InvalidArgument(format!("not an RSA PKCS#8 PEM private key: {e}"))
        })?;
        // Exact bit length: size() counts whole bytes, so a 2041–2047-bit modulus would
        // pass as 2048 here and then be refused by ring when signing.
        check_bits(private.n().bits()).map_err(Error::InvalidArgument)?;
        Self::from_private(private)
    }

    /// The key as PKCS#8 PEM, for the device's save file.
    pub fn to_pkcs8_pem(&self) -> Result<String> {
        self.private
            .to_pkcs8_pem(LineEnding::LF)
            .map(|pem| pem.to_string())
            .map_err(|e| Error::Crypto(format!("PEM encoding failed: {e}")))
    }

    /// The public half, as SPKI PEM (`-----BEGIN PUBLIC KEY-----`).
    pub fn public_pem(&self) -> Result<String> {
        self.private
            .to_public_key()
            .to_public_key_pem(LineEnding::LF)
            .map_err(|e| Error::Crypto(format!("PEM encoding failed: {e}")))
    }

    /// Standard base64 (padded) RSASSA-PKCS1-v1_5/SHA-256 signature of the ASCII decimal
    /// `timestamp_ms`. Deterministic (the randomness only blinds the computation). A
    /// negative timestamp is refused: the protocol's decimal form has digits only.
    pub fn sign_nonce(&self, timestamp_ms: i64) -> Result<String> {
        if timestamp_ms < 0 {
            return Err(Error::InvalidArgument(format!(
                "timestamp_ms {timestamp_ms} is negative"
            )));
        }
        let message = crate::protocol::NonceHeader::signed_message(timestamp_ms);
        let mut signature = vec![0u8; self.signing.public().modulus_len()];
        self.signing
            .sign(
                &RSA_PKCS1_SHA256,
                &ring::rand::SystemRandom::new(),
                message.as_bytes(),
                &mut signature,
            )
            .map_err(|_| Error::Crypto("RSA signing failed".into()))?;
        Ok(STANDARD.encode(signature))
    }
}

/// A device's public key, as the server stores it.
#[derive(Debug, Clone)]
pub struct DevicePublicKey {
    // PKCS#1 DER, the form ring verifies with.
    verifying: UnparsedPublicKey<Vec<u8>>,
    public: RsaPublicKey,
}

impl DevicePublicKey {
    /// Reads an SPKI PEM public key of 2048–4096 bits; anything else is refused.
    pub fn from_spki_pem(pem: &str) -> std::result::Result<Self, String> {
        check_pem_size(pem).map_err(|e| e.to_string())?;
        let public = RsaPublicKey::from_public_key_pem(pem.trim())
            .map_err(|e| format!("public_key is not an RSA SPKI PEM key: {e}"))?;
        check_bits(public.n().bits())?;
        let der = public
            .to_pkcs1_der()
            .map_err(|e| format!("public_key cannot be encoded: {e}"))?;
        Ok(DevicePublicKey {
            verifying: UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, der.into_vec()),
            public,
        })
    }

    /// The key as SPKI PEM.
    pub fn to_spki_pem(&self) -> std::result::Result<String, String> {
        self.public
            .to_public_key_pem(LineEnding::LF)
            .map_err(|e| e.to_string())
    }

    /// The underlying RSA key (for certificates).
    pub fn rsa(&self) -> &RsaPublicKey {
        &self.public
    }

    /// Whether `signature_b64` is this key's signature of `timestamp_ms`.
    pub fn verify_nonce(&self, timestamp_ms: i64, signature_b64: &str) -> bool {
        let Ok(signature) = STANDARD.decode(signature_b64.trim()) else {
            return false;
        };
        let message = crate::protocol::NonceHeader::signed_message(timestamp_ms);
        self.verifying
            .verify(message.as_bytes(), &signature)
            .is_ok()
    }
}

impl PartialEq for DevicePublicKey {
    fn eq(&self, other: &Self) -> bool {
        self.public == other.public
    }
}

impl Eq for DevicePublicKey {}

fn check_pem_size(pem: &str) -> Result<()> {
    if pem.trim().is_empty() {
        return Err(Error::InvalidArgument("PEM text is empty".into()));
    }
    if pem.len() > MAX_PEM_BYTES {
        return Err(Error::InvalidArgument(format!(
            "PEM text is {} bytes, more than any supported key",
            pem.len()
        )));
    }
    Ok(())
}

fn check_bits(bits: usize) -> std::result::Result<(), String> {
    if (MIN_KEY_BITS..=MAX_KEY_BITS).contains(&bits) {
        Ok(())
    } else {
        Err(format!(
            "RSA key of {bits} bits; {MIN_KEY_BITS}–{MAX_KEY_BITS} are accepted"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn vector_key() -> DeviceKey {
        let vector = include_str!("../tests/vectors/nonce-rsa2048.json");
        let v: serde_json::Value = serde_json::from_str(vector).unwrap_or_else(|e| panic!("{e}"));
        let pem = v["private_key_pkcs8_pem"].as_str().unwrap_or_default();
        DeviceKey::from_pkcs8_pem(pem).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn nonce_timestamps_in_a_tight_loop_are_distinct_and_increasing() {
        let key = vector_key();
        let before = crate::clock::now_ms();
        let stamps: Vec<i64> = (0..10_000).map(|_| key.next_nonce_timestamp()).collect();
        assert!(stamps.windows(2).all(|w| w[0] < w[1]));
        assert!(stamps[0] >= before);
    }

    #[test]
    fn nonce_timestamps_from_eight_threads_sharing_clones_are_distinct() {
        let key = vector_key();
        let stamps: Vec<i64> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..8)
                .map(|_| {
                    let key = key.clone();
                    scope.spawn(move || {
                        (0..2_000)
                            .map(|_| key.next_nonce_timestamp())
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            handles
                .into_iter()
                .flat_map(|h| h.join().unwrap_or_else(|_| panic!("thread panicked")))
                .collect()
        });
        let distinct: HashSet<i64> = stamps.iter().copied().collect();
        assert_eq!(distinct.len(), stamps.len());
    }

    #[test]
    fn a_rotated_key_continues_the_old_keys_clock() {
        let old = vector_key();
        let last = old.next_nonce_timestamp() + 1_000;
        old.last_nonce_ms.store(last, Ordering::SeqCst);
        let new = vector_key().sharing_nonce_clock_of(&old);
        assert!(new.next_nonce_timestamp() > last);
    }

    #[test]
    fn keys_a_few_bits_short_of_2048_are_refused() {
        let private =
            RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2047).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(private.n().bits(), 2047);
        assert_eq!(private.size() * 8, 2048, "the byte count rounds up");
        let pem = private
            .to_pkcs8_pem(LineEnding::LF)
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(
            DeviceKey::from_pkcs8_pem(&pem),
            Err(Error::InvalidArgument(m)) if m.contains("2047 bits")
        ));
        let public = private
            .to_public_key()
            .to_public_key_pem(LineEnding::LF)
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(
            DevicePublicKey::from_spki_pem(&public),
            Err(m) if m.contains("2047 bits")
        ));
    }
}
