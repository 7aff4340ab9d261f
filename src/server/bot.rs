//! The bot (protocol.md section 3): reads the server's GD inbox over HTTP, validates the
//! challenges whose owner sent `auth-{challenge}`, and deletes what it has read.
//!
//! It runs on its own thread with the blocking [`GdClient`], so slow or failing GD
//! requests never occupy the async runtime. Cost rules: no request while nothing is
//! pending; at most one inbox fetch per poll interval however many challenges wait; a
//! `challenge_complete` call may pull the next fetch forward, never closer than the
//! interval to the previous one; errors push the next fetch back exponentially.

use super::app::App;
use super::challenges::millis;
use super::log::{log_event, log_sampled};
use crate::gd::{self, GdError, Message, endpoint};
use crate::gd_client::GdClient;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Longest backoff after consecutive GD errors.
pub const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// Backoff grows to at most this many poll intervals (within [`MAX_BACKOFF`]), so a
/// fast-polling emulator setup recovers in seconds, not a minute.
pub const MAX_BACKOFF_INTERVALS: u32 = 32;

#[derive(Debug, Default)]
struct Flags {
    challenge_added: bool,
    hint: bool,
    shutdown: bool,
    /// The bot sleeps with no fetch planned: only then does a new challenge need to
    /// wake it. A planned fetch serves every challenge issued before it, so waking the
    /// bot for each of thousands of challenges a second would only burn CPU.
    idle: bool,
}

/// How the HTTP side wakes the bot thread. Setting a flag takes a short lock, fine from
/// async code; only the bot thread ever waits on it.
#[derive(Debug, Default)]
pub struct BotSignal {
    flags: Mutex<Flags>,
    wake: Condvar,
}

impl BotSignal {
    fn flags(&self) -> MutexGuard<'_, Flags> {
        self.flags.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn raise(&self, set: impl FnOnce(&mut Flags)) {
        set(&mut self.flags());
        self.wake.notify_all();
    }

    /// A challenge was issued: the bot may have to leave its idle state. The flag is
    /// always set (the bot reads it before it sleeps, so no wake-up is lost) but the
    /// bot is woken only from its idle sleep.
    pub fn challenge_added(&self) {
        let mut flags = self.flags();
        flags.challenge_added = true;
        if std::mem::take(&mut flags.idle) {
            drop(flags);
            self.wake.notify_all();
        }
    }

    /// A client asked for a pending challenge: its message is probably there now.
    /// Waking the bot once is enough however many clients ask.
    pub fn hint(&self) {
        let mut flags = self.flags();
        if !std::mem::replace(&mut flags.hint, true) {
            drop(flags);
            self.wake.notify_all();
        }
    }

    /// Stops the bot after its current request.
    pub fn shutdown(&self) {
        self.raise(|f| f.shutdown = true);
    }

    /// Sleeps until a flag is raised or `until` passes (forever with `None`), then takes
    /// the flags.
    fn wait(&self, until: Option<Instant>) -> Flags {
        let mut flags = self.flags();
        flags.idle = until.is_none();
        loop {
            if flags.challenge_added || flags.hint || flags.shutdown {
                break;
            }
            let now = Instant::now();
            match until {
                Some(t) if t <= now => break,
                Some(t) => {
                    flags = self
                        .wake
                        .wait_timeout(flags, t - now)
                        .map(|(g, _)| g)
                        .unwrap_or_else(|e| e.into_inner().0)
                }
                None => {
                    flags = self
                        .wake
                        .wait(flags)
                        .unwrap_or_else(PoisonError::into_inner)
                }
            }
        }
        let shutdown = flags.shutdown;
        let taken = std::mem::take(&mut *flags);
        flags.shutdown = shutdown;
        taken
    }
}

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

/// The bot's GD identity and transport.
pub struct Bot {
    app: Arc<App>,
    gd: GdClient,
    account_id: u32,
    gjp2: String,
}

/// The messages of the pages one pass read.
#[derive(Debug, Default)]
struct Inbox {
    messages: Vec<Message>,
    unparsed_ids: Vec<u64>,
}

/// What one pass found.
#[derive(Debug, Default)]
struct PassReport {
    read: usize,
    validated: u64,
}

impl Bot {
    /// A bot reading `account_id`'s inbox through `gd`.
    pub fn new(app: Arc<App>, gd: GdClient, account_id: u32, gjp2: String) -> Self {
        Bot {
            app,
            gd,
            account_id,
            gjp2,
        }
    }

    /// Runs the bot on its own thread until [`BotSignal::shutdown`].
    pub fn spawn(self) -> std::io::Result<JoinHandle<()>> {
        std::thread::Builder::new()
            .name("dashauth-bot".into())
            .spawn(move || self.run())
    }

