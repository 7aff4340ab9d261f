//! `dashauth_device_key`: a private key (RSA, P-256 or Ed25519) generated on the device,
//! and nonces.

use super::handles::{BoxCastable, free_box, to_boxed_mut_ptr, try_ref};
use super::status::{Failure, dashauth_status};
use super::strings::{owned_out, str_in};
use super::{Out, ffi_status, ffi_void};
use crate::device::nonce_header;
use crate::error::Error;
use crate::keys::{DeviceKey, KeyType};
use crate::protocol::Uuid;
use std::ffi::c_char;

/// A private key that never leaves the device: RSA (2048-4096 bits), ECDSA P-256 or
/// Ed25519.
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

/// The types of device key. P-256 is the one new devices should use: it takes
/// milliseconds to generate (RSA up to seconds on a phone) and hardware key stores hold it.
#[repr(i32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum dashauth_key_type {
    /// RSA 2048-4096 bits (generated at 2048), PKCS#1 v1.5 signatures with SHA-256.
    Rsa = 0,
    /// ECDSA P-256 with SHA-256, DER-encoded signatures.
    P256 = 1,
    /// Ed25519 (RFC 8032).
    Ed25519 = 2,
}

impl From<KeyType> for dashauth_key_type {
    fn from(key_type: KeyType) -> Self {
        match key_type {
            KeyType::Rsa => dashauth_key_type::Rsa,
            KeyType::P256 => dashauth_key_type::P256,
            KeyType::Ed25519 => dashauth_key_type::Ed25519,
        }
    }
}

/// The key type a C caller named; the value is taken as a plain integer, so that an
/// out-of-range value is an error rather than undefined behaviour.
fn key_type_of(value: i32) -> Result<KeyType, Error> {
    match value {
        0 => Ok(KeyType::Rsa),
        1 => Ok(KeyType::P256),
        2 => Ok(KeyType::Ed25519),
        other => Err(Error::InvalidArgument(format!(
            "key type {other} is not a dashauth_key_type (0 RSA, 1 P-256, 2 Ed25519)"
        ))),
    }
}

/// Generates a new key of `key_type` (a dashauth_key_type value) from the operating
/// system's random generator.
///
/// On OK, `*key_out` is a new key, freed with dashauth_device_key_free. P-256 and Ed25519
/// take well under a millisecond; RSA blocks for 50 ms to a few seconds on a phone (call
/// it off the game's main thread).
///
/// Returns OK, NULL_ARGUMENT, INVALID_ARGUMENT (not a key type), CRYPTO, PANIC.
///
/// # Safety
/// `key_out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dashauth_device_key_generate_type(
    key_type: i32,
    key_out: *mut *mut dashauth_device_key,
) -> dashauth_status {
    ffi_status(|| {
        // SAFETY: the caller's contract.
        let out = unsafe { Out::new(key_out, "key_out") }?;
        let key_type = key_type_of(key_type)?;
        out.write(to_boxed_mut_ptr(DeviceKey::generate_type(key_type)?));
        Ok(())
    })
}

/// The type of `key`.
///
/// On OK, `*type_out` is written. Does not block.
///
/// Returns OK, NULL_ARGUMENT, PANIC.
///
/// # Safety
/// `key` is NULL or a live key; `type_out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dashauth_device_key_type(
    key: *const dashauth_device_key,
    type_out: *mut dashauth_key_type,
) -> dashauth_status {
    ffi_status(|| {
        // SAFETY: the caller's contract, for each argument.
        let (key, out) = unsafe { (try_ref(key, "key")?, Out::new(type_out, "type_out")?) };
        out.write(key.key_type().into());
        Ok(())
    })
}

/// Reads a private key from PKCS#8 PEM text ("-----BEGIN PRIVATE KEY-----"): RSA of
/// 2048-4096 bits, P-256 or Ed25519.
///
/// On OK, `*key_out` is a new key, freed with dashauth_device_key_free. Does not block.
///
/// Returns OK, NULL_ARGUMENT, INVALID_ARGUMENT (bad UTF-8, empty, over 16 KiB, not an
/// RSA, P-256 or Ed25519 PKCS#8 key, wrong RSA size), PANIC.
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

/// Signs a nonce with the key's own algorithm: standard base64 (padded) of the signature of
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
