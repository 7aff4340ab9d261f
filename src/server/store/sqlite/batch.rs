//! Group commit for the two writes every busy SQLite server makes most: admitting a
//! challenge and remembering a nonce.
//!
//! sqlx runs each SQLite statement on the connection's own thread, and a commit writes
//! every page it touched to the WAL: one statement per request spent most of its time
//! switching threads and rewriting the same index pages (see BENCHMARKS.md). Requests
//! queue their write here instead; one task takes whatever has queued, writes it with
//! one multi-row statement per kind in one transaction, and answers each request with
//! its own outcome. A request is answered only after the commit, so what the server
//! answered still holds after a crash.

use super::super::{NewChallenge, StoreError, StoreResult};
use crate::protocol::Uuid;
use sqlx::SqlitePool;
use std::collections::{HashMap, HashSet};
use tokio::sync::{mpsc, oneshot};

/// Most writes of one kind in one statement (9 parameters each, far below SQLite's
/// 32766).
const MAX_BATCH: usize = 256;
/// Writes waiting at most; beyond it requests wait for room (back-pressure).
const QUEUE: usize = 4096;

/// A challenge to admit if its client is under its cap for the account.
pub struct Admit {
    pub challenge: NewChallenge,
    pub now: i64,
    pub cap: i64,
    pub reply: oneshot::Sender<StoreResult<bool>>,
}

/// A nonce to remember if it was never accepted.
pub struct Nonce {
    pub device: Uuid,
    pub timestamp_ms: i64,
    pub forget_at: i64,
    pub reply: oneshot::Sender<StoreResult<bool>>,
}

/// One queued write.
pub enum Write {
    Admit(Admit),
    Nonce(Nonce),
}

/// The queue's sending end; the writer task ends when it is dropped.
#[derive(Clone)]
pub struct Batcher {
    queue: mpsc::Sender<Write>,
}

impl Batcher {
    /// Starts the writer task on the current runtime.
    pub fn start(writer: SqlitePool) -> Batcher {
        let (queue, receiver) = mpsc::channel(QUEUE);
        tokio::spawn(run(writer, receiver));
        Batcher { queue }
    }

    /// Queues `write`; its reply comes after the commit.
    pub async fn submit<T>(
        &self,
        write: Write,
        reply: oneshot::Receiver<StoreResult<T>>,
    ) -> StoreResult<T> {
        let gone = || StoreError::Unavailable("the SQLite writer stopped".into());
        self.queue.send(write).await.map_err(|_| gone())?;
        reply.await.map_err(|_| gone())?
    }
}

async fn run(writer: SqlitePool, mut receiver: mpsc::Receiver<Write>) {
    let mut writes = Vec::with_capacity(MAX_BATCH);
    while receiver.recv_many(&mut writes, MAX_BATCH).await > 0 {
        let (mut admits, mut nonces) = (Vec::new(), Vec::new());
        for write in writes.drain(..) {
            match write {
                Write::Admit(a) => admits.push(a),
                Write::Nonce(n) => nonces.push(n),
            }
        }
        match commit(&writer, &admits, &nonces).await {
            Ok((admitted, fresh)) => {
                for a in admits {
                    let _ = a
                        .reply
                        .send(Ok(admitted.contains(&a.challenge.id.to_string())));
                }
                answer_nonces(nonces, &fresh);
            }
            Err(e) => {
                for a in admits {
                    let _ = a.reply.send(Err(e.clone()));
                }
                for n in nonces {
                    let _ = n.reply.send(Err(e.clone()));
                }
            }
        }
    }
}

