//! `dashauth_login`: the whole flow on a worker thread, polled from the game's frame loop.

use super::challenge::account_arg;
use super::client::{client_arg, dashauth_client};
use super::handles::{BoxCastable, free_box, to_boxed_mut_ptr, try_ref};
use super::status::{Failure, dashauth_status};
use super::strings::{owned_out, str_in};
use super::{Out, ffi_status, ffi_void};
use crate::client::Gjp2;
use crate::login::{Login, Progress, Stage};
use std::ffi::c_char;

/// Where a login is, as reported by dashauth_login_poll.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum dashauth_login_stage {
    /// Asking the DashAuth server for a challenge.
    RequestingChallenge,
    /// Sending the verification message through GD.
    SendingMessage,
    /// Waiting for the server's bot to see the message.
    WaitingForBot,
    /// Verified; deleting the message from the player's outbox.
    CleaningUp,
    /// Finished with a token.
    Done,
    /// Finished with an error (including cancel and deadline).
    Failed,
    /// dashauth_auth_start: signing in with the stored device (one request, no GD
    /// message).
    SigningInWithDevice,
    /// dashauth_auth_start: the bot saw the message; registering the new device,
    /// storing it and getting the access token.
    EnrollingDevice,
}

impl From<Stage> for dashauth_login_stage {
    fn from(stage: Stage) -> Self {
        match stage {
            Stage::RequestingChallenge => Self::RequestingChallenge,
            Stage::SendingMessage => Self::SendingMessage,
            Stage::WaitingForBot => Self::WaitingForBot,
            Stage::CleaningUp => Self::CleaningUp,
            Stage::Done => Self::Done,
            Stage::Failed => Self::Failed,
            Stage::SigningInWithDevice => Self::SigningInWithDevice,
            Stage::EnrollingDevice => Self::EnrollingDevice,
        }
    }
}

/// A login running on its own worker thread (one thread per running login, none
/// otherwise).
///
/// Thread safety: may be polled, cancelled and freed from any thread, one call at a
/// time. Every function on it returns within microseconds, even while a request is in
/// flight.
pub struct dashauth_login {
    _private: [u8; 0],
}

impl BoxCastable for dashauth_login {
    type RustType = Login;
}

/// Starts a login for GD account `account_id`: request a challenge, send the GD message
/// with `gjp2` (to GD only), wait for the server's bot with long polls, then delete the
/// message from the player's outbox (best effort). The login copies the client's
/// settings, so the client may be changed or freed afterwards.
///
/// On OK, `*login_out` is a new login, freed with dashauth_login_free. Returns at once;
/// the work happens on a worker thread that ends with the login.
///
/// Returns OK, NULL_ARGUMENT, INVALID_ARGUMENT (account_id 0 or above 2147483647, gjp2
/// empty, over 256 bytes or not visible ASCII), NETWORK (no thread could be started),
/// PANIC. Failures of the flow itself are reported by dashauth_login_poll.
///
/// # Safety
/// `client` is NULL or a live client; `gjp2` is NULL or a NUL-terminated string;
/// `login_out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dashauth_login_start(
    client: *const dashauth_client,
    account_id: u32,
    gjp2: *const c_char,
    login_out: *mut *mut dashauth_login,
) -> dashauth_status {
    ffi_status(|| {
        // SAFETY: the caller's contract, for each argument.
        let (client, gjp2, out) = unsafe {
            (
                client_arg(client)?,
                str_in(gjp2, "gjp2")?,
                Out::new(login_out, "login_out")?,
            )
        };
        let login = Login::start(
            (*client).clone(),
            account_arg(account_id)?,
            Gjp2::parse(gjp2)?,
        )?;
        out.write(to_boxed_mut_ptr(login));
        Ok(())
    })
}

/// One call for a mod: signs player `account_id` in and hands out an access token (a JWT
/// for `audience`, your mod's id or backend URL, 1-128 visible ASCII characters) that
/// your backend verifies offline against the server's JWKS.
///
/// With a device kept for (server, account) in the client's credential store (see
/// dashauth_client_set_credential_store; without one, in memory for the client's life):
/// one nonce-signed request, no GD message, stage SIGNING_IN_WITH_DEVICE; a device with
/// 90 days or less left is rotated first. Without one, or when the server no longer
/// knows it (revoked, unknown, expired): a challenge, the GD message sent with `gjp2` (to
/// GD only; never stored), and the enrolment of a new P-256 key (stages
/// REQUESTING_CHALLENGE, SENDING_MESSAGE, WAITING_FOR_BOT, ENROLLING_DEVICE,
/// CLEANING_UP), kept for next time. A -1 from GD is diagnosed into the GD_* statuses;
/// nonces are signed with the server's time as learned, so a wrong device clock does
/// not matter.
///
/// On OK, `*login_out` is a new login, polled with dashauth_login_poll (which hands out
/// the access token) and freed with dashauth_login_free. Returns at once; the work
/// happens on a worker thread that ends with the login. The login copies the client's
/// settings, so the client may be changed or freed afterwards.
///
/// Returns OK, NULL_ARGUMENT, INVALID_ARGUMENT (account_id 0 or above 2147483647, gjp2
/// empty, over 256 bytes or not visible ASCII, audience not 1-128 visible ASCII),
/// NETWORK (no thread could be started), PANIC. Failures of the sign-in itself are
/// reported by dashauth_login_poll, including STORE when the credential store cannot be
/// read (nothing is sent then).
///
/// # Safety
/// `client` is NULL or a live client; `gjp2` and `audience` are NULL or NUL-terminated
/// strings; `login_out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dashauth_auth_start(
    client: *const dashauth_client,
    account_id: u32,
    gjp2: *const c_char,
    audience: *const c_char,
    login_out: *mut *mut dashauth_login,
) -> dashauth_status {
    ffi_status(|| {
        // SAFETY: the caller's contract, for each argument.
        let (client, gjp2, audience, out) = unsafe {
            (
                client_arg(client)?,
                str_in(gjp2, "gjp2")?,
                str_in(audience, "audience")?,
                Out::new(login_out, "login_out")?,
            )
        };
        let login = Login::authenticate(
            (*client).clone(),
            account_arg(account_id)?,
            Gjp2::parse(gjp2)?,
            audience,
        )?;
        out.write(to_boxed_mut_ptr(login));
        Ok(())
    })
}

