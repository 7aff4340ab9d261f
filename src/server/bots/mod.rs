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

use super::store::Store;

/// One bot of the pool: how to wake its poller and what its requests said.
#[derive(Debug)]
struct Member {
    account_id: u32,
    signal: BotSignal,
    health: Health,
}

/// Every bot account of the server, in configuration order.
#[derive(Debug)]
pub(crate) struct BotPool {
    members: Vec<Member>,
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
        }
    }

    /// The bot a new challenge goes to: the healthy one with the fewest pending
    /// challenges (the first configured on a tie). When none is healthy, the least busy
    /// of all: a challenge it may not validate beats refusing every login.
    pub fn assign(&self, store: &Store, now: i64) -> u32 {
        let counts = store.pending_counts_by_bot(now);
        let load = |m: &&Member| counts.get(&m.account_id).copied().unwrap_or(0);
        let healthy = self
            .members
            .iter()
            .filter(|m| m.health.is_healthy())
            .min_by_key(load);
        healthy
            .or_else(|| self.members.iter().min_by_key(load))
            .map_or(0, |m| m.account_id)
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
    pub fn status(&self, store: &Store, now: i64) -> Vec<BotStatus> {
        let counts = store.pending_counts_by_bot(now);
        self.members
            .iter()
            .map(|m| {
                let pending = counts.get(&m.account_id).copied().unwrap_or(0);
                m.health.status(m.account_id, pending)
            })
            .collect()
    }

    /// The bots' account ids, in configuration order.
    pub fn account_ids(&self) -> Vec<u32> {
        self.members.iter().map(|m| m.account_id).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{AccountId, Uuid};
    use crate::server::limits::Limits;
    use crate::server::store::Challenge;

    fn add(store: &Store, bot: u32, n: u8) {
        let challenge = Challenge {
            account: AccountId::new(u32::from(n)).unwrap_or_else(|e| panic!("{e}")),
            code: format!("{n:016}"),
            expires_at: 1000,
            validated: false,
            requested_by: std::net::IpAddr::from([192, 0, 2, 1]),
            bot_account_id: bot,
            gd_username: None,
            gd_user_id: None,
        };
        let added = store.add_challenge(Uuid::new_v4([n; 16]), challenge, &Limits::default(), 0);
        assert!(added.is_ok());
    }

    #[test]
    fn challenges_go_to_the_least_busy_healthy_bot() {
        let (pool, store) = (BotPool::new(&[10, 20, 30]), Store::new());
        assert_eq!(pool.assign(&store, 0), 10, "a tie goes to the first");
        add(&store, 10, 1);
        add(&store, 20, 2);
        assert_eq!(pool.assign(&store, 0), 30);
        add(&store, 30, 3);
        add(&store, 30, 4);
        let fail = |bot, kind| pool.health(bot).is_some_and(|h| h.failed(kind));
        assert!(fail(10, "cdn_blocked"));
        assert_eq!(pool.assign(&store, 0), 20, "the unhealthy bot is skipped");
        assert!(fail(20, "bad_credentials") && fail(30, "blacklisted"));
        assert_eq!(
            pool.assign(&store, 0),
            10,
            "none healthy: the least busy of all"
        );
        let status = pool.status(&store, 0);
        assert_eq!(
            status.iter().map(|s| s.pending).collect::<Vec<_>>(),
            [1, 1, 2]
        );
    }
}
