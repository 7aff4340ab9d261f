//! Device registration, certificate rotation, sessions and revocation (protocol.md
//! section 4). The device generates its key pair; the server only ever sees public keys.

use super::app::App;
use super::challenges::millis;
use super::log::log_event;
use super::reply::ApiError;
use super::store::{Device, TokenGrant};
use super::tokens::{self, TokenHash};
use crate::keys::DevicePublicKey;
use crate::protocol::{
    AccountId, DeviceCertificate, HandshakeRequest, MAX_DEVICE_NAME_CHARS, MAX_PLATFORM_CHARS,
    RotateRequest, SessionData, Uuid,
};

fn parse_key(pem: &str) -> Result<DevicePublicKey, ApiError> {
    DevicePublicKey::from_spki_pem(pem).map_err(ApiError::BadRequest)
}

fn check_length(field: &str, value: &str, max_chars: usize) -> Result<(), ApiError> {
    let chars = value.chars().count();
    if chars > max_chars {
        return Err(ApiError::BadRequest(format!(
            "{field} is {chars} characters; at most {max_chars} are allowed"
        )));
    }
    Ok(())
}

fn certify(app: &App, id: Uuid, key: &DevicePublicKey) -> Result<DeviceCertificate, ApiError> {
    let issued = app
        .ca
        .issue(&id, key, app.now_ms(), app.config.certificate_validity)
        .map_err(|e| ApiError::Internal(format!("certificate for device {id}: {e}")))?;
    Ok(DeviceCertificate {
        device_id: id,
        certificate: issued.pem,
        ca_certificate: app.ca.certificate_pem().to_string(),
        expires_at: issued.expires_at,
    })
}

/// Registers a new device of `account` with the key it generated.
pub fn register(
    app: &App,
    account: AccountId,
    request: HandshakeRequest,
) -> Result<DeviceCertificate, ApiError> {
    check_length("name", &request.name, MAX_DEVICE_NAME_CHARS)?;
    check_length("platform", &request.platform, MAX_PLATFORM_CHARS)?;
    let key = parse_key(&request.public_key)?;
    let id = tokens::new_uuid();
    let certificate = certify(app, id, &key)?;
    // Debug formatting escapes whatever control characters the client put in.
    log_event!(
        "device {id} ({:?} on {:?}) registered for account {account}",
        request.name,
        request.platform
    );
    app.store.add_device(Device {
        id,
        account,
        key,
        name: request.name,
        platform: request.platform,
        certificate_expires_at: certificate.expires_at,
        revoked: false,
    });
    Ok(certificate)
}

/// Certifies a device's new key; its old key stops working.
pub fn rotate(
    app: &App,
    device: &Device,
    request: RotateRequest,
) -> Result<DeviceCertificate, ApiError> {
    let key = parse_key(&request.public_key)?;
    let certificate = certify(app, device.id, &key)?;
    if !app
        .store
        .replace_device_key(&device.id, key, certificate.expires_at)
    {
        return Err(ApiError::Unauthorized(format!(
            "revoked_device: device {} was revoked during rotation",
            device.id
        )));
    }
    log_event!("device {} rotated its key", device.id);
    Ok(certificate)
}

/// A session token for a device, usable as a bearer token until it expires.
pub fn open_session(app: &App, device: &Device) -> SessionData {
    let token = tokens::new_token();
    let expires_at = app.now_ms().saturating_add(millis(app.config.session_ttl));
    app.store.add_token(
        TokenHash::of(&token),
        TokenGrant {
            account: device.account,
            expires_at,
            device: Some(device.id),
        },
    );
    app.metrics.token_issued();
    log_event!("session opened for device {}", device.id);
    SessionData {
        session_token: token,
        expires_at,
    }
}

/// Revokes a device of `account`. Another account's device is "not found", so that
/// device ids of other accounts cannot be probed.
pub fn revoke(app: &App, account: AccountId, id: Uuid) -> Result<(), ApiError> {
    let device = app
        .store
        .revoke_device(&id, account)
        .ok_or_else(|| ApiError::NotFound(format!("no device {id} on account {account}")))?;
    log_event!(
        "device {id} ({:?} on {:?}) revoked by account {account}",
        device.name,
        device.platform
    );
    Ok(())
}
