//! The status codes of the C API and the one mapping from the core's [`Error`].

use crate::error::Error;
use std::ffi::CStr;
use std::fmt;

/// The result of every fallible function: `DASHAUTH_STATUS_OK` (0), `PENDING` (1, not an
/// error), or a negative error code. The details of an error are in
/// `dashauth_last_error_message()`.
#[repr(i32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum dashauth_status {
    /// Success.
    Ok = 0,
    /// Not an error: not finished yet, poll again later.
    Pending = 1,
    /// A pointer argument is NULL.
    NullArgument = -1,
    /// Bad UTF-8, empty, out of range, bad PEM, bad URL.
    InvalidArgument = -2,
    /// Connect, DNS, TLS, or the timeout of one request.
    Network = -3,
    /// Unexpected HTTP status (or `success: false`) from the DashAuth server.
    Http = -4,
    /// Malformed response.
    Protocol = -5,
    /// Challenge (or device) unknown, expired or already used.
    NotFound = -6,
    /// Token or nonce rejected.
    Unauthorized = -7,
    /// The server asks to slow down.
    RateLimited = -8,
    /// GD answered -1 and asking GD could not say why (a diagnosis request failed, or
    /// nothing found); the diagnosed causes have their own statuses (-15..-18).
    GdRejected = -9,
    /// GD CDN refused or failed (HTML page, 5xx).
    GdUnavailable = -10,
    /// The whole login ran past its deadline.
    TimedOut = -11,
    /// The login was cancelled.
    Cancelled = -12,
    /// The server says this device's clock is off by more than 30 s.
    ClockSkew = -13,
    /// Key generation, signing, key encoding.
    Crypto = -14,
    /// GD refuses the player's gjp2: log out and back in, in the game.
    GdBadCredentials = -15,
    /// The player's sent messages are at GD's limit: delete some.
    GdOutboxFull = -16,
    /// The player blocked the server's bot account: unblock it.
    GdBotBlocked = -17,
    /// The bot does not accept messages: only the server's operator can fix it.
    GdMessagesRefused = -18,
    /// GD's CDN blocks this network (error code 1005/1006/1020, "no").
    GdBlocked = -19,
    /// The server refuses this credential for this action (403): e.g. a login token
    /// bound to another audience.
    Forbidden = -20,
    /// The credential store cannot be read or written.
    Store = -21,
    /// Internal error caught at the boundary; please report it.
    Panic = -99,
}

/// A status as C passes it in: any `int32_t`, possibly not a listed code. Reading it as
/// the enum directly would be undefined behaviour for an unlisted value. (cbindgen
/// spells it `dashauth_status`, see cbindgen.toml.)
pub type RawStatus = i32;

impl dashauth_status {
    const ALL: [dashauth_status; 24] = [
        Self::Ok,
        Self::Pending,
        Self::NullArgument,
        Self::InvalidArgument,
        Self::Network,
        Self::Http,
        Self::Protocol,
        Self::NotFound,
        Self::Unauthorized,
        Self::RateLimited,
        Self::GdRejected,
        Self::GdUnavailable,
        Self::TimedOut,
        Self::Cancelled,
        Self::ClockSkew,
        Self::Crypto,
        Self::GdBadCredentials,
        Self::GdOutboxFull,
        Self::GdBotBlocked,
        Self::GdMessagesRefused,
        Self::GdBlocked,
        Self::Forbidden,
        Self::Store,
        Self::Panic,
    ];

    /// The listed status with this code, if any.
    pub fn from_raw(raw: RawStatus) -> Option<Self> {
        Self::ALL.into_iter().find(|s| *s as i32 == raw)
    }

