//! Device registration, certificate rotation, sessions and revocation (protocol.md
//! section 4). The device generates its key pair; the server only ever sees public keys.

use super::app::App;
use super::challenges::millis;
use super::log::log_event;
use super::reply::ApiError;
use super::store::{Device, TokenGrant, TokenKind};
use super::tokens::{self, TokenHash};
use crate::keys::DevicePublicKey;
use crate::protocol::{
    AccountId, DeviceCertificate, HandshakeRequest, MAX_DEVICE_NAME_CHARS, MAX_PLATFORM_CHARS,
    RotateRequest, SessionData, Uuid,
};
use std::sync::Arc;

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

/// Signs a certificate on the blocking pool: an RSA signature takes milliseconds, which
/// must not stall one of the runtime's two workers (and every request queued on it).
async fn certify(
    app: &Arc<App>,
    id: Uuid,
    key: &DevicePublicKey,
) -> Result<DeviceCertificate, ApiError> {
    let (signer, key) = (app.clone(), key.clone());
    let issued = tokio::task::spawn_blocking(move || {
        let validity = signer.config.certificate_validity;
        signer.ca.issue(&id, &key, signer.now_ms(), validity)
    })
    .await
    .map_err(|e| ApiError::Internal(format!("certificate for device {id}: {e}")))?
    .map_err(|e| ApiError::Internal(format!("certificate for device {id}: {e}")))?;
    Ok(DeviceCertificate {
        device_id: id,
        certificate: issued.pem,
        ca_certificate: app.ca.certificate_pem().to_string(),
        expires_at: issued.expires_at,
    })
}

fn too_many_devices(app: &App, account: AccountId) -> ApiError {
    ApiError::TooMany(format!(
        "account {account} has {} active devices, the most allowed; revoke one it no longer \
         uses (DELETE client/devices/{{device_id}}) before registering another",
        app.config.limits.devices_per_account
    ))
}

/// Registers a new device of `account` with the key it generated; 429 when the account
/// has as many active devices as allowed.
pub async fn register(
    app: &Arc<App>,
    account: AccountId,
    request: HandshakeRequest,
) -> Result<DeviceCertificate, ApiError> {
    check_length("name", &request.name, MAX_DEVICE_NAME_CHARS)?;
    check_length("platform", &request.platform, MAX_PLATFORM_CHARS)?;
    let key = parse_key(&request.public_key)?;
    let limits = &app.config.limits;
    // Checked before signing to spare the work; checked again when storing, atomically.
    let active = app.store.active_devices(account, app.now_ms()).await?;
    if active >= limits.devices_per_account as u64 {
        return Err(too_many_devices(app, account));
    }
    let id = tokens::new_uuid();
    let certificate = certify(app, id, &key).await?;
    let device = Device {
        id,
        account,
        key,
        name: request.name,
        platform: request.platform,
        certificate_pem: certificate.certificate.clone(),
        certificate_expires_at: certificate.expires_at,
        revoked: false,
        created_at: app.now_ms(),
    };
    // Debug formatting escapes whatever control characters the client put in.
    let (name, platform) = (
        format!("{:?}", device.name),
        format!("{:?}", device.platform),
    );
    app.store
        .add_device(&device, limits, app.now_ms())
        .await?
        .map_err(|_| too_many_devices(app, account))?;
    log_event!("device {id} ({name} on {platform}) registered for account {account}");
    Ok(certificate)
}

/// Certifies a device's new key; its old key stops working.
pub async fn rotate(
    app: &Arc<App>,
    device: &Device,
    request: RotateRequest,
) -> Result<DeviceCertificate, ApiError> {
    let key = parse_key(&request.public_key)?;
    let certificate = certify(app, device.id, &key).await?;
    let replaced = app
        .store
        .replace_device_key(
            &device.id,
            &key,
            &certificate.certificate,
            certificate.expires_at,
        )
        .await?;
    if !replaced {
        return Err(ApiError::Unauthorized(format!(
            "revoked_device: device {} was revoked during rotation",
            device.id
        )));
    }
    log_event!("device {} rotated its key", device.id);
    Ok(certificate)
}

/// A session token for a device, usable as a bearer token until it expires. Beyond
/// the per-device cap the device's oldest session ends.
pub async fn open_session(app: &App, device: &Device) -> Result<SessionData, ApiError> {
    let token = tokens::new_token();
    let expires_at = app.now_ms().saturating_add(millis(app.config.session_ttl));
    let grant = TokenGrant {
        kind: TokenKind::Session,
        account: device.account,
        expires_at,
        device: Some(device.id),
        audience: None,
        sender: None,
    };
    let cap = app.config.limits.sessions_per_device;
    app.store
        .add_session(&TokenHash::of(&token), &grant, app.now_ms(), cap)
        .await?;
    app.metrics.session_token_issued();
    log_event!("session opened for device {}", device.id);
    Ok(SessionData {
        session_token: token,
        expires_at,
    })
}

/// Revokes a device of `account`. Another account's device is "not found", so that
/// device ids of other accounts cannot be probed.
pub async fn revoke(app: &App, account: AccountId, id: Uuid) -> Result<(), ApiError> {
    let device = app
        .store
        .revoke_device(&id, account)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no device {id} on account {account}")))?;
    log_event!(
        "device {id} ({:?} on {:?}) revoked by account {account}",
        device.name,
        device.platform
    );
    Ok(())
}
