//! Query history and weight settings in a real database: SQLite (embedded, the
//! default) or PostgreSQL (by URL), through one code path (`sqlx::AnyPool`).
//!
//! The queries table is the source of truth for standings: after a restart the
//! validator rebuilds every miner's last-40 window from it, so a restart neither
//! forgets a cheater's failures nor an honest miner's record. Speed records and their
//! bounties have a table of their own, so they outlive the query windows.

mod migrate;
mod records;

pub use records::{FailureKind, Outcome, QueryRecord, StoredQuery, WeightSetting};

use std::time::Duration;

use brainlock_scoring::{Bounty, RecordBook, SpeedRecord};
use sqlx::AnyPool;
use sqlx::Row;
use sqlx::any::AnyPoolOptions;

/// Why a history-database operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database (named by its URL or path) could not be opened.
    #[error("database {0}: {1}")]
    Connect(String, sqlx::Error),
    /// A schema migration failed.
    #[error("database migration {version}")]
    Migrate {
        /// The schema version being applied.
        version: i64,
        /// The database error.
        source: sqlx::Error,
    },
    /// A statement failed.
    #[error("database statement failed")]
    Query(#[from] sqlx::Error),
    /// A stored value cannot be read back (unknown outcome, out-of-range number).
    #[error("database holds an unexpected value: {0}")]
    Corrupt(String),
}

/// Which database engine holds the history.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// A SQLite file.
    Sqlite,
    /// A PostgreSQL server (`postgres://` URL).
    Postgres,
}

/// `--database`: a `postgres://` / `postgresql://` URL, a `sqlite:` URL, or a file path
/// (SQLite, created if missing).
pub fn database_url(spec: &str) -> (Backend, String) {
    if spec.starts_with("postgres://") || spec.starts_with("postgresql://") {
        (Backend::Postgres, spec.to_string())
    } else if spec.starts_with("sqlite:") {
        (Backend::Sqlite, spec.to_string())
    } else {
        (Backend::Sqlite, format!("sqlite://{spec}?mode=rwc"))
    }
}

/// The history database: every query and weight setting, from which standings are rebuilt after a restart.
#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
}

impl Store {
    /// Connects and applies the embedded migrations.
    pub async fn open(spec: &str) -> Result<Self, StoreError> {
        sqlx::any::install_default_drivers();
        let (backend, url) = database_url(spec);
        // Never log a PostgreSQL URL: it may carry a password.
        let shown = match backend {
            Backend::Sqlite => spec.to_string(),
            Backend::Postgres => "PostgreSQL".to_string(),
        };
        let pool = AnyPoolOptions::new()
            // SQLite serializes writers anyway; one connection avoids "database is locked".
            .max_connections(if backend == Backend::Sqlite { 1 } else { 4 })
            .acquire_timeout(Duration::from_secs(30))
            .connect(&url)
            .await
            .map_err(|e| StoreError::Connect(shown, e))?;
        migrate::apply(&pool, backend).await?;
        Ok(Self { pool, backend })
    }

