//! Round fill (DESIGN section 5, "Organic traffic"): within the fill, each miner's
//! synthetic sessions follow one another on the miner's own clock, so a round holds
//! several sessions per miner that start when that miner's previous one ended, not at
//! the round's start.

mod common;

use std::sync::Arc;
use std::time::Duration;

use brainlock_chain::{Chain, Role};
use brainlock_gateway::SessionPolicy;
use brainlock_validator::{Validator, ValidatorConfig};

use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn within_the_fill_each_miner_gets_session_after_session() {
    let TestSubnet {
        dir,
        registry,
        validator: validator_kp,
    } = test_subnet().await;
    for seed in [60u8, 61] {
        let kp = keypair(seed);
        register(&registry, &kp, Role::Miner, 0.0).await;
        let addr = start_miner(
            &miner_config(&registry, validator_kp.account_id()),
            &registry,
            &kp,
        )
        .await;
        announce(&registry, &kp, addr).await;
    }
    let fill = 8.0;
    let config = ValidatorConfig {
        sessions: SessionPolicy {
            max_requests: 1,
            mean_requests: 1.0,
            start_spread_seconds: 0.5,
            round_fill_seconds: fill,
            ..SessionPolicy::default()
        },
        ..validator_config(dir.path(), &registry)
    };
    let chain: Arc<dyn Chain> = Arc::new(chain_as(&registry, &validator_kp));
    let mut validator = Validator::new(config, chain, Arc::new(keypair(1)))
        .await
        .unwrap();
    let started = tokio::time::Instant::now();
    let round = validator.round_once().await.unwrap();
    let took = started.elapsed();

    assert_eq!(round.passed, round.queried, "{round:?}");
    let leaderboard = validator.leaderboard().borrow().clone();
    assert_eq!(leaderboard.miners.len(), 2);
    for miner in &leaderboard.miners {
        assert!(
            miner.queries >= 2,
            "a miner got one session in an {fill} s fill: {miner:?}"
        );
    }
    // Sessions started within the fill and none after it; the round ends when the last
    // of them does.
    assert!(took >= Duration::from_secs_f64(fill), "{took:?}");
    assert!(took < validator.round_timeout(), "{took:?}");
    validator.close().await;
}
