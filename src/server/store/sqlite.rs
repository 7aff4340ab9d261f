//! The SQLite backend: one file in the data directory, nothing to install.
//!
//! Writes go through a pool of one connection, so they never contend for SQLite's write
//! lock inside the process; reads use a small pool of their own, which WAL mode lets run
//! beside the writer. `synchronous = NORMAL` in WAL mode keeps every committed
//! transaction through a crash of the process (`kill -9`); only a power loss can take the
//! last ones back (the README says so).

use super::{
    Admission, Completion, DataDir, Device, DevicesFull, NewChallenge, OpenError, PendingChallenge,
    Sender, StoreError, StoreResult, Swept, TokenGrant, TokenKind, Verified, eviction_batch,
    migrate_error, migrator, parse_account, parse_device_key, parse_u32, parse_uuid, retry_after,
    sender_of,
};
use crate::keys::DevicePublicKey;
use crate::protocol::{AccountId, Uuid};
use crate::server::limits::Limits;
use crate::server::tokens::TokenHash;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use std::time::Duration;

const MIGRATIONS: &[(i64, &str, &str)] = &[(
    1,
    "initial",
    include_str!("../../../migrations/sqlite/0001_initial.sql"),
)];

/// How long a request waits for a connection or a lock before the store reports itself
/// unavailable.
const WAIT: Duration = Duration::from_secs(5);
const READERS: u32 = 4;

/// State in one SQLite file.
pub struct SqliteStore {
    writer: SqlitePool,
    reader: SqlitePool,
    _dir: DataDir,
}

const DEVICE_COLUMNS: &str = "id, account_id, public_key_pem, name, platform, certificate_pem, \
                              certificate_expires_at, revoked, created_at";
type DeviceRow = (String, i64, String, String, String, String, i64, bool, i64);
/// A consumed challenge: account, audience, sender's username and user id.
type ConsumedRow = (i64, Option<String>, Option<String>, Option<i64>);

fn device_from_row(row: DeviceRow) -> StoreResult<Device> {
    let (id, account, key, name, platform, certificate_pem, expires_at, revoked, created_at) = row;
    Ok(Device {
        id: parse_uuid(&id)?,
        account: parse_account(account)?,
        key: parse_device_key(&key)?,
        name,
        platform,
        certificate_pem,
        certificate_expires_at: expires_at,
        revoked,
        created_at,
    })
}

impl SqliteStore {
    /// Opens the database in `dir`, migrating it to this server's schema.
    pub async fn open(dir: DataDir) -> Result<Self, OpenError> {
        let what = format!("SQLite database {}", dir.database().display());
        let options = SqliteConnectOptions::new()
            .filename(dir.database())
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(WAIT)
            .foreign_keys(false);
        let unreadable = |e: sqlx::Error| {
            OpenError::Schema(format!(
                "the {what} cannot be opened ({e}); if it is corrupt, move it aside and \
                 restore a backup"
            ))
        };
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .acquire_timeout(WAIT)
            .connect_with(options.clone())
            .await
            .map_err(unreadable)?;
        migrator(MIGRATIONS)
            .run(&writer)
            .await
            .map_err(|e| match migrate_error(e, &what) {
                OpenError::Store(e) => OpenError::Schema(format!(
                    "the {what} cannot be read ({e}); if it is corrupt, move it aside and \
                     restore a backup"
                )),
                other => other,
            })?;
        let reader = SqlitePoolOptions::new()
            .max_connections(READERS)
            .acquire_timeout(WAIT)
            .connect_with(options.read_only(true))
            .await
            .map_err(unreadable)?;
        Ok(SqliteStore {
            writer,
            reader,
            _dir: dir,
        })
    }

