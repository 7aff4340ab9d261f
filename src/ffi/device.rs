//! `dashauth_device`: a registered device (id, certificate, CA certificate, expiry and
//! private key), its nonce-authenticated calls, and its save text.

use super::challenge::dashauth_challenge;
use super::client::{client_arg, dashauth_client};
use super::device_key::dashauth_device_key;
use super::handles::{BoxCastable, free_box, to_boxed_mut_ptr, try_mut, try_ref};
use super::status::{Failure, dashauth_status};
use super::strings::{EMPTY, cstring, owned_out, str_in};
use super::{Out, ffi_status, ffi_value, ffi_void};
use crate::client::Token;
use crate::clock;
use crate::device::Device;
use crate::error::Error;
use crate::protocol::Uuid;
use std::ffi::{CString, c_char};

/// A device registered with a DashAuth server: device id, certificate, the server's CA
/// certificate, expiry, and the device's private key.
///
/// Thread safety: may be read from several threads at once, but not while
/// dashauth_device_rotate (which changes it) runs on it.
pub struct dashauth_device {
    _private: [u8; 0],
}

/// The device with C copies of its strings for the borrowed accessors.
pub(crate) struct DeviceCell {
    device: Device,
    id: CString,
    certificate: CString,
    ca_certificate: CString,
}

impl BoxCastable for dashauth_device {
    type RustType = DeviceCell;
}

impl DeviceCell {
    fn new(device: Device) -> Result<Self, Failure> {
        Ok(DeviceCell {
            id: cstring(&device.id().to_string(), "device id")?,
            certificate: cstring(device.certificate_pem(), "certificate")?,
            ca_certificate: cstring(device.ca_certificate_pem(), "CA certificate")?,
            device,
        })
    }

    /// Rebuilds the C strings after the device changed in place.
    fn refresh(&mut self) -> Result<(), Failure> {
        let id = cstring(&self.device.id().to_string(), "device id")?;
        let certificate = cstring(self.device.certificate_pem(), "certificate")?;
        let ca_certificate = cstring(self.device.ca_certificate_pem(), "CA certificate")?;
        (self.id, self.certificate, self.ca_certificate) = (id, certificate, ca_certificate);
        Ok(())
    }
}

/// Enrols `key` as a new device of the account that sent the challenge's GD message
/// (POST client/auth/handshake, by GD proof): call after dashauth_send_gd_message. The key
/// signs a proof of possession; the server consumes the challenge. `name` (1-64
/// characters, e.g. the computer's name) is what the player sees in a device list;
/// `platform` is 1-32 characters, e.g. "windows". The device keeps its own copy of the
/// key.
///
/// On OK, `*device_out` is a new device, freed with dashauth_device_free; save it with
/// dashauth_device_to_json. PENDING while the bot has not seen the message yet (call
/// again; `*device_out` is then NULL). Blocks for one long poll (at most half the client's
/// timeout).
///
/// Returns OK, PENDING, NULL_ARGUMENT, INVALID_ARGUMENT (bad name or platform), NOT_FOUND
/// (the challenge expired or was used), NETWORK, RATE_LIMITED, HTTP (among them 400: the
/// server refused the key or its proof), PROTOCOL, CRYPTO, PANIC.
///
/// # Safety
/// `client`, `challenge` and `key` are NULL or live handles; `name`, `platform` are NULL
/// or NUL-terminated strings; `device_out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dashauth_device_enroll(
    client: *const dashauth_client,
    challenge: *const dashauth_challenge,
    key: *const dashauth_device_key,
    name: *const c_char,
    platform: *const c_char,
    device_out: *mut *mut dashauth_device,
) -> dashauth_status {
    ffi_status(|| {
        // SAFETY: the caller's contract, for each argument.
        let (client, challenge, key, name, platform, out) = unsafe {
            (
                client_arg(client)?,
                try_ref(challenge, "challenge")?,
                try_ref(key, "key")?,
                str_in(name, "name")?,
                str_in(platform, "platform")?,
                Out::new(device_out, "device_out")?,
            )
        };
        match Device::enroll(&client, &challenge.challenge.id, key, name, platform)? {
            None => Ok(dashauth_status::Pending),
            Some(device) => {
                out.write(to_boxed_mut_ptr(DeviceCell::new(device)?));
                Ok(dashauth_status::Ok)
            }
        }
    })
}

/// The device id (a lowercase UUID); "" for NULL.
///
/// Borrowed: valid until the device is rotated or freed; do not free. Does not block.
///
/// # Safety
/// `device` is NULL or a live device.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dashauth_device_id(device: *const dashauth_device) -> *const c_char {
    // SAFETY: the caller's contract.
    ffi_value(EMPTY.as_ptr(), || unsafe { borrowed(device, |d| &d.id) })
}

