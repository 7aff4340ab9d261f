//! The one-call sign-in (`dashauth_auth_start`): with a device kept for (server,
//! account), one nonce-signed request for an access token and no GD message; without
//! one, or when the server no longer knows it, one GD message and the enrolment of a new
//! P-256 key, kept for next time. A device with 90 days or less left is rotated first.
//!
//! Devices live in the client's [`DeviceStore`](crate::device_store::DeviceStore): the
//! credential store file the mod named, or memory. Several processes may share the file,
//! so a device that stops working is read again before it is forgotten (another process
//! may have rotated it), and only forgotten if the file still holds that very device
//! (same id, certificate and keys).

use super::{Stage, Worker};
use crate::client::Token;
use crate::device::Device;
use crate::error::{Error, Result};
use crate::keys::{DeviceKey, KeyType};
use crate::protocol::NonceRejection;

/// The key type of new devices: milliseconds to generate on a phone, and what hardware
/// key stores hold (protocol.md section 4).
pub const NEW_DEVICE_KEY_TYPE: KeyType = KeyType::P256;

impl Worker {
    /// The whole one-call sign-in; ends with an access token for `audience`.
    pub(super) fn access_token_steps(&self, audience: &str) -> Result<Token> {
        self.step(Stage::SigningInWithDevice)?;
        let server = self.client.base_url();
        if let Some(device) = self.client.devices().load(server, self.account_id)?
            && let Some(token) = self.sign_in_with(device, audience)?
        {
            return Ok(token);
        }
        self.enrol_and_sign_in(audience)
    }

    /// An access token from a kept device; `Ok(None)` when the server no longer knows it
    /// (unknown, revoked, expired, or its key replaced), which is then forgotten.
    fn sign_in_with(&self, mut device: Device, audience: &str) -> Result<Option<Token>> {
        let (server, account) = (self.client.base_url(), self.account_id);
        let mut read_again = false;
        let token = loop {
            match device.access_token(&self.client, audience) {
                Ok(data) => break access_token(&data.access_token)?,
                Err(e) if !device_is_gone(&e) => return Err(e),
                Err(_) => {}
            }
            // Another process may have rotated the device and kept its new key.
            if !read_again {
                read_again = true;
                if let Some(kept) = self.client.devices().load(server, account)?
                    && !kept.same_credentials(&device)
                {
                    device = kept;
                    continue;
                }
            }
            // Only if the store still holds this very device. Failing to forget costs
            // one refused request at the next sign-in, not this one.
            let _ = self.client.devices().forget(server, account, &device);
            return Ok(None);
        };
        // Decided after a request, so with the server's time: a device clock months off
        // would otherwise rotate at every launch, or never.
        if device.needs_rotation(self.client.clock().server_now_ms()) {
            self.obtained(&token);
            self.rotate(&mut device);
        }
        Ok(Some(token))
    }

    /// Rotates a device whose certificate has 90 days or less left, and keeps the
    /// result. A failed rotation changes nothing the sign-in needs: the old key works
    /// until the certificate expires.
    fn rotate(&self, device: &mut Device) {
        let rotated = device.rotate(&self.client).is_ok();
        // A rotation whose reply was lost leaves a pending key that must be kept too.
        if rotated || device.pending_key().is_some() {
            let _ = self
                .client
                .devices()
                .save(self.client.base_url(), self.account_id, device);
        }
    }

    /// One GD message, the enrolment of a new key, and the access token with it.
    fn enrol_and_sign_in(&self, audience: &str) -> Result<Token> {
        let challenge = self.challenge_and_message()?;
        let key = DeviceKey::generate_type(NEW_DEVICE_KEY_TYPE)?;
        self.step(Stage::WaitingForBot)?;
        let device = self.wait_for_bot(|wait_ms| {
            Device::enroll_polled(
                &self.client,
                &challenge.id,
                &key,
                &device_name(),
                platform(),
                Some(wait_ms),
            )
        })?;
        // Kept at once, before a cancel or the deadline can end the sign-in: the server
        // has registered the key and used up the challenge. A device that cannot be kept
        // still signs in now; the next sign-in will simply verify again.
        let _ = self
            .client
            .devices()
            .save(self.client.base_url(), self.account_id, &device);
        self.step(Stage::EnrollingDevice)?;
        let data = device.access_token(&self.client, audience)?;
        let token = access_token(&data.access_token)?;
        self.obtained(&token);
        self.clean_up(&challenge);
        Ok(token)
    }
}

/// Whether a refused nonce means the server will never accept this device again, as
/// opposed to a passing failure (the clock and replays are already retried).
fn device_is_gone(e: &Error) -> bool {
    let Error::Unauthorized(message) = e else {
        return false;
    };
    [
        NonceRejection::UnknownDevice,
        NonceRejection::RevokedDevice,
        NonceRejection::ExpiredCertificate,
        NonceRejection::BadSignature,
    ]
    .iter()
    .any(|r| message.starts_with(r.code()))
}

fn access_token(text: &str) -> Result<Token> {
    Token::parse(text)
        .map_err(|_| Error::Protocol("the server sent a malformed access token".into()))
}

/// What the player sees in their device list.
fn device_name() -> String {
    format!("Geometry Dash on {}", platform_name())
}

/// The `platform` of a new device (≤ 32 characters).
fn platform() -> &'static str {
    match std::env::consts::OS {
        "windows" | "macos" | "linux" | "android" | "ios" => std::env::consts::OS,
        _ => "other",
    }
}

fn platform_name() -> &'static str {
    match std::env::consts::OS {
        "windows" => "Windows",
        "macos" => "macOS",
        "linux" => "Linux",
        "android" => "Android",
        "ios" => "iOS",
        _ => "another system",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_refusals_that_last_forget_a_device() {
        let refused = |code: &str| Error::Unauthorized(format!("{code}: detail"));
        assert!(device_is_gone(&refused("unknown_device")));
        assert!(device_is_gone(&refused("revoked_device")));
        assert!(device_is_gone(&refused("expired_certificate")));
        assert!(device_is_gone(&refused("bad_signature")));
        assert!(!device_is_gone(&refused("replayed_nonce")));
        assert!(!device_is_gone(&refused("clock_skew")));
        assert!(!device_is_gone(&Error::Network("reset".into())));
        assert!(!device_is_gone(&Error::Http {
            status: 503,
            message: String::new()
        }));
    }

    #[test]
    fn device_labels_fit_the_protocol() {
        assert!(device_name().chars().count() <= crate::protocol::MAX_DEVICE_NAME_CHARS);
        assert!(platform().len() <= crate::protocol::MAX_PLATFORM_CHARS);
    }
}
