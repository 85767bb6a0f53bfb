use super::*;
use crate::store::test_db::TestPostgres;

fn record(hotkey: &str, score: f64, outcome: Outcome) -> QueryRecord {
    QueryRecord {
        miner_hotkey: hotkey.into(),
        uid: 3,
        circuit: "conv3x3".into(),
        profile: "p".into(),
        batch_size: 1,
        quality: outcome.passed().then_some(0.999),
        seconds_per_item: Some(1.5),
        key_upload_seconds: None,
        outcome,
        score,
        block: 10,
        started_at_ms: 1,
        finished_at_ms: 2,
    }
}

/// Writes queries and a weight setting, closes, reopens and reads them back: the
/// same assertions for both backends.
async fn queries_and_weights_survive_reopening(spec: &str, backend: Backend) {
    {
        let store = Store::open(spec).await.unwrap();
        assert_eq!(store.backend(), backend);
        for i in 0..5 {
            store
                .insert_query(&record("alice", i as f64, Outcome::Passed))
                .await
                .unwrap();
        }
        store
            .insert_query(&record(
                "bob",
                0.0,
                Outcome::failed(FailureKind::TruncatedStream, "2 of 3 frames"),
            ))
            .await
            .unwrap();
        store
            .insert_weight_setting(&WeightSetting {
                block: 99,
                set_at_ms: 5,
                uids: vec![3],
                weights: vec![65535],
                outcome: "ok".into(),
            })
            .await
            .unwrap();
        store.close().await;
    }
    // Reopening applies no migration twice and finds everything.
    let store = Store::open(spec).await.unwrap();
    assert_eq!(store.query_count().await.unwrap(), 6);
    assert_eq!(
        store.known_miners().await.unwrap(),
        vec!["alice".to_string(), "bob".to_string()]
    );
    let alice = store.recent_queries("alice", 3).await.unwrap();
    assert_eq!(
        alice.iter().map(|q| q.score).collect::<Vec<_>>(),
        vec![4.0, 3.0, 2.0],
        "newest first, limited"
    );
    let bob = store.recent_queries("bob", 40).await.unwrap();
    assert_eq!(
        bob[0].outcome,
        Outcome::failed(FailureKind::TruncatedStream, "2 of 3 frames")
    );
    assert_eq!(bob[0].quality, None);
    assert_eq!(store.last_weights_block().await.unwrap(), Some(99));
    store.close().await;
}

#[tokio::test]
async fn sqlite_queries_and_weights_survive_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("history.sqlite");
    queries_and_weights_survive_reopening(path.to_str().unwrap(), Backend::Sqlite).await;
}

/// The same round trip on a real PostgreSQL server, in a database of its own.
#[tokio::test]
async fn postgres_queries_and_weights_survive_reopening() {
    let Some(database) = TestPostgres::create("store").await else {
        return;
    };
    queries_and_weights_survive_reopening(&database.url, Backend::Postgres).await;
    database.drop().await;
}

#[test]
fn database_specs() {
    assert_eq!(database_url("postgres://u:p@h/db").0, Backend::Postgres);
    assert_eq!(
        database_url("sqlite::memory:"),
        (Backend::Sqlite, "sqlite::memory:".into())
    );
    assert_eq!(
        database_url("/var/x.db"),
        (Backend::Sqlite, "sqlite:///var/x.db?mode=rwc".into())
    );
}