/// The device certificate, X.509 PEM; "" for NULL.
///
/// Borrowed: valid until the device is rotated or freed; do not free. Does not block.
///
/// # Safety
/// `device` is NULL or a live device.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dashauth_device_certificate_pem(
    device: *const dashauth_device,
) -> *const c_char {
    // SAFETY: the caller's contract.
    ffi_value(EMPTY.as_ptr(), || unsafe {
        borrowed(device, |d| &d.certificate)
    })
}

/// The server's CA certificate, X.509 PEM (verifies the device certificate); "" for
/// NULL.
///
/// Borrowed: valid until the device is rotated or freed; do not free. Does not block.
///
/// # Safety
/// `device` is NULL or a live device.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dashauth_device_ca_certificate_pem(
    device: *const dashauth_device,
) -> *const c_char {
    // SAFETY: the caller's contract.
    ffi_value(EMPTY.as_ptr(), || unsafe {
        borrowed(device, |d| &d.ca_certificate)
    })
}

/// # Safety
/// `device` is NULL or a live device.
unsafe fn borrowed(
    device: *const dashauth_device,
    field: impl FnOnce(&DeviceCell) -> &CString,
) -> *const c_char {
    // SAFETY: forwarded contract.
    unsafe { try_ref(device, "device") }
        .map(|d| field(d).as_ptr())
        .unwrap_or(EMPTY.as_ptr())
}

/// When the device certificate expires, UNIX ms; 0 for NULL. Does not block.
///
/// # Safety
/// `device` is NULL or a live device.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dashauth_device_expires_at(device: *const dashauth_device) -> i64 {
    ffi_value(0, || {
        // SAFETY: the caller's contract.
        unsafe { try_ref(device, "device") }
            .map(|d| d.device.expires_at())
            .unwrap_or(0)
    })
}

/// Whether the certificate has 90 days or less left (by dashauth_now_ms), so
/// dashauth_device_rotate should be called. On OK, `*needs_out` is the answer. Does not
/// block.
///
/// Returns OK, NULL_ARGUMENT, PANIC.
///
/// # Safety
/// `device` is NULL or a live device; `needs_out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dashauth_device_needs_rotation(
    device: *const dashauth_device,
    needs_out: *mut bool,
) -> dashauth_status {
    ffi_status(|| {
        // SAFETY: the caller's contract, for each argument.
        let (cell, out) = unsafe {
            (
                try_ref(device, "device")?,
                Out::new(needs_out, "needs_out")?,
            )
        };
        out.write(cell.device.needs_rotation(clock::now_ms()));
        Ok(())
    })
}

/// Rotates the device key: generates a new key of the same type (RSA-2048, P-256 or
/// Ed25519) with its proof of possession, and gets a new certificate for
/// it (POST client/auth/rotate, authenticated with a nonce of the current key). On OK
/// the device is updated in place (new key, certificate, expiry; same id) and the old
/// key stops working: save it again with dashauth_device_to_json.
///
/// On NETWORK, PROTOCOL or an HTTP 5xx the server may have rotated with its reply lost:
/// the device keeps its key and certificate and also keeps the new key as a pending key
/// (saved by dashauth_device_to_json: save the device again). When the server later
/// refuses the current key's signature, dashauth_device_me, dashauth_device_session and
/// dashauth_device_rotate retry once with the pending key, which becomes the device key
/// if accepted (the certificate and expiry stay the old ones until the next rotation).
/// A rotation of a device with a pending key first settles it with one client/me
/// request. On any other status the device is unchanged.
///
/// Blocks for the key generation and one or two HTTP requests: call it off the main
/// thread, and do not use the device from another thread meanwhile. Strings borrowed
/// from the device become invalid on OK.
///
/// Returns OK, NULL_ARGUMENT, NETWORK, UNAUTHORIZED (device unknown, revoked or
/// expired; nonce rejected), CLOCK_SKEW (the device clock is off by more than 30 s),
/// RATE_LIMITED, HTTP, PROTOCOL, CRYPTO, PANIC.
///
/// # Safety
/// `client` is NULL or a live client; `device` is NULL or a live device that no other
/// call is using.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dashauth_device_rotate(
    client: *const dashauth_client,
    device: *mut dashauth_device,
) -> dashauth_status {
    ffi_status(|| {
        // SAFETY: the caller's contract, for each argument.
        let (client, cell) = unsafe { (client_arg(client)?, try_mut(device, "device")?) };
        cell.device.rotate(&client)?;
        cell.refresh()?;
        Ok(())
    })
}