    /// Which engine this store talks to.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Records one finished query.
    pub async fn insert_query(&self, q: &QueryRecord) -> Result<(), StoreError> {
        let (outcome, reason) = q.outcome.columns();
        sqlx::query(
            "INSERT INTO queries (miner_hotkey, uid, circuit, profile, batch_size, outcome, failure_reason, \
             quality, seconds_per_item, key_upload_seconds, score, block, started_at_ms, finished_at_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
        )
        // Not cached: through `AnyPool` a statement prepared with NULLs in its DOUBLE
        // columns (a failed query) declares them as integers on PostgreSQL, and every
        // passed query after it on that connection is refused (SQLSTATE 22P03).
        .persistent(false)
        .bind(q.miner_hotkey.clone())
        .bind(i64::from(q.uid))
        .bind(q.circuit.clone())
        .bind(q.profile.clone())
        .bind(q.batch_size as i64)
        .bind(outcome)
        .bind(reason)
        .bind(q.quality)
        .bind(q.seconds_per_item)
        .bind(q.key_upload_seconds)
        .bind(q.score)
        .bind(q.block as i64)
        .bind(q.started_at_ms)
        .bind(q.finished_at_ms)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The `limit` most recent queries of a miner, newest first.
    pub async fn recent_queries(
        &self,
        hotkey: &str,
        limit: usize,
    ) -> Result<Vec<StoredQuery>, StoreError> {
        let rows = sqlx::query(
            "SELECT uid, circuit, outcome, failure_reason, quality, seconds_per_item, score, finished_at_ms \
             FROM queries WHERE miner_hotkey = $1 ORDER BY id DESC LIMIT $2",
        )
        .bind(hotkey.to_string())
        .bind(limit as i64)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let outcome: String = row.try_get("outcome")?;
                let reason: Option<String> = row.try_get("failure_reason")?;
                let uid: i64 = row.try_get("uid")?;
                Ok(StoredQuery {
                    uid: u16::try_from(uid)
                        .map_err(|_| StoreError::Corrupt(format!("uid {uid}")))?,
                    circuit: row.try_get("circuit")?,
                    outcome: Outcome::from_columns(&outcome, reason)
                        .map_err(StoreError::Corrupt)?,
                    quality: row.try_get("quality")?,
                    seconds_per_item: row.try_get("seconds_per_item")?,
                    score: row.try_get("score")?,
                    finished_at_ms: row.try_get("finished_at_ms")?,
                })
            })
            .collect()
    }

    /// Every miner hotkey with at least one stored query.
    pub async fn known_miners(&self) -> Result<Vec<String>, StoreError> {
        let rows = sqlx::query("SELECT DISTINCT miner_hotkey FROM queries ORDER BY miner_hotkey")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| {
                r.try_get::<String, _>("miner_hotkey")
                    .map_err(StoreError::from)
            })
            .collect()
    }

    /// Number of queries recorded.
    pub async fn query_count(&self) -> Result<u64, StoreError> {
        let n: i64 = sqlx::query("SELECT COUNT(*) AS n FROM queries")
            .fetch_one(&self.pool)
            .await?
            .try_get("n")?;
        Ok(n as u64)
    }

    /// Records one weight setting.
    pub async fn insert_weight_setting(&self, w: &WeightSetting) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO weight_settings (block, set_at_ms, uids, weights, outcome) VALUES ($1, $2, $3, $4, $5)")
            .bind(w.block as i64)
            .bind(w.set_at_ms)
            .bind(serde_json::to_string(&w.uids).expect("u16 list serializes"))
            .bind(serde_json::to_string(&w.weights).expect("u16 list serializes"))
            .bind(w.outcome.clone())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The block of the last successful weight setting, if any.
    pub async fn last_weights_block(&self) -> Result<Option<u64>, StoreError> {
        let row = sqlx::query("SELECT MAX(block) AS b FROM weight_settings WHERE outcome = 'ok'")
            .fetch_one(&self.pool)
            .await?;
        let block: Option<i64> = row.try_get("b")?;
        Ok(block.map(|b| b as u64))
    }

    /// Stores a new speed record on `circuit`, with its bounty if it was awarded at once.
    pub async fn insert_speed_record(
        &self,
        circuit: &str,
        record: &SpeedRecord<String>,
        previous: Option<f64>,
        bounty: Option<&Bounty<String>>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO speed_records (circuit, miner_hotkey, seconds_per_item, previous_seconds_per_item, \
             block, set_at_ms, bounty_awarded_block, bounty_expires_block) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        // Not cached: through `AnyPool`, a statement first prepared with a NULL in a
        // DOUBLE column declares that parameter as an integer on PostgreSQL, and the
        // next value the column gets is refused ("incorrect binary data format").
        .persistent(false)
        .bind(circuit.to_string())
        .bind(record.holder.clone())
        .bind(record.seconds_per_item)
        .bind(previous)
        .bind(record.block as i64)
        .bind(crate::clock::now_ms())
        .bind(bounty.map(|b| b.awarded_block as i64))
        .bind(bounty.map(|b| b.expires_block as i64))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Awards the bounty owed to the holder's latest record on `circuit`.
    pub async fn award_bounty(
        &self,
        circuit: &str,
        bounty: &Bounty<String>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE speed_records SET bounty_awarded_block = $1, bounty_expires_block = $2 \
             WHERE id = (SELECT MAX(id) FROM speed_records WHERE circuit = $3 AND miner_hotkey = $4)",
        )
        .bind(bounty.awarded_block as i64)
        .bind(bounty.expires_block as i64)
        .bind(circuit.to_string())
        .bind(bounty.holder.clone())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Marks `hotkey`'s bounties on `circuit`, running or owed, as forfeited at `block`.
    pub async fn forfeit_bounty(
        &self,
        circuit: &str,
        hotkey: &str,
        block: u64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE speed_records SET bounty_forfeited_block = $1 WHERE circuit = $2 \
             AND miner_hotkey = $3 AND previous_seconds_per_item IS NOT NULL AND bounty_forfeited_block IS NULL",
        )
        .bind(block as i64)
        .bind(circuit.to_string())
        .bind(hotkey.to_string())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The record book of `circuit` as stored: its latest record and whether its bounty
    /// is still owed, and each holder's latest bounty unless forfeited.
    pub async fn record_book(&self, circuit: &str) -> Result<RecordBook<String>, StoreError> {
        let rows = sqlx::query(
            "SELECT miner_hotkey, seconds_per_item, previous_seconds_per_item, block, \
             bounty_awarded_block, bounty_expires_block, bounty_forfeited_block \
             FROM speed_records WHERE circuit = $1 ORDER BY id",
        )
        .bind(circuit.to_string())
        .fetch_all(&self.pool)
        .await?;
        let block = |row: &sqlx::any::AnyRow, column: &str| -> Result<Option<u64>, StoreError> {
            let value: Option<i64> = row.try_get(column)?;
            value
                .map(|b| u64::try_from(b).map_err(|_| StoreError::Corrupt(format!("{column} {b}"))))
                .transpose()
        };
        let (mut record, mut owed) = (None, false);
        let mut bounties: Vec<Bounty<String>> = Vec::new();
        for row in &rows {
            let holder: String = row.try_get("miner_hotkey")?;
            let set_at = block(row, "block")?.unwrap_or_default();
            let expires = block(row, "bounty_expires_block")?;
            let forfeited = block(row, "bounty_forfeited_block")?.is_some();
            let previous: Option<f64> = row.try_get("previous_seconds_per_item")?;
            if expires.is_some() {
                bounties.retain(|b| b.holder != holder);
            }
            if let Some(expires_block) = expires
                && !forfeited
            {
                bounties.push(Bounty {
                    holder: holder.clone(),
                    // Rows from before confirmations were awarded with their record.
                    awarded_block: block(row, "bounty_awarded_block")?.unwrap_or(set_at),
                    expires_block,
                });
            }
            owed = previous.is_some() && expires.is_none() && !forfeited;
            record = Some(SpeedRecord {
                holder,
                seconds_per_item: row.try_get("seconds_per_item")?,
                block: set_at,
            });
        }
        Ok(RecordBook::restore(record, owed, bounties))
    }

    /// Closes the connection pool.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

#[cfg(test)]
pub(crate) mod test_db;
#[cfg(test)]
mod tests;
