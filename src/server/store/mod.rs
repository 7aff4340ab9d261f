//! The server's durable state (protocol.md section 8) behind one interface, with two real
//! backends: SQLite (the embedded default, a file in the data directory) and PostgreSQL
//! (shared by several server processes). SQL lives only in the backend files; this file
//! holds the records the domain passes in and out, the policy decisions both backends
//! share, and the dispatch.
//!
//! Every method takes the current server time (UNIX ms) instead of reading a clock, so
//! the store holds no policy about time and expiry is decided in one place per record.
//! Every method can fail with [`StoreError`]: the database may be gone for a while, and
//! the routes answer 503 then instead of guessing.

mod files;
mod postgres;
mod sqlite;
pub mod testing;
#[cfg(test)]
mod tests;

pub use files::{DataDir, DataDirError};

use super::limits::Limits;
use super::tokens::TokenHash;
use crate::keys::DevicePublicKey;
use crate::protocol::{AccountId, Uuid};
use std::fmt;
use std::net::IpAddr;
use std::path::Path;
use std::sync::atomic::{AtomicI64, Ordering};

/// A challenge handed out by `request_challenge`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewChallenge {
    /// Its id.
    pub id: Uuid,
    /// The account that must send the GD message.
    pub account: AccountId,
    /// The random challenge; the subject is `auth-{code}`.
    pub code: String,
    /// The bot account the message must go to.
    pub bot_account_id: u32,
    /// The client (IPv4 address or IPv6 /64) that asked for it.
    pub requested_by: IpAddr,
    /// The third-party service the login token will be bound to, if any.
    pub audience: Option<String>,
    /// UNIX ms.
    pub created_at: i64,
    /// After this (UNIX ms) the challenge is gone.
    pub expires_at: i64,
}

/// What [`Store::add_challenge`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Stored; `evicted` older challenges made room for it (the same client's for the
    /// same account, or the heaviest holder's when the store was full).
    Added {
        /// How many challenges were evicted.
        evicted: u64,
    },
    /// Refused: the store holds [`Limits::challenges`] and the asking client is itself
    /// the heaviest holder.
    Full {
        /// When the oldest challenge expires and frees a place, ms from now (≥ 1000).
        retry_after_ms: i64,
    },
}

/// A challenge the bot is looking for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingChallenge {
    /// Its id.
    pub id: Uuid,
    /// The account that must send the message.
    pub account: AccountId,
    /// The bot account the message must go to.
    pub bot_account_id: u32,
}

/// The sender of a verifying message, as the bot saw it (keys 6 and 3).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Sender {
    /// Key 6.
    pub username: String,
    /// Key 3.
    pub user_id: u32,
}

/// A validated challenge, consumed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The verified account.
    pub account: AccountId,
    /// The audience the challenge was requested for.
    pub audience: Option<String>,
    /// What the bot saw.
    pub sender: Option<Sender>,
}

/// What `challenge_complete` finds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Completion {
    /// Unknown, expired or already consumed.
    Missing,
    /// Known but no matching message yet.
    Pending,
    /// Validated and now consumed, with the login token stored in the same transaction.
    Consumed(Verified),
}

/// The kinds of bearer token the store keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    /// From a validated challenge.
    Login,
    /// Opened by a device with a nonce.
    Session,
}

impl TokenKind {
    fn as_str(self) -> &'static str {
        match self {
            TokenKind::Login => "login",
            TokenKind::Session => "session",
        }
    }

    fn parse(s: &str) -> Result<Self, StoreError> {
        match s {
            "login" => Ok(TokenKind::Login),
            "session" => Ok(TokenKind::Session),
            other => Err(StoreError::corrupt(format!("token kind {other:?}"))),
        }
    }
}

/// What a token grants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenGrant {
    /// Login or session.
    pub kind: TokenKind,
    /// The verified account.
    pub account: AccountId,
    /// UNIX ms.
    pub expires_at: i64,
    /// For session tokens, the device that opened the session.
    pub device: Option<Uuid>,
    /// For login tokens requested with an audience, that audience.
    pub audience: Option<String>,
    /// The sender the bot saw, for login tokens.
    pub sender: Option<Sender>,
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
    /// The current certificate, X.509 PEM.
    pub certificate_pem: String,
    /// When the current certificate expires, UNIX ms.
    pub certificate_expires_at: i64,
    /// The owning account revoked it.
    pub revoked: bool,
    /// UNIX ms.
    pub created_at: i64,
}

