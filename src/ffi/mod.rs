//! The C boundary, and only that: every `extern "C"` function of `include/dashauth.h`.
//!
//! Each export is a thin shell around the safe core ([`crate::client`], [`crate::login`],
//! [`crate::device`], [`crate::keys`]) run inside [`ffi_status`] (or [`ffi_value`] /
//! [`ffi_void`] for functions without a status): that clears the calling thread's last
//! error, catches panics, and turns `Result` into a `dashauth_status` with out-parameters
//! written only on success. Pointers in become references through [`handles`] and
//! [`strings`], which check NULL and UTF-8; nothing here knows about HTTP.
//!
//! cbindgen reads this directory (and only this directory) to write the header. C type
//! names are used as they are, hence lower-case type names.
#![allow(non_camel_case_types)]

pub mod challenge;
pub mod client;
pub mod device;
pub mod device_key;
pub mod error;
pub mod handles;
pub mod library;
pub mod login;
pub mod status;
pub mod strings;

use status::{Failure, dashauth_status};
use std::any::Any;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::ptr::NonNull;

/// What an export's body returns on success: nothing (status OK) or a status of its
/// own (`PENDING`).
pub(crate) trait IntoStatus {
    fn into_status(self) -> dashauth_status;
}

impl IntoStatus for () {
    fn into_status(self) -> dashauth_status {
        dashauth_status::Ok
    }
}

impl IntoStatus for dashauth_status {
    fn into_status(self) -> dashauth_status {
        self
    }
}

/// The panic boundary of every export that returns a status: clears the last error,
/// runs `body`, records the failure's message, and turns a panic into
/// `DASHAUTH_STATUS_PANIC`.
pub(crate) fn ffi_status<R: IntoStatus>(
    body: impl FnOnce() -> Result<R, Failure>,
) -> dashauth_status {
    error::clear_last_error();
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(result)) => result.into_status(),
        Ok(Err(failure)) => {
            error::set_last_error(&failure.to_string());
            failure.status()
        }
        Err(payload) => {
            error::set_last_error(&panic_message(payload.as_ref()));
            dashauth_status::Panic
        }
    }
}

/// The panic boundary of exports that return a value instead of a status: a panic
/// returns `default`.
pub(crate) fn ffi_value<T>(default: T, body: impl FnOnce() -> T) -> T {
    error::clear_last_error();
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(value) => value,
        Err(payload) => {
            error::set_last_error(&panic_message(payload.as_ref()));
            default
        }
    }
}

/// The panic boundary of exports that return nothing.
pub(crate) fn ffi_void(body: impl FnOnce()) {
    ffi_value((), body)
}

fn panic_message(payload: &(dyn Any + Send)) -> String {
    crate::error::Error::from_panic(payload).to_string()
}

/// A checked out-parameter: not NULL, written at most once, and only by a call that then
/// returns OK (by convention: write after everything that can fail).
pub(crate) struct Out<T>(NonNull<T>);

impl<T> Out<T> {
    /// # Safety
    /// `ptr` is NULL or valid for a write of `T` (alignment included).
    pub(crate) unsafe fn new(ptr: *mut T, name: &'static str) -> Result<Self, Failure> {
        NonNull::new(ptr)
            .map(Out)
            .ok_or(Failure::NullArgument(name))
    }

    /// Writes the value without reading or dropping what was there (C out-parameters
    /// are often uninitialised).
    pub(crate) fn write(self, value: T) {
        // SAFETY: `new`'s contract: the pointer is valid for a write of T.
        unsafe { self.0.as_ptr().write(value) }
    }
}
