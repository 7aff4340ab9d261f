//! A registered device (protocol.md section 4): its id, certificate and private key, the
//! nonces it signs, rotation before the certificate expires, and the text a mod stores in
//! its save directory to keep the device across launches.

use crate::client::{Client, Polled, Token};
use crate::error::{Error, Result};
use crate::keys::{DeviceKey, enrollment_proof_message, rotation_proof_message};
use crate::protocol::{
    self, AccessTokenData, DeviceCertificate, HandshakeRequest, MeData, NonceHeader,
    NonceRejection, RotateRequest, SessionData, Uuid, truncate,
};
use serde::{Deserialize, Serialize};
use std::sync::{Mutex, MutexGuard};

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
///
/// Besides its key it may hold a pending key: the new key of a rotation whose reply was
/// lost (network error or malformed answer), which the server may or may not have
/// applied. Nonce requests refused with `bad_signature` are retried once with it, and
/// it becomes the device key when the server accepts it.
#[derive(Debug)]
pub struct Device {
    id: Uuid,
    certificate: String,
    ca_certificate: String,
    expires_at: i64,
    // Behind a lock because a successful retry with the pending key promotes it from
    // `&self` methods, which the C API lets several threads call at once.
    keys: Mutex<Keys>,
}

#[derive(Debug, Clone)]
struct Keys {
    current: DeviceKey,
    pending: Option<DeviceKey>,
}

impl Clone for Device {
    fn clone(&self) -> Self {
        Device {
            id: self.id,
            certificate: self.certificate.clone(),
            ca_certificate: self.ca_certificate.clone(),
            expires_at: self.expires_at,
            keys: Mutex::new(self.keys().clone()),
        }
    }
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
    /// Absent unless a rotation's outcome is unknown; left out when absent, so such
    /// files stay readable by versions that do not know it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pending_private_key_pem: Option<String>,
    /// The last nonce timestamp the device signed: a restored copy continues after it,
    /// since the server refuses a timestamp it accepted before as a replay. Absent in
    /// files written before 0.2 (and then 0).
    #[serde(default, skip_serializing_if = "is_zero")]
    last_nonce_ms: i64,
}

fn is_zero(n: &i64) -> bool {
    *n == 0
}

impl Device {
    /// Enrolment by GD proof: registers `key` for the account that sent the GD message
    /// of `challenge_id` (sent before this call). `name` (1–64 characters) is what the
    /// player sees in a device list; `platform` is 1–32 characters, e.g. `windows`.
    /// `Ok(None)` while the bot has not seen the message (call again); blocks for one long
    /// poll.
    pub fn enroll(
        client: &Client,
        challenge_id: &Uuid,
        key: &DeviceKey,
        name: &str,
        platform: &str,
    ) -> Result<Option<Device>> {
        Ok(
            match Self::enroll_polled(client, challenge_id, key, name, platform, None)? {
                Polled::Ready(device) => Some(device),
                Polled::Pending { .. } => None,
            },
        )
    }

    /// [`Device::enroll`], with when the bot next reads its inbox while pending.
    /// `wait_ms` is how long the server may hold the request (`None`: the longest that
    /// fits in the client's timeout).
    pub fn enroll_polled(
        client: &Client,
        challenge_id: &Uuid,
        key: &DeviceKey,
        name: &str,
        platform: &str,
        wait_ms: Option<u64>,
    ) -> Result<Polled<Device>> {
        check_label(name, "name", protocol::MAX_DEVICE_NAME_CHARS)?;
        check_label(platform, "platform", protocol::MAX_PLATFORM_CHARS)?;
        let request = HandshakeRequest {
            challenge_id: Some(*challenge_id),
            public_key: key.public_pem()?,
            proof: Some(key.sign_base64(&enrollment_proof_message(challenge_id))?),
            name: name.to_string(),
            platform: platform.to_string(),
        };
        match client.enroll(&request, wait_ms)? {
            Polled::Ready(enrolled) => {
                Device::from_certificate(enrolled.certificate, key.clone()).map(Polled::Ready)
            }
            Polled::Pending { next_check_ms } => Ok(Polled::Pending { next_check_ms }),
        }
    }

