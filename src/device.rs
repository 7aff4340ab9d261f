//! A registered device (protocol.md section 4): its id, certificate and private key, the
//! nonces it signs, rotation before the certificate expires, and the text a mod stores in
//! its save directory to keep the device across launches.

use crate::client::{Client, Token};
use crate::error::{Error, Result};
use crate::keys::DeviceKey;
use crate::protocol::{
    self, DeviceCertificate, HandshakeRequest, MeData, NonceHeader, RotateRequest, SessionData,
    Uuid, truncate,
};
use serde::{Deserialize, Serialize};

/// Version of the JSON save format written by [`Device::to_json`].
pub const SAVE_FORMAT_VERSION: u32 = 1;
/// Longest save text accepted by [`Device::from_json`].
pub const MAX_SAVE_BYTES: usize = 64 * 1024;
/// Longest certificate PEM accepted from a server.
const MAX_CERT_BYTES: usize = 16 * 1024;

/// The `Authorization` value `Nonce <device_id> <timestamp_ms> <signature>` for `key`.
pub fn nonce_header(key: &DeviceKey, device_id: Uuid, timestamp_ms: i64) -> Result<NonceHeader> {
    Ok(NonceHeader {
        device_id,
        timestamp_ms,
        signature: key.sign_nonce(timestamp_ms)?,
    })
}

/// A device registered with a DashAuth server.
#[derive(Debug, Clone)]
pub struct Device {
    id: Uuid,
    certificate: String,
    ca_certificate: String,
    expires_at: i64,
    key: DeviceKey,
}

/// The save format: everything needed to authenticate again, private key included.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SaveFile {
    version: u32,
    device_id: Uuid,
    certificate: String,
    ca_certificate: String,
    expires_at: i64,
    private_key_pem: String,
}

impl Device {
    /// Handshake: registers `key` for the account of `token`. `name` (1–64 characters) is
    /// what the player sees in a device list; `platform` is 1–32 characters, e.g.
    /// `windows`.
    pub fn register(
        client: &Client,
        token: &Token,
        key: &DeviceKey,
        name: &str,
        platform: &str,
    ) -> Result<Device> {
        check_label(name, "name", protocol::MAX_DEVICE_NAME_CHARS)?;
        check_label(platform, "platform", protocol::MAX_PLATFORM_CHARS)?;
        let request = HandshakeRequest {
            public_key: key.public_pem()?,
            name: name.to_string(),
            platform: platform.to_string(),
        };
        let cert = client.handshake(token, &request)?;
        Device::from_certificate(cert, key.clone())
    }

    fn from_certificate(cert: DeviceCertificate, key: DeviceKey) -> Result<Device> {
        check_pem(&cert.certificate, "certificate")?;
        check_pem(&cert.ca_certificate, "ca_certificate")?;
        Ok(Device {
            id: cert.device_id,
            certificate: cert.certificate,
            ca_certificate: cert.ca_certificate,
            expires_at: cert.expires_at,
            key,
        })
    }

    /// The device id.
    pub fn id(&self) -> Uuid {
        self.id
    }

    /// The device certificate, X.509 PEM.
    pub fn certificate_pem(&self) -> &str {
        &self.certificate
    }

    /// The server's CA certificate, X.509 PEM.
    pub fn ca_certificate_pem(&self) -> &str {
        &self.ca_certificate
    }

    /// When the certificate expires, UNIX ms.
    pub fn expires_at(&self) -> i64 {
        self.expires_at
    }

    /// The device's private key.
    pub fn key(&self) -> &DeviceKey {
        &self.key
    }

    /// Whether the certificate has [`protocol::ROTATE_BEFORE_MS`] (90 days) or less left
    /// at `now_ms`.
    pub fn needs_rotation(&self, now_ms: i64) -> bool {
        self.expires_at.saturating_sub(now_ms) <= protocol::ROTATE_BEFORE_MS
    }

    /// A fresh nonce header, timestamped now (or just after the key's last nonce, so
    /// that no two are alike).
    pub fn nonce_header(&self) -> Result<NonceHeader> {
        nonce_header(&self.key, self.id, self.key.next_nonce_timestamp())
    }

    /// Rotation: a new RSA-2048 key and certificate for the same device id. Returns the
    /// rotated device; `self` is untouched, and its key stops working on the server.
    pub fn rotated(&self, client: &Client) -> Result<Device> {
        let key = DeviceKey::generate()?.sharing_nonce_clock_of(&self.key);
        let request = RotateRequest {
            public_key: key.public_pem()?,
        };
        let cert = client.rotate(&self.nonce_header()?.to_string(), &request)?;
        if cert.device_id != self.id {
            return Err(Error::Protocol(format!(
                "rotation answered for device {} instead of {}",
                cert.device_id, self.id
            )));
        }
        Device::from_certificate(cert, key)
    }

    /// Rotates in place; `self` changes only on success.
    pub fn rotate(&mut self, client: &Client) -> Result<()> {
        *self = self.rotated(client)?;
        Ok(())
    }

    /// Trades a nonce for a day-long session token.
    pub fn session(&self, client: &Client) -> Result<SessionData> {
        let data = client.session(&self.nonce_header()?.to_string())?;
        Token::parse(&data.session_token)
            .map_err(|_| Error::Protocol("the server sent a malformed session token".into()))?;
        Ok(data)
    }

    /// `client/me` with a nonce: the device's account.
    pub fn me(&self, client: &Client) -> Result<MeData> {
        client.me(&self.nonce_header()?.to_string())
    }

