//! Counters of what the server did, kept in one place: `GET /metrics` exports them
//! (see `prometheus.rs`) and tests read them through [`Metrics::snapshot`]. All counters
//! are monotonic.

use crate::gd::{GdError, endpoint};
use crate::protocol::NonceRejection;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

/// The GD endpoints the emulator serves, as metric labels.
pub const GD_ENDPOINTS: [&str; 9] = [
    endpoint::UPLOAD_MESSAGE,
    endpoint::GET_MESSAGES,
    endpoint::DELETE_MESSAGES,
    endpoint::DOWNLOAD_MESSAGE,
    endpoint::UPDATE_ACCOUNT_SETTINGS,
    endpoint::BLOCK_USER,
    endpoint::UNBLOCK_USER,
    endpoint::GET_USER_LIST,
    endpoint::GET_USER_INFO,
];

/// The GD endpoints a bot calls.
pub const BOT_ENDPOINTS: [&str; 2] = [endpoint::GET_MESSAGES, endpoint::DELETE_MESSAGES];

/// Outcomes of a GD request made by a bot, as metric labels: `ok`, `bad_credentials`
/// (`-1` on its own inbox), then every [`GdError::kind`].
pub const GD_OUTCOMES: [&str; 2 + GdError::KINDS.len()] = {
    let mut all = ["ok"; 2 + GdError::KINDS.len()];
    all[1] = super::bots::BAD_CREDENTIALS;
    let mut i = 0;
    while i < GdError::KINDS.len() {
        all[2 + i] = GdError::KINDS[i];
        i += 1;
    }
    all
};

/// The outcome label of a bot's request to `endpoint`.
pub fn outcome_label<T>(endpoint: &str, result: &Result<T, GdError>) -> &'static str {
    match result {
        Ok(_) => "ok",
        Err(e) => super::bots::error_kind(endpoint, e),
    }
}

/// Counts of one bot: `[endpoint][outcome]` over [`BOT_ENDPOINTS`] and [`GD_OUTCOMES`].
type BotCounters = [[u64; GD_OUTCOMES.len()]; BOT_ENDPOINTS.len()];

/// Index of an endpoint in [`GD_ENDPOINTS`], if it is one.
pub fn endpoint_index(name: &str) -> Option<usize> {
    GD_ENDPOINTS.iter().position(|e| *e == name)
}

/// The live counters.
#[derive(Debug, Default)]
pub struct Metrics {
    /// Per bot account: a lock per bot request is nothing next to the request itself.
    bot_gd_requests: Mutex<BTreeMap<u32, BotCounters>>,
    emulator_requests: [AtomicU64; GD_ENDPOINTS.len()],
    emulator_faults: AtomicU64,
    challenges_issued: AtomicU64,
    challenges_validated: AtomicU64,
    challenges_expired: AtomicU64,
    challenges_evicted: AtomicU64,
    challenges_refused_full: AtomicU64,
    tokens_issued: AtomicU64,
    session_tokens_issued: AtomicU64,
    nonce_rejections: [AtomicU64; NonceRejection::ALL.len()],
    rate_limited: AtomicU64,
    connections_refused: AtomicU64,
}

fn bump(counter: &AtomicU64, by: u64) {
    counter.fetch_add(by, Ordering::Relaxed);
}

impl Metrics {
    fn bot_counters(&self) -> std::sync::MutexGuard<'_, BTreeMap<u32, BotCounters>> {
        self.bot_gd_requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Makes `bot`'s series exist (at zero) before its first request.
    pub fn register_bot(&self, bot: u32) {
        self.bot_counters().entry(bot).or_default();
    }

    /// A GD request of `bot`, by endpoint and outcome.
    pub fn bot_gd_request<T>(&self, bot: u32, endpoint: &str, result: &Result<T, GdError>) {
        let e = BOT_ENDPOINTS.iter().position(|x| *x == endpoint);
        let label = outcome_label(endpoint, result);
        let o = GD_OUTCOMES.iter().position(|x| *x == label);
        if let (Some(e), Some(o)) = (e, o) {
            self.bot_counters().entry(bot).or_default()[e][o] += 1;
        }
    }
    /// A request the emulator received (faulted or not).
    pub fn emulator_request(&self, endpoint: usize) {
        if let Some(counter) = self.emulator_requests.get(endpoint) {
            bump(counter, 1);
        }
    }
    /// A fault the emulator injected.
    pub fn emulator_fault(&self) {
        bump(&self.emulator_faults, 1);
    }
    /// A challenge handed out.
    pub fn challenge_issued(&self) {
        bump(&self.challenges_issued, 1);
    }
    /// Challenges the bot validated.
    pub fn challenges_validated(&self, n: u64) {
        bump(&self.challenges_validated, n);
    }
    /// Challenges dropped unvalidated at expiry.
    pub fn challenges_expired(&self, n: u64) {
        bump(&self.challenges_expired, n);
    }
    /// Pending challenges evicted to make room (per account and client, or the
    /// heaviest holder's when the store was full).
    pub fn challenges_evicted(&self, n: u64) {
        bump(&self.challenges_evicted, n);
    }
    /// A challenge refused because the store was full and the client held the most.
    pub fn challenges_refused_full(&self) {
        bump(&self.challenges_refused_full, 1);
    }
    /// A login token handed out for a validated challenge.
    pub fn token_issued(&self) {
        bump(&self.tokens_issued, 1);
    }
    /// A device session token handed out.
    pub fn session_token_issued(&self) {
        bump(&self.session_tokens_issued, 1);
    }
    /// A refused nonce, by reason.
    pub fn nonce_rejected(&self, reason: NonceRejection) {
        if let Some(i) = NonceRejection::ALL.iter().position(|r| *r == reason) {
            bump(&self.nonce_rejections[i], 1);
        }
    }
    /// A request answered 429.
    pub fn rate_limited(&self) {
        bump(&self.rate_limited, 1);
    }
    /// A connection closed at once because its address held its share.
    pub fn connection_refused(&self) {
        bump(&self.connections_refused, 1);
    }

