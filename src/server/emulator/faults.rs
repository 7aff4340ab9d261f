//! Injected failures (protocol.md section 7): a share of requests answered with one of
//! the kinds GD and its CDN really answer, so tests and benchmarks see the unhappy paths.

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::str::FromStr;
use std::sync::Mutex;
use std::sync::PoisonError;
use std::sync::atomic::{AtomicU64, Ordering};

/// A failure the emulator can answer with instead of doing the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Fault {
    /// `-1`, as GD answers for bad credentials or a blocked bot.
    Rejected,
    /// HTTP 500.
    ServerError,
    /// The HTML page the GD CDN serves when it refuses a client without naming a code.
    HtmlPage,
    /// Text in no GD format.
    Garbage,
    /// `error code: 1005` with HTTP 403: the CDN bans the caller's network. Cloudflare
    /// answers this plain text to clients that send no browser headers (RealistikGDPS,
    /// github.com/RealistikGDPS/Ognisko pull 82, `rgdps/services/boomlings.py`).
    CdnBlocked,
    /// `error code: 1015` with HTTP 429: the CDN rate-limits the caller.
    CdnRateLimited,
    /// `no`: RobTop's servers refuse a blacklisted IP (same source).
    RobtopNo,
}

impl Fault {
    /// Every kind, in the order [`Fault::name`] lists them.
    pub const ALL: [Fault; 7] = [
        Fault::Rejected,
        Fault::ServerError,
        Fault::HtmlPage,
        Fault::Garbage,
        Fault::CdnBlocked,
        Fault::CdnRateLimited,
        Fault::RobtopNo,
    ];

    /// The kinds injected unless told otherwise: failures that waiting fixes, so a
    /// fault rate alone never shuts a bot out for good.
    pub const DEFAULT: [Fault; 4] = [
        Fault::Rejected,
        Fault::ServerError,
        Fault::HtmlPage,
        Fault::Garbage,
    ];

    /// The name `--gd-fault-kinds` takes.
    pub fn name(self) -> &'static str {
        match self {
            Fault::Rejected => "rejected",
            Fault::ServerError => "server_error",
            Fault::HtmlPage => "html_page",
            Fault::Garbage => "garbage",
            Fault::CdnBlocked => "cdn_blocked",
            Fault::CdnRateLimited => "cdn_rate_limited",
            Fault::RobtopNo => "robtop_no",
        }
    }

    /// A comma-separated list of names, as `--gd-fault-kinds` takes it.
    pub fn parse_list(list: &str) -> Result<Vec<Fault>, String> {
        list.split(',')
            .filter(|n| !n.trim().is_empty())
            .map(str::parse)
            .collect()
    }

    pub(super) fn response(self) -> Response {
        match self {
            Fault::Rejected => text(StatusCode::OK, "-1"),
            Fault::ServerError => text(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error"),
            Fault::HtmlPage => text(
                StatusCode::SERVICE_UNAVAILABLE,
                "<!DOCTYPE html><html><head><title>boomlings.com | Service temporarily \
                 unavailable</title></head><body>Please try again in a few minutes.</body></html>",
            ),
            Fault::Garbage => text(StatusCode::OK, "1:::~garbage~:|#x:y"),
            Fault::CdnBlocked => text(StatusCode::FORBIDDEN, "error code: 1005"),
            Fault::CdnRateLimited => text(StatusCode::TOO_MANY_REQUESTS, "error code: 1015"),
            Fault::RobtopNo => text(StatusCode::OK, "no"),
        }
    }
}

impl FromStr for Fault {
    type Err = String;

    fn from_str(name: &str) -> Result<Self, String> {
        let name = name.trim();
        Fault::ALL
            .into_iter()
            .find(|f| f.name() == name)
            .ok_or_else(|| {
                let known: Vec<&str> = Fault::ALL.iter().map(|f| f.name()).collect();
                format!(
                    "unknown GD fault kind {name:?} (known: {})",
                    known.join(", ")
                )
            })
    }
}

fn text(status: StatusCode, body: &'static str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        body,
    )
        .into_response()
}

/// Decides which requests fail: a share `rate` of them, kind chosen uniformly among the
/// enabled ones. A cheap xorshift generator: the faults need to be varied, not
/// unpredictable.
#[derive(Debug)]
pub(super) struct Faults {
    rate_bits: AtomicU64,
    state: AtomicU64,
    kinds: Mutex<Vec<Fault>>,
}

impl Faults {
    pub(super) fn new(rate: f64, kinds: &[Fault]) -> Self {
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0x9e37_79b9_7f4a_7c15);
        let kinds = if kinds.is_empty() {
            Fault::DEFAULT.to_vec()
        } else {
            kinds.to_vec()
        };
        Faults {
            rate_bits: AtomicU64::new(rate.to_bits()),
            state: AtomicU64::new(seed | 1),
            kinds: Mutex::new(kinds),
        }
    }

    pub(super) fn set_rate(&self, rate: f64) {
        self.rate_bits
            .store(rate.clamp(0.0, 1.0).to_bits(), Ordering::Relaxed);
    }

    /// Injects only these kinds from now on (the defaults when empty).
    pub(super) fn set_kinds(&self, kinds: &[Fault]) {
        let kinds = if kinds.is_empty() {
            Fault::DEFAULT.to_vec()
        } else {
            kinds.to_vec()
        };
        *self.kinds.lock().unwrap_or_else(PoisonError::into_inner) = kinds;
    }

    fn next_random(&self) -> u64 {
        let step = |mut x: u64| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let previous = self
            .state
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |x| Some(step(x)))
            .unwrap_or(1);
        step(previous)
    }

    pub(super) fn draw(&self) -> Option<Fault> {
        let rate = f64::from_bits(self.rate_bits.load(Ordering::Relaxed));
        if rate <= 0.0 {
            return None;
        }
        let r = self.next_random();
        let unit = (r >> 11) as f64 / (1u64 << 53) as f64;
        if unit >= rate {
            return None;
        }
        let kinds = self.kinds.lock().unwrap_or_else(PoisonError::into_inner);
        kinds.get((r % kinds.len().max(1) as u64) as usize).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fault_rate_is_roughly_honoured() {
        let faults = Faults::new(0.3, &[]);
        let n = (0..10_000).filter(|_| faults.draw().is_some()).count();
        assert!((2_500..3_500).contains(&n), "{n}");
        faults.set_rate(0.0);
        assert!((0..1000).all(|_| faults.draw().is_none()));
    }

    #[test]
    fn only_the_chosen_kinds_are_injected() {
        let faults = Faults::new(1.0, &[Fault::CdnBlocked, Fault::RobtopNo]);
        let drawn: std::collections::HashSet<_> = (0..200).filter_map(|_| faults.draw()).collect();
        assert_eq!(drawn.len(), 2);
        assert!(drawn.contains(&Fault::CdnBlocked) && drawn.contains(&Fault::RobtopNo));
        assert_eq!(
            Fault::parse_list("cdn_rate_limited, robtop_no"),
            Ok(vec![Fault::CdnRateLimited, Fault::RobtopNo])
        );
        assert!(Fault::parse_list("teapot").is_err());
    }
}