    fn from_certificate(cert: DeviceCertificate, key: DeviceKey) -> Result<Device> {
        check_pem(&cert.certificate, "certificate")?;
        check_pem(&cert.ca_certificate, "ca_certificate")?;
        Ok(Device {
            id: cert.device_id,
            certificate: cert.certificate,
            ca_certificate: cert.ca_certificate,
            expires_at: cert.expires_at,
            keys: Mutex::new(Keys {
                current: key,
                pending: None,
            }),
        })
    }

    fn keys(&self) -> MutexGuard<'_, Keys> {
        // Every update of Keys is a single assignment: a poisoned lock is still usable.
        self.keys.lock().unwrap_or_else(|e| e.into_inner())
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

    /// The device's private key (a copy sharing its nonce clock).
    pub fn key(&self) -> DeviceKey {
        self.keys().current.clone()
    }

    /// The key of a rotation whose outcome is unknown, if any.
    pub fn pending_key(&self) -> Option<DeviceKey> {
        self.keys().pending.clone()
    }

    /// Whether `other` is this very device: the same id, certificate and keys (a
    /// rotation keeps the id and changes the rest). The nonce clock does not count.
    pub fn same_credentials(&self, other: &Device) -> bool {
        let pem = |key: Option<DeviceKey>| key.and_then(|k| k.to_pkcs8_pem().ok());
        self.id == other.id
            && self.certificate == other.certificate
            && pem(Some(self.key())) == pem(Some(other.key()))
            && pem(self.pending_key()) == pem(other.pending_key())
    }

    /// Whether the certificate has [`protocol::ROTATE_BEFORE_MS`] (90 days) or less left
    /// at `now_ms`.
    pub fn needs_rotation(&self, now_ms: i64) -> bool {
        self.expires_at.saturating_sub(now_ms) <= protocol::ROTATE_BEFORE_MS
    }

    /// A fresh nonce header, timestamped now (or just after the key's last nonce, so
    /// that no two are alike).
    pub fn nonce_header(&self) -> Result<NonceHeader> {
        let key = self.key();
        nonce_header(&key, self.id, key.next_nonce_timestamp())
    }

    /// Runs a nonce-authenticated `request` with a fresh header of the device key. When
    /// the server refuses its signature and a pending key exists, the server must have
    /// applied the rotation whose reply was lost: retries once with the pending key,
    /// which becomes the device key if accepted.
    ///
    /// Timestamps are the server's time as far as `client` knows it. A `clock_skew`
    /// refusal teaches the client the server's time and the request is signed again once,
    /// so a device whose clock is hours off still signs in; so is a replayed timestamp
    /// (another copy of the device used it).
    fn with_nonce<T>(&self, client: &Client, request: impl Fn(&str) -> Result<T>) -> Result<T> {
        let Keys { current, pending } = self.keys().clone();
        let sign = |key: &DeviceKey| {
            let now = client.clock().server_now_ms();
            nonce_header(key, self.id, key.next_nonce_timestamp_at(now)).map(|h| h.to_string())
        };
        let first = match request(&sign(&current)?) {
            // The refusal's Date header already taught the client the server's time (to
            // the second); the message's server_time_ms, when a server sends it, is exact.
            Err(Error::ClockSkew { server_time_ms, .. }) => {
                if let Some(server_ms) = server_time_ms {
                    client
                        .clock()
                        .learn_exact(server_ms, crate::clock::now_ms());
                }
                request(&sign(&current)?)
            }
            // Another copy of the device (a save file restored elsewhere, another
            // process) used this timestamp: the next one is this copy's own.
            Err(Error::Unauthorized(m)) if m.starts_with(NonceRejection::Replay.code()) => {
                let later = client.clock().server_now_ms().saturating_add(1_000);
                current.continue_nonce_clock_from(later);
                request(&sign(&current)?)
            }
            other => other,
        };
        let Some(pending) = pending else {
            return first;
        };
        match first {
            Err(Error::Unauthorized(m)) if m.starts_with(NonceRejection::BadSignature.code()) => {}
            other => return other,
        }
        let answer = request(&sign(&pending)?)?;
        let mut keys = self.keys();
        // Unless another thread already promoted it (or a rotation replaced it).
        if keys
            .pending
            .as_ref()
            .is_some_and(|p| p.is_same_key(&pending))
        {
            keys.current = pending;
            keys.pending = None;
        }
        Ok(answer)
    }

