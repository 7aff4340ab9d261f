//! Server state behind one narrow interface: challenges, hashed tokens, devices and
//! accepted nonces. In memory for now; a durable store will implement the same methods.
//!
//! Every method takes the current server time (UNIX ms) instead of reading a clock, so
//! the store holds no policy about time and expiry is decided in one place per record.

use super::limits::Limits;
use super::tokens::TokenHash;
use crate::keys::DevicePublicKey;
use crate::protocol::{AccountId, Uuid};
use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::{Mutex, MutexGuard, PoisonError};

/// A challenge handed out by `request_challenge`.
#[derive(Debug, Clone)]
pub struct Challenge {
    /// The account that must send the GD message.
    pub account: AccountId,
    /// The random challenge; the subject is `auth-{code}`.
    pub code: String,
    /// After this (UNIX ms) the challenge is gone.
    pub expires_at: i64,
    /// A matching message was seen.
    pub validated: bool,
    /// The client (IPv4 address or IPv6 /64) that asked for it.
    pub requested_by: IpAddr,
    /// The bot account the message must go to (protocol.md section 3).
    pub bot_account_id: u32,
    /// The sender's GD username (key 6) the bot saw in the validating message.
    pub gd_username: Option<String>,
    /// The sender's GD user id (key 3) the bot saw in the validating message.
    pub gd_user_id: Option<u32>,
}

/// A challenge the bot is looking for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingChallenge {
    /// Its id.
    pub id: Uuid,
    /// The account that must send the message.
    pub account: AccountId,
    /// The random challenge.
    pub code: String,
}

/// What `challenge_complete` finds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Completion {
    /// Unknown, expired or already consumed.
    Missing,
    /// Known but no matching message yet.
    Pending,
    /// Validated and now consumed: the token goes to this account.
    Consumed(AccountId),
}

/// What a token grants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenGrant {
    /// The verified account.
    pub account: AccountId,
    /// UNIX ms.
    pub expires_at: i64,
    /// For session tokens, the device that opened the session.
    pub device: Option<Uuid>,
}

/// A registered device.
#[derive(Debug, Clone)]
pub struct Device {
    /// Its id (the certificate's CN).
    pub id: Uuid,
    /// The owning account.
    pub account: AccountId,
    /// The current public key; nonces must verify with it.
    pub key: DevicePublicKey,
    /// What the player calls it.
    pub name: String,
    /// e.g. `windows`.
    pub platform: String,
    /// When the current certificate expires, UNIX ms.
    pub certificate_expires_at: i64,
    /// The owning account revoked it.
    pub revoked: bool,
}

/// The store holds as many challenges as [`Limits::challenges`] allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChallengesFull {
    /// When the oldest challenge expires and frees a place, ms from now (at least 1000).
    pub retry_after_ms: i64,
}

/// The account has [`Limits::devices_per_account`] active devices already.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DevicesFull;

/// Records dropped by a sweep.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Swept {
    /// Challenges that expired without being validated.
    pub unvalidated_challenges: u64,
}

#[derive(Default)]
struct Inner {
    challenges: HashMap<Uuid, Challenge>,
    /// Each account's pending challenges, oldest first, for the per-account cap. May
    /// hold ids that are no longer pending; they are pruned before counting.
    pending_by_account: HashMap<AccountId, VecDeque<Uuid>>,
    /// Each bot's challenges in the order they were issued, hence of expiry (one TTL for
    /// all): a bot asks "is anything pending for me?" on every wake, and the answer must
    /// not cost a scan of the whole store. Entries no longer pending leave the front.
    pending_queue: HashMap<u32, VecDeque<Uuid>>,
    /// Each bot's unvalidated challenges, expired ones included until the sweep drops
    /// them: what assigning a new challenge to the least busy bot reads, at every
    /// `request_challenge`, so it is kept as a count rather than computed.
    pending_count: HashMap<u32, u64>,
    /// Challenge code → id, so that the bot finds the challenge a message's subject
    /// names without copying every pending challenge. May hold ids no longer pending.
    pending_by_code: HashMap<String, Uuid>,
    tokens: HashMap<[u8; 16], (TokenHash, TokenGrant)>,
    /// Each device's session tokens (lookup keys), oldest first, for the per-device cap.
    sessions_by_device: HashMap<Uuid, VecDeque<[u8; 16]>>,
    devices: HashMap<Uuid, Device>,
    /// Each account's devices, oldest first: active ones count against the cap, and
    /// the oldest inactive ones are forgotten once an account holds too many.
    devices_by_account: HashMap<AccountId, Vec<Uuid>>,
    nonces: HashMap<(Uuid, i64), i64>,
}