/// While a login waits for the server's bot (stage WAITING_FOR_BOT): on OK,
/// `*eta_ms_out` is the number of ms until the bot next reads its inbox, when the server
/// said (0 once that moment has passed), else -1. Never blocks: call it every frame to
/// show "checking in 3 s".
///
/// Returns OK, NULL_ARGUMENT, PANIC.
///
/// # Safety
/// `login` is NULL or a live login; `eta_ms_out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dashauth_login_eta_ms(
    login: *const dashauth_login,
    eta_ms_out: *mut i64,
) -> dashauth_status {
    ffi_status(|| {
        // SAFETY: the caller's contract, for each argument.
        let (login, out) = unsafe {
            (
                try_ref(login, "login")?,
                Out::new(eta_ms_out, "eta_ms_out")?,
            )
        };
        let eta = login
            .eta_ms()
            .map_or(-1, |ms| i64::try_from(ms).unwrap_or(i64::MAX));
        out.write(eta);
        Ok(())
    })
}

/// Reports a login's progress. Never blocks: call it every frame.
///
/// `*stage_out` is always written when the arguments are valid. On OK, `*token_out` is
/// a new copy of the token (free with dashauth_string_free); each call after completion
/// returns another copy.
///
/// For dashauth_login_start the token is a login token; for dashauth_auth_start an
/// access token (JWT).
///
/// Returns PENDING while running; OK once done; once failed, the failure's status each
/// time, with its message in dashauth_last_error_message: NETWORK (DashAuth server
/// unreachable, within seconds), GD's -1 diagnosed as GD_BAD_CREDENTIALS,
/// GD_BOT_BLOCKED, GD_MESSAGES_REFUSED or GD_OUTBOX_FULL (GD_REJECTED when unexplained;
/// see dashauth_send_gd_message), GD_BLOCKED, GD_UNAVAILABLE, STORE, UNAUTHORIZED,
/// FORBIDDEN, CLOCK_SKEW, NOT_FOUND, RATE_LIMITED,
/// HTTP, PROTOCOL, TIMED_OUT (the bot did not see the message before the deadline),
/// CANCELLED, PANIC (an internal error of the worker thread; please report it). Also
/// NULL_ARGUMENT.
///
/// # Safety
/// `login` is NULL or a live login not used by another call at the same time;
/// `stage_out` and `token_out` are NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dashauth_login_poll(
    login: *mut dashauth_login,
    stage_out: *mut dashauth_login_stage,
    token_out: *mut *mut c_char,
) -> dashauth_status {
    ffi_status(|| {
        // SAFETY: the caller's contract, for each argument.
        let (login, stage_out, token_out) = unsafe {
            (
                try_ref(login.cast_const(), "login")?,
                Out::new(stage_out, "stage_out")?,
                Out::new(token_out, "token_out")?,
            )
        };
        match login.poll() {
            Progress::Running(stage) => {
                stage_out.write(stage.into());
                Ok(dashauth_status::Pending)
            }
            Progress::Done(token) => {
                let token = owned_out(token.as_str(), "token")?;
                stage_out.write(dashauth_login_stage::Done);
                token_out.write(token);
                Ok(dashauth_status::Ok)
            }
            Progress::Failed(e) => {
                stage_out.write(dashauth_login_stage::Failed);
                Err(Failure::Error(e))
            }
        }
    })
}

/// Cancels a running login: from now on dashauth_login_poll reports CANCELLED. No
/// effect on a finished login or NULL. Returns at once (a request in flight is
/// abandoned, and the worker thread ends after it).
///
/// # Safety
/// `login` is NULL or a live login not used by another call at the same time.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dashauth_login_cancel(login: *mut dashauth_login) {
    ffi_void(|| {
        // SAFETY: the caller's contract.
        if let Ok(login) = unsafe { try_ref(login.cast_const(), "login") } {
            login.cancel();
        }
    })
}

/// Frees a login, cancelling it if it is still running. NULL is fine; must not be
/// called twice. Returns at once, even while a request is in flight.
///
/// # Safety
/// `login` is NULL or a live login not used by another call at the same time.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dashauth_login_free(login: *mut dashauth_login) {
    // SAFETY: the caller's contract.
    ffi_void(|| unsafe { free_box(login) })
}
