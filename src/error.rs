//! The one error type of the safe core. The C boundary maps each variant to a
//! `dashauth_status` in one place (`ffi::status`).

use std::fmt;

/// Everything that can go wrong in the client library, with a message fit for a player
/// or a mod author.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// A caller-supplied value is unusable: empty, out of range, bad URL, bad PEM.
    InvalidArgument(String),
    /// Connect, DNS, TLS or timeout of a single request.
    Network(String),
    /// The DashAuth server answered with an HTTP status the protocol does not expect.
    Http {
        /// The HTTP status.
        status: u16,
        /// The server's reason, or the body's start.
        message: String,
    },
    /// A response that does not follow the protocol.
    Protocol(String),
    /// Challenge (or device) unknown, expired or already consumed.
    NotFound(String),
    /// Token or nonce rejected.
    Unauthorized(String),
    /// The credential is valid but may not do this (403): a login token bound to another
    /// audience, a token used to enrol a device.
    Forbidden(String),
    /// The server asks us to slow down.
    RateLimited {
        /// The server's `Retry-After`, in seconds.
        retry_after_s: Option<u64>,
        /// The server's reason.
        message: String,
    },
    /// GD answered `-1` and the diagnosis ([`crate::gd_diagnosis`]) could not say why:
    /// one of its requests failed, or it found nothing.
    GdRejected(String),
    /// GD's CDN refused the request or failed (HTML page, 5xx, garbage).
    GdUnavailable(String),
    /// A `-1` from GD, diagnosed: GD refuses the player's gjp2 (a stale saved login).
    GdBadCredentials(String),
    /// A `-1` from GD, diagnosed: the player's sent messages are at GD's limit.
    GdOutboxFull(String),
    /// A `-1` from GD, diagnosed: the player blocked the server's bot account.
    GdBotBlocked(String),
    /// A `-1` from GD, diagnosed: the bot does not accept messages (its setting); only
    /// the server's operator can fix it.
    GdMessagesRefused(String),
    /// GD's CDN or RobTop's servers block this network or IP (`error code: 1005`,
    /// `1006`, `1020`, `no`): waiting does not help.
    GdBlocked(String),
    /// The credential store file cannot be read or written.
    Store(String),
    /// The whole operation ran past its deadline.
    TimedOut(String),
    /// The caller cancelled the operation.
    Cancelled,
    /// The server says our clock is off by more than the nonce window.
    ClockSkew {
        /// The server's clock, UNIX ms, when it said so.
        server_time_ms: Option<i64>,
        /// The server's reason.
        message: String,
    },
    /// Key generation, PEM parsing of a key, signing.
    Crypto(String),
    /// A bug in the library: a panic caught where it would otherwise have been lost (a
    /// worker thread, the C boundary).
    Internal(String),
}

/// Result with the crate's error type.
pub type Result<T> = std::result::Result<T, Error>;

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::InvalidArgument(m) => write!(f, "invalid argument: {m}"),
            Error::Network(m) => write!(f, "network error: {m}"),
            Error::Http { status, message } => write!(f, "HTTP {status}: {message}"),
            Error::Protocol(m) => write!(f, "protocol error: {m}"),
            Error::NotFound(m) => write!(f, "not found: {m}"),
            Error::Unauthorized(m) => write!(f, "unauthorized: {m}"),
            Error::Forbidden(m) => write!(f, "forbidden: {m}"),
            Error::RateLimited {
                retry_after_s: Some(s),
                message,
            } => write!(f, "rate limited (retry after {s} s): {message}"),
            Error::RateLimited { message, .. } => write!(f, "rate limited: {message}"),
            Error::GdRejected(m) => write!(f, "Geometry Dash rejected the request: {m}"),
            Error::GdUnavailable(m) => write!(f, "Geometry Dash servers unavailable: {m}"),
            Error::GdBadCredentials(m)
            | Error::GdOutboxFull(m)
            | Error::GdBotBlocked(m)
            | Error::GdMessagesRefused(m) => {
                write!(f, "Geometry Dash refused the verification message: {m}")
            }
            Error::GdBlocked(m) => write!(f, "Geometry Dash blocks this network: {m}"),
            Error::Store(m) => write!(f, "credential store: {m}"),
            Error::TimedOut(m) => write!(f, "timed out: {m}"),
            Error::Cancelled => f.write_str("cancelled"),
            Error::ClockSkew { message, .. } => write!(f, "clock skew: {message}"),
            Error::Crypto(m) => write!(f, "crypto error: {m}"),
            Error::Internal(m) => {
                write!(f, "internal error in libdashauth (please report it): {m}")
            }
        }
    }
}

impl Error {
    /// The error for a caught panic, with the panic's message when it has one.
    pub fn from_panic(payload: &(dyn std::any::Any + Send)) -> Error {
        let detail = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        Error::Internal(format!("panic: {detail}"))
    }
}

impl std::error::Error for Error {}
