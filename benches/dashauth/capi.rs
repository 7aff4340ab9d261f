//! The C API, called exactly as a C++ mod calls it (`dashauth::ffi::*` are the exported
//! `extern "C"` functions), behind small safe wrappers for the benchmark code.

use dashauth::ffi::client::{
    dashauth_client, dashauth_client_free, dashauth_client_new,
    dashauth_client_set_credential_store, dashauth_client_set_gd_url,
};
use dashauth::ffi::device_key::{
    dashauth_device_key, dashauth_device_key_free, dashauth_device_key_generate,
    dashauth_sign_nonce,
};
use dashauth::ffi::library::dashauth_last_error_message;
use dashauth::ffi::login::{
    dashauth_auth_start, dashauth_login, dashauth_login_free, dashauth_login_poll,
    dashauth_login_stage, dashauth_login_start,
};
use dashauth::ffi::status::dashauth_status;
use dashauth::ffi::strings::dashauth_string_free;
use std::ffi::{CStr, CString, c_char};
use std::ptr;

fn cstring(s: &str) -> CString {
    CString::new(s).expect("no NUL in benchmark strings")
}

fn last_error() -> String {
    // SAFETY: the library returns a valid NUL-terminated string it owns.
    unsafe { CStr::from_ptr(dashauth_last_error_message()) }
        .to_string_lossy()
        .into_owned()
}

/// Takes ownership of a string the library returned.
fn take_string(s: *mut c_char) -> String {
    // SAFETY: `s` came from the library and is freed right after the copy.
    let copy = unsafe { CStr::from_ptr(s) }.to_string_lossy().into_owned();
    unsafe { dashauth_string_free(s) };
    copy
}

/// A `dashauth_client` for the server and its emulator.
pub struct Client(*mut dashauth_client);

// A dashauth_client is immutable once built and may be shared (c-api.md).
unsafe impl Sync for Client {}

impl Client {
    /// `dashauth_client_new` + `dashauth_client_set_gd_url`.
    pub fn new(base_url: &str, gd_url: &str) -> Client {
        let mut client = ptr::null_mut();
        let base = cstring(base_url);
        // SAFETY: valid strings and out pointer.
        let status = unsafe { dashauth_client_new(base.as_ptr(), &mut client) };
        assert_eq!(status, dashauth_status::Ok, "client_new: {}", last_error());
        let gd = cstring(gd_url);
        // SAFETY: a live client and a valid string.
        let status = unsafe { dashauth_client_set_gd_url(client, gd.as_ptr()) };
        assert_eq!(status, dashauth_status::Ok, "set_gd_url: {}", last_error());
        Client(client)
    }

    /// `dashauth_client_set_credential_store`.
    pub fn set_credential_store(&self, path: &std::path::Path) {
        let path = cstring(path.to_str().expect("UTF-8 path"));
        // SAFETY: a live client and a valid string.
        let status = unsafe { dashauth_client_set_credential_store(self.0, path.as_ptr()) };
        assert_eq!(
            status,
            dashauth_status::Ok,
            "set_credential_store: {}",
            last_error()
        );
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        // SAFETY: our own client, freed once.
        unsafe { dashauth_client_free(self.0) }
    }
}

/// A running `dashauth_login`; freed on drop.
pub struct Login(*mut dashauth_login);

/// What one poll said.
pub enum Poll {
    Pending,
    Done(String),
    Failed(String),
}

impl Login {
    /// `dashauth_login_start` for `account_id` with its own gjp2.
    pub fn start(client: &Client, account_id: u32) -> Login {
        let gjp2 = cstring(&gjp2_of(account_id));
        let mut login = ptr::null_mut();
        // SAFETY: a live client, a valid string and out pointer.
        let status =
            unsafe { dashauth_login_start(client.0, account_id, gjp2.as_ptr(), &mut login) };
        assert_eq!(status, dashauth_status::Ok, "login_start: {}", last_error());
        Login(login)
    }

    /// `dashauth_auth_start` for `account_id` with its own gjp2.
    pub fn authenticate(client: &Client, account_id: u32, audience: &str) -> Login {
        let gjp2 = cstring(&gjp2_of(account_id));
        let audience = cstring(audience);
        let mut login = ptr::null_mut();
        // SAFETY: a live client, valid strings and out pointer.
        let status = unsafe {
            dashauth_auth_start(
                client.0,
                account_id,
                gjp2.as_ptr(),
                audience.as_ptr(),
                &mut login,
            )
        };
        assert_eq!(status, dashauth_status::Ok, "auth_start: {}", last_error());
        Login(login)
    }

    /// `dashauth_login_poll`: never blocks.
    pub fn poll(&mut self) -> Poll {
        let mut stage = dashauth_login_stage::RequestingChallenge;
        let mut token = ptr::null_mut();
        // SAFETY: a live login and valid out pointers.
        match unsafe { dashauth_login_poll(self.0, &mut stage, &mut token) } {
            dashauth_status::Pending => Poll::Pending,
            dashauth_status::Ok => Poll::Done(take_string(token)),
            status => Poll::Failed(format!("{status:?}: {}", last_error())),
        }
    }
}

impl Drop for Login {
    fn drop(&mut self) {
        // SAFETY: our own login, freed once.
        unsafe { dashauth_login_free(self.0) }
    }
}

/// A distinct gjp2 per account: the emulator ties each account to the first it sees.
pub fn gjp2_of(account_id: u32) -> String {
    format!("{account_id:040x}")
}

/// A `dashauth_device_key`; freed on drop.
pub struct DeviceKey(*mut dashauth_device_key);

impl DeviceKey {
    /// `dashauth_device_key_generate` (RSA-2048).
    pub fn generate() -> DeviceKey {
        let mut key = ptr::null_mut();
        // SAFETY: a valid out pointer.
        let status = unsafe { dashauth_device_key_generate(&mut key) };
        assert_eq!(
            status,
            dashauth_status::Ok,
            "key_generate: {}",
            last_error()
        );
        DeviceKey(key)
    }

    /// `dashauth_sign_nonce`, the signature freed at once (as a mod would after use).
    pub fn sign_nonce(&self, timestamp_ms: i64) {
        let mut signature = ptr::null_mut();
        // SAFETY: a live key and a valid out pointer.
        let status = unsafe { dashauth_sign_nonce(self.0, timestamp_ms, &mut signature) };
        assert_eq!(status, dashauth_status::Ok, "sign_nonce: {}", last_error());
        // SAFETY: the library's string, freed once.
        unsafe { dashauth_string_free(signature) };
    }
}

impl Drop for DeviceKey {
    fn drop(&mut self) {
        // SAFETY: our own key, freed once.
        unsafe { dashauth_device_key_free(self.0) }
    }
}
