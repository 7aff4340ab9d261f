//! The wall clock used for nonces, expiries and tokens, in UNIX milliseconds.

use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the UNIX epoch; 0 if the clock is before 1970.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}
