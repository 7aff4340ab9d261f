//! A device's private key: generated on the device, never sent anywhere.

use super::{KeyType, check_bits, check_pem_size, pem_der, pem_text};
use crate::error::{Error, Result};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ring::rand::SystemRandom;
use ring::signature::{
    ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RSA_PKCS1_SHA256,
    RsaKeyPair,
};
use rsa::RsaPrivateKey;
use rsa::pkcs8::der::Decode;
use rsa::pkcs8::{DecodePrivateKey, EncodePrivateKey, EncodePublicKey, LineEnding, PrivateKeyInfo};
use rsa::traits::PublicKeyParts;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

/// SPKI DER of a P-256 key, up to the 65-byte uncompressed point.
const P256_SPKI_PREFIX: &[u8] = &[
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
    0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];
/// SPKI DER of an Ed25519 key, up to the 32-byte public key.
const ED25519_SPKI_PREFIX: &[u8] = &[
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];

/// The key material, by type. ring signs (fast, constant time); for RSA the rsa crate
/// keeps the key for encoding, for the others the PKCS#8 document is kept as read.
// Sizes differ, but each key is allocated once behind an Arc: boxing would only add an
// indirection.
#[allow(clippy::large_enum_variant)]
enum Pair {
    Rsa {
        signing: RsaKeyPair,
        private: RsaPrivateKey,
    },
    P256 {
        signing: EcdsaKeyPair,
        pkcs8: Vec<u8>,
    },
    Ed25519 {
        signing: Ed25519KeyPair,
        pkcs8: Vec<u8>,
    },
}

/// A device's private key. Never leaves the device.
///
/// Clones share one nonce clock ([`DeviceKey::next_nonce_timestamp`]), so that every
/// copy of a key (the C handle, the device that registered it, other threads) hands out
/// distinct timestamps.
#[derive(Clone)]
pub struct DeviceKey {
    pair: Arc<Pair>,
    /// The last timestamp handed out for a nonce. The server accepts each
    /// (device, timestamp) once, and two nonces made in the same millisecond would
    /// otherwise carry the same timestamp: the second would be refused as a replay.
    last_nonce_ms: Arc<AtomicI64>,
}

impl std::fmt::Debug for DeviceKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DeviceKey({}, <private>)", self.key_type())
    }
}

fn crypto(what: &str) -> impl Fn(ring::error::Unspecified) -> Error + '_ {
    move |_| Error::Crypto(what.to_string())
}

impl DeviceKey {
    /// Generates an RSA-2048 key from the OS CSPRNG (the 0.1 default).
    pub fn generate() -> Result<Self> {
        Self::generate_type(KeyType::Rsa)
    }

