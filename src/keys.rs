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

/// Size of keys the library generates.
pub const GENERATED_KEY_BITS: usize = 2048;
/// Smallest key the server accepts.
pub const MIN_KEY_BITS: usize = 2048;
/// Largest key the server accepts.
pub const MAX_KEY_BITS: usize = 4096;
/// Longest PEM text accepted, far above a 4096-bit key.
const MAX_PEM_BYTES: usize = 16 * 1024;

/// A device's private key. Never leaves the device.
#[derive(Clone)]
pub struct DeviceKey {
    // ring signs (fast, constant time); the rsa crate generates and encodes.
    signing: Arc<RsaKeyPair>,
    private: RsaPrivateKey,
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
        })
    }

    /// Reads a PKCS#8 PEM private key (`-----BEGIN PRIVATE KEY-----`).
    pub fn from_pkcs8_pem(pem: &str) -> Result<Self> {
        check_pem_size(pem)?;
        let private = RsaPrivateKey::from_pkcs8_pem(pem.trim()).map_err(|e| {
            Error::InvalidArgument(format!("not an RSA PKCS#8 PEM private key: {e}"))
        })?;
        check_bits(private.size() * 8).map_err(Error::InvalidArgument)?;
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
        check_bits(public.size() * 8)?;
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
