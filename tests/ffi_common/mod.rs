//! Helpers shared by the FFI tests: they call the exported functions exactly as C does
//! (raw pointers, NUL-terminated strings, out-parameters), against the real reference
//! server on a free loopback port.
#![allow(dead_code)]

mod login;
#[allow(unused_imports)]
pub use login::Login;

use dashauth::ffi::challenge::*;
use dashauth::ffi::client::*;
use dashauth::ffi::library::*;
pub use dashauth::ffi::status::dashauth_status;
use dashauth::ffi::strings::dashauth_string_free;
use dashauth::server::{Config, ServerHandle};
use std::ffi::{CStr, CString, c_char};
use std::ptr;
use std::time::{Duration, Instant};

pub use dashauth::ffi::status::dashauth_status as S;

/// Stored in an integer out-parameter before a call that must fail: still there
/// afterwards proves the call did not write it (0 could also be a written value).
pub const U32_SENTINEL: u32 = 0xDEAD_BEEF;
/// As [`U32_SENTINEL`], for `int64_t` out-parameters.
pub const I64_SENTINEL: i64 = 0xDEAD_BEEF;

/// A non-NULL handle pointer for out-parameters of calls that must fail. Never
/// dereferenced (nor freed): it only shows whether the call overwrote it.
pub fn sentinel_handle<T>() -> *mut T {
    ptr::dangling_mut()
}

/// A static string for `char **` out-parameters of calls that must fail; compare the
/// pointer afterwards (it is never freed).
pub const SENTINEL_STR: &CStr = c"untouched";

/// [`SENTINEL_STR`] as the `char *` an out-parameter holds.
pub fn sentinel_str() -> *mut c_char {
    SENTINEL_STR.as_ptr().cast_mut()
}

/// A NUL-terminated copy of `s`.
pub fn cs(s: &str) -> CString {
    CString::new(s).expect("test strings have no NUL")
}

/// The calling thread's last error message.
pub fn last_error() -> String {
    // SAFETY: the library returns a valid NUL-terminated string, never NULL.
    unsafe { CStr::from_ptr(dashauth_last_error_message()) }
        .to_str()
        .expect("UTF-8 message")
        .to_string()
}

/// Copies a borrowed C string.
pub fn borrowed(p: *const c_char) -> String {
    assert!(!p.is_null(), "borrowed strings are never NULL");
    // SAFETY: checked not NULL; the library's borrowed strings are NUL-terminated.
    unsafe { CStr::from_ptr(p) }
        .to_str()
        .expect("UTF-8")
        .to_string()
}

/// Copies an owned C string and frees it with dashauth_string_free.
pub fn take(p: *mut c_char) -> String {
    let s = borrowed(p);
    // SAFETY: an owned string from the library, freed once.
    unsafe { dashauth_string_free(p) };
    s
}

/// Asserts a status, showing the last error when it differs.
#[track_caller]
pub fn expect(status: dashauth_status, expected: dashauth_status) {
    assert_eq!(status, expected, "last error: {}", last_error());
}

/// A fresh reference server with its embedded GD emulator.
pub fn server() -> ServerHandle {
    server_with(Config::default())
}

pub fn server_with(config: Config) -> ServerHandle {
    ServerHandle::start(config).expect("reference server starts")
}

/// The gjp2 a test player uses (any text works with the emulator, fixed per account).
pub fn gjp2_of(account_id: u32) -> String {
    format!("{:040x}", u128::from(account_id) * 0x9e37_79b9_7f4a_7c15)
}

/// An owned `dashauth_client *`, freed on drop.
pub struct Client(pub *mut dashauth_client);

impl Client {
    /// A client for `base_url`, sending GD messages to `gd_url`.
    pub fn new(base_url: &str, gd_url: &str) -> Client {
        let mut client = ptr::null_mut();
        // SAFETY: valid strings and out-parameter.
        unsafe {
            expect(
                dashauth_client_new(cs(base_url).as_ptr(), &mut client),
                S::Ok,
            );
            expect(
                dashauth_client_set_gd_url(client, cs(gd_url).as_ptr()),
                S::Ok,
            );
        }
        Client(client)
    }