    /// Rotation: a new key of the same type and a certificate for the same device id; the old key
    /// stops working on the server.
    ///
    /// On success `self` has the new key and certificate. When the reply may have been
    /// lost after the server applied the rotation (network error, malformed answer, 5xx)
    /// `self` keeps its key and certificate and holds the new key as pending (see
    /// [`Device`]); on any other error `self` is unchanged.
    pub fn rotate(&mut self, client: &Client) -> Result<()> {
        if self.keys().pending.is_some() {
            // Settle the earlier unknown rotation first (a request with the pending
            // key promotes it if the server has it), so that at most one key is ever
            // pending.
            self.me(client)?;
            self.keys().pending = None;
        }
        let current = self.key();
        let key = DeviceKey::generate_type(current.key_type())?.sharing_nonce_clock_of(&current);
        let request = RotateRequest {
            public_key: key.public_pem()?,
            proof: Some(key.sign_base64(&rotation_proof_message(&self.id))?),
        };
        let rotated = self
            .with_nonce(client, |nonce| client.rotate(nonce, &request))
            .and_then(|cert| {
                if cert.device_id != self.id {
                    return Err(Error::Protocol(format!(
                        "rotation answered for device {} instead of {}",
                        cert.device_id, self.id
                    )));
                }
                Device::from_certificate(cert, key.clone())
            });
        match rotated {
            Ok(device) => {
                *self = device;
                Ok(())
            }
            Err(e) => {
                if reply_may_be_lost(&e) {
                    self.keys().pending = Some(key);
                }
                Err(e)
            }
        }
    }

    /// An access token (JWT) for `audience`, minted with a nonce of this device: what the
    /// mod hands to its own server, which verifies it offline.
    pub fn access_token(&self, client: &Client, audience: &str) -> Result<AccessTokenData> {
        self.with_nonce(client, |nonce| client.exchange_token(nonce, audience))
    }

    /// Trades a nonce for a day-long session token.
    pub fn session(&self, client: &Client) -> Result<SessionData> {
        let data = self.with_nonce(client, |nonce| client.session(nonce))?;
        Token::parse(&data.session_token)
            .map_err(|_| Error::Protocol("the server sent a malformed session token".into()))?;
        Ok(data)
    }

    /// `client/me` with a nonce: the device's account.
    pub fn me(&self, client: &Client) -> Result<MeData> {
        self.with_nonce(client, |nonce| client.me(nonce))
    }