impl Inner {
    fn is_active(&self, id: &Uuid, now: i64) -> bool {
        self.devices
            .get(id)
            .is_some_and(|d| !d.revoked && d.certificate_expires_at > now)
    }

    fn active_devices(&self, account: AccountId, now: i64) -> usize {
        self.devices_by_account.get(&account).map_or(0, |ids| {
            ids.iter().filter(|id| self.is_active(id, now)).count()
        })
    }

    /// Forgets the account's oldest inactive devices (and their sessions) while it
    /// holds more than `keep` of them.
    fn forget_inactive_devices(&mut self, account: AccountId, keep: usize, now: i64) {
        let ids = self
            .devices_by_account
            .get(&account)
            .cloned()
            .unwrap_or_default();
        let inactive: Vec<Uuid> = ids
            .into_iter()
            .filter(|id| !self.is_active(id, now))
            .collect();
        let excess = inactive.len().saturating_sub(keep);
        for id in &inactive[..excess] {
            self.devices.remove(id);
            for key in self.sessions_by_device.remove(id).unwrap_or_default() {
                self.tokens.remove(&key);
            }
        }
        if let Some(ids) = self.devices_by_account.get_mut(&account) {
            ids.retain(|id| !inactive[..excess].contains(id));
        }
    }

    /// Makes room for `new` when its account has `cap` pending challenges already, by
    /// evicting the oldest one the same client asked for, else the account's oldest: a
    /// stranger flooding an account then mostly evicts their own challenges, and the
    /// owner can always get a fresh one.
    fn evict_oldest_pending(&mut self, new: &Challenge, cap: usize, now: i64) -> Option<Uuid> {
        let Inner {
            challenges,
            pending_by_account,
            ..
        } = self;
        let ids = pending_by_account.get_mut(&new.account)?;
        ids.retain(|id| {
            challenges
                .get(id)
                .is_some_and(|c| !c.validated && c.expires_at > now)
        });
        if ids.len() < cap {
            return None;
        }
        let same_client = ids.iter().position(|id| {
            challenges
                .get(id)
                .is_some_and(|c| c.requested_by == new.requested_by)
        });
        let oldest = ids.remove(same_client.unwrap_or(0))?;
        if let Some(evicted) = challenges.remove(&oldest) {
            self.pending_by_code.remove(&evicted.code);
            self.uncount_pending(evicted.bot_account_id);
        }
        Some(oldest)
    }

    fn is_pending(&self, id: &Uuid, now: i64) -> bool {
        self.challenges
            .get(id)
            .is_some_and(|c| !c.validated && c.expires_at > now)
    }

    fn uncount_pending(&mut self, bot: u32) {
        if let Some(n) = self.pending_count.get_mut(&bot) {
            *n = n.saturating_sub(1);
        }
    }

    fn forget_pending(&mut self, account: AccountId, id: &Uuid) {
        if let Some(ids) = self.pending_by_account.get_mut(&account) {
            ids.retain(|pending| pending != id);
        }
    }
}

/// The in-memory store. Cheap critical sections: no I/O and no crypto under the lock.
#[derive(Default)]
pub struct Store {
    inner: Mutex<Inner>,
}