/// The account has [`Limits::devices_per_account`] active devices already.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DevicesFull;

/// Records dropped by a sweep.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Swept {
    /// Challenges that expired without being validated.
    pub unvalidated_challenges: u64,
    /// Challenges still held after the sweep.
    pub challenges_left: u64,
}

/// The database failed or holds something this server cannot read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreError {
    /// Unreachable, timed out, locked, out of connections: may pass.
    Unavailable(String),
    /// Data or schema this version cannot use: needs an operator.
    Corrupt(String),
}

impl StoreError {
    fn corrupt(detail: impl Into<String>) -> Self {
        StoreError::Corrupt(detail.into())
    }
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::Unavailable(m) => write!(f, "database unavailable: {m}"),
            StoreError::Corrupt(m) => write!(f, "database content unusable: {m}"),
        }
    }
}

impl std::error::Error for StoreError {}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match e {
            sqlx::Error::ColumnDecode { .. }
            | sqlx::Error::Decode(_)
            | sqlx::Error::ColumnNotFound(_)
            | sqlx::Error::TypeNotFound { .. } => StoreError::Corrupt(e.to_string()),
            other => StoreError::Unavailable(other.to_string()),
        }
    }
}

/// Result of a store call.
pub type StoreResult<T> = Result<T, StoreError>;

/// Where the state lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// SQLite in this data directory.
    DataDir(std::path::PathBuf),
    /// SQLite in a private temporary directory, removed when the store is dropped:
    /// tests and throwaway servers, on the same code path as production.
    Ephemeral,
    /// PostgreSQL at this URL.
    Postgres(String),
}

impl Location {
    /// The location a configuration names: a PostgreSQL URL wins over a data dir.
    pub fn of(database_url: Option<&str>, data_dir: Option<&Path>) -> Self {
        match (database_url, data_dir) {
            (Some(url), _) => Location::Postgres(url.to_string()),
            (None, Some(dir)) => Location::DataDir(dir.to_path_buf()),
            (None, None) => Location::Ephemeral,
        }
    }
}

enum Backend {
    Sqlite(sqlite::SqliteStore),
    Postgres(postgres::PgStore),
}

/// The store. Cheap to share behind an `Arc`; every method is one short transaction.
pub struct Store {
    backend: Backend,
    /// Challenges held, as of the last sweep plus those added since by this process: the
    /// global cap is checked exactly only when this estimate reaches it, so the common
    /// path never counts the whole table.
    challenges_estimate: AtomicI64,
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self.backend {
            Backend::Sqlite(_) => "Store(sqlite)",
            Backend::Postgres(_) => "Store(postgres)",
        })
    }
}

macro_rules! dispatch {
    ($self:ident . $method:ident ( $($arg:expr),* $(,)? )) => {
        match &$self.backend {
            Backend::Sqlite(b) => b.$method($($arg),*).await,
            Backend::Postgres(b) => b.$method($($arg),*).await,
        }
    };
}

impl Store {
    /// Opens (creating and migrating as needed) the store at `location`.
    pub async fn open(location: &Location) -> Result<Store, OpenError> {
        let backend = match location {
            Location::DataDir(dir) => {
                let dir = DataDir::open(dir).map_err(OpenError::DataDir)?;
                Backend::Sqlite(sqlite::SqliteStore::open(dir).await?)
            }
            Location::Ephemeral => {
                let dir = DataDir::ephemeral().map_err(OpenError::DataDir)?;
                Backend::Sqlite(sqlite::SqliteStore::open(dir).await?)
            }
            Location::Postgres(url) => Backend::Postgres(postgres::PgStore::open(url).await?),
        };
        let store = Store {
            backend,
            challenges_estimate: AtomicI64::new(0),
        };
        let held = store
            .challenge_count(i64::MIN)
            .await
            .map_err(OpenError::Store)?;
        store.set_estimate(held);
        Ok(store)
    }

