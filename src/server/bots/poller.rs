//! One bot's poller (protocol.md section 3): reads the bot's GD inbox over HTTP,
//! validates the challenges whose owner sent `auth-{challenge}`, and deletes what it has
//! read.
//!
//! It runs on its own thread with the blocking [`GdClient`], so slow or failing GD
//! requests never occupy the async runtime. Cost rules: no request while nothing is
//! pending for this bot (unless it is unhealthy and probes, with backoff); one pass per
//! poll interval however many challenges wait; a `challenge_complete` call may pull the
//! next pass forward, never closer than the interval to the previous one; errors push
//! the next pass back exponentially. A pass reads further pages of a backlog only within
//! the bot's request budget, and when the budget is short it spends it on reading (which
//! finds logins) before deleting (which only keeps the inbox small).

use super::health::{self, Health};
use super::schedule::{Budget, Schedule};
use super::signal::BotSignal;
use crate::gd::{GdError, Message, MessagePage, endpoint};
use crate::gd_client::GdClient;
use crate::server::app::App;
use crate::server::challenges::millis;
use crate::server::events::{self, Event};
use crate::server::log::{log_event, log_sampled};
use crate::server::store::{Sender, StoreError};
use std::collections::HashSet;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Instant;

/// A bot's GD identity and transport.
pub struct Poller {
    app: Arc<App>,
    gd: GdClient,
    account_id: u32,
    gjp2: String,
}

/// Most ids one delete request carries against real GD: it takes hundreds (protocol.md
/// section 6), and a few KiB of form stay clear of any request-size limit.
const MAX_IDS_PER_DELETE: usize = 500;

/// Most ids a poller remembers as read but not yet deleted; beyond it the oldest are
/// forgotten (read again later, which is harmless).
const MAX_UNDELETED: usize = 5000;

/// Messages read and validated but not yet deleted, newest last: a pass stops reading
/// deeper pages when it reaches one of them (everything below was read before), and
/// deletes them all in one request once the budget allows.
#[derive(Debug, Default)]
struct Undeleted {
    ids: Vec<u64>,
    known: HashSet<u64>,
}

impl Undeleted {
    fn contains(&self, id: u64) -> bool {
        self.known.contains(&id)
    }

    fn add(&mut self, id: u64) {
        if self.known.insert(id) {
            self.ids.push(id);
        }
        if self.ids.len() > MAX_UNDELETED {
            let excess = self.ids.len() - MAX_UNDELETED;
            for old in self.ids.drain(..excess) {
                self.known.remove(&old);
            }
        }
    }

    fn clear(&mut self) {
        self.ids.clear();
        self.known.clear();
    }
}

/// What one pass did.
#[derive(Debug, Default)]
struct PassReport {
    pages: usize,
    read: usize,
    validated: u64,
}

impl Poller {
    /// A poller reading `account_id`'s inbox through `gd`.
    pub fn new(app: Arc<App>, gd: GdClient, account_id: u32, gjp2: String) -> Self {
        Poller {
            app,
            gd,
            account_id,
            gjp2,
        }
    }

    /// Runs the poller on its own thread until the pool shuts down.
    pub fn spawn(self) -> std::io::Result<JoinHandle<()>> {
        std::thread::Builder::new()
            .name(format!("dashauth-bot-{}", self.account_id))
            .spawn(move || self.run())
    }

    fn signal(&self) -> Option<&BotSignal> {
        self.app.bots.signal(self.account_id)
    }

    fn health(&self) -> Option<&Health> {
        self.app.bots.health(self.account_id)
    }

    /// Whether a pass is called for: challenges wait for this bot, or it is unhealthy
    /// and must probe GD to come back.
    fn has_work(&self) -> bool {
        let store = &self.app.store;
        let pending =
            self.block_on(store.has_pending_challenges(self.account_id, self.app.now_ms()));
        let pending = pending.unwrap_or_else(|e| {
            // Nothing can be validated without the store; the next look comes an
            // interval later.
            log_event!("bot {}: {e}", self.account_id);
            false
        });
        pending || self.health().is_some_and(|h| !h.is_healthy())
    }

    /// Runs a store call from this thread, on the server's runtime.
    fn block_on<F: std::future::Future>(&self, future: F) -> F::Output {
        self.app.runtime.block_on(future)
    }

    /// Takes or renews this instance's lease on polling the bot account, for three
    /// intervals: if this instance dies, another sharing the store takes the bot over
    /// within that. Renewed before every GD request of a pass.
    fn hold_lease(&self) -> Result<bool, StoreError> {
        let now = self.app.now_ms();
        let interval = millis(self.app.config.poll_interval);
        let until = now.saturating_add(interval.saturating_mul(3));
        let (store, holder) = (&self.app.store, &self.app.instance_id);
        self.block_on(store.acquire_bot_lease(self.account_id, holder, until, now))
    }