    /// The constant's name, e.g. `DASHAUTH_STATUS_NOT_FOUND`.
    pub fn name(self) -> &'static CStr {
        match self {
            Self::Ok => c"DASHAUTH_STATUS_OK",
            Self::Pending => c"DASHAUTH_STATUS_PENDING",
            Self::NullArgument => c"DASHAUTH_STATUS_NULL_ARGUMENT",
            Self::InvalidArgument => c"DASHAUTH_STATUS_INVALID_ARGUMENT",
            Self::Network => c"DASHAUTH_STATUS_NETWORK",
            Self::Http => c"DASHAUTH_STATUS_HTTP",
            Self::Protocol => c"DASHAUTH_STATUS_PROTOCOL",
            Self::NotFound => c"DASHAUTH_STATUS_NOT_FOUND",
            Self::Unauthorized => c"DASHAUTH_STATUS_UNAUTHORIZED",
            Self::RateLimited => c"DASHAUTH_STATUS_RATE_LIMITED",
            Self::GdRejected => c"DASHAUTH_STATUS_GD_REJECTED",
            Self::GdUnavailable => c"DASHAUTH_STATUS_GD_UNAVAILABLE",
            Self::TimedOut => c"DASHAUTH_STATUS_TIMED_OUT",
            Self::Cancelled => c"DASHAUTH_STATUS_CANCELLED",
            Self::ClockSkew => c"DASHAUTH_STATUS_CLOCK_SKEW",
            Self::Crypto => c"DASHAUTH_STATUS_CRYPTO",
            Self::GdBadCredentials => c"DASHAUTH_STATUS_GD_BAD_CREDENTIALS",
            Self::GdOutboxFull => c"DASHAUTH_STATUS_GD_OUTBOX_FULL",
            Self::GdBotBlocked => c"DASHAUTH_STATUS_GD_BOT_BLOCKED",
            Self::GdMessagesRefused => c"DASHAUTH_STATUS_GD_MESSAGES_REFUSED",
            Self::GdBlocked => c"DASHAUTH_STATUS_GD_BLOCKED",
            Self::Forbidden => c"DASHAUTH_STATUS_FORBIDDEN",
            Self::Store => c"DASHAUTH_STATUS_STORE",
            Self::Panic => c"DASHAUTH_STATUS_PANIC",
        }
    }
}

impl From<&Error> for dashauth_status {
    /// The one place where core errors become status codes.
    fn from(e: &Error) -> Self {
        match e {
            Error::InvalidArgument(_) => Self::InvalidArgument,
            Error::Network(_) => Self::Network,
            Error::Http { .. } => Self::Http,
            Error::Protocol(_) => Self::Protocol,
            Error::NotFound(_) => Self::NotFound,
            Error::Unauthorized(_) => Self::Unauthorized,
            Error::RateLimited { .. } => Self::RateLimited,
            Error::GdRejected(_) => Self::GdRejected,
            Error::GdUnavailable(_) => Self::GdUnavailable,
            Error::TimedOut(_) => Self::TimedOut,
            Error::Cancelled => Self::Cancelled,
            Error::ClockSkew { .. } => Self::ClockSkew,
            Error::Crypto(_) => Self::Crypto,
            Error::GdBadCredentials(_) => Self::GdBadCredentials,
            Error::GdOutboxFull(_) => Self::GdOutboxFull,
            Error::GdBotBlocked(_) => Self::GdBotBlocked,
            Error::GdMessagesRefused(_) => Self::GdMessagesRefused,
            Error::GdBlocked(_) => Self::GdBlocked,
            Error::Forbidden(_) => Self::Forbidden,
            Error::Store(_) => Self::Store,
            Error::Internal(_) => Self::Panic,
        }
    }
}

/// Why an export failed: a C-side mistake, or an error of the core.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Failure {
    /// This argument was NULL.
    NullArgument(&'static str),
    /// The core's error.
    Error(Error),
}

impl Failure {
    /// The status the export returns.
    pub(crate) fn status(&self) -> dashauth_status {
        match self {
            Failure::NullArgument(_) => dashauth_status::NullArgument,
            Failure::Error(e) => e.into(),
        }
    }
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        Failure::Error(e)
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::NullArgument(name) => write!(f, "argument `{name}` is NULL"),
            Failure::Error(e) => e.fmt(f),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_status_round_trips_through_its_code() {
        for s in dashauth_status::ALL {
            assert_eq!(dashauth_status::from_raw(s as i32), Some(s));
            let name = s.name().to_str().unwrap_or_default();
            assert!(name.starts_with("DASHAUTH_STATUS_"), "{name}");
        }
        assert_eq!(dashauth_status::from_raw(42), None);
        assert_eq!(dashauth_status::NotFound as i32, -6);
        assert_eq!(dashauth_status::Panic as i32, -99);
    }

    #[test]
    fn an_internal_error_is_a_panic() {
        let e = Error::from_panic(&"boom");
        assert_eq!(dashauth_status::from(&e), dashauth_status::Panic);
        assert!(
            e.to_string().contains("(please report it): panic: boom"),
            "{e}"
        );
    }
}