    /// Which backend, for logs and `/status`.
    pub fn backend_name(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite(_) => "sqlite",
            Backend::Postgres(_) => "postgres",
        }
    }

    /// The PostgreSQL pool, for the cross-instance event listener.
    pub fn postgres_pool(&self) -> Option<&sqlx::PgPool> {
        match &self.backend {
            Backend::Postgres(b) => Some(b.pool()),
            Backend::Sqlite(_) => None,
        }
    }

    fn set_estimate(&self, held: u64) {
        self.challenges_estimate
            .store(i64::try_from(held).unwrap_or(i64::MAX), Ordering::Relaxed);
    }

    /// Whether the database answers (`/readyz`).
    pub async fn ping(&self) -> StoreResult<()> {
        dispatch!(self.ping())
    }

    /// Adds a challenge under the admission policy of protocol.md section 5: a client
    /// holding [`Limits::pending_challenges_per_account`] pending challenges for the
    /// account evicts its own oldest (never another client's); when the store holds
    /// [`Limits::challenges`], the client holding the most pending challenges loses a
    /// batch of its oldest, unless that is the asking client, which is refused.
    pub async fn add_challenge(
        &self,
        challenge: NewChallenge,
        limits: &Limits,
        now: i64,
    ) -> StoreResult<Admission> {
        let near_full = self.challenges_estimate.load(Ordering::Relaxed)
            >= i64::try_from(limits.challenges).unwrap_or(i64::MAX);
        let admission = dispatch!(self.add_challenge(&challenge, limits, near_full, now))?;
        if let Admission::Added { evicted } = admission {
            let delta = 1 - i64::try_from(evicted).unwrap_or(0);
            self.challenges_estimate.fetch_add(delta, Ordering::Relaxed);
        }
        Ok(admission)
    }

    /// The unexpired, unvalidated challenge whose subject is `subject`, if any: what
    /// the bot looks up for each message it reads.
    pub async fn pending_challenge_for_subject(
        &self,
        subject: &str,
        now: i64,
    ) -> StoreResult<Option<PendingChallenge>> {
        let Some(code) = subject.strip_prefix(crate::protocol::SUBJECT_PREFIX) else {
            return Ok(None);
        };
        if !crate::protocol::is_valid_challenge(code) {
            return Ok(None);
        }
        dispatch!(self.pending_challenge_for_code(code, now))
    }

    /// Whether the bot `bot_account_id` has anything to look for.
    pub async fn has_pending_challenges(&self, bot_account_id: u32, now: i64) -> StoreResult<bool> {
        dispatch!(self.has_pending_challenges(bot_account_id, now))
    }

    /// Pending challenges per bot account, for assignment and `/status`.
    pub async fn pending_counts_by_bot(&self, now: i64) -> StoreResult<Vec<(u32, u64)>> {
        dispatch!(self.pending_counts_by_bot(now))
    }

    /// How many challenges are pending, all bots (a gauge for `/metrics`).
    pub async fn pending_challenge_count(&self, now: i64) -> StoreResult<u64> {
        let counts = self.pending_counts_by_bot(now).await?;
        Ok(counts.iter().map(|(_, n)| n).sum())
    }

    /// Challenges held and unexpired at `now`, validated or not.
    pub async fn challenge_count(&self, now: i64) -> StoreResult<u64> {
        dispatch!(self.challenge_count(now))
    }

    /// Marks a pending challenge validated by `sender`, keeping it until `keep_until`
    /// so the client has time to collect its token. False if it is unknown, expired or
    /// already done.
    pub async fn validate_challenge(
        &self,
        id: &Uuid,
        sender: &Sender,
        now: i64,
        keep_until: i64,
    ) -> StoreResult<bool> {
        dispatch!(self.validate_challenge(id, sender, now, keep_until))
    }

    /// Consumes a validated challenge and stores the login token `token` for its
    /// account in the same transaction, so only one caller gets a token and a token
    /// answered is a token kept.
    pub async fn complete_challenge(
        &self,
        id: &Uuid,
        token: &TokenHash,
        token_expires_at: i64,
        now: i64,
    ) -> StoreResult<Completion> {
        dispatch!(self.complete_challenge(id, token, token_expires_at, now))
    }

    /// What a token grants, if it is known, unexpired, and (for a session token) its
    /// device is not revoked.
    pub async fn token(&self, hash: &TokenHash, now: i64) -> StoreResult<Option<TokenGrant>> {
        let found = dispatch!(self.token(hash, now))?;
        // The index lookup uses half the hash; the full hash is compared in constant time.
        Ok(found.and_then(|(stored, grant)| stored.matches(hash).then_some(grant)))
    }

    /// Forgets a token. False if it was not known.
    pub async fn remove_token(&self, hash: &TokenHash) -> StoreResult<bool> {
        dispatch!(self.remove_token(hash))
    }

    /// Stores a session token of `device`; beyond `cap` live ones the device's oldest
    /// sessions end.
    pub async fn add_session(
        &self,
        hash: &TokenHash,
        grant: &TokenGrant,
        now: i64,
        cap: usize,
    ) -> StoreResult<()> {
        dispatch!(self.add_session(hash, grant, now, cap))
    }

    /// Active devices of `account`: not revoked, certificate not expired.
    pub async fn active_devices(&self, account: AccountId, now: i64) -> StoreResult<u64> {
        dispatch!(self.active_devices(account, now))
    }

    /// Registers a device, unless its account has `limits.devices_per_account` active
    /// devices already. Beyond as many inactive (revoked or expired) devices as active
    /// ones may exist, the oldest inactive ones are forgotten.
    pub async fn add_device(
        &self,
        device: &Device,
        limits: &Limits,
        now: i64,
    ) -> StoreResult<Result<(), DevicesFull>> {
        dispatch!(self.add_device(device, limits, now))
    }

    /// A device, revoked or not.
    pub async fn device(&self, id: &Uuid) -> StoreResult<Option<Device>> {
        dispatch!(self.device(id))
    }

    /// Gives a device a new key and certificate; the old key stops working. False if
    /// the device is unknown or revoked.
    pub async fn replace_device_key(
        &self,
        id: &Uuid,
        key: &DevicePublicKey,
        certificate_pem: &str,
        expires_at: i64,
    ) -> StoreResult<bool> {
        dispatch!(self.replace_device_key(id, key, certificate_pem, expires_at))
    }

    /// Revokes a device of `account` and every session it opened, and returns it.
    /// `None` if it does not exist or is another account's, which callers must not
    /// tell apart.
    pub async fn revoke_device(
        &self,
        id: &Uuid,
        account: AccountId,
    ) -> StoreResult<Option<Device>> {
        dispatch!(self.revoke_device(id, account))
    }

    /// Records an accepted nonce until `forget_at`. False if it was accepted before,
    /// by this process or any other sharing the database.
    pub async fn use_nonce(
        &self,
        device: &Uuid,
        timestamp_ms: i64,
        forget_at: i64,
    ) -> StoreResult<bool> {
        dispatch!(self.use_nonce(device, timestamp_ms, forget_at))
    }

    /// A named server secret (the CA key and certificate), storing `value` first if
    /// there is none: every instance then uses whichever instance's value won.
    pub async fn secret_or_insert(&self, name: &str, value: &str) -> StoreResult<String> {
        dispatch!(self.secret_or_insert(name, value))
    }

    /// A named server secret, if stored.
    pub async fn secret(&self, name: &str) -> StoreResult<Option<String>> {
        dispatch!(self.secret(name))
    }

    /// Takes or renews the lease on polling `bot_account_id` for `holder` until
    /// `until`; true if `holder` now has it. A lease expired at `now` goes to whoever
    /// asks first.
    pub async fn acquire_bot_lease(
        &self,
        bot_account_id: u32,
        holder: &str,
        until: i64,
        now: i64,
    ) -> StoreResult<bool> {
        dispatch!(self.acquire_bot_lease(bot_account_id, holder, until, now))
    }

    /// Drops expired challenges, tokens, remembered nonces and bot leases.
    pub async fn sweep(&self, now: i64) -> StoreResult<Swept> {
        let swept = dispatch!(self.sweep(now))?;
        self.set_estimate(swept.challenges_left);
        Ok(swept)
    }
}

