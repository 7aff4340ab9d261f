//! `dashauth_client`: one DashAuth server and the GD server the player's message goes to.

use super::handles::{BoxCastable, free_box, to_boxed_mut_ptr, try_ref};
use super::status::{Failure, dashauth_status};
use super::strings::{owned_out, str_in};
use super::{Out, ffi_status, ffi_void};
use crate::client::{Client, Token};
use crate::device_store::DeviceStore;
use std::ffi::c_char;
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// A DashAuth server (base URL), the GD server the verification message goes to, the
/// per-request timeout and the login deadline.
///
/// Thread safety: may be used from any number of threads at once. The setters are
/// thread-safe too, but are meant to be called right after dashauth_client_new: a call
/// or login already running keeps the settings it started with.
pub struct dashauth_client {
    _private: [u8; 0],
}

/// The client behind a `dashauth_client`: immutable snapshots swapped by the setters.
pub(crate) struct ClientCell {
    current: RwLock<Arc<Client>>,
}

impl BoxCastable for dashauth_client {
    type RustType = ClientCell;
}

impl ClientCell {
    /// The settings now; unaffected by later setter calls.
    pub(crate) fn snapshot(&self) -> Arc<Client> {
        // The lock only guards an Arc swap; a poisoned one still holds a valid client.
        Arc::clone(&self.current.read().unwrap_or_else(|e| e.into_inner()))
    }

    fn update(&self, change: impl FnOnce(&Client) -> crate::Result<Client>) -> crate::Result<()> {
        let mut current = self.current.write().unwrap_or_else(|e| e.into_inner());
        *current = Arc::new(change(&current)?);
        Ok(())
    }
}

/// Looks up a client argument.
///
/// # Safety
/// `client` is NULL or a live `dashauth_client`.
pub(crate) unsafe fn client_arg(client: *const dashauth_client) -> Result<Arc<Client>, Failure> {
    // SAFETY: forwarded contract.
    unsafe { try_ref(client, "client") }.map(ClientCell::snapshot)
}

/// Creates a client for the DashAuth server at `base_url`, e.g.
/// "https://auth.example.com/api/v1" (https; plain http only for localhost, loopback and
/// private-network addresses such as 192.168.x.x or the Android emulator's 10.0.2.2, so
/// tokens never cross the internet in clear text). GD URL "https://www.boomlings.com/database", timeout 10 s per request,
/// login deadline 60 s.
///
/// On OK, `*client_out` is a new client, freed with dashauth_client_free. Does not block
/// (no request is made).
///
/// Returns OK, NULL_ARGUMENT, INVALID_ARGUMENT (bad UTF-8, not an http(s) URL, a query
/// or fragment, plain http to a public host, longer than 2048 bytes), PANIC.
///
/// # Safety
/// `base_url` is NULL or a NUL-terminated string; `client_out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dashauth_client_new(
    base_url: *const c_char,
    client_out: *mut *mut dashauth_client,
) -> dashauth_status {
    ffi_status(|| {
        // SAFETY: the caller's contract.
        let out = unsafe { Out::new(client_out, "client_out") }?;
        // SAFETY: the caller's contract.
        let base_url = unsafe { str_in(base_url, "base_url") }?;
        let client = Client::new(base_url)?;
        out.write(to_boxed_mut_ptr(ClientCell {
            current: RwLock::new(Arc::new(client)),
        }));
        Ok(())
    })
}

/// Sets the GD database URL the verification message is sent to: default
/// "https://www.boomlings.com/database"; a private server's, or the emulator's
/// ".../database". Plain http is allowed (GD itself speaks it).
///
/// Does not block. Calls and logins already running keep the old URL.
///
/// Returns OK, NULL_ARGUMENT, INVALID_ARGUMENT (bad UTF-8, not an http(s) URL), PANIC.
///
/// # Safety
/// `client` is NULL or a live client; `gd_database_url` is NULL or a NUL-terminated
/// string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dashauth_client_set_gd_url(
    client: *mut dashauth_client,
    gd_database_url: *const c_char,
) -> dashauth_status {
    ffi_status(|| {
        // SAFETY: the caller's contract.
        let cell = unsafe { try_ref(client.cast_const(), "client") }?;
        // SAFETY: the caller's contract.
        let url = unsafe { str_in(gd_database_url, "gd_database_url") }?;
        cell.update(|c| c.with_gd_url(url))?;
        Ok(())
    })
}

