//! Query history and weight settings in a real database: SQLite (embedded, the
//! default) or PostgreSQL (by URL), through one code path (`sqlx::AnyPool`).
//!
//! The queries table is the source of truth for standings: after a restart the
//! validator rebuilds every miner's last-40 window from it, so a restart neither
//! forgets a cheater's failures nor an honest miner's record.

mod migrate;
mod records;

pub use records::{FailureKind, Outcome, QueryRecord, StoredQuery, WeightSetting};

use std::time::Duration;

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
    #[error("database migration {version}: {source}")]
    Migrate {
        /// The schema version being applied.
        version: i64,
        /// The database error.
        source: sqlx::Error,
    },
    /// A statement failed.
    #[error("database: {0}")]
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

    /// Closes the connection pool.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

#[cfg(test)]
mod tests;
