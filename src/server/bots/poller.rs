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
//! the bot's request budget.

use super::health::{self, Health};
use super::schedule::{Budget, Schedule};
use super::signal::BotSignal;
use crate::gd::{GdError, Message, MessagePage, endpoint};
use crate::gd_client::GdClient;
use crate::server::app::App;
use crate::server::challenges::millis;
use crate::server::log::log_event;
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
        let pending = self
            .app
            .store
            .has_pending_challenges_for_bot(self.account_id, self.app.now_ms());
        pending || self.health().is_some_and(|h| !h.is_healthy())
    }

    fn run(self) {
        let Some(signal) = self.signal() else {
            return;
        };
        let config = &self.app.config;
        let mut schedule = Schedule::new(config.poll_interval);
        let mut budget = Budget::new(config.gd_requests_per_second, Instant::now());
        loop {
            let now = Instant::now();
            if self.has_work() {
                schedule.pending(now);
            } else {
                schedule.idle();
            }
            match schedule.next_fetch() {
                Some(due) if due <= now => self.fetch(&mut schedule, &mut budget),
                due => {
                    let flags = signal.wait(due);
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

    fn fetch(&self, schedule: &mut Schedule, budget: &mut Budget) {
        // A panic in one pass (a bug) must not stop the bot for the life of the server:
        // it counts as a failed fetch, so the bot backs off and tries again.
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let outcome = self.pass(budget);
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

    /// One pass: read page 0, validate, delete what was read (including messages that
    /// could not be parsed: left in the inbox they would be read again forever), and
    /// while the page was full and the budget allows, read page 0 again, which now holds
    /// the next messages. Newest come first, so fresh logins are found before an old
    /// backlog, however large.
    fn pass(&self, budget: &mut Budget) -> Result<PassReport, GdError> {
        let mut report = PassReport::default();
        let mut seen: HashSet<u64> = HashSet::new();
        loop {
            budget.spend(Instant::now());
            let page = self.list()?;
            let ids: Vec<u64> = page
                .messages
                .iter()
                .map(|m| m.id)
                .chain(page.unparsed_ids.iter().copied())
                .collect();
            let fresh = ids.iter().filter(|id| !seen.contains(id)).count();
            report.pages += 1;
            report.read += fresh;
            report.validated += self.validate(&page.messages);
            for id in &page.unparsed_ids {
                log_event!(
                    "bot {} deletes message {id}, which does not parse (a subject that is not \
                     base64 UTF-8?)",
                    self.account_id
                );
            }
            self.delete(&ids, budget)?;
            seen.extend(ids);
            // Nothing new means the server did not delete what it was asked to (a private
            // server capping the ids of one request): reading again would loop.
            let more = page.page.has_more() && fresh > 0;
            if !more || !budget.affords(2, Instant::now()) {
                return Ok(report);
            }
        }
    }

    fn list(&self) -> Result<MessagePage, GdError> {
        let result = self.gd.get_messages(self.account_id, &self.gjp2, 0, false);
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
    fn validate(&self, messages: &[Message]) -> u64 {
        let now = self.app.now_ms();
        let keep_until = now.saturating_add(millis(self.app.config.challenge_ttl));
        let store = &self.app.store;
        let mut validated = 0;
        for message in messages {
            let Some(challenge) = store.pending_challenge_for_subject(&message.subject, now) else {
                continue;
            };
            if message.account_id != challenge.account.get() {
                log_event!(
                    "bot {} ignored message {} from account {}: the challenge it names belongs \
                     to account {}",
                    self.account_id,
                    message.id,
                    message.account_id,
                    challenge.account
                );
            } else if store.validate_challenge(
                &challenge.id,
                &message.username,
                message.user_id,
                now,
                keep_until,
            ) {
                // The id only: once validated, the challenge gives a token to whoever
                // holds its id, so the log must not help anyone find it.
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
            self.app.announce_validated();
        }
        validated
    }

    /// Deletes `ids`: one request against real GD, or batches of `--gd-delete-batch`.
    fn delete(&self, ids: &[u64], budget: &mut Budget) -> Result<(), GdError> {
        let batch = self.app.config.gd_delete_batch.unwrap_or(ids.len()).max(1);
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
    fn report(&self, outcome: &Result<PassReport, GdError>, schedule: &Schedule) {
        match outcome {
            Ok(r) if r.read > 0 => log_event!(
                "bot {} read {} message(s) in {} page(s), validated {} challenge(s)",
                self.account_id,
                r.read,
                r.pages,
                r.validated
            ),
            Ok(_) => {}
            Err(e) => {
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
