//! Databases for tests: a SQLite file in a temporary directory, and a fresh database of
//! its own on a real PostgreSQL server.

use sqlx::Connection;

/// A fresh database on the PostgreSQL server named by `BRAINLOCK_TEST_POSTGRES` (the URL
/// of a database on that server from which the test may create others; `.ci/run`
/// starts a server and sets it). Without it the test is skipped locally and fails under
/// `CI=true`, so CI always exercises the PostgreSQL path.
pub(crate) struct TestPostgres {
    admin: sqlx::AnyConnection,
    name: String,
    /// URL of the fresh database.
    pub(crate) url: String,
}

impl TestPostgres {
    /// Creates the database, or returns `None` outside CI without a server.
    pub(crate) async fn create(test: &str) -> Option<Self> {
        let Ok(admin_url) = std::env::var("BRAINLOCK_TEST_POSTGRES") else {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI must run the PostgreSQL test {test}: set BRAINLOCK_TEST_POSTGRES \
                 (`.ci/run` starts a server with scripts/test-postgres.sh)"
            );
            eprintln!("BRAINLOCK_TEST_POSTGRES not set: {test} skips the PostgreSQL path");
            return None;
        };
        sqlx::any::install_default_drivers();
        let name = format!(
            "brainlock_test_{}_{}_{}",
            test,
            std::process::id(),
            crate::clock::now_ms()
        );
        let mut admin = sqlx::AnyConnection::connect(&admin_url).await.unwrap();
        // The name is ours (letters, digits and underscores), not input.
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut admin)
            .await
            .unwrap();
        let (base, _) = admin_url
            .rsplit_once('/')
            .expect("a URL ending in /database");
        Some(Self {
            url: format!("{base}/{name}"),
            admin,
            name,
        })
    }

    /// Drops the database (its pools must be closed).
    pub(crate) async fn drop(mut self) {
        sqlx::query(sqlx::AssertSqlSafe(format!("DROP DATABASE {}", self.name)))
            .execute(&mut self.admin)
            .await
            .unwrap();
    }
}
