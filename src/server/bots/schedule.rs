//! When a bot's next inbox fetch may and should happen, and how many GD requests a pass
//! may spend on a backlog. Pure timing logic, no I/O.

use std::time::{Duration, Instant};

/// Longest backoff after consecutive GD errors.
pub const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// Backoff grows to at most this many poll intervals (within [`MAX_BACKOFF`]), so a
/// fast-polling emulator setup recovers in seconds, not a minute.
pub const MAX_BACKOFF_INTERVALS: u32 = 32;

/// When the next inbox fetch may and should happen. Pure timing logic, no I/O.
#[derive(Debug, Clone)]
pub struct Schedule {
    interval: Duration,
    backoff: Option<Duration>,
    last_fetch: Option<Instant>,
    next_fetch: Option<Instant>,
}

impl Schedule {
    /// One fetch per `interval` at most.
    pub fn new(interval: Duration) -> Self {
        Schedule {
            interval,
            backoff: None,
            last_fetch: None,
            next_fetch: None,
        }
    }

    /// The earliest a fetch is allowed: the interval (or the error backoff) after the
    /// last one.
    fn earliest(&self, now: Instant) -> Instant {
        match self.last_fetch {
            Some(last) => after(last, self.backoff.unwrap_or(self.interval)).max(now),
            None => now,
        }
    }

    /// Challenges are pending: make sure a fetch is planned. The first one comes an
    /// interval after the challenge, since its message cannot be there any sooner.
    pub fn pending(&mut self, now: Instant) {
        if self.next_fetch.is_none() {
            self.next_fetch = Some(self.earliest(now).max(after(now, self.interval)));
        }
    }

    /// A client is waiting: fetch as soon as allowed.
    pub fn hint(&mut self, now: Instant) {
        let soonest = self.earliest(now);
        self.next_fetch = Some(self.next_fetch.map_or(soonest, |t| t.min(soonest)));
    }

    /// Nothing is pending: plan nothing.
    pub fn idle(&mut self) {
        self.next_fetch = None;
    }

    /// When the planned fetch is due, if one is planned.
    pub fn next_fetch(&self) -> Option<Instant> {
        self.next_fetch
    }

    /// A fetch ran: the next one comes an interval later, or a growing backoff after
    /// an error.
    pub fn fetched(&mut self, now: Instant, ok: bool) {
        self.backoff = if ok {
            None
        } else {
            let doubled = self.backoff.unwrap_or(self.interval).saturating_mul(2);
            Some(doubled.min(self.max_backoff()))
        };
        self.last_fetch = Some(now);
        self.next_fetch = Some(after(now, self.backoff.unwrap_or(self.interval)));
    }

    fn max_backoff(&self) -> Duration {
        self.interval
            .saturating_mul(MAX_BACKOFF_INTERVALS)
            .min(MAX_BACKOFF)
            .max(self.interval)
    }

    /// The current error backoff, if any.
    pub fn backoff(&self) -> Option<Duration> {
        self.backoff
    }
}

/// `t + d`, or as late as `Instant` allows: a configured interval must not panic.
fn after(t: Instant, d: Duration) -> Instant {
    t.checked_add(d)
        .or_else(|| t.checked_add(MAX_BACKOFF))
        .unwrap_or(t)
}

/// How long a bot may save up unused requests for a burst: after a quiet spell its next
/// pass can read a backlog of several pages at once, while over any longer stretch it
/// stays within its rate.
pub const BURST_WINDOW: Duration = Duration::from_secs(10);

/// A bot's budget of GD requests (protocol.md section 3, `--gd-requests-per-second`): a
/// token bucket refilled at `rate` per second, holding at most [`BURST_WINDOW`] of it
/// (and never less than one pass, a listing and a delete).
#[derive(Debug, Clone)]
pub struct Budget {
    rate: f64,
    capacity: f64,
    tokens: f64,
    refilled_at: Instant,
}

