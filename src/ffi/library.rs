//! Library-wide functions: version, status names, last error, clock.

use super::error::last_error_ptr;
use super::ffi_value;
use super::status::{RawStatus, dashauth_status};
use super::strings::EMPTY;
use std::ffi::{CStr, c_char};
use std::panic::{AssertUnwindSafe, catch_unwind};

const VERSION: &CStr =
    match CStr::from_bytes_with_nul(concat!(env!("CARGO_PKG_VERSION"), "\0").as_bytes()) {
        Ok(v) => v,
        Err(_) => c"unknown",
    };

/// The library version, e.g. "0.1.0" (the same as DASHAUTH_VERSION_STRING for a matching
/// header).
///
/// Returns a static string: never NULL, never freed. Does not block.
#[unsafe(no_mangle)]
pub extern "C" fn dashauth_version() -> *const c_char {
    ffi_value(VERSION.as_ptr(), || VERSION.as_ptr())
}

/// The name of a status code, e.g. "DASHAUTH_STATUS_NOT_FOUND"; "DASHAUTH_STATUS_UNKNOWN"
/// for a value that is not a listed code.
///
/// Returns a static string: never NULL, never freed. Does not block. Unlike every other
/// function it leaves the last error message untouched, so that
/// `dashauth_status_str(s)` and `dashauth_last_error_message()` can be arguments of the
/// same call in either evaluation order.
#[unsafe(no_mangle)]
pub extern "C" fn dashauth_status_str(status: RawStatus) -> *const c_char {
    catch_unwind(AssertUnwindSafe(|| {
        dashauth_status::from_raw(status)
            .map(dashauth_status::name)
            .unwrap_or(c"DASHAUTH_STATUS_UNKNOWN")
            .as_ptr()
    }))
    .unwrap_or(c"DASHAUTH_STATUS_UNKNOWN".as_ptr())
}

/// The detailed message of the last failed call on the calling thread, or "" when the
/// last call succeeded.
///
/// Every other function clears it on entry (except dashauth_status_str). The string is
/// owned by the library and valid until the next dashauth_ call on the same thread;
/// copy it to keep it. Never NULL. Does not block.
#[unsafe(no_mangle)]
pub extern "C" fn dashauth_last_error_message() -> *const c_char {
    catch_unwind(last_error_ptr).unwrap_or(EMPTY.as_ptr())
}

/// UNIX time in milliseconds from the device's system clock: what dashauth_sign_nonce
/// and dashauth_nonce_header callers pass and use. Calls that take a client sign with
/// the server's time as learned instead (see dashauth_client_clock_offset_ms).
///
/// Returns 0 if the clock is before 1970. Does not block.
#[unsafe(no_mangle)]
pub extern "C" fn dashauth_now_ms() -> i64 {
    ffi_value(0, crate::clock::now_ms)
}
