//! One line per notable event, through `tracing` at level INFO with the calling module
//! as target (so `RUST_LOG=dashauth::server::bot=info` picks one part). Callers never
//! pass a token, a gjp2, a key or a collectable challenge id here: only ids that prove
//! nothing, account numbers and reasons.
//!
//! The library never installs a subscriber: the `dashauth-server` binary does (human
//! lines or JSON on stderr), and a program that embeds the server chooses its own, or
//! none, in which case events cost next to nothing and go nowhere.
//!
//! Events an attacker can cause at will (429s, refused connections and nonces, messages
//! the bot ignores) go through [`log_sampled!`]: they are counted in the metrics, and
//! logged at most once per [`SAMPLE_EVERY_MS`] per kind with a `skipped` field saying
//! how many were left out, so they cannot flood the log.

use crate::clock;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

/// `log_event!("challenge {id} validated")`: one INFO event with the formatted message.
macro_rules! log_event {
    ($($arg:tt)*) => {
        ::tracing::info!("{}", format_args!($($arg)*))
    };
}
pub(crate) use log_event;

/// At most one line per this interval for each [`Sampled`] kind.
pub(crate) const SAMPLE_EVERY_MS: i64 = 10_000;

/// Kinds of attacker-driven events, each sampled on its own.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Sampled {
    /// A request answered 429.
    RateLimited,
    /// A connection closed at once: its address holds its share.
    ConnectionRefused,
    /// `accept` failed (out of descriptors, or a reset before accept).
    AcceptFailed,
    /// A GD message the bot ignored (an unparsable subject, or a sender that does not
    /// own the challenge).
    MessageIgnored,
    /// A refused nonce.
    NonceRefused,
}

const SAMPLED_KINDS: usize = 5;
const _: () = assert!(Sampled::NonceRefused as usize + 1 == SAMPLED_KINDS);

struct Sample {
    last_ms: AtomicI64,
    skipped: AtomicU64,
}

static SAMPLES: [Sample; SAMPLED_KINDS] = [const {
    Sample {
        last_ms: AtomicI64::new(i64::MIN),
        skipped: AtomicU64::new(0),
    }
}; SAMPLED_KINDS];

/// Whether an event of `kind` is logged now: `Some(skipped)` (how many were left out
/// since the last line) when none was logged in the last [`SAMPLE_EVERY_MS`]; otherwise
/// the event is only counted.
pub(crate) fn due(kind: Sampled) -> Option<u64> {
    let sample = &SAMPLES[kind as usize];
    let now = clock::now_ms();
    let last = sample.last_ms.load(Ordering::Relaxed);
    let due = last == i64::MIN || now.saturating_sub(last) >= SAMPLE_EVERY_MS;
    // Only the thread that moves `last_ms` logs; the others count themselves skipped.
    if !due
        || sample
            .last_ms
            .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
            .is_err()
    {
        sample.skipped.fetch_add(1, Ordering::Relaxed);
        return None;
    }
    Some(sample.skipped.swap(0, Ordering::Relaxed))
}

/// `log_sampled!(RateLimited, "rate limited: {limit:?}")`: like [`log_event!`], at most
/// once per [`SAMPLE_EVERY_MS`] per kind (see [`due`]).
macro_rules! log_sampled {
    ($kind:ident, $($arg:tt)*) => {
        if let Some(skipped) = $crate::server::log::due($crate::server::log::Sampled::$kind) {
            ::tracing::info!(skipped, "{}", format_args!($($arg)*))
        }
    };
}
pub(crate) use log_sampled;
