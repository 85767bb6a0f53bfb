//! Round fill (DESIGN section 5, "Organic traffic"): within the fill, each miner's
//! synthetic sessions follow one another on the miner's own clock, so a round holds
//! several sessions per miner that start when that miner's previous one ended, not at
//! the round's start; a session that failed is not followed.

mod common;

use std::sync::Arc;
use std::time::Duration;

use brainlock_chain::{Chain, Role};
use brainlock_gateway::SessionPolicy;
use brainlock_validator::{Validator, ValidatorConfig};

use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn within_the_fill_a_miner_gets_session_after_session_unless_one_fails() {
    let TestSubnet {
        dir,
        registry,
        validator: validator_kp,
    } = test_subnet().await;
    let honest = [keypair(60), keypair(61)];
    for kp in &honest {
        register(&registry, kp, Role::Miner, 0.0).await;
        let config = miner_config(&registry, validator_kp.account_id());
        let addr = start_miner(&config, &registry, kp).await;
        announce(&registry, kp, addr).await;
    }
    // A miner whose address refuses connections: its one session fails at the upload.
    let refusing = keypair(62);
    register(&registry, &refusing, Role::Miner, 0.0).await;
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed_addr = closed.local_addr().unwrap();
    drop(closed);
    announce(&registry, &refusing, closed_addr).await;

    let validator = |fill: f64, database: &str| {
        let config = ValidatorConfig {
            sessions: SessionPolicy {
                max_requests: 1,
                mean_requests: 1.0,
                start_spread_seconds: 0.5,
                round_fill_seconds: fill,
                ..SessionPolicy::default()
            },
            database: dir.path().join(database).to_string_lossy().into_owned(),
            ..validator_config(dir.path(), &registry)
        };
        let chain: Arc<dyn Chain> = Arc::new(chain_as(&registry, &validator_kp));
        Validator::new(config, chain, Arc::new(keypair(1)))
    };
    // A round without fill times one session per miner on this machine as loaded now;
    // the fill is three of them, so that a passing miner has time for a second.
    let mut unfilled = validator(0.0, "unfilled.sqlite").await.unwrap();
    let started = tokio::time::Instant::now();
    unfilled.round_once().await.unwrap();
    let fill = (3.0 * started.elapsed().as_secs_f64()).max(5.0);
    unfilled.close().await;

    let mut validator = validator(fill, "filled.sqlite").await.unwrap();
    let started = tokio::time::Instant::now();
    let round = validator.round_once().await.unwrap();
    let took = started.elapsed();

    let queries = |kp: &brainlock_epistula::Keypair| {
        let store = validator.store().clone();
        let hotkey = kp.account_id().to_string();
        async move { store.recent_queries(&hotkey, 100).await.unwrap() }
    };
    for kp in &honest {
        let queries = queries(kp).await;
        assert!(
            queries.len() >= 2,
            "a passing miner got one session in a {fill:.1} s fill: {queries:?}"
        );
        assert!(queries.iter().all(|q| q.outcome.passed()), "{queries:?}");
    }
    let failed = queries(&refusing).await;
    assert_eq!(
        failed.len(),
        1,
        "a failed session is not followed: {failed:?}"
    );
    assert!(!failed[0].outcome.passed());
    assert_eq!(round.queried, round.passed + 1, "{round:?}");
    // Passing sessions were followed until the fill ended; the round ends when the last
    // of them does, well before its deadline.
    assert!(took >= Duration::from_secs_f64(fill), "{took:?}");
    assert!(took < validator.round_timeout(), "{took:?}");
    validator.close().await;
}
