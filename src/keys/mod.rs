//! Device keys and their signatures (protocol.md section 4), shared by the client (which
//! signs) and the server (which verifies), so both agree on the exact bytes. Three key
//! types: RSA 2048–4096 (PKCS#1 v1.5, SHA-256), ECDSA P-256 (SHA-256, DER signatures) and
//! Ed25519; ring signs and verifies all three, the rsa crate generates and encodes RSA.

mod private;
mod public;

pub use private::DeviceKey;
pub use public::DevicePublicKey;

use crate::error::{Error, Result};
use rsa::pkcs8::ObjectIdentifier;
use rsa::pkcs8::der::pem::{self, LineEnding};

/// Size of RSA keys the library generates.
pub const GENERATED_KEY_BITS: usize = 2048;
/// Smallest RSA key the server accepts.
pub const MIN_KEY_BITS: usize = 2048;
/// Largest RSA key the server accepts.
pub const MAX_KEY_BITS: usize = 4096;
/// Longest PEM text accepted, far above a 4096-bit key.
const MAX_PEM_BYTES: usize = 16 * 1024;

/// rsaEncryption.
const OID_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
/// id-ecPublicKey.
const OID_EC: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
/// prime256v1 (P-256), the only curve accepted with id-ecPublicKey.
const OID_P256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
/// id-Ed25519.
const OID_ED25519: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");

/// The kinds of device key, told apart by the algorithm of their SPKI or PKCS#8.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyType {
    /// RSA 2048–4096 bits, RSASSA-PKCS1-v1_5 with SHA-256.
    Rsa,
    /// ECDSA on P-256 with SHA-256, signatures DER-encoded.
    P256,
    /// Ed25519 (RFC 8032).
    Ed25519,
}

impl KeyType {
    /// The name the protocol uses (`key_type` in device lists).
    pub fn as_str(self) -> &'static str {
        match self {
            KeyType::Rsa => "rsa",
            KeyType::P256 => "p256",
            KeyType::Ed25519 => "ed25519",
        }
    }

    /// The type of an algorithm identifier, if it is one of the three.
    fn of_algorithm(oid: ObjectIdentifier, curve: Option<ObjectIdentifier>) -> Option<Self> {
        match oid {
            o if o == OID_RSA => Some(KeyType::Rsa),
            o if o == OID_EC && curve == Some(OID_P256) => Some(KeyType::P256),
            o if o == OID_ED25519 => Some(KeyType::Ed25519),
            _ => None,
        }
    }
}

impl std::fmt::Display for KeyType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The message a new key signs to prove it is held by the enrolling device.
pub fn enrollment_proof_message(challenge_id: &crate::protocol::Uuid) -> String {
    format!("dashauth-enroll:{challenge_id}")
}

/// The message a rotated-in key signs to prove it is held by the device.
pub fn rotation_proof_message(device_id: &crate::protocol::Uuid) -> String {
    format!("dashauth-rotate:{device_id}")
}

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

/// The DER inside a PEM text with the given label.
fn pem_der(text: &str, label: &str) -> std::result::Result<Vec<u8>, String> {
    let (found, der) = pem::decode_vec(text.trim().as_bytes()).map_err(|e| format!("{e}"))?;
    if found != label {
        return Err(format!("PEM label is {found:?}, expected {label:?}"));
    }
    Ok(der)
}

fn pem_text(label: &str, der: &[u8]) -> Result<String> {
    pem::encode_string(label, LineEnding::LF, der)
        .map_err(|e| Error::Crypto(format!("PEM encoding failed: {e}")))
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
mod tests;