    /// A consistent-enough copy for reading.
    pub fn snapshot(&self) -> MetricsSnapshot {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let mut bot_gd_requests_by_bot = Vec::new();
        let mut totals: BotCounters = Default::default();
        for (bot, counters) in self.bot_counters().iter() {
            for (e, row) in counters.iter().enumerate() {
                for (o, n) in row.iter().enumerate() {
                    bot_gd_requests_by_bot.push((*bot, BOT_ENDPOINTS[e], GD_OUTCOMES[o], *n));
                    totals[e][o] += n;
                }
            }
        }
        let mut bot_gd_requests = Vec::new();
        for (e, row) in totals.iter().enumerate() {
            for (o, n) in row.iter().enumerate() {
                bot_gd_requests.push((BOT_ENDPOINTS[e], GD_OUTCOMES[o], *n));
            }
        }
        MetricsSnapshot {
            bot_gd_requests,
            bot_gd_requests_by_bot,
            emulator_requests: GD_ENDPOINTS
                .iter()
                .zip(&self.emulator_requests)
                .map(|(e, c)| (*e, get(c)))
                .collect(),
            emulator_faults: get(&self.emulator_faults),
            challenges_issued: get(&self.challenges_issued),
            challenges_validated: get(&self.challenges_validated),
            challenges_expired: get(&self.challenges_expired),
            challenges_evicted: get(&self.challenges_evicted),
            challenges_refused_full: get(&self.challenges_refused_full),
            tokens_issued: get(&self.tokens_issued),
            session_tokens_issued: get(&self.session_tokens_issued),
            nonce_rejections: NonceRejection::ALL
                .iter()
                .zip(&self.nonce_rejections)
                .map(|(r, c)| (r.code(), get(c)))
                .collect(),
            rate_limited: get(&self.rate_limited),
            connections_refused: get(&self.connections_refused),
        }
    }
}

/// A copy of the counters at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricsSnapshot {
    /// GD requests made by all bots: `(endpoint, outcome, count)`.
    pub bot_gd_requests: Vec<(&'static str, &'static str, u64)>,
    /// GD requests per bot: `(bot account id, endpoint, outcome, count)`.
    pub bot_gd_requests_by_bot: Vec<(u32, &'static str, &'static str, u64)>,
    /// Requests the embedded emulator received: `(endpoint, count)`; zero with real GD.
    pub emulator_requests: Vec<(&'static str, u64)>,
    /// Faults the emulator injected.
    pub emulator_faults: u64,
    /// Challenges handed out by `request_challenge`.
    pub challenges_issued: u64,
    /// Challenges the bot validated.
    pub challenges_validated: u64,
    /// Challenges that expired unvalidated.
    pub challenges_expired: u64,
    /// Pending challenges evicted to make room.
    pub challenges_evicted: u64,
    /// Challenges refused because the store was full.
    pub challenges_refused_full: u64,
    /// Login tokens handed out for validated challenges.
    pub tokens_issued: u64,
    /// Device session tokens handed out.
    pub session_tokens_issued: u64,
    /// Refused nonces: `(reason code, count)`.
    pub nonce_rejections: Vec<(&'static str, u64)>,
    /// Requests answered 429.
    pub rate_limited: u64,
    /// Connections closed at once because their address held its share.
    pub connections_refused: u64,
}

impl MetricsSnapshot {
    /// Requests the emulator received, all endpoints.
    pub fn emulator_total(&self) -> u64 {
        self.emulator_requests.iter().map(|(_, n)| n).sum()
    }

    /// Requests the emulator received on one endpoint (e.g. `getGJMessages20.php`).
    pub fn emulator_count(&self, endpoint: &str) -> u64 {
        self.emulator_requests
            .iter()
            .filter(|(e, _)| *e == endpoint)
            .map(|(_, n)| n)
            .sum()
    }

    /// GD requests all bots made with one outcome (e.g. `cdn_blocked`), all endpoints.
    pub fn bot_outcome_count(&self, outcome: &str) -> u64 {
        self.bot_gd_requests
            .iter()
            .filter(|(_, o, _)| *o == outcome)
            .map(|(_, _, n)| n)
            .sum()
    }

    /// GD requests one bot made, all endpoints and outcomes.
    pub fn bot_total(&self, bot: u32) -> u64 {
        self.bot_gd_requests_by_bot
            .iter()
            .filter(|(b, _, _, _)| *b == bot)
            .map(|(_, _, _, n)| n)
            .sum()
    }

    /// GD requests the bots made on one endpoint, all outcomes.
    pub fn bot_count(&self, endpoint: &str) -> u64 {
        self.bot_gd_requests
            .iter()
            .filter(|(e, _, _)| *e == endpoint)
            .map(|(_, _, n)| n)
            .sum()
    }

    /// Refused nonces with one reason.
    pub fn nonce_rejection_count(&self, reason: NonceRejection) -> u64 {
        self.nonce_rejections
            .iter()
            .filter(|(code, _)| *code == reason.code())
            .map(|(_, n)| n)
            .sum()
    }
}
