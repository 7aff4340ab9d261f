//! Whether a bot account can do its job (protocol.md section 3, "Several bot accounts"):
//! what its last requests said, in the kinds `/status`, logs and metrics share.

use crate::gd::{GdError, endpoint};
use std::sync::{Mutex, MutexGuard, PoisonError};

/// The kind of a bot's failed GD request, as logs, metrics and `/status` name it. A `-1`
/// on the bot's own inbox listing can only mean its credentials are wrong (nothing else
/// refuses an account its own inbox), so it gets a kind of its own.
pub fn error_kind(endpoint: &str, error: &GdError) -> &'static str {
    match error {
        GdError::Rejected if endpoint == endpoint::GET_MESSAGES => BAD_CREDENTIALS,
        other => other.kind(),
    }
}

/// [`error_kind`] of a `-1` on the bot's own inbox.
pub const BAD_CREDENTIALS: &str = "bad_credentials";

/// Kinds that waiting does not fix: the bot is taken out of assignment until a request
/// of its own succeeds again.
fn makes_unhealthy(kind: &str) -> bool {
    kind == BAD_CREDENTIALS
        || kind == GdError::CdnBlocked(String::new()).kind()
        || kind == GdError::Blacklisted.kind()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct State {
    healthy: bool,
    last_success_at: Option<i64>,
    last_error: Option<&'static str>,
}

/// One bot's health, shared by its poller (which records) and the HTTP side (which
/// assigns challenges and answers `/status`).
#[derive(Debug)]
pub struct Health {
    state: Mutex<State>,
}

impl Default for Health {
    /// A bot is trusted until its own requests say otherwise: checking every bot at start
    /// would cost GD requests while nothing is pending.
    fn default() -> Self {
        Health {
            state: Mutex::new(State {
                healthy: true,
                last_success_at: None,
                last_error: None,
            }),
        }
    }
}

/// What `/status` shows of one bot.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct BotStatus {
    /// The bot's GD account id (public: clients send messages to it).
    pub account_id: u32,
    /// New challenges may go to it.
    pub healthy: bool,
    /// Its unvalidated challenges.
    pub pending: u64,
    /// When one of its GD requests last succeeded, UNIX ms.
    pub last_success_at: Option<i64>,
    /// The kind of its last request's failure, or `None` when it succeeded.
    pub last_error: Option<&'static str>,
}

impl Health {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A request succeeded at `now` (UNIX ms): the bot is healthy again.
    pub fn succeeded(&self, now: i64) {
        let mut state = self.lock();
        state.healthy = true;
        state.last_success_at = Some(now);
        state.last_error = None;
    }

    /// A request failed with `kind` (see [`error_kind`]). Returns true when this made a
    /// healthy bot unhealthy, so the caller can log the change once.
    pub fn failed(&self, kind: &'static str) -> bool {
        let mut state = self.lock();
        state.last_error = Some(kind);
        let was_healthy = state.healthy;
        if makes_unhealthy(kind) {
            state.healthy = false;
        }
        was_healthy && !state.healthy
    }

    /// Whether new challenges may go to the bot.
    pub fn is_healthy(&self) -> bool {
        self.lock().healthy
    }

    /// The bot's status, with `pending` from the store.
    pub fn status(&self, account_id: u32, pending: u64) -> BotStatus {
        let state = *self.lock();
        BotStatus {
            account_id,
            healthy: state.healthy,
            pending,
            last_success_at: state.last_success_at,
            last_error: state.last_error,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_failures_waiting_cannot_fix_make_a_bot_unhealthy() {
        let health = Health::default();
        assert!(health.is_healthy());
        for kind in [
            "rate_limited",
            "unavailable",
            "html_page",
            "network",
            "rejected",
        ] {
            assert!(!health.failed(kind), "{kind}");
            assert!(health.is_healthy(), "{kind}");
        }
        assert!(health.failed("cdn_blocked"), "the change is reported once");
        assert!(!health.failed("blacklisted"));
        assert!(!health.is_healthy());
        assert_eq!(health.status(5, 2).last_error, Some("blacklisted"));
        health.succeeded(1234);
        let status = health.status(5, 2);
        assert!(status.healthy);
        assert_eq!(status.last_success_at, Some(1234));
        assert_eq!(status.last_error, None);
    }

    #[test]
    fn minus_one_on_the_own_inbox_is_bad_credentials() {
        assert_eq!(
            error_kind(endpoint::GET_MESSAGES, &GdError::Rejected),
            BAD_CREDENTIALS
        );
        assert_eq!(
            error_kind(endpoint::DELETE_MESSAGES, &GdError::Rejected),
            "rejected"
        );
        let health = Health::default();
        health.failed(BAD_CREDENTIALS);
        assert!(!health.is_healthy());
    }
}
