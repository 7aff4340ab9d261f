//! Nonce authentication (protocol.md section 4): `Authorization: Nonce <device_id>
//! <timestamp_ms> <signature>`, accepted once, within ±30 s of the server's clock, when
//! signed by the device's current key and the device is neither revoked nor expired.

use super::store::{Device, Store, StoreError};
use crate::protocol::{NONCE_WINDOW_MS, NonceHeader, NonceRejection, clock_skew_message};

/// A refused nonce: the reason, and the 401 message, which starts with the reason code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// Why.
    pub reason: NonceRejection,
    /// `"{code}: explanation"`.
    pub message: String,
}

fn refuse(reason: NonceRejection, detail: impl std::fmt::Display) -> Refusal {
    Refusal {
        reason,
        message: format!("{}: {detail}", reason.code()),
    }
}

/// Why a nonce was not accepted: refused, or the store could not say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// The nonce is refused, for this reason.
    Refused(Refusal),
    /// The database failed.
    Store(StoreError),
}

impl From<Refusal> for Failure {
    fn from(r: Refusal) -> Self {
        Failure::Refused(r)
    }
}

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Self {
        Failure::Store(e)
    }
}

/// Checks a nonce header against the store at server time `now_ms`; on success the
/// nonce is used up (for every instance sharing the store) and the device returned.
pub async fn verify(store: &Store, header: &str, now_ms: i64) -> Result<Device, Failure> {
    let nonce: NonceHeader = header
        .parse()
        .map_err(|e| Failure::Refused(refuse(NonceRejection::Malformed, e)))?;
    let id = nonce.device_id;
    let device = store
        .device(&id)
        .await?
        .ok_or_else(|| refuse(NonceRejection::UnknownDevice, format!("no device {id}")))?;
    if device.revoked {
        return Err(Failure::Refused(refuse(
            NonceRejection::RevokedDevice,
            format!("device {id} was revoked by its account"),
        )));
    }
    if device.certificate_expires_at <= now_ms {
        return Err(Failure::Refused(refuse(
            NonceRejection::ExpiredCertificate,
            format!("the certificate of device {id} has expired; register the device again"),
        )));
    }
    // Cheap clock check before the RSA verification.
    if now_ms.abs_diff(nonce.timestamp_ms) > NONCE_WINDOW_MS.unsigned_abs() {
        return Err(Failure::Refused(Refusal {
            reason: NonceRejection::ClockSkew,
            message: clock_skew_message(now_ms, nonce.timestamp_ms),
        }));
    }
    if !device
        .key
        .verify_nonce(nonce.timestamp_ms, &nonce.signature)
    {
        return Err(Failure::Refused(refuse(
            NonceRejection::BadSignature,
            format!("the signature does not verify with the current key of device {id}"),
        )));
    }
    // Remembered until it falls out of the window, after which the clock check refuses it.
    let forget_at = nonce.timestamp_ms.saturating_add(NONCE_WINDOW_MS + 1);
    let fresh = store
        .use_nonce(
            &id,
            nonce.timestamp_ms,
            forget_at.max(now_ms.saturating_add(1)),
        )
        .await?;
    if !fresh {
        return Err(Failure::Refused(refuse(
            NonceRejection::Replay,
            format!("this nonce of device {id} was already used; sign a new timestamp"),
        )));
    }
    Ok(device)
}