impl Store {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic elsewhere cannot leave these maps half-updated in a way that matters
        // more than refusing all further requests would.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Adds a challenge. Earlier challenges of the account stay valid, up to
    /// [`Limits::pending_challenges_per_account`]: beyond it the account's oldest pending
    /// challenge is evicted and returned. Refused when the store holds
    /// [`Limits::challenges`] already (unless an eviction made room).
    pub fn add_challenge(
        &self,
        id: Uuid,
        challenge: Challenge,
        limits: &Limits,
        now: i64,
    ) -> Result<Option<Uuid>, ChallengesFull> {
        let mut inner = self.lock();
        let account = challenge.account;
        let cap = limits.pending_challenges_per_account;
        let evicted = inner.evict_oldest_pending(&challenge, cap, now);
        if evicted.is_none() && inner.challenges.len() >= limits.challenges {
            let oldest = inner.challenges.values().map(|c| c.expires_at).min();
            let retry_after_ms = oldest.map_or(0, |t| t.saturating_sub(now)).max(1000);
            return Err(ChallengesFull { retry_after_ms });
        }
        inner.pending_by_code.insert(challenge.code.clone(), id);
        let bot = challenge.bot_account_id;
        inner.challenges.insert(id, challenge);
        inner.pending_queue.entry(bot).or_default().push_back(id);
        *inner.pending_count.entry(bot).or_default() += 1;
        inner
            .pending_by_account
            .entry(account)
            .or_default()
            .push_back(id);
        Ok(evicted)
    }

    /// The unexpired, unvalidated challenge whose subject is `subject`, if any: what
    /// the bot looks up for each message it reads.
    pub fn pending_challenge_for_subject(
        &self,
        subject: &str,
        now: i64,
    ) -> Option<PendingChallenge> {
        let code = subject.strip_prefix(crate::protocol::SUBJECT_PREFIX)?;
        let inner = self.lock();
        let id = *inner.pending_by_code.get(code)?;
        let c = inner.challenges.get(&id)?;
        (inner.is_pending(&id, now) && c.code == code).then(|| PendingChallenge {
            id,
            account: c.account,
            code: c.code.clone(),
        })
    }

    /// How many challenges the bot is looking for (a gauge for `/metrics`).
    pub fn pending_challenge_count(&self, now: i64) -> usize {
        self.lock()
            .challenges
            .values()
            .filter(|c| !c.validated && c.expires_at > now)
            .count()
    }

    /// Whether `bot` has anything to look for. Amortised O(1): entries that are no
    /// longer pending leave the front of its queue for good.
    pub fn has_pending_challenges_for_bot(&self, bot: u32, now: i64) -> bool {
        let mut inner = self.lock();
        let Inner {
            challenges,
            pending_queue,
            ..
        } = &mut *inner;
        let Some(queue) = pending_queue.get_mut(&bot) else {
            return false;
        };
        while let Some(id) = queue.front() {
            if challenges
                .get(id)
                .is_some_and(|c| !c.validated && c.expires_at > now)
            {
                return true;
            }
            queue.pop_front();
        }
        false
    }

    /// Unvalidated challenges per bot, for assigning new ones to the least busy bot and
    /// for `/status`. Expired challenges count until the next [`Store::sweep`].
    pub fn pending_counts_by_bot(&self, _now: i64) -> HashMap<u32, u64> {
        self.lock().pending_count.clone()
    }

    /// Marks a pending challenge validated, recording the sender's username (key 6) and
    /// user id (key 3) the bot saw, and keeps it until `keep_until` so the client has
    /// time to collect its token. False if it is unknown, expired or already done.
    pub fn validate_challenge(
        &self,
        id: &Uuid,
        sender_username: &str,
        sender_user_id: u32,
        now: i64,
        keep_until: i64,
    ) -> bool {
        let mut inner = self.lock();
        match inner.challenges.get_mut(id) {
            Some(c) if !c.validated && c.expires_at > now => {
                c.validated = true;
                c.expires_at = keep_until;
                c.gd_username = Some(sender_username.to_string());
                c.gd_user_id = Some(sender_user_id);
                let (account, bot) = (c.account, c.bot_account_id);
                inner.forget_pending(account, id);
                inner.uncount_pending(bot);
                true
            }
            _ => false,
        }
    }