/// Trades a fresh nonce for a session token valid 24 h (POST client/auth/session),
/// usable as "Authorization: Bearer <token>" on whoami and device routes.
///
/// On OK, `*session_token_out` is a new string (free with dashauth_string_free) and
/// `*expires_at_out` its expiry, UNIX ms. Blocks for one HTTP request (two when a
/// pending key is tried, see dashauth_device_rotate).
///
/// Returns OK, NULL_ARGUMENT, NETWORK, UNAUTHORIZED (device unknown, revoked or expired;
/// nonce rejected), CLOCK_SKEW (the device clock is off by more than 30 s),
/// RATE_LIMITED, HTTP, PROTOCOL, PANIC.
///
/// # Safety
/// `client` and `device` are NULL or live handles; the out-parameters are NULL or
/// writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dashauth_device_session(
    client: *const dashauth_client,
    device: *const dashauth_device,
    session_token_out: *mut *mut c_char,
    expires_at_out: *mut i64,
) -> dashauth_status {
    ffi_status(|| {
        // SAFETY: the caller's contract, for each argument.
        let (client, cell, token_out, expires_out) = unsafe {
            (
                client_arg(client)?,
                try_ref(device, "device")?,
                Out::new(session_token_out, "session_token_out")?,
                Out::new(expires_at_out, "expires_at_out")?,
            )
        };
        let session = cell.device.session(&client)?;
        let token = owned_out(&session.session_token, "session token")?;
        token_out.write(token);
        expires_out.write(session.expires_at);
        Ok(())
    })
}

/// An access token for `audience` minted with a nonce of the device (POST
/// token/exchange): a JWT (claims `device_id`, `amr` ["device"]) that your backend
/// verifies offline against the server's JWKS. `audience` is 1-128 visible ASCII
/// characters (your mod's id or your backend's URL).
///
/// On OK, `*access_token_out` is a new string (free with dashauth_string_free) and
/// `*expires_at_out` its expiry (UNIX ms); on failure neither is written. Blocks for one
/// HTTP request (two when a pending key is tried, see dashauth_device_rotate).
///
/// Returns OK, NULL_ARGUMENT, INVALID_ARGUMENT (malformed audience), NETWORK,
/// UNAUTHORIZED (device unknown, revoked or expired; nonce rejected), CLOCK_SKEW,
/// RATE_LIMITED, HTTP, PROTOCOL, PANIC.
///
/// # Safety
/// `client` and `device` are NULL or live handles; `audience` is NULL or a NUL-terminated
/// string; the out-parameters are NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dashauth_device_access_token(
    client: *const dashauth_client,
    device: *mut dashauth_device,
    audience: *const c_char,
    access_token_out: *mut *mut c_char,
    expires_at_out: *mut i64,
) -> dashauth_status {
    ffi_status(|| {
        // SAFETY: the caller's contract, for each argument.
        let (client, cell, audience, token_out, expires_out) = unsafe {
            (
                client_arg(client)?,
                try_ref(device.cast_const(), "device")?,
                str_in(audience, "audience")?,
                Out::new(access_token_out, "access_token_out")?,
                Out::new(expires_at_out, "expires_at_out")?,
            )
        };
        let data = cell.device.access_token(&client, audience)?;
        let access = owned_out(&data.access_token, "access token")?;
        token_out.write(access);
        expires_out.write(data.expires_at);
        Ok(())
    })
}

/// Asks the server which account the device belongs to (GET client/me with a nonce).
/// On OK, `*account_id_out` is the GD account id. Blocks for one HTTP request (two when
/// a pending key is tried, see dashauth_device_rotate).
///
/// Returns OK, NULL_ARGUMENT, NETWORK, UNAUTHORIZED (device unknown, revoked or expired;
/// nonce rejected), CLOCK_SKEW, RATE_LIMITED, HTTP, PROTOCOL, PANIC.
///
/// # Safety
/// `client` and `device` are NULL or live handles; `account_id_out` is NULL or
/// writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dashauth_device_me(
    client: *const dashauth_client,
    device: *const dashauth_device,
    account_id_out: *mut u32,
) -> dashauth_status {
    ffi_status(|| {
        // SAFETY: the caller's contract, for each argument.
        let (client, cell, out) = unsafe {
            (
                client_arg(client)?,
                try_ref(device, "device")?,
                Out::new(account_id_out, "account_id_out")?,
            )
        };
        let me = cell.device.me(&client)?;
        if me.device_id != cell.device.id() {
            return Err(Failure::Error(Error::Protocol(format!(
                "client/me answered for device {} instead of {}",
                me.device_id,
                cell.device.id()
            ))));
        }
        out.write(me.account_id);
        Ok(())
    })
}