    fn run(self) {
        let Some(signal) = self.signal() else {
            return;
        };
        let config = &self.app.config;
        let mut schedule = Schedule::new(config.poll_interval);
        let mut budget = Budget::new(config.gd_requests_per_second, Instant::now());
        let mut undeleted = Undeleted::default();
        loop {
            let now = Instant::now();
            if self.has_work() {
                schedule.pending(now);
            } else {
                schedule.idle();
            }
            let due = schedule.next_fetch();
            signal.plan_fetch(due.map(|t| self.server_time_at(t, now)));
            match due {
                Some(due) if due <= now => self.fetch(&mut schedule, &mut budget, &mut undeleted),
                due => {
                    // Idle, the poller still looks at the store once an interval: another
                    // instance sharing it may have issued challenges for this bot.
                    let until = due.unwrap_or_else(|| now + config.poll_interval);
                    let flags = signal.wait(Some(until), due.is_none());
                    if flags.shutdown {
                        return;
                    }
                    if flags.hint && self.has_work() {
                        schedule.hint(Instant::now());
                    }
                }
            }
        }
    }

    /// The server-clock time (UNIX ms) of `at`, an instant seen from `now`.
    fn server_time_at(&self, at: Instant, now: Instant) -> i64 {
        let ahead = at.saturating_duration_since(now).as_millis();
        self.app
            .now_ms()
            .saturating_add(i64::try_from(ahead).unwrap_or(i64::MAX))
    }

