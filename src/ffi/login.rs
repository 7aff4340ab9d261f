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

/// Reports a login's progress. Never blocks: call it every frame.
///
/// `*stage_out` is always written when the arguments are valid. On OK, `*token_out` is
/// a new copy of the token (free with dashauth_string_free); each call after completion
/// returns another copy.
///
/// Returns PENDING while running; OK once done; once failed, the failure's status each
/// time, with its message in dashauth_last_error_message: NETWORK (DashAuth server
/// unreachable, within seconds), GD's -1 diagnosed as GD_BAD_CREDENTIALS,
/// GD_BOT_BLOCKED, GD_MESSAGES_REFUSED or GD_OUTBOX_FULL (GD_REJECTED when unexplained;
/// see dashauth_send_gd_message), GD_BLOCKED, GD_UNAVAILABLE, NOT_FOUND, RATE_LIMITED,
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