    pub async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.reader).await?;
        Ok(())
    }

    pub async fn add_challenge(
        &self,
        c: &NewChallenge,
        limits: &Limits,
        near_full: bool,
        now: i64,
    ) -> StoreResult<Admission> {
        let client = c.requested_by.to_string();
        let account = i64::from(c.account.get());
        if !near_full {
            // The usual case in one statement: the client is under its cap for the
            // account, and the store far from full.
            let added = sqlx::query(
                "INSERT INTO challenges (id, account_id, code, bot_account_id, requested_by, \
                 audience, created_at, expires_at) SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8 \
                 WHERE (SELECT count(*) FROM challenges WHERE account_id = ?2 \
                 AND requested_by = ?5 AND validated = 0 AND expires_at > ?9) < ?10",
            )
            .bind(c.id.to_string())
            .bind(account)
            .bind(&c.code)
            .bind(i64::from(c.bot_account_id))
            .bind(&client)
            .bind(c.audience.as_deref())
            .bind(c.created_at)
            .bind(c.expires_at)
            .bind(now)
            .bind(i64::try_from(limits.pending_challenges_per_account).unwrap_or(i64::MAX))
            .execute(&self.writer)
            .await?;
            if added.rows_affected() == 1 {
                return Ok(Admission::Added { evicted: 0 });
            }
        }
        let mut tx = self.writer.begin().await?;
        let own: Vec<(String,)> = sqlx::query_as(
            "SELECT id FROM challenges WHERE account_id = ?1 AND requested_by = ?2 \
             AND validated = 0 AND expires_at > ?3 ORDER BY created_at, rowid",
        )
        .bind(account)
        .bind(&client)
        .bind(now)
        .fetch_all(&mut *tx)
        .await?;
        let excess = (own.len() + 1).saturating_sub(limits.pending_challenges_per_account);
        let mut evicted = 0;
        for (id,) in &own[..excess.min(own.len())] {
            let done = sqlx::query("DELETE FROM challenges WHERE id = ?1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
            evicted += done.rows_affected();
        }
        if near_full {
            let held: (i64,) =
                sqlx::query_as("SELECT count(*) FROM challenges WHERE expires_at > ?1")
                    .bind(now)
                    .fetch_one(&mut *tx)
                    .await?;
            if u64::try_from(held.0).unwrap_or(0) >= limits.challenges as u64 {
                let (mine,): (i64,) = sqlx::query_as(
                    "SELECT count(*) FROM challenges WHERE requested_by = ?1 AND validated = 0 \
                     AND expires_at > ?2",
                )
                .bind(&client)
                .bind(now)
                .fetch_one(&mut *tx)
                .await?;
                let heaviest: Option<(String, i64)> = sqlx::query_as(
                    "SELECT requested_by, count(*) AS n FROM challenges WHERE validated = 0 \
                     AND expires_at > ?1 GROUP BY requested_by ORDER BY n DESC LIMIT 1",
                )
                .bind(now)
                .fetch_optional(&mut *tx)
                .await?;
                match heaviest {
                    Some((holder, held)) if held > mine => {
                        let batch = eviction_batch(limits).min(held - mine);
                        let done = sqlx::query(
                            "DELETE FROM challenges WHERE id IN (SELECT id FROM challenges \
                             WHERE requested_by = ?1 AND validated = 0 AND expires_at > ?2 \
                             ORDER BY created_at, rowid LIMIT ?3)",
                        )
                        .bind(&holder)
                        .bind(now)
                        .bind(batch)
                        .execute(&mut *tx)
                        .await?;
                        evicted += done.rows_affected();
                    }
                    _ => {
                        let (oldest,): (Option<i64>,) = sqlx::query_as(
                            "SELECT min(expires_at) FROM challenges WHERE expires_at > ?1",
                        )
                        .bind(now)
                        .fetch_one(&mut *tx)
                        .await?;
                        return Ok(Admission::Full {
                            retry_after_ms: retry_after(oldest, now),
                        });
                    }
                }
            }
        }
        sqlx::query(
            "INSERT INTO challenges (id, account_id, code, bot_account_id, requested_by, \
             audience, created_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )
        .bind(c.id.to_string())
        .bind(account)
        .bind(&c.code)
        .bind(i64::from(c.bot_account_id))
        .bind(&client)
        .bind(c.audience.as_deref())
        .bind(c.created_at)
        .bind(c.expires_at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Admission::Added { evicted })
    }

    pub async fn pending_challenge_for_code(
        &self,
        code: &str,
        now: i64,
    ) -> StoreResult<Option<PendingChallenge>> {
        let row: Option<(String, i64, i64)> = sqlx::query_as(
            "SELECT id, account_id, bot_account_id FROM challenges WHERE code = ?1 \
             AND validated = 0 AND expires_at > ?2",
        )
        .bind(code)
        .bind(now)
        .fetch_optional(&self.reader)
        .await?;
        row.map(|(id, account, bot)| {
            Ok(PendingChallenge {
                id: parse_uuid(&id)?,
                account: parse_account(account)?,
                bot_account_id: parse_u32(bot, "bot account id")?,
            })
        })
        .transpose()
    }

    pub async fn has_pending_challenges(&self, bot: u32, now: i64) -> StoreResult<bool> {
        let (found,): (bool,) = sqlx::query_as(
            "SELECT EXISTS (SELECT 1 FROM challenges WHERE bot_account_id = ?1 \
             AND validated = 0 AND expires_at > ?2)",
        )
        .bind(i64::from(bot))
        .bind(now)
        .fetch_one(&self.reader)
        .await?;
        Ok(found)
    }

    pub async fn pending_counts_by_bot(&self, now: i64) -> StoreResult<Vec<(u32, u64)>> {
        let rows: Vec<(i64, i64)> = sqlx::query_as(
            "SELECT bot_account_id, count(*) FROM challenges WHERE validated = 0 \
             AND expires_at > ?1 GROUP BY bot_account_id",
        )
        .bind(now)
        .fetch_all(&self.reader)
        .await?;
        rows.into_iter()
            .map(|(bot, n)| Ok((parse_u32(bot, "bot account id")?, n.unsigned_abs())))
            .collect()
    }

    pub async fn challenge_count(&self, now: i64) -> StoreResult<u64> {
        let (n,): (i64,) = sqlx::query_as("SELECT count(*) FROM challenges WHERE expires_at > ?1")
            .bind(now)
            .fetch_one(&self.reader)
            .await?;
        Ok(n.unsigned_abs())
    }

    pub async fn validate_challenge(
        &self,
        id: &Uuid,
        sender: &Sender,
        now: i64,
        keep_until: i64,
    ) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE challenges SET validated = 1, expires_at = ?1, gd_username = ?2, \
             gd_user_id = ?3 WHERE id = ?4 AND validated = 0 AND expires_at > ?5",
        )
        .bind(keep_until)
        .bind(&sender.username)
        .bind(i64::from(sender.user_id))
        .bind(id.to_string())
        .bind(now)
        .execute(&self.writer)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn complete_challenge(
        &self,
        id: &Uuid,
        token: &TokenHash,
        token_expires_at: i64,
        now: i64,
    ) -> StoreResult<Completion> {
        // The usual answer (still pending) is a read; only a validated challenge takes
        // the writer.
        let state: Option<(bool,)> =
            sqlx::query_as("SELECT validated FROM challenges WHERE id = ?1 AND expires_at > ?2")
                .bind(id.to_string())
                .bind(now)
                .fetch_optional(&self.reader)
                .await?;
        match state {
            None => return Ok(Completion::Missing),
            Some((false,)) => return Ok(Completion::Pending),
            Some((true,)) => {}
        }
        let mut tx = self.writer.begin().await?;
        let consumed: Option<ConsumedRow> = sqlx::query_as(
            "DELETE FROM challenges WHERE id = ?1 AND validated = 1 AND expires_at > ?2 \
                 RETURNING account_id, audience, gd_username, gd_user_id",
        )
        .bind(id.to_string())
        .bind(now)
        .fetch_optional(&mut *tx)
        .await?;
        let Some((account, audience, username, user_id)) = consumed else {
            return Ok(Completion::Missing);
        };
        let verified = Verified {
            account: parse_account(account)?,
            audience,
            sender: sender_of(username, user_id)?,
        };
        let grant = TokenGrant {
            kind: TokenKind::Login,
            account: verified.account,
            expires_at: token_expires_at,
            device: None,
            audience: verified.audience.clone(),
            sender: verified.sender.clone(),
        };
        insert_token(&mut tx, token, &grant, now).await?;
        tx.commit().await?;
        Ok(Completion::Consumed(verified))
    }

    pub async fn token(
        &self,
        hash: &TokenHash,
        now: i64,
    ) -> StoreResult<Option<(TokenHash, TokenGrant)>> {
        type Row = (
            Vec<u8>,
            String,
            i64,
            i64,
            Option<String>,
            Option<String>,
            Option<String>,
            Option<i64>,
        );
        let row: Option<Row> = sqlx::query_as(
            "SELECT t.hash, t.kind, t.account_id, t.expires_at, t.device_id, t.audience, \
             t.gd_username, t.gd_user_id FROM tokens t LEFT JOIN devices d ON d.id = t.device_id \
             WHERE t.lookup = ?1 AND t.expires_at > ?2 \
             AND (t.device_id IS NULL OR d.revoked = 0)",
        )
        .bind(hash.lookup_key().to_vec())
        .bind(now)
        .fetch_optional(&self.reader)
        .await?;
        let Some((stored, kind, account, expires_at, device, audience, username, user_id)) = row
        else {
            return Ok(None);
        };
        let stored = TokenHash::from_bytes(&stored)
            .ok_or_else(|| StoreError::corrupt("token hash is not 32 bytes"))?;
        let grant = TokenGrant {
            kind: TokenKind::parse(&kind)?,
            account: parse_account(account)?,
            expires_at,
            device: device.as_deref().map(parse_uuid).transpose()?,
            audience,
            sender: sender_of(username, user_id)?,
        };
        Ok(Some((stored, grant)))
    }

    pub async fn remove_token(&self, hash: &TokenHash) -> StoreResult<bool> {
        let done = sqlx::query("DELETE FROM tokens WHERE lookup = ?1 AND hash = ?2")
            .bind(hash.lookup_key().to_vec())
            .bind(hash.as_bytes().to_vec())
            .execute(&self.writer)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn add_session(
        &self,
        hash: &TokenHash,
        grant: &TokenGrant,
        now: i64,
        cap: usize,
    ) -> StoreResult<()> {
        let device = grant.device.map(|d| d.to_string());
        let mut tx = self.writer.begin().await?;
        insert_token(&mut tx, hash, grant, now).await?;
        sqlx::query(
            "DELETE FROM tokens WHERE device_id = ?1 AND lookup NOT IN (SELECT lookup FROM \
             tokens WHERE device_id = ?1 ORDER BY created_at DESC, rowid DESC LIMIT ?2)",
        )
        .bind(device)
        .bind(i64::try_from(cap).unwrap_or(i64::MAX))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn active_devices(&self, account: AccountId, now: i64) -> StoreResult<u64> {
        let (n,): (i64,) = sqlx::query_as(
            "SELECT count(*) FROM devices WHERE account_id = ?1 AND revoked = 0 \
             AND certificate_expires_at > ?2",
        )
        .bind(i64::from(account.get()))
        .bind(now)
        .fetch_one(&self.reader)
        .await?;
        Ok(n.unsigned_abs())
    }

    pub async fn add_device(
        &self,
        device: &Device,
        limits: &Limits,
        now: i64,
    ) -> StoreResult<Result<(), DevicesFull>> {
        let account = i64::from(device.account.get());
        let key = device
            .key
            .to_spki_pem()
            .map_err(|e| StoreError::corrupt(format!("device key: {e}")))?;
        let mut tx = self.writer.begin().await?;
        let (active,): (i64,) = sqlx::query_as(
            "SELECT count(*) FROM devices WHERE account_id = ?1 AND revoked = 0 \
             AND certificate_expires_at > ?2",
        )
        .bind(account)
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        if active.unsigned_abs() >= limits.devices_per_account as u64 {
            return Ok(Err(DevicesFull));
        }
        sqlx::query(&format!(
            "INSERT INTO devices ({DEVICE_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
        ))
        .bind(device.id.to_string())
        .bind(account)
        .bind(key)
        .bind(&device.name)
        .bind(&device.platform)
        .bind(&device.certificate_pem)
        .bind(device.certificate_expires_at)
        .bind(device.revoked)
        .bind(device.created_at)
        .execute(&mut *tx)
        .await?;
        // Revoked and expired devices are kept so their nonces are refused with the
        // right reason, but only as many as active ones may exist.
        let inactive: Vec<(String,)> = sqlx::query_as(
            "SELECT id FROM devices WHERE account_id = ?1 AND (revoked = 1 OR \
             certificate_expires_at <= ?2) ORDER BY created_at, rowid",
        )
        .bind(account)
        .bind(now)
        .fetch_all(&mut *tx)
        .await?;
        let excess = inactive.len().saturating_sub(limits.devices_per_account);
        for (id,) in &inactive[..excess] {
            sqlx::query("DELETE FROM tokens WHERE device_id = ?1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
            sqlx::query("DELETE FROM devices WHERE id = ?1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(Ok(()))
    }

    pub async fn device(&self, id: &Uuid) -> StoreResult<Option<Device>> {
        let row: Option<DeviceRow> = sqlx::query_as(&format!(
            "SELECT {DEVICE_COLUMNS} FROM devices WHERE id = ?1"
        ))
        .bind(id.to_string())
        .fetch_optional(&self.reader)
        .await?;
        row.map(device_from_row).transpose()
    }

    pub async fn replace_device_key(
        &self,
        id: &Uuid,
        key: &DevicePublicKey,
        certificate_pem: &str,
        expires_at: i64,
    ) -> StoreResult<bool> {
        let key = key
            .to_spki_pem()
            .map_err(|e| StoreError::corrupt(format!("device key: {e}")))?;
        let done = sqlx::query(
            "UPDATE devices SET public_key_pem = ?1, certificate_pem = ?2, \
             certificate_expires_at = ?3 WHERE id = ?4 AND revoked = 0",
        )
        .bind(key)
        .bind(certificate_pem)
        .bind(expires_at)
        .bind(id.to_string())
        .execute(&self.writer)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn revoke_device(
        &self,
        id: &Uuid,
        account: AccountId,
    ) -> StoreResult<Option<Device>> {
        let mut tx = self.writer.begin().await?;
        let done = sqlx::query("UPDATE devices SET revoked = 1 WHERE id = ?1 AND account_id = ?2")
            .bind(id.to_string())
            .bind(i64::from(account.get()))
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 0 {
            return Ok(None);
        }
        sqlx::query("DELETE FROM tokens WHERE device_id = ?1")
            .bind(id.to_string())
            .execute(&mut *tx)
            .await?;
        let row: DeviceRow = sqlx::query_as(&format!(
            "SELECT {DEVICE_COLUMNS} FROM devices WHERE id = ?1"
        ))
        .bind(id.to_string())
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        device_from_row(row).map(Some)
    }

    pub async fn use_nonce(
        &self,
        device: &Uuid,
        timestamp_ms: i64,
        forget_at: i64,
    ) -> StoreResult<bool> {
        let done = sqlx::query(
            "INSERT INTO nonces (device_id, timestamp_ms, forget_at) VALUES (?1, ?2, ?3) \
             ON CONFLICT DO NOTHING",
        )
        .bind(device.to_string())
        .bind(timestamp_ms)
        .bind(forget_at)
        .execute(&self.writer)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn secret_or_insert(&self, name: &str, value: &str) -> StoreResult<String> {
        sqlx::query("INSERT INTO secrets (name, value) VALUES (?1, ?2) ON CONFLICT DO NOTHING")
            .bind(name)
            .bind(value)
            .execute(&self.writer)
            .await?;
        self.secret(name)
            .await?
            .ok_or_else(|| StoreError::corrupt(format!("secret {name} vanished")))
    }

    pub async fn secret(&self, name: &str) -> StoreResult<Option<String>> {
        let row: Option<(String,)> = sqlx::query_as("SELECT value FROM secrets WHERE name = ?1")
            .bind(name)
            .fetch_optional(&self.writer)
            .await?;
        Ok(row.map(|(v,)| v))
    }

    pub async fn acquire_bot_lease(
        &self,
        bot: u32,
        holder: &str,
        until: i64,
        now: i64,
    ) -> StoreResult<bool> {
        let done = sqlx::query(
            "INSERT INTO bot_leases (bot_account_id, holder, expires_at) VALUES (?1, ?2, ?3) \
             ON CONFLICT (bot_account_id) DO UPDATE SET holder = excluded.holder, \
             expires_at = excluded.expires_at \
             WHERE bot_leases.holder = excluded.holder OR bot_leases.expires_at <= ?4",
        )
        .bind(i64::from(bot))
        .bind(holder)
        .bind(until)
        .bind(now)
        .execute(&self.writer)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn sweep(&self, now: i64) -> StoreResult<Swept> {
        let mut tx = self.writer.begin().await?;
        let (unvalidated,): (i64,) = sqlx::query_as(
            "SELECT count(*) FROM challenges WHERE expires_at <= ?1 AND validated = 0",
        )
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        for sql in [
            "DELETE FROM challenges WHERE expires_at <= ?1",
            "DELETE FROM tokens WHERE expires_at <= ?1",
            "DELETE FROM nonces WHERE forget_at <= ?1",
            "DELETE FROM bot_leases WHERE expires_at <= ?1",
        ] {
            sqlx::query(sql).bind(now).execute(&mut *tx).await?;
        }
        let (left,): (i64,) = sqlx::query_as("SELECT count(*) FROM challenges")
            .fetch_one(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(Swept {
            unvalidated_challenges: unvalidated.unsigned_abs(),
            challenges_left: left.unsigned_abs(),
        })
    }
}

async fn insert_token(
    tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
    hash: &TokenHash,
    grant: &TokenGrant,
    now: i64,
) -> StoreResult<()> {
    let (username, user_id) = match &grant.sender {
        Some(s) => (Some(s.username.as_str()), Some(i64::from(s.user_id))),
        None => (None, None),
    };
    sqlx::query(
        "INSERT INTO tokens (lookup, hash, kind, account_id, device_id, audience, gd_username, \
         gd_user_id, created_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    )
    .bind(hash.lookup_key().to_vec())
    .bind(hash.as_bytes().to_vec())
    .bind(grant.kind.as_str())
    .bind(i64::from(grant.account.get()))
    .bind(grant.device.map(|d| d.to_string()))
    .bind(grant.audience.as_deref())
    .bind(username)
    .bind(user_id)
    .bind(now)
    .bind(grant.expires_at)
    .execute(&mut **tx)
    .await?;
    Ok(())
}
