//! Speed records and bounties end to end on loopback, on real ciphertexts: real miners
//! behind test-only fronts that shape their speed and reliability, the local registry
//! as the chain, and the validator's real loop with bounties paying 30% of the weights.
//!
//! - steady: holds every answer until 7 s after the request;
//! - improver: holds its first 5 answers until 6 s, then answers as fast as it can;
//! - flaky: as fast as it can, but every 7th answer is corrupted (14% failures, within
//!   the standing's 20% tolerance).
//!
//! Expected: the improver ends holding the speed record and a running bounty, and
//! outweighs the steady miner; the flaky one, fast as it is, never shows ten clean
//! queries in a row, so it never has a sustained latency to claim a record with.
//!
//! Fronts hold answers until a time after the request ([`Shaping::hold`]) rather than
//! adding a delay, so a shaped answer takes exactly its time whatever the real work
//! took: a loaded 2-core machine moves that work by a second or more between rounds
//! (1.5 s to 3.5 s in CI), which an added delay would pass on. The improver's record then only needs its own
//! fast answers to stay under about 4.9 s: its baseline is at least (fastest slow +
//! slowest fast) / 2 = (6 + f) / 2, and a new record must beat it by 10%.

mod common;

use std::sync::Arc;
use std::time::Duration;

use brainlock_chain::{Chain, Role};
use brainlock_validator::{Validator, ValidatorConfig};

use common::*;

/// Ten queries to show a sustained latency, then ten passes after the improver's first
/// record (its 10th or 11th query) to confirm the record that its bounty pays for.
const ROUNDS: usize = 21;

/// A miner's name, its answers' hold times by answer number, and its corruption period.
type Shape = (&'static str, fn(usize) -> Duration, Option<usize>);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_improver_sets_the_record_and_a_flaky_miner_never_does() {
    let TestSubnet {
        dir,
        registry,
        validator: validator_kp,
    } = test_subnet().await;

    let shapes: [Shape; 3] = [
        ("steady", |_| Duration::from_secs(7), None),
        (
            "improver",
            |n| Duration::from_secs(if n < 5 { 6 } else { 0 }),
            None,
        ),
        ("flaky", |_| Duration::ZERO, Some(7)),
    ];
    let mut uids = Vec::new();
    for (i, (name, hold, corrupt_every)) in shapes.into_iter().enumerate() {
        let kp = keypair(20 + i as u8);
        register(&registry, &kp, Role::Miner, 0.0).await;
        let upstream = start_miner(
            &miner_config(&registry, validator_kp.account_id()),
            &registry,
            &kp,
        )
        .await;
        let shaping = Shaping {
            hold: Box::new(hold),
            corrupt: Box::new(move |n| corrupt_every.is_some_and(|every| n % every == every - 1)),
        };
        announce(&registry, &kp, shaping_front(upstream, shaping).await).await;
        uids.push((name, kp.account_id()));
    }

    let chain: Arc<dyn Chain> = Arc::new(chain_as(&registry, &validator_kp));
    let mut config = ValidatorConfig {
        infer_timeout: Some(Duration::from_secs(10)),
        ..validator_config(dir.path(), &registry)
    };
    config.rewards.bounty.queries = 10;
    config.rewards.bounty.share = 0.3;
    let mut validator = Validator::new(config, chain.clone(), Arc::new(keypair(1)))
        .await
        .unwrap();
    let board = validator.leaderboard();
    for _ in 0..ROUNDS {
        let summary = validator.round_once().await.unwrap();
        assert_eq!(summary.queried, shapes.len());
    }

    let metagraph = chain.metagraph(NETUID).await.unwrap();
    let board = board.borrow().clone();
    println!("{}", serde_json::to_string_pretty(&board).unwrap());
    let miner = |name: &str| {
        let hotkey = &uids.iter().find(|(n, _)| *n == name).unwrap().1;
        let uid = metagraph.by_hotkey(hotkey).unwrap().uid;
        board.miner(uid).unwrap().clone()
    };
    let (steady, improver, flaky) = (miner("steady"), miner("improver"), miner("flaky"));
    let record = board.record.clone().expect("a speed record");
    assert_eq!(record.uid, Some(improver.uid), "{record:?}");
    let bounty = improver.bounty.expect("the record setter holds a bounty");
    assert!(
        bounty.remaining > 0.0 && bounty.tempos_left > 0.0,
        "{bounty:?}"
    );
    assert!(
        improver.weight > steady.weight,
        "{improver:?} vs {steady:?}"
    );
    assert!(flaky.failure_rate > 0.0 && flaky.failure_rate <= 0.2);
    assert_eq!(flaky.sustained_latency, None);
    assert_eq!(flaky.bounty, None);
    assert!(flaky.weight > 0.0, "14% failures are within the tolerance");
    validator.close().await;
}