/// Why the store could not be opened.
#[derive(Debug)]
pub enum OpenError {
    /// The data directory or its files.
    DataDir(DataDirError),
    /// The database.
    Store(StoreError),
    /// The schema in the database is newer than this server, or was changed.
    Schema(String),
}

impl fmt::Display for OpenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OpenError::DataDir(e) => e.fmt(f),
            OpenError::Store(e) => e.fmt(f),
            OpenError::Schema(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for OpenError {}

impl From<StoreError> for OpenError {
    fn from(e: StoreError) -> Self {
        OpenError::Store(e)
    }
}

/// Maps a failed migration to what an operator must know: a database written by a
/// newer DashAuth is never touched (no silent data loss), a changed migration is a bug.
fn migrate_error(e: sqlx::migrate::MigrateError, what: &str) -> OpenError {
    use sqlx::migrate::MigrateError;
    match e {
        MigrateError::VersionMissing(v) => OpenError::Schema(format!(
            "the {what} has schema version {v}, newer than this dashauth-server knows: it was \
             written by a newer version. Run that version (or newer), or restore a backup; \
             nothing was changed"
        )),
        MigrateError::VersionMismatch(v) => OpenError::Schema(format!(
            "the {what}'s schema migration {v} differs from this server's: the database was \
             migrated by a different build. Nothing was changed"
        )),
        MigrateError::Execute(e) => OpenError::Store(StoreError::from(e)),
        other => OpenError::Schema(format!("the {what} could not be migrated: {other}")),
    }
}

/// The embedded migrations of one backend (the migration files are compiled in, so a
/// server binary needs nothing beside it).
fn migrator(files: &[(i64, &'static str, &'static str)]) -> sqlx::migrate::Migrator {
    use sqlx::migrate::{Migration, MigrationType, Migrator};
    use std::borrow::Cow;
    let migrations: Vec<Migration> = files
        .iter()
        .map(|(version, description, sql)| {
            Migration::new(
                *version,
                Cow::Borrowed(*description),
                MigrationType::Simple,
                Cow::Borrowed(*sql),
                false,
            )
        })
        .collect();
    Migrator {
        migrations: Cow::Owned(migrations),
        ..Migrator::DEFAULT
    }
}

/// Parsed device keys by their PEM text: every nonce request reads its device, and
/// parsing the key again each time would cost more than the database read. A PEM text
/// always means the same key, so the cache is right for every instance; revocation
/// and rotation are still read from the database on every request.
static DEVICE_KEYS: std::sync::LazyLock<
    std::sync::Mutex<std::collections::HashMap<String, DevicePublicKey>>,
> = std::sync::LazyLock::new(Default::default);
/// Keys cached at most; the cache starts over beyond it.
const DEVICE_KEY_CACHE: usize = 4096;

/// Device rows read back: the public key is stored as SPKI PEM and parsed again.
fn parse_device_key(pem: &str) -> StoreResult<DevicePublicKey> {
    let lock = |cache: &'static std::sync::Mutex<_>| {
        cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    };
    if let Some(key) = lock(&DEVICE_KEYS).get(pem) {
        return Ok(key.clone());
    }
    let key = DevicePublicKey::from_spki_pem(pem)
        .map_err(|e| StoreError::corrupt(format!("device key: {e}")))?;
    let mut cache = lock(&DEVICE_KEYS);
    if cache.len() >= DEVICE_KEY_CACHE {
        cache.clear();
    }
    cache.insert(pem.to_string(), key.clone());
    Ok(key)
}