    fn run(self) {
        let mut schedule = Schedule::new(self.app.config.poll_interval);
        loop {
            let now = Instant::now();
            if self.app.store.has_pending_challenges(self.app.now_ms()) {
                schedule.pending(now);
            } else {
                schedule.idle();
            }
            match schedule.next_fetch() {
                Some(due) if due <= now => self.fetch(&mut schedule),
                due => {
                    let flags = self.app.bot.wait(due);
                    if flags.shutdown {
                        return;
                    }
                    if flags.hint && self.app.store.has_pending_challenges(self.app.now_ms()) {
                        schedule.hint(Instant::now());
                    }
                }
            }
        }
    }

    fn fetch(&self, schedule: &mut Schedule) {
        // A panic in one pass (a bug) must not stop the bot for the life of the server:
        // it counts as a failed fetch, so the bot backs off and tries again.
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let outcome = self.pass();
            schedule.fetched(Instant::now(), outcome.is_ok());
            report(&outcome, schedule);
            outcome.is_ok()
        }));
        if outcome.is_err() {
            schedule.fetched(Instant::now(), false);
            log_event!(
                "bot: the inbox pass panicked; next inbox fetch in {} ms",
                schedule.backoff().map_or(0, |d| d.as_millis())
            );
        }
    }

    /// One inbox fetch: read, validate, then delete what was read, including messages
    /// that could not be parsed: left in the inbox they would be read again forever.
    fn pass(&self) -> Result<PassReport, GdError> {
        let inbox = self.read_inbox()?;
        let validated = self.validate(&inbox.messages);
        if validated > 0 {
            self.app.metrics.challenges_validated(validated);
            self.app.announce_validated();
        }
        for id in &inbox.unparsed_ids {
            log_sampled!(
                MessageIgnored,
                "bot deletes message {id}, which does not parse (a subject that is not base64 UTF-8?)"
            );
        }
        let ids: Vec<u64> = inbox
            .messages
            .iter()
            .map(|m| m.id)
            .chain(inbox.unparsed_ids.iter().copied())
            .collect();
        self.delete(&ids)?;
        Ok(PassReport {
            read: ids.len(),
            validated,
        })
    }

    /// Page 0 only: one inbox fetch per pass, however full the inbox. The pass deletes
    /// what it read, so the next pass's page 0 holds what this one left: a backlog drains
    /// a page (50 messages) per interval rather than in a burst of fetches, which is what
    /// GD's rate limits see. Newest come first, so fresh logins are not stuck behind it.
    fn read_inbox(&self) -> Result<Inbox, GdError> {
        let result = self.gd.get_messages(self.account_id, &self.gjp2, 0, false);
        self.app
            .metrics
            .bot_gd_request(endpoint::GET_MESSAGES, &result);
        let listing = result?;
        Ok(Inbox {
            messages: listing.messages,
            unparsed_ids: listing.unparsed_ids,
        })
    }

    /// Validates each pending challenge whose owner sent exactly its subject; returns
    /// how many it validated.
    fn validate(&self, messages: &[Message]) -> u64 {
        let now = self.app.now_ms();
        let keep_until = now.saturating_add(millis(self.app.config.challenge_ttl));
        let mut validated = 0;
        for message in messages {
            let store = &self.app.store;
            let Some(challenge) = store.pending_challenge_for_subject(&message.subject, now) else {
                continue;
            };
            if message.account_id != challenge.account.get() {
                log_sampled!(
                    MessageIgnored,
                    "bot ignored message {} from account {}: the challenge belongs to account {}",
                    message.id,
                    message.account_id,
                    challenge.account
                );
            } else if self
                .app
                .store
                .validate_challenge(&challenge.id, now, keep_until)
            {
                // Never the challenge id: it is all a log reader would need to
                // collect the token before the player.
                log_event!("a challenge of account {} was validated", challenge.account);
                validated += 1;
            }
        }
        validated
    }

    fn delete(&self, ids: &[u64]) -> Result<(), GdError> {
        for batch in ids.chunks(gd::DELETE_BATCH) {
            let result = self
                .gd
                .delete_messages(self.account_id, &self.gjp2, batch, false);
            self.app
                .metrics
                .bot_gd_request(endpoint::DELETE_MESSAGES, &result);
            result?;
        }
        Ok(())
    }
}

/// Logs what a pass did, or why it failed.
fn report(outcome: &Result<PassReport, GdError>, schedule: &Schedule) {
    match outcome {
        Ok(report) if report.read > 0 => log_event!(
            "bot read {} message(s), validated {} challenge(s)",
            report.read,
            report.validated
        ),
        Ok(_) => {}
        Err(e) => log_event!(
            "bot: {e}; next inbox fetch in {} ms",
            schedule.backoff().map_or(0, |d| d.as_millis())
        ),
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
}
