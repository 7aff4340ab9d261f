//! One timestamped line per notable event, on stderr. Callers never pass a token, a gjp2
//! or a key here: only account numbers, device ids and reasons, and never the id or
//! code of a challenge, which are what collects a token (protocol.md section 5).
//!
//! Events an attacker can cause at will (429s, evictions, refused connections) go
//! through [`log_sampled!`]: they are counted in the metrics, and logged at most once per
//! [`SAMPLE_EVERY`] per kind with the number left out, so they cannot flood the log.

use crate::clock;
use std::fmt;
use std::io::Write;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

/// At most one line per this interval for each [`Sampled`] kind.
pub(crate) const SAMPLE_EVERY_MS: i64 = 10_000;

/// Writes `2024-05-01T12:00:00.123Z message` to stderr. A failed write is ignored:
/// `eprintln!` would panic when stderr is a closed pipe, killing a request or the bot
/// thread over a log line.
pub(crate) fn event(args: fmt::Arguments<'_>) {
    let _ = writeln!(
        std::io::stderr().lock(),
        "{} {args}",
        utc_timestamp(clock::now_ms())
    );
}

/// `log_event!("challenge {id} validated")`: formats and writes one event line.
macro_rules! log_event {
    ($($arg:tt)*) => {
        $crate::server::log::event(format_args!($($arg)*))
    };
}
pub(crate) use log_event;

/// Kinds of attacker-driven events, each sampled on its own.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Sampled {
    /// A request answered 429.
    RateLimited,
    /// A pending challenge evicted by a newer one for the same account.
    ChallengeEvicted,
    /// A challenge refused because the store is full.
    ChallengesFull,
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

const SAMPLED_KINDS: usize = 7;
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

/// Writes the event if no line of its kind was written in the last [`SAMPLE_EVERY_MS`],
/// saying how many were left out since; otherwise only counts it.
pub(crate) fn sampled(kind: Sampled, args: fmt::Arguments<'_>) {
    let sample = &SAMPLES[kind as usize];
    let now = clock::now_ms();
    let last = sample.last_ms.load(Ordering::Relaxed);
    let due = last == i64::MIN || now.saturating_sub(last) >= SAMPLE_EVERY_MS;
    // Only the thread that moves `last_ms` writes; the others count themselves skipped.
    if !due
        || sample
            .last_ms
            .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
            .is_err()
    {
        sample.skipped.fetch_add(1, Ordering::Relaxed);
        return;
    }
    match sample.skipped.swap(0, Ordering::Relaxed) {
        0 => event(args),
        n => event(format_args!("{args} ({n} more like it not logged)")),
    }
}

/// `log_sampled!(Sampled::RateLimited, "rate limited: {limit:?}")`: see [`sampled`].
macro_rules! log_sampled {
    ($kind:ident, $($arg:tt)*) => {
        $crate::server::log::sampled(
            $crate::server::log::Sampled::$kind,
            format_args!($($arg)*),
        )
    };
}
pub(crate) use log_sampled;

/// RFC 3339 UTC time with milliseconds, without a date crate.
pub(crate) fn utc_timestamp(unix_ms: i64) -> String {
    let secs = unix_ms.div_euclid(1000);
    let ms = unix_ms.rem_euclid(1000);
    let (days, day_secs) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{ms:03}Z",
        day_secs / 3600,
        day_secs / 60 % 60,
        day_secs % 60
    )
}

/// Proleptic Gregorian date of a day count since 1970-01-01 (H. Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::utc_timestamp;

    #[test]
    fn timestamps_are_rfc3339_utc() {
        assert_eq!(utc_timestamp(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(utc_timestamp(1_700_000_000_123), "2023-11-14T22:13:20.123Z");
        assert_eq!(utc_timestamp(951_782_400_000), "2000-02-29T00:00:00.000Z");
    }
}