    /// The save text (JSON, format version 1). It holds the private key: store it where
    /// only the player can read it.
    pub fn to_json(&self) -> Result<String> {
        let file = SaveFile {
            version: SAVE_FORMAT_VERSION,
            device_id: self.id,
            certificate: self.certificate.clone(),
            ca_certificate: self.ca_certificate.clone(),
            expires_at: self.expires_at,
            private_key_pem: self.key.to_pkcs8_pem()?,
        };
        serde_json::to_string_pretty(&file).map_err(|e| Error::Crypto(format!("JSON: {e}")))
    }

    /// Restores a device from [`Device::to_json`] text.
    pub fn from_json(text: &str) -> Result<Device> {
        if text.len() > MAX_SAVE_BYTES {
            return Err(Error::InvalidArgument(format!(
                "device JSON is {} bytes, more than {MAX_SAVE_BYTES}",
                text.len()
            )));
        }
        let file: SaveFile = serde_json::from_str(text)
            .map_err(|e| Error::InvalidArgument(format!("not a saved DashAuth device: {e}")))?;
        if file.version != SAVE_FORMAT_VERSION {
            return Err(Error::InvalidArgument(format!(
                "saved device format version {} is not supported (expected {SAVE_FORMAT_VERSION})",
                file.version
            )));
        }
        let key = DeviceKey::from_pkcs8_pem(&file.private_key_pem)?;
        let cert = DeviceCertificate {
            device_id: file.device_id,
            certificate: file.certificate,
            ca_certificate: file.ca_certificate,
            expires_at: file.expires_at,
        };
        Device::from_certificate(cert, key).map_err(|e| match e {
            Error::Protocol(m) => Error::InvalidArgument(m),
            other => other,
        })
    }
}

fn check_label(value: &str, what: &str, max_chars: usize) -> Result<()> {
    let chars = value.chars().count();
    if chars == 0 || chars > max_chars || value.chars().any(char::is_control) {
        return Err(Error::InvalidArgument(format!(
            "device {what} must be 1–{max_chars} characters without control characters"
        )));
    }
    Ok(())
}

/// A certificate is PEM text: no NUL (it becomes a C string) and a sane size.
fn check_pem(pem: &str, what: &str) -> Result<()> {
    if pem.len() > MAX_CERT_BYTES
        || !pem.trim_start().starts_with("-----BEGIN ")
        || pem.contains('\0')
    {
        return Err(Error::Protocol(format!(
            "{what} is not PEM text: {:?}",
            truncate(pem, 40)
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const PEM: &str = "-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n";

    fn device(expires_at: i64) -> Device {
        let vector = include_str!("../tests/vectors/nonce-rsa2048.json");
        let v: serde_json::Value = serde_json::from_str(vector).unwrap_or_else(|e| panic!("{e}"));
        let pem = v["private_key_pkcs8_pem"].as_str().unwrap_or_default();
        let key = DeviceKey::from_pkcs8_pem(pem).unwrap_or_else(|e| panic!("{e}"));
        let cert = DeviceCertificate {
            device_id: "0b5f4c5e-7a55-4a8e-9d7b-3c2a1f0e9d8c"
                .parse()
                .unwrap_or_else(|e| panic!("{e}")),
            certificate: PEM.into(),
            ca_certificate: PEM.into(),
            expires_at,
        };
        Device::from_certificate(cert, key).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn rotation_is_due_with_ninety_days_left() {
        let now = 1_700_000_000_000;
        assert!(device(now + protocol::ROTATE_BEFORE_MS).needs_rotation(now));
        assert!(!device(now + protocol::ROTATE_BEFORE_MS + 1).needs_rotation(now));
        assert!(device(now - 1).needs_rotation(now));
    }

    #[test]
    fn save_text_round_trips() {
        let d = device(123);
        let json = d.to_json().unwrap_or_else(|e| panic!("{e}"));
        let back = Device::from_json(&json).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(back.id(), d.id());
        assert_eq!(back.expires_at(), 123);
        assert_eq!(back.certificate_pem(), PEM);
        assert_eq!(back.key().sign_nonce(5).ok(), d.key().sign_nonce(5).ok());
    }

    #[test]
    fn bad_save_text_is_an_invalid_argument() {
        let json = device(1).to_json().unwrap_or_else(|e| panic!("{e}"));
        for bad in [
            String::new(),
            "{}".to_string(),
            json.replace("\"version\": 1", "\"version\": 2"),
            json.replace("BEGIN CERTIFICATE", "NOPE"),
            "x".repeat(MAX_SAVE_BYTES + 1),
        ] {
            assert!(
                matches!(Device::from_json(&bad), Err(Error::InvalidArgument(_))),
                "{}",
                truncate(&bad, 60)
            );
        }
    }

    #[test]
    fn nonce_header_signs_the_timestamp() {
        let d = device(1);
        let h = nonce_header(d.key(), d.id(), 1_700_000_000_000).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            Some(h.signature),
            d.key().sign_nonce(1_700_000_000_000).ok()
        );
        assert!(nonce_header(d.key(), d.id(), -1).is_err());
    }

    #[test]
    fn labels_are_checked() {
        assert!(check_label("My PC", "name", 64).is_ok());
        assert!(check_label("", "name", 64).is_err());
        assert!(check_label(&"é".repeat(65), "name", 64).is_err());
        assert!(check_label("a\nb", "name", 64).is_err());
    }
}
