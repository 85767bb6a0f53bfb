use super::*;

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

#[tokio::test]
async fn queries_and_weights_survive_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("history.sqlite");
    let spec = path.to_str().unwrap();
    {
        let store = Store::open(spec).await.unwrap();
        assert_eq!(store.backend(), Backend::Sqlite);
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

/// Runs against a real PostgreSQL when `BRAINLOCK_TEST_POSTGRES` holds its URL.
#[tokio::test]
async fn postgres_when_available() {
    let Ok(url) = std::env::var("BRAINLOCK_TEST_POSTGRES") else {
        eprintln!("BRAINLOCK_TEST_POSTGRES not set: PostgreSQL path not exercised");
        return;
    };
    let store = Store::open(&url).await.unwrap();
    let hotkey = format!("pg-test-{}", crate::clock::now_ms());
    store
        .insert_query(&record(&hotkey, 7.0, Outcome::Passed))
        .await
        .unwrap();
    let back = store.recent_queries(&hotkey, 40).await.unwrap();
    assert_eq!(back.len(), 1);
    assert_eq!(back[0].score, 7.0);
}