    /// Consumes a validated challenge, atomically, so only one caller gets a token.
    pub fn complete_challenge(&self, id: &Uuid, now: i64) -> Completion {
        let mut inner = self.lock();
        match inner.challenges.get(id) {
            Some(c) if c.expires_at <= now => Completion::Missing,
            Some(c) if !c.validated => Completion::Pending,
            Some(c) => {
                let account = c.account;
                inner.challenges.remove(id);
                Completion::Consumed(account)
            }
            None => Completion::Missing,
        }
    }

    /// Stores a token's hash and what it grants.
    pub fn add_token(&self, hash: TokenHash, grant: TokenGrant) {
        self.lock().tokens.insert(hash.lookup_key(), (hash, grant));
    }

    /// What a token grants, if it is known, unexpired, and (for a session token) its
    /// device is not revoked.
    pub fn token(&self, hash: &TokenHash, now: i64) -> Option<TokenGrant> {
        let inner = self.lock();
        let (stored, grant) = inner.tokens.get(&hash.lookup_key())?;
        if !stored.matches(hash) || grant.expires_at <= now {
            return None;
        }
        if let Some(device) = grant.device {
            inner.devices.get(&device).filter(|d| !d.revoked)?;
        }
        Some(*grant)
    }

    /// Forgets a token. False if it was not known.
    pub fn remove_token(&self, hash: &TokenHash) -> bool {
        let mut inner = self.lock();
        let key = hash.lookup_key();
        match inner.tokens.get(&key) {
            Some((stored, _)) if stored.matches(hash) => inner.tokens.remove(&key).is_some(),
            _ => false,
        }
    }

    /// Stores a session token of `device`; beyond `cap` live ones the device's oldest
    /// session ends.
    pub fn add_session(&self, hash: TokenHash, grant: TokenGrant, device: Uuid, cap: usize) {
        let mut inner = self.lock();
        let key = hash.lookup_key();
        inner.tokens.insert(key, (hash, grant));
        let sessions = inner.sessions_by_device.entry(device).or_default();
        sessions.push_back(key);
        let excess = sessions.len().saturating_sub(cap);
        let ended: Vec<[u8; 16]> = sessions.drain(..excess).collect();
        for key in ended {
            inner.tokens.remove(&key);
        }
    }

    /// Active devices of `account`: not revoked, certificate not expired.
    pub fn active_devices(&self, account: AccountId, now: i64) -> usize {
        self.lock().active_devices(account, now)
    }

    /// Registers a device, unless its account has `limits.devices_per_account` active
    /// devices already.
    pub fn add_device(&self, device: Device, limits: &Limits, now: i64) -> Result<(), DevicesFull> {
        let mut inner = self.lock();
        let account = device.account;
        if inner.active_devices(account, now) >= limits.devices_per_account {
            return Err(DevicesFull);
        }
        inner
            .devices_by_account
            .entry(account)
            .or_default()
            .push(device.id);
        inner.devices.insert(device.id, device);
        // Revoked and expired devices are kept so their nonces are refused with the
        // right reason, but only as many as active ones may exist.
        inner.forget_inactive_devices(account, limits.devices_per_account, now);
        Ok(())
    }

    /// A device, revoked or not.
    pub fn device(&self, id: &Uuid) -> Option<Device> {
        self.lock().devices.get(id).cloned()
    }

    /// Gives a device a new key and certificate expiry; the old key stops working.
    pub fn replace_device_key(&self, id: &Uuid, key: DevicePublicKey, expires_at: i64) -> bool {
        match self.lock().devices.get_mut(id) {
            Some(d) if !d.revoked => {
                d.key = key;
                d.certificate_expires_at = expires_at;
                true
            }
            _ => false,
        }
    }

    /// Revokes a device of `account` and returns it. `None` if it does not exist or is
    /// another account's, which callers must not tell apart.
    pub fn revoke_device(&self, id: &Uuid, account: AccountId) -> Option<Device> {
        match self.lock().devices.get_mut(id) {
            Some(d) if d.account == account => {
                d.revoked = true;
                Some(d.clone())
            }
            _ => None,
        }
    }