    fn fetch(&self, schedule: &mut Schedule, budget: &mut Budget, undeleted: &mut Undeleted) {
        // A panic in one pass (a bug) must not stop the bot for the life of the server:
        // it counts as a failed fetch, so the bot backs off and tries again.
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let outcome = self.pass(budget, undeleted);
            schedule.fetched(Instant::now(), outcome.is_ok());
            self.report(&outcome, schedule);
        }));
        if outcome.is_err() {
            schedule.fetched(Instant::now(), false);
            log_event!(
                "bot {}: the inbox pass panicked; next inbox fetch in {} ms",
                self.account_id,
                schedule.backoff().map_or(0, |d| d.as_millis())
            );
        }
    }

    /// One pass: read page 0, 1, 2… (newest first) and validate what is new, until a
    /// page is not full or holds a message read before (all below it was read too: the
    /// pass is caught up), or the budget runs out; then delete everything read and not
    /// yet deleted in one request (including messages that could not be parsed: left in
    /// the inbox they would be read forever). Reading comes first: when a flood outruns
    /// the budget, it goes to finding logins, and deletes wait for a pass that catches up.
    fn pass(
        &self,
        budget: &mut Budget,
        undeleted: &mut Undeleted,
    ) -> Result<PassReport, PassError> {
        let mut report = PassReport::default();
        let mut page_number = 0;
        let caught_up = loop {
            // Another instance polls this bot while it holds the lease.
            if !self.hold_lease()? {
                return Ok(report);
            }
            budget.spend(Instant::now());
            let page = self.list(page_number)?;
            report.pages += 1;
            let new: Vec<&Message> = page
                .messages
                .iter()
                .filter(|m| !undeleted.contains(m.id))
                .collect();
            report.validated += self.validate(&new)?;
            let ids = page.messages.iter().map(|m| m.id);
            let mut reached_read = false;
            for id in ids.chain(page.unparsed_ids.iter().copied()) {
                if undeleted.contains(id) {
                    reached_read = true;
                } else {
                    report.read += 1;
                    if page.unparsed_ids.contains(&id) {
                        log_sampled!(
                            MessageIgnored,
                            "bot {} deletes message {id}, which does not parse (a subject that \
                             is not base64 UTF-8?)",
                            self.account_id
                        );
                    }
                    undeleted.add(id);
                }
            }
            let deeper = page.page.has_more() && !reached_read;
            if !deeper {
                break true;
            }
            if !budget.affords(1, Instant::now()) {
                break false;
            }
            page_number += 1;
        };
        // Caught up, the delete is the pass's last job and is made whatever the budget.
        // Behind (the budget stopped the reading), it waits until it fits: the next pass
        // reads the newer messages first, stops where these ids begin, and deletes them
        // all at once.
        if !undeleted.ids.is_empty() && (caught_up || budget.affords(1, Instant::now())) {
            if !self.hold_lease()? {
                return Ok(report);
            }
            self.delete(&undeleted.ids, budget)?;
            undeleted.clear();
        }
        Ok(report)
    }

    fn list(&self, page: u32) -> Result<MessagePage, GdError> {
        let result = self
            .gd
            .get_messages(self.account_id, &self.gjp2, page, false);
        self.record(endpoint::GET_MESSAGES, &result);
        result
    }

    /// Records a request's outcome in the metrics and the bot's health.
    fn record<T>(&self, endpoint: &str, result: &Result<T, GdError>) {
        self.app
            .metrics
            .bot_gd_request(self.account_id, endpoint, result);
        let Some(health) = self.health() else {
            return;
        };
        match result {
            Ok(_) => health.succeeded(self.app.now_ms()),
            Err(e) => {
                let kind = health::error_kind(endpoint, e);
                if health.failed(kind) {
                    log_event!(
                        "bot {} is unhealthy ({kind}): new challenges go to other bots; it is \
                         probed again with backoff",
                        self.account_id
                    );
                }
            }
        }
    }

    /// Validates each pending challenge whose owner sent exactly its subject; returns
    /// how many it validated. The message may have reached any of the server's bots: it
    /// proves the account all the same.
    fn validate(&self, messages: &[&Message]) -> Result<u64, StoreError> {
        let now = self.app.now_ms();
        let keep_until = now.saturating_add(millis(self.app.config.challenge_ttl));
        let store = &self.app.store;
        let mut validated = 0;
        for message in messages {
            let found =
                self.block_on(store.pending_challenge_for_subject(&message.subject, now))?;
            let Some(challenge) = found else {
                continue;
            };
            if message.account_id != challenge.account.get() {
                log_sampled!(
                    MessageIgnored,
                    "bot {} ignored message {} from account {}: the challenge it names belongs \
                     to account {}",
                    self.account_id,
                    message.id,
                    message.account_id,
                    challenge.account
                );
                continue;
            }
            let sender = Sender {
                username: message.username.clone(),
                user_id: message.user_id,
            };
            let done =
                self.block_on(store.validate_challenge(&challenge.id, &sender, now, keep_until))?;
            if done {
                // No id: once validated, the challenge gives a token to whoever holds its
                // id, so the log must not help anyone find it.
                log_event!(
                    "bot {} validated a challenge for account {}",
                    self.account_id,
                    challenge.account
                );
                validated += 1;
            }
        }
        if validated > 0 {
            self.app.metrics.challenges_validated(validated);
            self.block_on(events::publish(&self.app, Event::Validated));
        }
        Ok(validated)
    }

    /// Deletes `ids`: one request against real GD (up to [`MAX_IDS_PER_DELETE`]), or
    /// batches of `--gd-delete-batch`.
    fn delete(&self, ids: &[u64], budget: &mut Budget) -> Result<(), GdError> {
        let batch = self
            .app
            .config
            .gd_delete_batch
            .unwrap_or(MAX_IDS_PER_DELETE)
            .max(1);
        for chunk in ids.chunks(batch) {
            budget.spend(Instant::now());
            let result = self
                .gd
                .delete_messages(self.account_id, &self.gjp2, chunk, false);
            self.record(endpoint::DELETE_MESSAGES, &result);
            result?;
        }
        Ok(())
    }

    /// Logs what a pass did, or why it failed, naming the error's kind.
    fn report(&self, outcome: &Result<PassReport, PassError>, schedule: &Schedule) {
        match outcome {
            Ok(r) if r.read > 0 => log_event!(
                "bot {} read {} message(s) in {} page(s), validated {} challenge(s)",
                self.account_id,
                r.read,
                r.pages,
                r.validated
            ),
            Ok(_) => {}
            Err(PassError::Store(e)) => log_event!(
                "bot {}: {e}; nothing was deleted; next inbox fetch in {} ms",
                self.account_id,
                schedule.backoff().map_or(0, |d| d.as_millis())
            ),
            Err(PassError::Gd(e)) => {
                let kind = self
                    .health()
                    .and_then(|h| h.status(self.account_id, 0).last_error)
                    .unwrap_or(e.kind());
                log_event!(
                    "bot {}: GD error kind={kind}: {e}; next inbox fetch in {} ms{}",
                    self.account_id,
                    schedule.backoff().map_or(0, |d| d.as_millis()),
                    advice(e)
                );
            }
        }
    }
}

/// Why a pass stopped: GD failed, or the store did (then nothing read is deleted, so
/// no message is lost unvalidated).
#[derive(Debug)]
enum PassError {
    Gd(GdError),
    Store(StoreError),
}

impl From<GdError> for PassError {
    fn from(e: GdError) -> Self {
        PassError::Gd(e)
    }
}

impl From<StoreError> for PassError {
    fn from(e: StoreError) -> Self {
        PassError::Store(e)
    }
}

/// What the operator should do about an error, when waiting is not the answer.
fn advice(e: &GdError) -> &'static str {
    match e {
        GdError::CdnBlocked(_) | GdError::Blacklisted => {
            "; waiting does not help: the GD CDN or RobTop blocks this host's network or IP \
             (see the README: run the bot from another network)"
        }
        GdError::Rejected => "; check the bot's account id and gjp2",
        _ => "",
    }
}
