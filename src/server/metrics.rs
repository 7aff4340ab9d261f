//! Counters of what the server did, kept in one place: `GET /metrics` exports them
//! (see `prometheus.rs`) and tests read them through [`Metrics::snapshot`]. All counters
//! are monotonic.

use crate::gd::{GdError, endpoint};
use crate::protocol::NonceRejection;
use std::sync::atomic::{AtomicU64, Ordering};

/// The GD endpoints, as metric labels.
pub const GD_ENDPOINTS: [&str; 4] = [
    endpoint::UPLOAD_MESSAGE,
    endpoint::GET_MESSAGES,
    endpoint::DELETE_MESSAGES,
    endpoint::DOWNLOAD_MESSAGE,
];

/// Outcomes of a GD request made by the bot, as metric labels.
pub const GD_OUTCOMES: [&str; 5] = ["ok", "rejected", "unavailable", "malformed", "network"];

/// Index of an outcome in [`GD_OUTCOMES`].
pub fn outcome_index<T>(result: &Result<T, GdError>) -> usize {
    match result {
        Ok(_) => 0,
        Err(GdError::Rejected) => 1,
        Err(GdError::Unavailable(_)) => 2,
        Err(GdError::Malformed(_)) => 3,
        Err(GdError::Network(_)) => 4,
    }
}

/// Index of an endpoint in [`GD_ENDPOINTS`], if it is one.
pub fn endpoint_index(name: &str) -> Option<usize> {
    GD_ENDPOINTS.iter().position(|e| *e == name)
}

/// The live counters.
#[derive(Debug, Default)]
pub struct Metrics {
    bot_gd_requests: [[AtomicU64; GD_OUTCOMES.len()]; GD_ENDPOINTS.len()],
    emulator_requests: [AtomicU64; GD_ENDPOINTS.len()],
    emulator_faults: AtomicU64,
    challenges_issued: AtomicU64,
    challenges_validated: AtomicU64,
    challenges_expired: AtomicU64,
    tokens_issued: AtomicU64,
    session_tokens_issued: AtomicU64,
    nonce_rejections: [AtomicU64; NonceRejection::ALL.len()],
    rate_limited: AtomicU64,
    challenges_evicted: AtomicU64,
    challenges_refused: AtomicU64,
    connections_refused: AtomicU64,
}

fn bump(counter: &AtomicU64, by: u64) {
    counter.fetch_add(by, Ordering::Relaxed);
}

impl Metrics {
    /// A GD request of the bot, by endpoint and outcome.
    pub fn bot_gd_request<T>(&self, endpoint: &str, result: &Result<T, GdError>) {
        if let Some(e) = endpoint_index(endpoint) {
            bump(&self.bot_gd_requests[e][outcome_index(result)], 1);
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
    /// A pending challenge evicted by a newer one for the same account.
    pub fn challenge_evicted(&self) {
        bump(&self.challenges_evicted, 1);
    }
    /// A challenge refused because the server holds all it may (503).
    pub fn challenge_refused(&self) {
        bump(&self.challenges_refused, 1);
    }
    /// A connection closed at once because its address held its share.
    pub fn connection_refused(&self) {
        bump(&self.connections_refused, 1);
    }

    /// A consistent-enough copy for reading.
    pub fn snapshot(&self) -> MetricsSnapshot {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let mut bot_gd_requests = Vec::new();
        for (e, row) in self.bot_gd_requests.iter().enumerate() {
            for (o, c) in row.iter().enumerate() {
                bot_gd_requests.push((GD_ENDPOINTS[e], GD_OUTCOMES[o], get(c)));
            }
        }
        MetricsSnapshot {
            bot_gd_requests,
            emulator_requests: GD_ENDPOINTS
                .iter()
                .zip(&self.emulator_requests)
                .map(|(e, c)| (*e, get(c)))
                .collect(),
            emulator_faults: get(&self.emulator_faults),
            challenges_issued: get(&self.challenges_issued),
            challenges_validated: get(&self.challenges_validated),
            challenges_expired: get(&self.challenges_expired),
            tokens_issued: get(&self.tokens_issued),
            session_tokens_issued: get(&self.session_tokens_issued),
            nonce_rejections: NonceRejection::ALL
                .iter()
                .zip(&self.nonce_rejections)
                .map(|(r, c)| (r.code(), get(c)))
                .collect(),
            rate_limited: get(&self.rate_limited),
            challenges_evicted: get(&self.challenges_evicted),
            challenges_refused: get(&self.challenges_refused),
            connections_refused: get(&self.connections_refused),
        }
    }
}

/// A copy of the counters at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricsSnapshot {
    /// GD requests made by the bot: `(endpoint, outcome, count)`.
    pub bot_gd_requests: Vec<(&'static str, &'static str, u64)>,
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
    /// Login tokens handed out for validated challenges.
    pub tokens_issued: u64,
    /// Device session tokens handed out.
    pub session_tokens_issued: u64,
    /// Refused nonces: `(reason code, count)`.
    pub nonce_rejections: Vec<(&'static str, u64)>,
    /// Requests answered 429.
    pub rate_limited: u64,
    /// Pending challenges evicted by newer ones for the same account.
    pub challenges_evicted: u64,
    /// Challenges refused because the server held all it may (503).
    pub challenges_refused: u64,
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

    /// GD requests the bot made on one endpoint, all outcomes.
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