    /// Records an accepted nonce until `forget_at`. False if it was accepted before.
    pub fn use_nonce(&self, device: &Uuid, timestamp_ms: i64, forget_at: i64) -> bool {
        let mut inner = self.lock();
        let key = (*device, timestamp_ms);
        if inner.nonces.contains_key(&key) {
            return false;
        }
        inner.nonces.insert(key, forget_at);
        true
    }

    /// Drops expired challenges, tokens and remembered nonces.
    pub fn sweep(&self, now: i64) -> Swept {
        let mut inner = self.lock();
        let mut swept = Swept::default();
        let mut unvalidated_by_bot: Vec<u32> = Vec::new();
        inner.challenges.retain(|_, c| {
            let keep = c.expires_at > now;
            if !keep && !c.validated {
                swept.unvalidated_challenges += 1;
                unvalidated_by_bot.push(c.bot_account_id);
            }
            keep
        });
        for bot in unvalidated_by_bot {
            inner.uncount_pending(bot);
        }
        let Inner {
            challenges,
            pending_by_account,
            pending_by_code,
            pending_queue,
            ..
        } = &mut *inner;
        let is_pending = |id: &Uuid| challenges.get(id).is_some_and(|c| !c.validated);
        pending_by_account.retain(|_, ids| {
            ids.retain(is_pending);
            !ids.is_empty()
        });
        pending_by_code.retain(|_, id| is_pending(id));
        pending_queue.retain(|_, ids| {
            ids.retain(is_pending);
            !ids.is_empty()
        });
        inner.tokens.retain(|_, (_, grant)| grant.expires_at > now);
        let Inner {
            tokens,
            sessions_by_device,
            ..
        } = &mut *inner;
        sessions_by_device.retain(|_, keys| {
            keys.retain(|key| tokens.contains_key(key));
            !keys.is_empty()
        });
        inner.nonces.retain(|_, forget_at| *forget_at > now);
        swept
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account(n: u32) -> AccountId {
        AccountId::new(n).unwrap_or_else(|e| panic!("{e}"))
    }

    fn challenge(expires_at: i64) -> Challenge {
        Challenge {
            account: account(7),
            code: "c".repeat(16),
            expires_at,
            validated: false,
            requested_by: IpAddr::from([192, 0, 2, 1]),
            bot_account_id: 1,
            gd_username: None,
            gd_user_id: None,
        }
    }

    fn add(store: &Store, id: Uuid, c: Challenge) {
        let added = store.add_challenge(id, c, &Limits::default(), 0);
        assert_eq!(added, Ok(None));
    }

    #[test]
    fn an_accounts_oldest_pending_challenge_makes_room_for_a_new_one() {
        let store = Store::new();
        let limits = Limits {
            pending_challenges_per_account: 2,
            challenges: 3,
            ..Limits::default()
        };
        let ids: Vec<Uuid> = (1..=5).map(|n| Uuid::new_v4([n; 16])).collect();
        assert_eq!(
            store.add_challenge(ids[0], challenge(1000), &limits, 0),
            Ok(None)
        );
        assert_eq!(
            store.add_challenge(ids[1], challenge(1000), &limits, 0),
            Ok(None)
        );
        // A validated challenge is no longer pending: it does not count.
        assert!(store.validate_challenge(&ids[1], "P", 9, 0, 2000));
        assert_eq!(
            store.add_challenge(ids[2], challenge(1000), &limits, 0),
            Ok(None)
        );
        assert_eq!(
            store.add_challenge(ids[3], challenge(1000), &limits, 0),
            Ok(Some(ids[0]))
        );
        assert_eq!(store.complete_challenge(&ids[0], 0), Completion::Missing);
        // Another client's challenge goes only when the newcomer has none of its own.
        let stranger = |n: u8| {
            let mut c = challenge(1000);
            c.requested_by = IpAddr::from([198, 51, 100, n]);
            c
        };
        let flood: Vec<Uuid> = (10..13).map(|n| Uuid::new_v4([n; 16])).collect();
        assert_eq!(
            store.add_challenge(flood[0], stranger(1), &limits, 0),
            Ok(Some(ids[2]))
        );
        assert_eq!(
            store.add_challenge(flood[1], stranger(1), &limits, 0),
            Ok(Some(flood[0]))
        );
        assert_eq!(
            store.add_challenge(flood[2], stranger(1), &limits, 0),
            Ok(Some(flood[1])),
            "the stranger evicts its own, the owner's ids[3] stays"
        );
        let other = Challenge {
            account: account(8),
            ..challenge(1000)
        };
        assert_eq!(
            store.add_challenge(ids[4], other, &limits, 10),
            Err(ChallengesFull {
                retry_after_ms: 1000
            })
        );
    }

    fn device(n: u8, revoked: bool) -> Device {
        let key = crate::keys::DeviceKey::generate().unwrap_or_else(|e| panic!("{e}"));
        let pem = key.public_pem().unwrap_or_else(|e| panic!("{e}"));
        Device {
            id: Uuid::new_v4([n; 16]),
            account: account(9),
            key: DevicePublicKey::from_spki_pem(&pem).unwrap_or_else(|e| panic!("{e}")),
            name: String::new(),
            platform: String::new(),
            certificate_expires_at: 1000,
            revoked,
        }
    }

    #[test]
    fn devices_are_capped_per_account_and_old_inactive_ones_forgotten() {
        let store = Store::new();
        let limits = Limits {
            devices_per_account: 2,
            ..Limits::default()
        };
        let template = device(1, false);
        let make = |n: u8| Device {
            id: Uuid::new_v4([n; 16]),
            ..template.clone()
        };
        assert_eq!(store.add_device(make(1), &limits, 0), Ok(()));
        assert_eq!(store.add_device(make(2), &limits, 0), Ok(()));
        assert_eq!(store.add_device(make(3), &limits, 0), Err(DevicesFull));
        assert!(store.revoke_device(&make(1).id, account(9)).is_some());
        assert_eq!(store.active_devices(account(9), 0), 1);
        assert_eq!(store.add_device(make(3), &limits, 0), Ok(()));
        // Certificates expired at 1000: all inactive; two are kept, the oldest goes.
        assert_eq!(store.add_device(make(4), &limits, 2000), Ok(()));
        assert!(store.device(&make(1).id).is_none());
        assert!(store.device(&make(2).id).is_none());
        assert!(store.device(&make(3).id).is_some());
    }

    #[test]
    fn a_devices_oldest_session_ends_beyond_the_cap() {
        let store = Store::new();
        let d = device(5, false);
        store
            .add_device(d.clone(), &Limits::default(), 0)
            .unwrap_or_else(|_| panic!("room"));
        let grant = TokenGrant {
            account: d.account,
            expires_at: 500,
            device: Some(d.id),
        };
        let hashes: Vec<TokenHash> = ["a", "b", "c"].iter().map(|t| TokenHash::of(t)).collect();
        for hash in &hashes {
            store.add_session(*hash, grant, d.id, 2);
        }
        assert_eq!(store.token(&hashes[0], 0), None);
        assert_eq!(store.token(&hashes[1], 0), Some(grant));
        assert_eq!(store.token(&hashes[2], 0), Some(grant));
    }

    #[test]
    fn challenge_is_consumed_once() {
        let store = Store::new();
        let id = Uuid::new_v4([1; 16]);
        add(&store, id, challenge(1000));
        assert_eq!(store.complete_challenge(&id, 10), Completion::Pending);
        assert!(store.validate_challenge(&id, "P", 9, 10, 2000));
        assert!(!store.has_pending_challenges_for_bot(1, 10));
        assert_eq!(
            store.complete_challenge(&id, 1500),
            Completion::Consumed(account(7))
        );
        assert_eq!(store.complete_challenge(&id, 1500), Completion::Missing);
    }

    #[test]
    fn pending_lookups_follow_validation_and_expiry() {
        let store = Store::new();
        let (first, second) = (Uuid::new_v4([4; 16]), Uuid::new_v4([5; 16]));
        let second_challenge = Challenge {
            code: "d".repeat(16),
            ..challenge(2000)
        };
        add(&store, first, challenge(1000));
        add(&store, second, second_challenge);
        let subject = |c: &str| crate::protocol::challenge_subject(&c.repeat(16));
        let found = store.pending_challenge_for_subject(&subject("c"), 0);
        assert_eq!(found.map(|p| p.id), Some(first));
        assert_eq!(
            store.pending_challenge_for_subject(&"c".repeat(16), 0),
            None
        );
        // The first (front of the queue) validated: the second still counts.
        assert!(store.validate_challenge(&first, "P", 9, 10, 5000));
        assert_eq!(store.pending_challenge_for_subject(&subject("c"), 10), None);
        assert!(store.has_pending_challenges_for_bot(1, 10));
        let found = store.pending_challenge_for_subject(&subject("d"), 10);
        assert_eq!(found.map(|p| p.id), Some(second));
        // Past its expiry nothing is pending, and the sweep drops the indexes too.
        assert!(!store.has_pending_challenges_for_bot(1, 2000));
        assert_eq!(
            store.pending_challenge_for_subject(&subject("d"), 2000),
            None
        );
        store.sweep(6000);
        assert!(store.lock().pending_by_code.is_empty());
        assert!(store.lock().pending_queue.is_empty());
    }

    #[test]
    fn pending_challenges_are_counted_per_bot() {
        let store = Store::new();
        let on_bot = |bot, n: u8| {
            let c = Challenge {
                bot_account_id: bot,
                code: format!("{n:016}"),
                account: account(u32::from(n)),
                ..challenge(1000)
            };
            let id = Uuid::new_v4([n; 16]);
            add(&store, id, c);
            id
        };
        let a = on_bot(1, 1);
        on_bot(1, 2);
        on_bot(2, 3);
        let counts = store.pending_counts_by_bot(0);
        assert_eq!((counts.get(&1), counts.get(&2)), (Some(&2), Some(&1)));
        assert!(store.validate_challenge(&a, "Player1", 100_001, 10, 5000));
        assert_eq!(store.pending_counts_by_bot(10).get(&1), Some(&1));
        assert!(store.has_pending_challenges_for_bot(2, 10));
        assert!(!store.has_pending_challenges_for_bot(3, 10));
        let validated = store.lock().challenges.get(&a).cloned();
        assert_eq!(
            validated.map(|c| (c.gd_username, c.gd_user_id)),
            Some((Some("Player1".into()), Some(100_001)))
        );
        store.sweep(2000);
        let counts = store.pending_counts_by_bot(2000);
        assert_eq!((counts.get(&1), counts.get(&2)), (Some(&0), Some(&0)));
    }

    #[test]
    fn expired_challenge_is_neither_pending_nor_validated() {
        let store = Store::new();
        let id = Uuid::new_v4([2; 16]);
        add(&store, id, challenge(1000));
        assert!(!store.has_pending_challenges_for_bot(1, 1000));
        let subject = crate::protocol::challenge_subject(&challenge(1000).code);
        assert_eq!(store.pending_challenge_for_subject(&subject, 1000), None);
        assert!(!store.validate_challenge(&id, "P", 9, 1000, 5000));
        assert_eq!(store.complete_challenge(&id, 1000), Completion::Missing);
        assert_eq!(store.sweep(1000).unvalidated_challenges, 1);
    }

    #[test]
    fn nonce_is_single_use_until_forgotten() {
        let store = Store::new();
        let device = Uuid::new_v4([3; 16]);
        assert!(store.use_nonce(&device, 5, 100));
        assert!(!store.use_nonce(&device, 5, 100));
        store.sweep(100);
        assert!(store.use_nonce(&device, 5, 200));
    }

    #[test]
    fn tokens_expire_and_are_revocable() {
        let store = Store::new();
        let hash = TokenHash::of("t");
        let grant = TokenGrant {
            account: account(1),
            expires_at: 100,
            device: None,
        };
        store.add_token(hash, grant);
        assert_eq!(store.token(&hash, 99), Some(grant));
        assert_eq!(store.token(&hash, 100), None);
        assert!(store.remove_token(&hash));
        assert!(!store.remove_token(&hash));
        assert_eq!(store.token(&TokenHash::of("other"), 0), None);
    }
}