fn parse_uuid(s: &str) -> StoreResult<Uuid> {
    s.parse()
        .map_err(|e| StoreError::corrupt(format!("id: {e}")))
}

fn parse_account(n: i64) -> StoreResult<AccountId> {
    u32::try_from(n)
        .map_err(|_| format!("{n} is out of range"))
        .and_then(AccountId::new)
        .map_err(|e| StoreError::corrupt(format!("account id: {e}")))
}

fn parse_u32(n: i64, what: &str) -> StoreResult<u32> {
    u32::try_from(n).map_err(|_| StoreError::corrupt(format!("{what} {n} is out of range")))
}

/// The sender columns of a row, if the bot recorded one.
fn sender_of(username: Option<String>, user_id: Option<i64>) -> StoreResult<Option<Sender>> {
    match (username, user_id) {
        (Some(username), Some(user_id)) => Ok(Some(Sender {
            username,
            user_id: parse_u32(user_id, "gd_user_id")?,
        })),
        _ => Ok(None),
    }
}

/// How many of the heaviest holder's challenges one eviction round removes when the
/// store is full: a batch, so that a flood does not pay the holder search on every
/// request.
fn eviction_batch(limits: &Limits) -> i64 {
    i64::try_from((limits.challenges / 100).max(1)).unwrap_or(1)
}

/// `Retry-After` for a full store: until the oldest challenge expires, at least 1 s.
fn retry_after(oldest_expiry: Option<i64>, now: i64) -> i64 {
    oldest_expiry.map_or(0, |t| t.saturating_sub(now)).max(1000)
}
