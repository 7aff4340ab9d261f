//! Strings across the boundary: `const char *` in (NULL and UTF-8 checked), owned
//! `char *` out (freed only by `dashauth_string_free`), and static or cached borrowed
//! strings.

use super::ffi_void;
use super::status::Failure;
use crate::error::Error;
use std::ffi::{CStr, CString, c_char};

/// The borrowed string returned for a NULL handle: static, empty.
pub(crate) const EMPTY: &CStr = c"";

/// Reads a NUL-terminated UTF-8 argument.
///
/// # Safety
/// `ptr` is NULL or points to a NUL-terminated string that stays valid and unchanged for
/// `'a`.
pub(crate) unsafe fn str_in<'a>(
    ptr: *const c_char,
    name: &'static str,
) -> Result<&'a str, Failure> {
    if ptr.is_null() {
        return Err(Failure::NullArgument(name));
    }
    // SAFETY: not NULL, and NUL-terminated by the caller's contract.
    let cstr = unsafe { CStr::from_ptr(ptr) };
    cstr.to_str().map_err(|e| {
        Failure::Error(Error::InvalidArgument(format!(
            "`{name}` is not valid UTF-8 (byte {})",
            e.valid_up_to()
        )))
    })
}

/// A C copy of `s` for a borrowed accessor; text with a NUL byte is refused rather than
/// cut short.
pub(crate) fn cstring(s: &str, what: &str) -> Result<CString, Failure> {
    CString::new(s)
        .map_err(|_| Failure::Error(Error::Protocol(format!("{what} contains a NUL byte"))))
}

/// Hands `s` to C as an owned string, to be freed with `dashauth_string_free`. C must
/// not change its length: `CString::from_raw` there recomputes the allocation size from
/// it.
pub(crate) fn owned_out(s: &str, what: &str) -> Result<*mut c_char, Failure> {
    cstring(s, what).map(CString::into_raw)
}

/// Frees a string returned by this library (tokens, PEM text, JSON, headers).
///
/// NULL is fine. Must not be called twice on the same string, nor on a borrowed
/// `const char *` (those belong to their handle or are static). Never use `free()` on
/// these strings: the library and the mod may use different heaps. Does not block.
///
/// Treat a returned string as read-only: do not write into it, and in particular do not
/// change its length by writing a NUL byte inside it or overwriting its terminating NUL.
/// The library finds the size of the allocation to free from the string's length, so a
/// string whose length changed is undefined behaviour here. Copy it to modify it.
///
/// # Safety
/// `s` is NULL or a string returned through a `char **` out-parameter of this library,
/// not yet freed, and unmodified since (same bytes up to the same terminating NUL).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dashauth_string_free(s: *mut c_char) {
    ffi_void(|| {
        if !s.is_null() {
            // SAFETY: the caller's contract: it came from CString::into_raw in owned_out.
            drop(unsafe { CString::from_raw(s) });
        }
    })
}
