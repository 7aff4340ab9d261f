//! A device's public key as the server keeps it: SPKI DER, its type, and ring's
//! verifier for that type.

use super::{KeyType, check_bits, check_pem_size, pem_der, pem_text};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ring::signature::{
    ECDSA_P256_SHA256_ASN1, ED25519, RSA_PKCS1_2048_8192_SHA256, UnparsedPublicKey,
    VerificationAlgorithm,
};
use rsa::RsaPublicKey;
use rsa::pkcs8::DecodePublicKey;
use rsa::pkcs8::der::Decode;
use rsa::pkcs8::spki::SubjectPublicKeyInfoRef;
use rsa::traits::PublicKeyParts;

/// A device's public key, as the server stores it.
#[derive(Debug, Clone)]
pub struct DevicePublicKey {
    key_type: KeyType,
    spki_der: Vec<u8>,
    verifying: UnparsedPublicKey<Vec<u8>>,
}

impl DevicePublicKey {
    /// Reads an SPKI PEM public key: RSA of 2048–4096 bits, P-256 or Ed25519. Anything
    /// else is refused with a message saying why.
    pub fn from_spki_pem(pem: &str) -> Result<Self, String> {
        check_pem_size(pem).map_err(|e| e.to_string())?;
        let der = pem_der(pem, "PUBLIC KEY")
            .map_err(|e| format!("public_key is not an SPKI PEM key: {e}"))?;
        Self::from_spki_der(der)
    }

    /// Reads an SPKI DER public key (see [`Self::from_spki_pem`]).
    pub fn from_spki_der(der: Vec<u8>) -> Result<Self, String> {
        let spki = SubjectPublicKeyInfoRef::from_der(&der)
            .map_err(|e| format!("public_key is not an SPKI key: {e}"))?;
        let curve = spki.algorithm.parameters_oid().ok();
        let key_type = KeyType::of_algorithm(spki.algorithm.oid, curve).ok_or_else(|| {
            format!(
                "public_key algorithm {} is not supported: RSA, P-256 or Ed25519",
                spki.algorithm.oid
            )
        })?;
        let raw = spki
            .subject_public_key
            .as_bytes()
            .ok_or("public_key bits are not whole bytes")?
            .to_vec();
        let algorithm: &'static dyn VerificationAlgorithm = match key_type {
            KeyType::Rsa => {
                let public = RsaPublicKey::from_public_key_der(&der)
                    .map_err(|e| format!("public_key is not an RSA key: {e}"))?;
                check_bits(public.n().bits())?;
                &RSA_PKCS1_2048_8192_SHA256
            }
            KeyType::P256 => {
                // An uncompressed point; ring checks it is on the curve when verifying.
                if raw.len() != 65 || raw[0] != 4 {
                    return Err("public_key is not an uncompressed P-256 point".into());
                }
                &ECDSA_P256_SHA256_ASN1
            }
            KeyType::Ed25519 => {
                if raw.len() != 32 {
                    return Err("public_key is not a 32-byte Ed25519 key".into());
                }
                &ED25519
            }
        };
        Ok(DevicePublicKey {
            key_type,
            verifying: UnparsedPublicKey::new(algorithm, raw),
            spki_der: der,
        })
    }

    /// The key's type.
    pub fn key_type(&self) -> KeyType {
        self.key_type
    }

    /// The key as SPKI DER (for certificates).
    pub fn spki_der(&self) -> &[u8] {
        &self.spki_der
    }

    /// The key as SPKI PEM.
    pub fn to_spki_pem(&self) -> Result<String, String> {
        pem_text("PUBLIC KEY", &self.spki_der).map_err(|e| e.to_string())
    }

    /// Whether `signature_b64` (standard base64) is this key's signature of `message`.
    pub fn verify(&self, message: &[u8], signature_b64: &str) -> bool {
        let Ok(signature) = STANDARD.decode(signature_b64.trim()) else {
            return false;
        };
        self.verifying.verify(message, &signature).is_ok()
    }

    /// Whether `signature_b64` is this key's signature of `timestamp_ms`.
    pub fn verify_nonce(&self, timestamp_ms: i64, signature_b64: &str) -> bool {
        let message = crate::protocol::NonceHeader::signed_message(timestamp_ms);
        self.verify(message.as_bytes(), signature_b64)
    }
}

impl PartialEq for DevicePublicKey {
    fn eq(&self, other: &Self) -> bool {
        self.spki_der == other.spki_der
    }
}

impl Eq for DevicePublicKey {}
