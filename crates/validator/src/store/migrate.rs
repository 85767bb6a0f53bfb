//! Embedded, versioned migrations. Each version has one script per dialect (they
//! differ only where SQLite and PostgreSQL do, e.g. auto-increment keys); applied
//! versions are recorded in `brainlock_schema`.

use sqlx::AnyPool;
use sqlx::Row;

use super::{Backend, StoreError};

struct Migration {
    version: i64,
    sqlite: &'static str,
    postgres: &'static str,
}

const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        sqlite: include_str!("../../migrations/sqlite/0001_init.sql"),
        postgres: include_str!("../../migrations/postgres/0001_init.sql"),
    },
    Migration {
        version: 2,
        sqlite: include_str!("../../migrations/sqlite/0002_speed_records.sql"),
        postgres: include_str!("../../migrations/postgres/0002_speed_records.sql"),
    },
    Migration {
        version: 3,
        sqlite: include_str!("../../migrations/sqlite/0003_bounty_confirmation.sql"),
        postgres: include_str!("../../migrations/postgres/0003_bounty_confirmation.sql"),
    },
];

pub(super) async fn apply(pool: &AnyPool, backend: Backend) -> Result<(), StoreError> {
    let fail = |version| move |source| StoreError::Migrate { version, source };
    sqlx::raw_sql("CREATE TABLE IF NOT EXISTS brainlock_schema (version BIGINT PRIMARY KEY, applied_at_ms BIGINT NOT NULL)")
        .execute(pool)
        .await
        .map_err(fail(0))?;
    let row = sqlx::query("SELECT MAX(version) AS v FROM brainlock_schema")
        .fetch_one(pool)
        .await
        .map_err(fail(0))?;
    let current: Option<i64> = row.try_get("v").map_err(fail(0))?;
    let current = current.unwrap_or(0);
    for m in MIGRATIONS.iter().filter(|m| m.version > current) {
        let script = match backend {
            Backend::Sqlite => m.sqlite,
            Backend::Postgres => m.postgres,
        };
        let mut tx = pool.begin().await.map_err(fail(m.version))?;
        sqlx::raw_sql(script)
            .execute(&mut *tx)
            .await
            .map_err(fail(m.version))?;
        sqlx::query("INSERT INTO brainlock_schema (version, applied_at_ms) VALUES ($1, $2)")
            .bind(m.version)
            .bind(crate::clock::now_ms())
            .execute(&mut *tx)
            .await
            .map_err(fail(m.version))?;
        tx.commit().await.map_err(fail(m.version))?;
        tracing::info!(version = m.version, "database migration applied");
    }
    Ok(())
}
