//! The server's GD bot accounts (protocol.md section 3): the pool that assigns each new
//! challenge to a bot, one poller thread per bot reading its inbox, their schedules and
//! request budgets, and their health.

pub mod config;
mod health;
mod poller;
mod schedule;
mod signal;

pub use config::BotAccount;
pub use health::BotStatus;
pub(crate) use health::{BAD_CREDENTIALS, Health, error_kind};
pub(crate) use poller::Poller;
pub(crate) use signal::BotSignal;

use super::store::{Store, StoreError};
use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// One bot of the pool: how to wake its poller and what its requests said.
#[derive(Debug)]
struct Member {
    account_id: u32,
    signal: BotSignal,
    health: Health,
}

/// How long pending counts read from the store serve assignments: counting them is a
/// query over every pending challenge, which must not run on every `request_challenge`.
const COUNTS_FRESH_FOR: Duration = Duration::from_secs(1);

/// Pending challenges per bot as last read from the store, plus those this process
/// assigned since.
#[derive(Debug, Default)]
struct Counts {
    read_at: Option<Instant>,
    pending: HashMap<u32, u64>,
}

/// Every bot account of the server, in configuration order.
#[derive(Debug)]
pub(crate) struct BotPool {
    members: Vec<Member>,
    counts: Mutex<Counts>,
}

impl BotPool {
    /// A pool of healthy bots with these account ids.
    pub fn new(account_ids: &[u32]) -> Self {
        BotPool {
            members: account_ids
                .iter()
                .map(|&account_id| Member {
                    account_id,
                    signal: BotSignal::default(),
                    health: Health::default(),
                })
                .collect(),
            counts: Mutex::default(),
        }
    }

    fn counts(&self) -> MutexGuard<'_, Counts> {
        self.counts.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The bot a new challenge goes to: the healthy one with the fewest pending
    /// challenges (the first configured on a tie). When none is healthy, the least busy
    /// of all: a challenge it may not validate beats refusing every login. With one bot
    /// there is nothing to count.
    pub async fn assign(&self, store: &Store, now: i64) -> Result<u32, StoreError> {
        if let [only] = self.members.as_slice() {
            return Ok(only.account_id);
        }
        let stale = self
            .counts()
            .read_at
            .is_none_or(|at| at.elapsed() >= COUNTS_FRESH_FOR);
        if stale {
            let pending = store.pending_counts_by_bot(now).await?;
            *self.counts() = Counts {
                read_at: Some(Instant::now()),
                pending: pending.into_iter().collect(),
            };
        }
        let mut counts = self.counts();
        let chosen = pick(&self.members, &counts.pending);
        *counts.pending.entry(chosen).or_default() += 1;
        Ok(chosen)
    }

    fn member(&self, account_id: u32) -> Option<&Member> {
        self.members.iter().find(|m| m.account_id == account_id)
    }

    /// A challenge for `bot` was issued: its poller may have to leave its idle state.
    pub fn challenge_added(&self, bot: u32) {
        if let Some(m) = self.member(bot) {
            m.signal.challenge_added();
        }
    }

    /// Milliseconds until a bot of this process next reads its inbox (the soonest of
    /// them), if one plans to: what a client waiting on a challenge is told.
    pub fn next_check_ms(&self, now_ms: i64) -> Option<u64> {
        self.members
            .iter()
            .filter_map(|m| m.signal.next_fetch_at_ms())
            .min()
            .map(|at| u64::try_from(at.saturating_sub(now_ms)).unwrap_or(0))
    }

    /// A client asked for a pending challenge: every poller with pending challenges
    /// looks at its inbox soon (a poller with none ignores it).
    pub fn hint(&self) {
        for m in &self.members {
            m.signal.hint();
        }
    }

    /// Stops every poller after its current request.
    pub fn shutdown(&self) {
        for m in &self.members {
            m.signal.shutdown();
        }
    }

    /// How `bot`'s poller is woken.
    pub fn signal(&self, bot: u32) -> Option<&BotSignal> {
        self.member(bot).map(|m| &m.signal)
    }

    /// What `bot`'s requests said.
    pub fn health(&self, bot: u32) -> Option<&Health> {
        self.member(bot).map(|m| &m.health)
    }

    /// Every bot's status, for `/status` and `/metrics`.
    pub async fn status(&self, store: &Store, now: i64) -> Result<Vec<BotStatus>, StoreError> {
        let counts: HashMap<u32, u64> = store
            .pending_counts_by_bot(now)
            .await?
            .into_iter()
            .collect();
        Ok(self
            .members
            .iter()
            .map(|m| {
                let pending = counts.get(&m.account_id).copied().unwrap_or(0);
                m.health.status(m.account_id, pending)
            })
            .collect())
    }

    /// The bots' account ids, in configuration order.
    pub fn account_ids(&self) -> Vec<u32> {
        self.members.iter().map(|m| m.account_id).collect()
    }
}

/// The healthy member with the fewest pending challenges, else the least busy of all.
fn pick(members: &[Member], pending: &HashMap<u32, u64>) -> u32 {
    let load = |m: &&Member| pending.get(&m.account_id).copied().unwrap_or(0);
    members
        .iter()
        .filter(|m| m.health.is_healthy())
        .min_by_key(load)
        .or_else(|| members.iter().min_by_key(load))
        .map_or(0, |m| m.account_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges_go_to_the_least_busy_healthy_bot() {
        let pool = BotPool::new(&[10, 20, 30]);
        let mut pending = HashMap::new();
        assert_eq!(pick(&pool.members, &pending), 10, "a tie goes to the first");
        pending.extend([(10, 1), (20, 1)]);
        assert_eq!(pick(&pool.members, &pending), 30);
        pending.insert(30, 2);
        let fail = |bot, kind| pool.health(bot).is_some_and(|h| h.failed(kind));
        assert!(fail(10, "cdn_blocked"));
        assert_eq!(
            pick(&pool.members, &pending),
            20,
            "the unhealthy bot is skipped"
        );
        assert!(fail(20, "bad_credentials") && fail(30, "blacklisted"));
        assert_eq!(
            pick(&pool.members, &pending),
            10,
            "none healthy: the least busy of all"
        );
    }
}
