//! `dashauth_device_key`: an RSA private key generated on the device, and nonces.

use super::handles::{BoxCastable, free_box, to_boxed_mut_ptr, try_ref};
use super::status::{Failure, dashauth_status};
use super::strings::{owned_out, str_in};
use super::{Out, ffi_status, ffi_void};
use crate::device::nonce_header;
use crate::error::Error;
use crate::keys::DeviceKey;
use crate::protocol::Uuid;
use std::ffi::c_char;

/// An RSA private key (2048-4096 bits) that never leaves the device.
///
/// Thread safety: immutable; may be used from any number of threads at once.
pub struct dashauth_device_key {
    _private: [u8; 0],
}

impl BoxCastable for dashauth_device_key {
    type RustType = DeviceKey;
}

/// Generates a new RSA-2048 key from the operating system's random generator.
///
/// On OK, `*key_out` is a new key, freed with dashauth_device_key_free. Blocks for the
/// computation (typically 50 ms to a few seconds on a phone): call it off the game's
/// main thread.
///
/// Returns OK, NULL_ARGUMENT, CRYPTO, PANIC.
///
/// # Safety
/// `key_out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dashauth_device_key_generate(
    key_out: *mut *mut dashauth_device_key,
) -> dashauth_status {
    ffi_status(|| {
        // SAFETY: the caller's contract.
        let out = unsafe { Out::new(key_out, "key_out") }?;
        out.write(to_boxed_mut_ptr(DeviceKey::generate()?));
        Ok(())
    })
}

/// Reads a private key from PKCS#8 PEM text ("-----BEGIN PRIVATE KEY-----"), RSA of
/// 2048-4096 bits.
///
/// On OK, `*key_out` is a new key, freed with dashauth_device_key_free. Does not block.
///
/// Returns OK, NULL_ARGUMENT, INVALID_ARGUMENT (bad UTF-8, empty, over 16 KiB, not an
/// RSA PKCS#8 key, wrong size), PANIC.
///
/// # Safety
/// `pkcs8_pem` is NULL or a NUL-terminated string; `key_out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dashauth_device_key_from_pem(
    pkcs8_pem: *const c_char,
    key_out: *mut *mut dashauth_device_key,
) -> dashauth_status {
    ffi_status(|| {
        // SAFETY: the caller's contract, for each argument.
        let (pem, out) = unsafe {
            (
                str_in(pkcs8_pem, "pkcs8_pem")?,
                Out::new(key_out, "key_out")?,
            )
        };
        out.write(to_boxed_mut_ptr(DeviceKey::from_pkcs8_pem(pem)?));
        Ok(())
    })
}

/// Writes the private key as PKCS#8 PEM, to store where only the player can read it.
///
/// On OK, `*pkcs8_pem_out` is a new string (free with dashauth_string_free). Does not
/// block.
///
/// Returns OK, NULL_ARGUMENT, CRYPTO, PANIC.
///
/// # Safety
/// `key` is NULL or a live key; `pkcs8_pem_out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dashauth_device_key_to_pem(
    key: *const dashauth_device_key,
    pkcs8_pem_out: *mut *mut c_char,
) -> dashauth_status {
    ffi_status(|| {
        // SAFETY: the caller's contract, for each argument.
        let (key, out) = unsafe {
            (
                try_ref(key, "key")?,
                Out::new(pkcs8_pem_out, "pkcs8_pem_out")?,
            )
        };
        out.write(owned_out(&key.to_pkcs8_pem()?, "PEM")?);
        Ok(())
    })
}

/// Writes the public key as SPKI PEM ("-----BEGIN PUBLIC KEY-----").
///
/// On OK, `*spki_pem_out` is a new string (free with dashauth_string_free). Does not
/// block.
///
/// Returns OK, NULL_ARGUMENT, CRYPTO, PANIC.
///
/// # Safety
/// `key` is NULL or a live key; `spki_pem_out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dashauth_device_key_public_pem(
    key: *const dashauth_device_key,
    spki_pem_out: *mut *mut c_char,
) -> dashauth_status {
    ffi_status(|| {
        // SAFETY: the caller's contract, for each argument.
        let (key, out) = unsafe {
            (
                try_ref(key, "key")?,
                Out::new(spki_pem_out, "spki_pem_out")?,
            )
        };
        out.write(owned_out(&key.public_pem()?, "PEM")?);
        Ok(())
    })
}

/// Frees a key. NULL is fine; must not be called twice. Does not block.
///
/// # Safety
/// `key` is NULL or a live key that no other call is using.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dashauth_device_key_free(key: *mut dashauth_device_key) {
    // SAFETY: the caller's contract.
    ffi_void(|| unsafe { free_box(key) })
}

/// Signs a nonce: standard base64 (padded) of the RSASSA-PKCS1-v1_5/SHA-256 signature of
/// the ASCII decimal `timestamp_ms`. Deterministic.
///
/// On OK, `*signature_out` is a new string (free with dashauth_string_free). Does not
/// block (a few milliseconds of computation).
///
/// Returns OK, NULL_ARGUMENT, INVALID_ARGUMENT (negative timestamp), PANIC.
///
/// # Safety
/// `key` is NULL or a live key; `signature_out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dashauth_sign_nonce(
    key: *const dashauth_device_key,
    timestamp_ms: i64,
    signature_out: *mut *mut c_char,
) -> dashauth_status {
    ffi_status(|| {
        // SAFETY: the caller's contract, for each argument.
        let (key, out) = unsafe {
            (
                try_ref(key, "key")?,
                Out::new(signature_out, "signature_out")?,
            )
        };
        out.write(owned_out(&key.sign_nonce(timestamp_ms)?, "signature")?);
        Ok(())
    })
}

/// Builds the value of an Authorization header for nonce authentication:
/// "Nonce <device_id> <timestamp_ms> <signature>". Each value is single use.
///
/// The timestamp is dashauth_now_ms(), or one past the last timestamp this key handed
/// out when that is later: headers made in the same millisecond (from any thread, or
/// through a device registered with this key) never repeat, which the server would
/// refuse as a replay. The server accepts one nonce per device per millisecond, so a
/// device cannot authenticate more than about 1000 requests per second.
///
/// On OK, `*header_value_out` is a new string (free with dashauth_string_free). Does
/// not block.
///
/// Returns OK, NULL_ARGUMENT, INVALID_ARGUMENT (device_id not a hyphenated UUID),
/// PANIC.
///
/// # Safety
/// `key` is NULL or a live key; `device_id` is NULL or a NUL-terminated string;
/// `header_value_out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dashauth_nonce_header(
    key: *const dashauth_device_key,
    device_id: *const c_char,
    header_value_out: *mut *mut c_char,
) -> dashauth_status {
    ffi_status(|| {
        // SAFETY: the caller's contract, for each argument.
        let (key, device_id, out) = unsafe {
            (
                try_ref(key, "key")?,
                str_in(device_id, "device_id")?,
                Out::new(header_value_out, "header_value_out")?,
            )
        };
        let device_id: Uuid = device_id
            .parse()
            .map_err(|e| Failure::Error(Error::InvalidArgument(format!("device_id: {e}"))))?;
        let header = nonce_header(key, device_id, key.next_nonce_timestamp())?;
        out.write(owned_out(&header.to_string(), "header")?);
        Ok(())
    })
}