/// Sets the timeout of each HTTP request (connect to last byte), 1 ..= 600000 ms;
/// default 10000. Long polls are sized to fit in it.
///
/// Does not block. Calls and logins already running keep the old timeout.
///
/// Returns OK, NULL_ARGUMENT, INVALID_ARGUMENT (0 or above 600000), PANIC.
///
/// # Safety
/// `client` is NULL or a live client.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dashauth_client_set_timeout_ms(
    client: *mut dashauth_client,
    timeout_ms: u32,
) -> dashauth_status {
    ffi_status(|| {
        // SAFETY: the caller's contract.
        let cell = unsafe { try_ref(client.cast_const(), "client") }?;
        cell.update(|c| c.with_timeout(Duration::from_millis(timeout_ms.into())))?;
        Ok(())
    })
}

/// Sets how long a whole login (dashauth_login_start) may take before it fails with
/// TIMED_OUT, 1 ..= 3600000 ms; default 60000.
///
/// Does not block. Logins already running keep their deadline.
///
/// Returns OK, NULL_ARGUMENT, INVALID_ARGUMENT (0 or above 3600000), PANIC.
///
/// # Safety
/// `client` is NULL or a live client.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dashauth_client_set_login_deadline_ms(
    client: *mut dashauth_client,
    deadline_ms: u32,
) -> dashauth_status {
    ffi_status(|| {
        // SAFETY: the caller's contract.
        let cell = unsafe { try_ref(client.cast_const(), "client") }?;
        cell.update(|c| c.with_login_deadline(Duration::from_millis(deadline_ms.into())))?;
        Ok(())
    })
}

/// Keeps the devices that dashauth_auth_start enrols in the credential store file at
/// `path` (UTF-8; on Windows any Unicode path works), shared by every mod and process
/// that names the same file: one GD verification then serves every DashAuth mod of the
/// player on that server. The file is JSON with a format version, created readable by
/// the user only (0600), written atomically under a file lock; it holds device keys and
/// certificates per (server, account), never a gjp2. A corrupt or too-new file is moved
/// aside (`<name>.corrupt-<time>`) and the sign-in goes on through GD. Without a store,
/// devices live as long as the client.
///
/// Geode mods: use one path for all DashAuth mods, e.g. a `dashauth/credentials.json`
/// next to the mods' save directories, not each mod's own directory.
///
/// Touches the disk once: creates the missing directories above the file (0700 on
/// unix) and its lock file, so a path that cannot work fails here rather than at every
/// player's launch. Sign-ins already running keep the store they started with.
///
/// Returns OK, NULL_ARGUMENT, INVALID_ARGUMENT (bad UTF-8, empty, over 4096 bytes, a
/// directory), STORE (the directory cannot be created or written), PANIC.
///
/// # Safety
/// `client` is NULL or a live client; `path` is NULL or a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dashauth_client_set_credential_store(
    client: *mut dashauth_client,
    path: *const c_char,
) -> dashauth_status {
    ffi_status(|| {
        // SAFETY: the caller's contract.
        let cell = unsafe { try_ref(client.cast_const(), "client") }?;
        // SAFETY: the caller's contract.
        let path = unsafe { str_in(path, "path") }?;
        // Prepared before the client's lock is taken: other threads using the client
        // never wait for the disk.
        let store = DeviceStore::file(std::path::Path::new(path))?;
        cell.update(|c| Ok(c.with_device_store(store)))?;
        Ok(())
    })
}

/// The offset between the DashAuth server's clock and this device's that the client
/// learned from the server's answers (`Date` headers, clock-skew refusals): server minus
/// local, in ms; 0 until learned, and for a clock within about 2 s of the server's.
/// Nonces are signed with the corrected time, so a device whose clock is hours off still
/// signs in; a mod may show the offset to explain other time-related trouble.
///
/// Does not block. Returns OK, NULL_ARGUMENT, PANIC.
///
/// # Safety
/// `client` is NULL or a live client; `offset_out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dashauth_client_clock_offset_ms(
    client: *const dashauth_client,
    offset_out: *mut i64,
) -> dashauth_status {
    ffi_status(|| {
        // SAFETY: the caller's contract, for each argument.
        let (client, out) = unsafe { (client_arg(client)?, Out::new(offset_out, "offset_out")?) };
        out.write(client.clock().get());
        Ok(())
    })
}