    /// The save text (JSON, format version 1). It holds the private key (and the pending
    /// key, if any): store it where only the player can read it.
    pub fn to_json(&self) -> Result<String> {
        let keys = self.keys().clone();
        let pending_private_key_pem = match &keys.pending {
            Some(key) => Some(key.to_pkcs8_pem()?),
            None => None,
        };
        let file = SaveFile {
            version: SAVE_FORMAT_VERSION,
            device_id: self.id,
            certificate: self.certificate.clone(),
            ca_certificate: self.ca_certificate.clone(),
            expires_at: self.expires_at,
            private_key_pem: keys.current.to_pkcs8_pem()?,
            pending_private_key_pem,
            last_nonce_ms: keys.current.last_nonce_timestamp(),
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
        key.continue_nonce_clock_from(file.last_nonce_ms);
        let pending = match &file.pending_private_key_pem {
            Some(pem) => Some(DeviceKey::from_pkcs8_pem(pem)?.sharing_nonce_clock_of(&key)),
            None => None,
        };
        let cert = DeviceCertificate {
            device_id: file.device_id,
            certificate: file.certificate,
            ca_certificate: file.ca_certificate,
            expires_at: file.expires_at,
        };
        let device = Device::from_certificate(cert, key).map_err(|e| match e {
            Error::Protocol(m) => Error::InvalidArgument(m),
            other => other,
        })?;
        device.keys().pending = pending;
        Ok(device)
    }
}

/// Whether a failed request may have been applied by the server with its answer lost
/// on the way back.
fn reply_may_be_lost(e: &Error) -> bool {
    match e {
        Error::Network(_) | Error::Protocol(_) => true,
        Error::Http { status, .. } => *status >= 500,
        _ => false,
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
    fn a_restored_device_continues_after_the_last_nonce_it_saved() {
        let d = device(123);
        let far = crate::clock::now_ms() + 20_000;
        d.key().continue_nonce_clock_from(far);
        let json = d.to_json().unwrap_or_else(|e| panic!("{e}"));
        let back = Device::from_json(&json).unwrap_or_else(|e| panic!("{e}"));
        assert!(back.key().next_nonce_timestamp() > far);
        // A file from before 0.2, without the field, still reads.
        let old = json.replace(&format!(",\n  \"last_nonce_ms\": {far}"), "");
        assert!(!old.contains("last_nonce_ms"), "{old}");
        assert!(Device::from_json(&old).is_ok());
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
    fn a_pending_key_is_saved_only_when_there_is_one() {
        let d = device(123);
        let json = d.to_json().unwrap_or_else(|e| panic!("{e}"));
        // Without a pending key the text is what earlier versions wrote and read.
        assert!(!json.contains("pending"), "{json}");
        assert!(d.pending_key().is_none());

        let pending = DeviceKey::generate().unwrap_or_else(|e| panic!("{e}"));
        let pending_pem = pending.to_pkcs8_pem().unwrap_or_else(|e| panic!("{e}"));
        d.keys().pending = Some(pending);
        let json = d.to_json().unwrap_or_else(|e| panic!("{e}"));
        let back = Device::from_json(&json).unwrap_or_else(|e| panic!("{e}"));
        let back_pending = back.pending_key().and_then(|k| k.to_pkcs8_pem().ok());
        assert_eq!(back_pending.as_deref(), Some(pending_pem.as_str()));
        assert_eq!(back.key().sign_nonce(5).ok(), d.key().sign_nonce(5).ok());
        // The pending key continues the device key's nonce clock.
        let t = back.key().next_nonce_timestamp();
        assert!(
            back.pending_key()
                .is_some_and(|k| k.next_nonce_timestamp() > t)
        );

        let bad = json.replace(&pending_pem.replace('\n', "\\n"), "not a key");
        assert!(matches!(
            Device::from_json(&bad),
            Err(Error::InvalidArgument(_))
        ));
    }

    #[test]
    fn only_failures_that_may_hide_an_applied_rotation_keep_the_new_key() {
        assert!(reply_may_be_lost(&Error::Network("reset".into())));
        assert!(reply_may_be_lost(&Error::Protocol("garbage".into())));
        let http = |status| Error::Http {
            status,
            message: String::new(),
        };
        assert!(reply_may_be_lost(&http(502)));
        assert!(!reply_may_be_lost(&http(400)));
        assert!(!reply_may_be_lost(&Error::Unauthorized(
            "bad_signature".into()
        )));
        assert!(!reply_may_be_lost(&Error::ClockSkew {
            server_time_ms: None,
            message: String::new()
        }));
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
        let h = nonce_header(&d.key(), d.id(), 1_700_000_000_000).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            Some(h.signature),
            d.key().sign_nonce(1_700_000_000_000).ok()
        );
        assert!(nonce_header(&d.key(), d.id(), -1).is_err());
    }

    #[test]
    fn labels_are_checked() {
        assert!(check_label("My PC", "name", 64).is_ok());
        assert!(check_label("", "name", 64).is_err());
        assert!(check_label(&"é".repeat(65), "name", 64).is_err());
        assert!(check_label("a\nb", "name", 64).is_err());
    }
}