impl Budget {
    /// A full bucket of `rate` requests per second.
    pub fn new(rate: f64, now: Instant) -> Self {
        let capacity = (rate * BURST_WINDOW.as_secs_f64()).max(2.0);
        Budget {
            rate,
            capacity,
            tokens: capacity,
            refilled_at: now,
        }
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now
            .saturating_duration_since(self.refilled_at)
            .as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate).min(self.capacity);
        self.refilled_at = now;
    }

    /// Whether `requests` more fit in the budget now.
    pub fn affords(&mut self, requests: u32, now: Instant) -> bool {
        self.refill(now);
        self.tokens >= f64::from(requests)
    }

    /// Counts a request made. The first page of a pass is made whatever the budget (the
    /// poll interval already bounds it), so the bucket may go into debt, which later
    /// passes pay back before reading extra pages.
    pub fn spend(&mut self, now: Instant) {
        self.refill(now);
        self.tokens = (self.tokens - 1.0).max(-self.capacity);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn first_fetch_waits_an_interval_unless_hinted() {
        let t0 = Instant::now();
        let mut s = Schedule::new(100 * MS);
        s.pending(t0);
        assert_eq!(s.next_fetch(), Some(t0 + 100 * MS));
        s.hint(t0 + 10 * MS);
        assert_eq!(s.next_fetch(), Some(t0 + 10 * MS));
    }

    #[test]
    fn hint_never_beats_the_interval() {
        let t0 = Instant::now();
        let mut s = Schedule::new(100 * MS);
        s.fetched(t0, true);
        s.hint(t0 + 20 * MS);
        assert_eq!(s.next_fetch(), Some(t0 + 100 * MS));
    }

    #[test]
    fn errors_back_off_exponentially_and_success_resets() {
        let t0 = Instant::now();
        let mut s = Schedule::new(100 * MS);
        s.fetched(t0, false);
        assert_eq!(s.next_fetch(), Some(t0 + 200 * MS));
        s.fetched(t0, false);
        assert_eq!(s.next_fetch(), Some(t0 + 400 * MS));
        s.hint(t0 + MS);
        assert_eq!(
            s.next_fetch(),
            Some(t0 + 400 * MS),
            "hints do not skip backoff"
        );
        for _ in 0..20 {
            s.fetched(t0, false);
        }
        assert_eq!(s.backoff(), Some(100 * MS * MAX_BACKOFF_INTERVALS));
        let mut slow = Schedule::new(Duration::from_secs(2));
        for _ in 0..20 {
            slow.fetched(t0, false);
        }
        assert_eq!(slow.backoff(), Some(MAX_BACKOFF));
        s.fetched(t0, true);
        assert_eq!(s.next_fetch(), Some(t0 + 100 * MS));
    }

    #[test]
    fn huge_intervals_saturate_instead_of_panicking() {
        let t0 = Instant::now();
        let mut s = Schedule::new(Duration::MAX);
        s.pending(t0);
        s.fetched(t0, false);
        s.fetched(t0, false);
        assert!(s.next_fetch().is_some_and(|t| t > t0));
        assert_eq!(s.backoff(), Some(Duration::MAX));
    }

    #[test]
    fn idle_plans_nothing() {
        let mut s = Schedule::new(100 * MS);
        s.pending(Instant::now());
        s.idle();
        assert_eq!(s.next_fetch(), None);
    }

    #[test]
    fn budget_allows_a_burst_then_its_rate() {
        let t0 = Instant::now();
        let mut b = Budget::new(1.0, t0);
        let mut spent = 0;
        while b.affords(1, t0) {
            b.spend(t0);
            spent += 1;
        }
        assert_eq!(spent, 10, "ten seconds of requests saved up");
        assert!(!b.affords(1, t0 + 500 * MS));
        assert!(b.affords(1, t0 + 1000 * MS));
        assert!(!b.affords(3, t0 + 2000 * MS));
        b.spend(t0 + 2000 * MS);
        b.spend(t0 + 2000 * MS);
        b.spend(t0 + 2000 * MS);
        assert!(!b.affords(1, t0 + 2900 * MS), "debt is paid back first");
        let mut slow = Budget::new(0.01, t0);
        assert!(slow.affords(2, t0), "always room for one pass");
    }
}
