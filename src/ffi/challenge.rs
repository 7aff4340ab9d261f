//! `dashauth_challenge` and the three protocol steps, each one blocking exchange: for
//! tools and tests (a game uses the login functions instead).

use super::client::{client_arg, dashauth_client};
use super::handles::{BoxCastable, free_box, to_boxed_mut_ptr, try_ref};
use super::status::{Failure, dashauth_status};
use super::strings::{EMPTY, cstring, owned_out, str_in};
use super::{Out, ffi_status, ffi_value, ffi_void};
use crate::client::{Challenge, Gjp2, Polled};
use crate::error::Error;
use crate::protocol::AccountId;
use std::ffi::{CString, c_char};

/// A challenge from dashauth_request_challenge: the bot account, the challenge text and
/// its id.
///
/// Thread safety: immutable; may be read from any number of threads at once.
pub struct dashauth_challenge {
    _private: [u8; 0],
}

/// The challenge with C copies of its strings for the borrowed accessors.
pub(crate) struct ChallengeCell {
    pub(crate) challenge: Challenge,
    text: CString,
    id: CString,
}

impl BoxCastable for dashauth_challenge {
    type RustType = ChallengeCell;
}

pub(crate) fn account_arg(account_id: u32) -> Result<AccountId, Failure> {
    AccountId::new(account_id).map_err(|e| Failure::Error(Error::InvalidArgument(e)))
}

/// Requests a challenge for GD account `account_id` (GET request_challenge/{id}).
///
/// On OK, `*challenge_out` is a new challenge, freed with dashauth_challenge_free.
/// Blocks for one HTTP request (up to the client's timeout).
///
/// Returns OK, NULL_ARGUMENT, INVALID_ARGUMENT (account_id 0 or above 2147483647),
/// NETWORK, RATE_LIMITED, HTTP, PROTOCOL, PANIC.
///
/// # Safety
/// `client` is NULL or a live client; `challenge_out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dashauth_request_challenge(
    client: *const dashauth_client,
    account_id: u32,
    challenge_out: *mut *mut dashauth_challenge,
) -> dashauth_status {
    ffi_status(|| {
        // SAFETY: the caller's contract, for each argument.
        let (client, out) = unsafe {
            (
                client_arg(client)?,
                Out::new(challenge_out, "challenge_out")?,
            )
        };
        let challenge = client.request_challenge(account_arg(account_id)?)?;
        let cell = ChallengeCell {
            text: cstring(&challenge.challenge, "challenge")?,
            id: cstring(&challenge.id.to_string(), "challenge id")?,
            challenge,
        };
        out.write(to_boxed_mut_ptr(cell));
        Ok(())
    })
}

/// The GD account the verification message goes to; 0 for NULL. Does not block.
///
/// # Safety
/// `challenge` is NULL or a live challenge.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dashauth_challenge_bot_account_id(
    challenge: *const dashauth_challenge,
) -> u32 {
    ffi_value(0, || {
        // SAFETY: the caller's contract.
        unsafe { try_ref(challenge, "challenge") }
            .map(|c| c.challenge.bot_account_id.get())
            .unwrap_or(0)
    })
}

/// The challenge text; the GD message subject is "auth-" followed by it. "" for NULL.
///
/// Borrowed: valid as long as the challenge; do not free. Does not block.
///
/// # Safety
/// `challenge` is NULL or a live challenge.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dashauth_challenge_text(
    challenge: *const dashauth_challenge,
) -> *const c_char {
    ffi_value(EMPTY.as_ptr(), || {
        // SAFETY: the caller's contract.
        unsafe { try_ref(challenge, "challenge") }
            .map(|c| c.text.as_ptr())
            .unwrap_or(EMPTY.as_ptr())
    })
}

/// The challenge id (a lowercase UUID) that dashauth_poll_completion polls with. "" for
/// NULL.
///
/// Borrowed: valid as long as the challenge; do not free. Does not block.
///
/// # Safety
/// `challenge` is NULL or a live challenge.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dashauth_challenge_id(
    challenge: *const dashauth_challenge,
) -> *const c_char {
    ffi_value(EMPTY.as_ptr(), || {
        // SAFETY: the caller's contract.
        unsafe { try_ref(challenge, "challenge") }
            .map(|c| c.id.as_ptr())
            .unwrap_or(EMPTY.as_ptr())
    })
}