/// Asks the server whose token `token` is (GET whoami): on OK, `*account_id_out` is the
/// GD account id and `*expires_at_out` the expiry (UNIX ms). Works for login tokens and
/// device session tokens.
///
/// Blocks for one HTTP request (up to the timeout): call it off the game's main thread.
///
/// Returns OK, NULL_ARGUMENT, INVALID_ARGUMENT (token empty, over 4096 bytes, or not
/// visible ASCII), NETWORK, UNAUTHORIZED (unknown, expired or revoked token),
/// RATE_LIMITED, HTTP, PROTOCOL, PANIC.
///
/// # Safety
/// `client` is NULL or a live client; `token` is NULL or a NUL-terminated string; the
/// out-parameters are NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dashauth_client_whoami(
    client: *const dashauth_client,
    token: *const c_char,
    account_id_out: *mut u32,
    expires_at_out: *mut i64,
) -> dashauth_status {
    ffi_status(|| {
        // SAFETY: the caller's contract, for each argument.
        let (client, token, account_out, expires_out) = unsafe {
            (
                client_arg(client)?,
                str_in(token, "token")?,
                Out::new(account_id_out, "account_id_out")?,
                Out::new(expires_at_out, "expires_at_out")?,
            )
        };
        let who = client.whoami(&Token::parse(token)?)?;
        account_out.write(who.account_id);
        expires_out.write(who.expires_at);
        Ok(())
    })
}

/// Trades a login or session token for an access token (POST token/exchange): a JWT for
/// `audience` (your mod's id or your backend's URL, 1-128 visible ASCII characters) that
/// your backend verifies offline against the server's JWKS. Hand your backend this, never
/// the login token. A login token requested for an audience only exchanges for that one.
///
/// On OK, `*access_token_out` is a new string (free with dashauth_string_free) and
/// `*expires_at_out` its expiry (UNIX ms); on failure neither is written. Blocks for one
/// HTTP request (up to the timeout): call it off the game's main thread.
///
/// Returns OK, NULL_ARGUMENT, INVALID_ARGUMENT (malformed token or audience), NETWORK,
/// UNAUTHORIZED (unknown, expired or revoked token), FORBIDDEN (the login token is bound
/// to another audience), RATE_LIMITED, HTTP, PROTOCOL, PANIC.
///
/// # Safety
/// `client` is NULL or a live client; `bearer_token` and `audience` are NULL or
/// NUL-terminated strings; the out-parameters are NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dashauth_client_exchange_token(
    client: *const dashauth_client,
    bearer_token: *const c_char,
    audience: *const c_char,
    access_token_out: *mut *mut c_char,
    expires_at_out: *mut i64,
) -> dashauth_status {
    ffi_status(|| {
        // SAFETY: the caller's contract, for each argument.
        let (client, token, audience, token_out, expires_out) = unsafe {
            (
                client_arg(client)?,
                str_in(bearer_token, "bearer_token")?,
                str_in(audience, "audience")?,
                Out::new(access_token_out, "access_token_out")?,
                Out::new(expires_at_out, "expires_at_out")?,
            )
        };
        let token = Token::parse(token)?;
        let data = client.exchange_token(&token.bearer(), audience)?;
        let access = owned_out(&data.access_token, "access token")?;
        token_out.write(access);
        expires_out.write(data.expires_at);
        Ok(())
    })
}

/// Revokes a login or session token on the server (POST token/revoke), e.g. on logout.
///
/// Blocks for one HTTP request (up to the timeout): call it off the game's main thread.
///
/// Returns OK, NULL_ARGUMENT, INVALID_ARGUMENT (malformed token), NETWORK,
/// UNAUTHORIZED (unknown, expired or already revoked token), RATE_LIMITED, HTTP,
/// PROTOCOL, PANIC.
///
/// # Safety
/// `client` is NULL or a live client; `token` is NULL or a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dashauth_client_revoke_token(
    client: *const dashauth_client,
    token: *const c_char,
) -> dashauth_status {
    ffi_status(|| {
        // SAFETY: the caller's contract, for each argument.
        let (client, token) = unsafe { (client_arg(client)?, str_in(token, "token")?) };
        client.revoke_token(&Token::parse(token)?)?;
        Ok(())
    })
}

/// Frees a client. NULL is fine; must not be called twice, nor while another thread
/// still uses the client. Logins started from it keep running with their own copy of
/// its settings. Does not block.
///
/// # Safety
/// `client` is NULL or a live client that no other call is using.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dashauth_client_free(client: *mut dashauth_client) {
    // SAFETY: the caller's contract.
    ffi_void(|| unsafe { free_box(client) })
}