    /// Generates a key of `key_type` from the OS CSPRNG. P-256 and Ed25519 take
    /// microseconds; RSA up to seconds on a phone.
    pub fn generate_type(key_type: KeyType) -> Result<Self> {
        let rng = SystemRandom::new();
        match key_type {
            KeyType::Rsa => {
                let private =
                    RsaPrivateKey::new(&mut rsa::rand_core::OsRng, super::GENERATED_KEY_BITS)
                        .map_err(|e| Error::Crypto(format!("key generation failed: {e}")))?;
                Self::from_rsa(private)
            }
            KeyType::P256 => {
                let doc = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng)
                    .map_err(crypto("P-256 key generation failed"))?;
                Self::from_p256(doc.as_ref().to_vec())
            }
            KeyType::Ed25519 => {
                let doc = Ed25519KeyPair::generate_pkcs8(&rng)
                    .map_err(crypto("Ed25519 key generation failed"))?;
                Self::from_ed25519(doc.as_ref().to_vec())
            }
        }
    }

    fn new(pair: Pair) -> Self {
        DeviceKey {
            pair: Arc::new(pair),
            last_nonce_ms: Arc::new(AtomicI64::new(0)),
        }
    }

    fn from_rsa(private: RsaPrivateKey) -> Result<Self> {
        let der = private
            .to_pkcs8_der()
            .map_err(|e| Error::Crypto(format!("PKCS#8 encoding failed: {e}")))?;
        let signing = RsaKeyPair::from_pkcs8(der.as_bytes())
            .map_err(|e| Error::Crypto(format!("unusable RSA key: {e}")))?;
        Ok(Self::new(Pair::Rsa { signing, private }))
    }

    fn from_p256(pkcs8: Vec<u8>) -> Result<Self> {
        let signing = EcdsaKeyPair::from_pkcs8(
            &ECDSA_P256_SHA256_ASN1_SIGNING,
            &pkcs8,
            &SystemRandom::new(),
        )
        .map_err(|e| Error::InvalidArgument(format!("unusable P-256 key: {e}")))?;
        Ok(Self::new(Pair::P256 { signing, pkcs8 }))
    }

    fn from_ed25519(pkcs8: Vec<u8>) -> Result<Self> {
        // OpenSSL writes PKCS#8 v1 (no public key), ring v2: both are read.
        let signing = Ed25519KeyPair::from_pkcs8_maybe_unchecked(&pkcs8)
            .map_err(|e| Error::InvalidArgument(format!("unusable Ed25519 key: {e}")))?;
        Ok(Self::new(Pair::Ed25519 { signing, pkcs8 }))
    }

    /// The key's type.
    pub fn key_type(&self) -> KeyType {
        match *self.pair {
            Pair::Rsa { .. } => KeyType::Rsa,
            Pair::P256 { .. } => KeyType::P256,
            Pair::Ed25519 { .. } => KeyType::Ed25519,
        }
    }

    /// The timestamp for a new nonce: the current time, or one past the last timestamp
    /// this key (or any clone of it) handed out, whichever is later. Never the same twice,
    /// even from several threads in one millisecond.
    pub fn next_nonce_timestamp(&self) -> i64 {
        self.next_nonce_timestamp_at(crate::clock::now_ms())
    }

    /// [`Self::next_nonce_timestamp`] with `now` the server's time as far as the device
    /// knows it (its clock corrected by the learned offset). A last timestamp more than
    /// the nonce window ahead of `now` was signed by a clock running fast, so the server
    /// refused it: the clock goes back to `now` rather than keep signing in the future.
    pub fn next_nonce_timestamp_at(&self, now: i64) -> i64 {
        let mut last = self.last_nonce_ms.load(Ordering::Relaxed);
        loop {
            let next = if last > now.saturating_add(crate::protocol::NONCE_WINDOW_MS) {
                now
            } else {
                now.max(last.saturating_add(1))
            };
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

    /// The last timestamp handed out for a nonce (0 if none), for a device's save file.
    pub(crate) fn last_nonce_timestamp(&self) -> i64 {
        self.last_nonce_ms.load(Ordering::Acquire)
    }

    /// Moves the nonce clock to at least `ms`: a device restored from its save file must
    /// not sign a timestamp its earlier copy used, which the server refuses as a replay.
    pub(crate) fn continue_nonce_clock_from(&self, ms: i64) {
        self.last_nonce_ms.fetch_max(ms, Ordering::AcqRel);
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
        Arc::ptr_eq(&self.pair, &other.pair)
    }

    /// Reads a PKCS#8 PEM private key (`-----BEGIN PRIVATE KEY-----`) of any of the
    /// three types.
    pub fn from_pkcs8_pem(pem: &str) -> Result<Self> {
        check_pem_size(pem)?;
        let der = pem_der(pem, "PRIVATE KEY")
            .map_err(|e| Error::InvalidArgument(format!("not a PKCS#8 PEM private key: {e}")))?;
        let info = PrivateKeyInfo::from_der(&der)
            .map_err(|e| Error::InvalidArgument(format!("not a PKCS#8 private key: {e}")))?;
        let curve = info.algorithm.parameters_oid().ok();
        match KeyType::of_algorithm(info.algorithm.oid, curve) {
            Some(KeyType::Rsa) => {
                let private = RsaPrivateKey::from_pkcs8_der(&der).map_err(|e| {
                    Error::InvalidArgument(format!("not an RSA PKCS#8 private key: {e}"))
                })?;
                // Exact bit length: size() counts whole bytes, so a 2041–2047-bit modulus
                // would pass as 2048 here and then be refused by ring when signing.
                check_bits(private.n().bits()).map_err(Error::InvalidArgument)?;
                Self::from_rsa(private)
            }
            Some(KeyType::P256) => Self::from_p256(der),
            Some(KeyType::Ed25519) => Self::from_ed25519(der),
            None => Err(Error::InvalidArgument(format!(
                "private key algorithm {} is not supported: RSA, P-256 or Ed25519",
                info.algorithm.oid
            ))),
        }
    }

    /// The key as PKCS#8 PEM, for the device's save file.
    pub fn to_pkcs8_pem(&self) -> Result<String> {
        match &*self.pair {
            Pair::Rsa { private, .. } => private
                .to_pkcs8_pem(LineEnding::LF)
                .map(|pem| pem.to_string())
                .map_err(|e| Error::Crypto(format!("PEM encoding failed: {e}"))),
            Pair::P256 { pkcs8, .. } | Pair::Ed25519 { pkcs8, .. } => {
                pem_text("PRIVATE KEY", pkcs8)
            }
        }
    }

    /// The public half as SPKI DER.
    pub fn public_der(&self) -> Result<Vec<u8>> {
        match &*self.pair {
            Pair::Rsa { private, .. } => private
                .to_public_key()
                .to_public_key_der()
                .map(|der| der.into_vec())
                .map_err(|e| Error::Crypto(format!("SPKI encoding failed: {e}"))),
            Pair::P256 { signing, .. } => {
                Ok([P256_SPKI_PREFIX, signing.public_key().as_ref()].concat())
            }
            Pair::Ed25519 { signing, .. } => {
                Ok([ED25519_SPKI_PREFIX, signing.public_key().as_ref()].concat())
            }
        }
    }

    /// The public half, as SPKI PEM (`-----BEGIN PUBLIC KEY-----`).
    pub fn public_pem(&self) -> Result<String> {
        pem_text("PUBLIC KEY", &self.public_der()?)
    }

    /// The key's signature of `message` with its type's algorithm: deterministic for RSA
    /// and Ed25519, randomised for ECDSA.
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>> {
        let rng = SystemRandom::new();
        match &*self.pair {
            Pair::Rsa { signing, .. } => {
                let mut signature = vec![0u8; signing.public().modulus_len()];
                signing
                    .sign(&RSA_PKCS1_SHA256, &rng, message, &mut signature)
                    .map_err(crypto("RSA signing failed"))?;
                Ok(signature)
            }
            Pair::P256 { signing, .. } => signing
                .sign(&rng, message)
                .map(|s| s.as_ref().to_vec())
                .map_err(crypto("ECDSA signing failed")),
            Pair::Ed25519 { signing, .. } => Ok(signing.sign(message).as_ref().to_vec()),
        }
    }

    /// Standard base64 (padded) signature of the ASCII decimal `timestamp_ms`. A negative
    /// timestamp is refused: the protocol's decimal form has digits only.
    pub fn sign_nonce(&self, timestamp_ms: i64) -> Result<String> {
        if timestamp_ms < 0 {
            return Err(Error::InvalidArgument(format!(
                "timestamp_ms {timestamp_ms} is negative"
            )));
        }
        let message = crate::protocol::NonceHeader::signed_message(timestamp_ms);
        Ok(STANDARD.encode(self.sign(message.as_bytes())?))
    }

    /// Standard base64 signature of `message` (proofs of possession).
    pub fn sign_base64(&self, message: &str) -> Result<String> {
        Ok(STANDARD.encode(self.sign(message.as_bytes())?))
    }

    /// Sets the nonce clock (tests of the clock's sharing).
    #[cfg(test)]
    pub(super) fn set_last_nonce_ms(&self, ms: i64) {
        self.last_nonce_ms.store(ms, Ordering::SeqCst);
    }
}
