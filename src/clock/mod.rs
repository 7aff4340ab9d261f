//! The wall clock used for nonces, expiries and tokens, in UNIX milliseconds, and the
//! offset between this device's clock and a server's.
//!
//! Players' clocks are often wrong (by minutes, or hours across a time zone change), and
//! a nonce is accepted only within ±30 s of the server's clock. So the client learns the
//! server's time, from every answer's `Date` header and from the `clock_skew` rejection,
//! and signs with the corrected time (protocol.md section 4).

mod http_date;

pub use http_date::{format_http_date, parse_http_date};

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the UNIX epoch; 0 if the clock is before 1970.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// How far a `Date` header (whole seconds, plus the request's latency) may be from the
/// true server time. Differences within it are noise, not a wrong clock: a correct clock
/// keeps an offset of 0.
pub const DATE_PRECISION_MS: i64 = 2_000;

/// Server time minus local time, learned from a server's answers. Clones share it, so
/// every snapshot of a client (and every login started from one) learns together.
#[derive(Debug, Clone, Default)]
pub struct ClockOffset {
    offset_ms: Arc<AtomicI64>,
}

impl ClockOffset {
    /// The offset learned so far (server − local, ms); 0 until learned.
    pub fn get(&self) -> i64 {
        self.offset_ms.load(Ordering::Acquire)
    }

    /// The server's time now, as far as this device knows it.
    pub fn server_now_ms(&self) -> i64 {
        now_ms().saturating_add(self.get())
    }

    /// Learns from a `Date` header's time (`date_ms`, a whole second) read at local time
    /// `local_ms`. The header cuts the server's time down to the second, so the true time
    /// is half a second later on average; an estimate within [`DATE_PRECISION_MS`] of
    /// what is known changes nothing, so the offset does not jitter with every answer.
    pub fn learn_from_date(&self, date_ms: i64, local_ms: i64) {
        let estimate = date_ms.saturating_add(500).saturating_sub(local_ms);
        let known = self.get();
        if estimate.saturating_sub(known).abs() > DATE_PRECISION_MS {
            self.offset_ms.store(estimate, Ordering::Release);
        }
    }

    /// Learns from a server time known to the millisecond (the `clock_skew` rejection's
    /// `server_time_ms`), read at local time `local_ms`.
    pub fn learn_exact(&self, server_ms: i64, local_ms: i64) {
        self.offset_ms
            .store(server_ms.saturating_sub(local_ms), Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_correct_clock_keeps_an_offset_of_zero() {
        let clock = ClockOffset::default();
        let local = 1_700_000_000_700;
        // The Date header of the same instant says ...000.
        clock.learn_from_date(1_700_000_000_000, local);
        clock.learn_from_date(1_700_000_001_000, local);
        assert_eq!(clock.get(), 0);
    }

    #[test]
    fn three_hours_off_is_learned_from_one_date_header_and_then_stays_put() {
        let clock = ClockOffset::default();
        let three_hours = 3 * 3600 * 1000;
        let local = 1_700_000_000_000;
        clock.learn_from_date(local + three_hours, local);
        assert_eq!(clock.get(), three_hours + 500);
        // Later answers within the header's precision leave it alone.
        clock.learn_from_date(local + three_hours + 1_000, local);
        assert_eq!(clock.get(), three_hours + 500);
        // A clock set back by the player is noticed.
        clock.learn_from_date(local, local);
        assert_eq!(clock.get(), 500);
        clock.learn_exact(local - 60_000, local);
        assert_eq!(clock.get(), -60_000);
    }

    #[test]
    fn clones_learn_together() {
        let a = ClockOffset::default();
        let b = a.clone();
        a.learn_exact(10_000, 0);
        assert_eq!(b.get(), 10_000);
    }
}