/// Frees a challenge. NULL is fine; must not be called twice. Strings borrowed from it
/// become invalid. Does not block.
///
/// # Safety
/// `challenge` is NULL or a live challenge that no other call is using.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dashauth_challenge_free(challenge: *mut dashauth_challenge) {
    // SAFETY: the caller's contract.
    ffi_void(|| unsafe { free_box(challenge) })
}

/// Sends the verification message from GD account `account_id` to the challenge's bot,
/// subject "auth-" + challenge, through the client's GD URL (uploadGJMessage20.php).
/// `gjp2` is the player's GD credential as the game stores it; it goes to GD only,
/// never to the DashAuth server.
///
/// Blocks for one HTTP request to GD (up to the client's timeout); when GD answers -1,
/// for up to three more, which ask GD what the -1 meant (protocol.md section 6).
///
/// Returns OK, NULL_ARGUMENT, INVALID_ARGUMENT (account_id out of range, gjp2 empty,
/// over 256 bytes or not visible ASCII), and for a -1 from GD: GD_BAD_CREDENTIALS (GD
/// refuses the player's gjp2: log out and back in, in the game), GD_BOT_BLOCKED (the
/// player blocked the bot account: unblock it), GD_MESSAGES_REFUSED (the bot does not
/// accept the player's messages: only the server's operator can fix it),
/// GD_OUTBOX_FULL (the player's sent messages are at GD's limit: delete some),
/// GD_REJECTED (none of these could be established). Also GD_BLOCKED (GD's CDN or
/// RobTop's servers block this network: waiting does not help), GD_UNAVAILABLE (GD's
/// CDN refused, failed or rate-limits: try again in a few minutes), NETWORK, PANIC.
/// dashauth_last_error_message says what the player should do.
///
/// # Safety
/// `client` and `challenge` are NULL or live handles; `gjp2` is NULL or a
/// NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dashauth_send_gd_message(
    client: *const dashauth_client,
    challenge: *const dashauth_challenge,
    account_id: u32,
    gjp2: *const c_char,
) -> dashauth_status {
    ffi_status(|| {
        // SAFETY: the caller's contract, for each argument.
        let (client, cell, gjp2) = unsafe {
            (
                client_arg(client)?,
                try_ref(challenge, "challenge")?,
                str_in(gjp2, "gjp2")?,
            )
        };
        let gjp2 = Gjp2::parse(gjp2)?;
        client.send_gd_message(&cell.challenge, account_arg(account_id)?, &gjp2)?;
        Ok(())
    })
}

/// Asks whether the server's bot has seen the message (GET challenge_complete/{id}).
/// The server may hold the request (long poll) for up to 5 s, or half the client's
/// timeout if that is shorter.
///
/// On OK, `*token_out` is the token (free with dashauth_string_free); the challenge is
/// then consumed and a second call answers NOT_FOUND. Blocks for one HTTP request.
///
/// Returns OK, PENDING (not validated yet: call again), NOT_FOUND (unknown, expired or
/// already used challenge), NULL_ARGUMENT, NETWORK, RATE_LIMITED, HTTP, PROTOCOL, PANIC.
///
/// # Safety
/// `client` and `challenge` are NULL or live handles; `token_out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dashauth_poll_completion(
    client: *const dashauth_client,
    challenge: *const dashauth_challenge,
    token_out: *mut *mut c_char,
) -> dashauth_status {
    ffi_status(|| {
        // SAFETY: the caller's contract, for each argument.
        let (client, cell, out) = unsafe {
            (
                client_arg(client)?,
                try_ref(challenge, "challenge")?,
                Out::new(token_out, "token_out")?,
            )
        };
        match client.poll_completion(&cell.challenge.id, None)? {
            Polled::Pending { .. } => Ok(dashauth_status::Pending),
            Polled::Ready(token) => {
                out.write(owned_out(token.as_str(), "token")?);
                Ok(dashauth_status::Ok)
            }
        }
    })
}