/// Writes one batch in one transaction: the ids of the challenges admitted, and the
/// nonces that were new.
async fn commit(
    writer: &SqlitePool,
    admits: &[Admit],
    nonces: &[Nonce],
) -> StoreResult<(HashSet<String>, HashSet<(String, i64)>)> {
    let mut tx = writer.begin().await?;
    let mut admitted = HashSet::new();
    if !admits.is_empty() {
        let sql = admit_sql(admits.len());
        let mut query = sqlx::query_as::<_, (String,)>(&sql);
        for a in admits {
            let c = &a.challenge;
            query = query
                .bind(c.id.to_string())
                .bind(i64::from(c.account.get()))
                .bind(c.code.clone())
                .bind(i64::from(c.bot_account_id))
                .bind(c.requested_by.to_string())
                .bind(c.audience.clone())
                .bind(c.created_at)
                .bind(c.expires_at)
                .bind(a.now);
        }
        let cap = admits.iter().map(|a| a.cap).min().unwrap_or(1);
        admitted = query
            .bind(cap)
            .fetch_all(&mut *tx)
            .await?
            .into_iter()
            .map(|(id,)| id)
            .collect();
    }
    let mut fresh = HashSet::new();
    if !nonces.is_empty() {
        let sql = nonce_sql(nonces.len());
        let mut query = sqlx::query_as::<_, (String, i64)>(&sql);
        for n in nonces {
            query = query
                .bind(n.device.to_string())
                .bind(n.timestamp_ms)
                .bind(n.forget_at);
        }
        fresh = query.fetch_all(&mut *tx).await?.into_iter().collect();
        // The device list's "last used", in the same transaction: one more statement per
        // batch, not per nonce.
        let mut latest: HashMap<&str, i64> = HashMap::new();
        for (device, ts) in &fresh {
            let seen = latest.entry(device.as_str()).or_insert(*ts);
            *seen = (*seen).max(*ts);
        }
        for (device, ts) in latest {
            sqlx::query(
                "UPDATE devices SET last_used_at = max(coalesce(last_used_at, 0), ?1) \
                 WHERE id = ?2",
            )
            .bind(ts)
            .bind(device)
            .execute(&mut *tx)
            .await?;
        }
    }
    tx.commit().await?;
    Ok((admitted, fresh))
}

/// Each new nonce is accepted once: when one batch carries the same nonce twice, the
/// first request gets it and the other is a replay.
fn answer_nonces(nonces: Vec<Nonce>, fresh: &HashSet<(String, i64)>) {
    let mut taken: HashMap<(String, i64), ()> = HashMap::new();
    for n in nonces {
        let key = (n.device.to_string(), n.timestamp_ms);
        let accepted = fresh.contains(&key) && taken.insert(key, ()).is_none();
        let _ = n.reply.send(Ok(accepted));
    }
}

/// `INSERT … SELECT … FROM (VALUES …) WHERE` the row's client is under the cap for its
/// account, `RETURNING` the ids admitted. Rows of one batch do not count against each
/// other's cap: the cap may be passed by the requests of one batch (milliseconds).
fn admit_sql(rows: usize) -> String {
    let values: Vec<String> = (0..rows)
        .map(|r| {
            let p: Vec<String> = (1..=9).map(|i| format!("?{}", r * 9 + i)).collect();
            format!("({})", p.join(", "))
        })
        .collect();
    format!(
        "INSERT INTO challenges (id, account_id, code, bot_account_id, requested_by, audience, \
         created_at, expires_at) SELECT column1, column2, column3, column4, column5, column6, \
         column7, column8 FROM (VALUES {}) AS v WHERE (SELECT count(*) FROM challenges c \
         WHERE c.account_id = v.column2 AND c.requested_by = v.column5 AND c.validated = 0 \
         AND c.expires_at > v.column9) < ?{} RETURNING id",
        values.join(", "),
        rows * 9 + 1
    )
}

/// One multi-row `INSERT … ON CONFLICT DO NOTHING`, `RETURNING` the nonces inserted.
fn nonce_sql(rows: usize) -> String {
    let values: Vec<String> = (0..rows)
        .map(|r| format!("(?{}, ?{}, ?{})", r * 3 + 1, r * 3 + 2, r * 3 + 3))
        .collect();
    format!(
        "INSERT INTO nonces (device_id, timestamp_ms, forget_at) VALUES {} \
         ON CONFLICT DO NOTHING RETURNING device_id, timestamp_ms",
        values.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_number_their_parameters_row_by_row() {
        let sql = admit_sql(2);
        assert!(
            sql.contains("(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9), (?10, "),
            "{sql}"
        );
        assert!(sql.contains("< ?19 RETURNING id"), "{sql}");
        assert_eq!(
            nonce_sql(2),
            "INSERT INTO nonces (device_id, timestamp_ms, forget_at) VALUES (?1, ?2, ?3), \
             (?4, ?5, ?6) ON CONFLICT DO NOTHING RETURNING device_id, timestamp_ms"
        );
    }
}