    /// A client for `server` and its emulator.
    pub fn for_server(server: &ServerHandle) -> Client {
        Client::new(&server.base_url(), &server.gd_url())
    }

    pub fn ptr(&self) -> *const dashauth_client {
        self.0
    }

    pub fn set_timeout_ms(&self, ms: u32) {
        // SAFETY: a live client.
        expect(unsafe { dashauth_client_set_timeout_ms(self.0, ms) }, S::Ok);
    }

    pub fn set_login_deadline_ms(&self, ms: u32) {
        // SAFETY: a live client.
        expect(
            unsafe { dashauth_client_set_login_deadline_ms(self.0, ms) },
            S::Ok,
        );
    }

    /// `whoami` through the C API: (status, account id, expiry).
    pub fn whoami(&self, token: &str) -> (dashauth_status, u32, i64) {
        let (mut account, mut expires) = (U32_SENTINEL, I64_SENTINEL);
        // SAFETY: valid pointers.
        let status = unsafe {
            dashauth_client_whoami(self.0, cs(token).as_ptr(), &mut account, &mut expires)
        };
        (status, account, expires)
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        // SAFETY: owned, freed once.
        unsafe { dashauth_client_free(self.0) }
    }
}

// SAFETY: a dashauth_client is documented as usable from many threads at once.
unsafe impl Send for Client {}
// SAFETY: as above.
unsafe impl Sync for Client {}

/// An owned `dashauth_challenge *`, freed on drop.
pub struct Challenge(pub *mut dashauth_challenge);

impl Challenge {
    pub fn request(client: &Client, account_id: u32) -> Challenge {
        let mut challenge = ptr::null_mut();
        // SAFETY: valid pointers.
        expect(
            unsafe { dashauth_request_challenge(client.ptr(), account_id, &mut challenge) },
            S::Ok,
        );
        Challenge(challenge)
    }

    pub fn send(&self, client: &Client, account_id: u32, gjp2: &str) -> dashauth_status {
        // SAFETY: valid pointers.
        unsafe { dashauth_send_gd_message(client.ptr(), self.0, account_id, cs(gjp2).as_ptr()) }
    }

    /// One poll: (status, token if OK).
    pub fn poll(&self, client: &Client) -> (dashauth_status, Option<String>) {
        let mut token = sentinel_str();
        // SAFETY: valid pointers.
        let status = unsafe { dashauth_poll_completion(client.ptr(), self.0, &mut token) };
        if status == S::Ok {
            (status, Some(take(token)))
        } else {
            assert_eq!(token, sentinel_str(), "no token written on {status:?}");
            (status, None)
        }
    }

    /// Polls until the bot has seen the message.
    pub fn wait_token(&self, client: &Client) -> String {
        let until = Instant::now() + Duration::from_secs(30);
        loop {
            match self.poll(client) {
                (S::Ok, Some(token)) => return token,
                (S::Pending, _) if Instant::now() < until => {}
                (status, _) => panic!("poll: {status:?}: {}", last_error()),
            }
        }
    }
}

impl Drop for Challenge {
    fn drop(&mut self) {
        // SAFETY: owned, freed once.
        unsafe { dashauth_challenge_free(self.0) }
    }
}

/// A login token for `account_id`, obtained with the three steps.
pub fn token_for(client: &Client, account_id: u32) -> String {
    let challenge = Challenge::request(client, account_id);
    expect(
        challenge.send(client, account_id, &gjp2_of(account_id)),
        S::Ok,
    );
    challenge.wait_token(client)
}

/// Wraps a raw pointer so a test can hand it to another thread.
pub struct SendPtr<T>(pub *mut T);

// By hand: derive would require `T: Copy`, and handle types are not.
impl<T> Clone for SendPtr<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for SendPtr<T> {}
impl<T> SendPtr<T> {
    /// The pointer. A closure that calls this captures the whole `SendPtr` (which is
    /// Send), where `ptr.0` would capture only the raw pointer (which is not).
    pub fn get(self) -> *mut T {
        self.0
    }
}

// SAFETY: only used for handles documented as thread-safe.
unsafe impl<T> Send for SendPtr<T> {}
// SAFETY: as above.
unsafe impl<T> Sync for SendPtr<T> {}