/// A fresh "Nonce <device_id> <timestamp_ms> <signature>" value for an Authorization
/// header, signed with the device key at dashauth_now_ms() (or one past the device's
/// last nonce, so that no two headers are alike, even from several threads). Single use.
///
/// On OK, `*header_value_out` is a new string (free with dashauth_string_free). Does
/// not block.
///
/// Returns OK, NULL_ARGUMENT, PANIC.
///
/// # Safety
/// `device` is NULL or a live device; `header_value_out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dashauth_device_nonce_header(
    device: *const dashauth_device,
    header_value_out: *mut *mut c_char,
) -> dashauth_status {
    ffi_status(|| {
        // SAFETY: the caller's contract, for each argument.
        let (cell, out) = unsafe {
            (
                try_ref(device, "device")?,
                Out::new(header_value_out, "header_value_out")?,
            )
        };
        let header = cell.device.nonce_header()?;
        out.write(owned_out(&header.to_string(), "header")?);
        Ok(())
    })
}

/// The device as JSON text for the mod's save directory:
/// {"version":1,"device_id":...,"certificate":...,"ca_certificate":...,"expires_at":...,
/// "private_key_pem":...,"last_nonce_ms":...} (the last nonce timestamp signed, so a
/// restored copy never signs one the server saw), plus "pending_private_key_pem" while a rotation's outcome is
/// unknown (see dashauth_device_rotate). It includes the private key: store it where
/// only the player can read it, and never send it anywhere.
///
/// On OK, `*json_out` is a new string (free with dashauth_string_free). Does not block.
///
/// Returns OK, NULL_ARGUMENT, CRYPTO, PANIC.
///
/// # Safety
/// `device` is NULL or a live device; `json_out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dashauth_device_to_json(
    device: *const dashauth_device,
    json_out: *mut *mut c_char,
) -> dashauth_status {
    ffi_status(|| {
        // SAFETY: the caller's contract, for each argument.
        let (cell, out) = unsafe { (try_ref(device, "device")?, Out::new(json_out, "json_out")?) };
        out.write(owned_out(&cell.device.to_json()?, "JSON")?);
        Ok(())
    })
}

/// Restores a device from dashauth_device_to_json text. No request is made: check it
/// with dashauth_device_me or dashauth_device_session.
///
/// On OK, `*device_out` is a new device, freed with dashauth_device_free. Does not block.
///
/// Returns OK, NULL_ARGUMENT, INVALID_ARGUMENT (bad UTF-8, over 64 KiB, not a saved
/// device, unknown format version, bad key), PANIC.
///
/// # Safety
/// `json` is NULL or a NUL-terminated string; `device_out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dashauth_device_from_json(
    json: *const c_char,
    device_out: *mut *mut dashauth_device,
) -> dashauth_status {
    ffi_status(|| {
        // SAFETY: the caller's contract, for each argument.
        let (json, out) = unsafe { (str_in(json, "json")?, Out::new(device_out, "device_out")?) };
        let device = Device::from_json(json)?;
        out.write(to_boxed_mut_ptr(DeviceCell::new(device)?));
        Ok(())
    })
}

/// Revokes a device of the account of the login or session token `token`
/// (DELETE client/devices/{device_id}): its nonces and certificate stop working.
///
/// Blocks for one HTTP request.
///
/// Returns OK, NULL_ARGUMENT, INVALID_ARGUMENT (malformed token, device_id not a
/// hyphenated UUID), NETWORK, UNAUTHORIZED (token rejected), NOT_FOUND (no such device
/// on this account), RATE_LIMITED, HTTP, PROTOCOL, PANIC.
///
/// # Safety
/// `client` is NULL or a live client; `token` and `device_id` are NULL or
/// NUL-terminated strings.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dashauth_device_revoke(
    client: *const dashauth_client,
    token: *const c_char,
    device_id: *const c_char,
) -> dashauth_status {
    ffi_status(|| {
        // SAFETY: the caller's contract, for each argument.
        let (client, token, device_id) = unsafe {
            (
                client_arg(client)?,
                str_in(token, "token")?,
                str_in(device_id, "device_id")?,
            )
        };
        let token = Token::parse(token)?;
        let device_id: Uuid = device_id
            .parse()
            .map_err(|e| Failure::Error(Error::InvalidArgument(format!("device_id: {e}"))))?;
        client.revoke_device(&token, &device_id)?;
        Ok(())
    })
}

/// Frees a device (its private key included). NULL is fine; must not be called twice.
/// Strings borrowed from it become invalid. Does not block.
///
/// # Safety
/// `device` is NULL or a live device that no other call is using.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dashauth_device_free(device: *mut dashauth_device) {
    // SAFETY: the caller's contract.
    ffi_void(|| unsafe { free_box(device) })
}
