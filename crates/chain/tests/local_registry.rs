//! The local registry as the daemons use it: miners register and serve their axons,
//! validators read the metagraph and set weights into the ledger.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use brainlock_account::AccountId;
use brainlock_chain::local::{block_at, read_ledger};
use brainlock_chain::{
    AxonInfo, Chain, ChainError, LocalRegistry, PalletError, Registration, Role, Submission,
    WeightRules,
};

fn hotkey(n: u8) -> AccountId {
    AccountId([n; 32])
}

/// A clock the test moves by hand, in unix seconds.
fn manual_clock(start: u64) -> (Arc<AtomicU64>, Arc<dyn Fn() -> SystemTime + Send + Sync>) {
    let now = Arc::new(AtomicU64::new(start));
    let read = now.clone();
    let clock = Arc::new(move || UNIX_EPOCH + Duration::from_secs(read.load(Ordering::SeqCst)));
    (now, clock)
}

fn registration(n: u8, role: Role, stake: f64) -> Registration {
    Registration {
        hotkey: hotkey(n),
        coldkey: None,
        role,
        stake,
    }
}

#[tokio::test]
async fn miners_serve_and_validator_sets_weights() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("registry.json");
    let (now, clock) = manual_clock(1_000_000);

    let validator = LocalRegistry::open_with_clock(&path, 7, hotkey(1), clock.clone()).unwrap();
    let miner = LocalRegistry::open_with_clock(&path, 7, hotkey(2), clock.clone()).unwrap();
    assert_eq!(
        validator
            .register(registration(1, Role::Validator, 1000.0))
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        miner
            .register(registration(2, Role::Miner, 0.0))
            .await
            .unwrap(),
        1
    );
    // Registering again keeps the uid.
    assert_eq!(
        miner
            .register(registration(2, Role::Miner, 5.0))
            .await
            .unwrap(),
        1
    );

    let addr: SocketAddr = "127.0.0.1:8091".parse().unwrap();
    miner.serve_axon(7, AxonInfo::new(addr, 100)).await.unwrap();

    now.fetch_add(120, Ordering::SeqCst);
    assert_eq!(validator.current_block().await.unwrap(), 10);
    let metagraph = validator.metagraph(7).await.unwrap();
    assert_eq!(metagraph.block, 10);
    assert_eq!(metagraph.len(), 2);
    let v = metagraph.by_uid(0).unwrap();
    assert!(v.validator_permit);
    assert_eq!(v.stake, 1000.0);
    let m = metagraph.by_hotkey(&hotkey(2)).unwrap();
    assert_eq!(m.axon, Some(addr));
    assert_eq!(m.stake, 5.0);
    assert!(!m.validator_permit);
    assert_eq!(metagraph.serving_miners().count(), 1);
    assert_eq!(validator.uid_of(7, &hotkey(2)).await.unwrap(), Some(1));
    assert_eq!(validator.uid_of(7, &hotkey(9)).await.unwrap(), None);

    let receipt = validator
        .set_weights(7, &[(0, 0.0), (1, 0.8)], 3)
        .await
        .unwrap();
    assert_eq!(receipt.block, 10);
    assert_eq!(receipt.uids, vec![1]);
    assert_eq!(receipt.weights, vec![65535]);
    assert_eq!(receipt.submission, Submission::Ledger);

    let ledger = read_ledger(validator.ledger_path()).unwrap();
    assert_eq!(ledger.len(), 1);
    assert_eq!(ledger[0].validator, hotkey(1));
    assert_eq!(ledger[0].uids, vec![1]);
    assert_eq!(ledger[0].weights, vec![65535]);
    assert_eq!(ledger[0].version_key, 3);
    assert_eq!(
        validator
            .metagraph(7)
            .await
            .unwrap()
            .by_uid(0)
            .unwrap()
            .last_update,
        10
    );
}

#[tokio::test]
async fn weight_rules_from_the_file_gate_setting() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("registry.json");
    let (now, clock) = manual_clock(5_000);
    let validator = LocalRegistry::open_with_clock(&path, 1, hotkey(1), clock).unwrap();
    validator
        .register(registration(1, Role::Validator, 1.0))
        .await
        .unwrap();
    validator
        .register(registration(2, Role::Miner, 0.0))
        .await
        .unwrap();
    let rules = WeightRules {
        rate_limit_blocks: 10,
        version_key: 4,
        ..WeightRules::default()
    };
    validator.set_weight_rules(rules).await.unwrap();
    assert_eq!(validator.weight_rules(1).await.unwrap(), rules);

    now.fetch_add(12 * 10, Ordering::SeqCst);
    assert!(matches!(
        validator.set_weights(1, &[(1, 1.0)], 3).await,
        Err(ChainError::Refused(PalletError::IncorrectWeightVersionKey))
    ));
    // Registered at block 0, so the rate limit allows block 10.
    validator.set_weights(1, &[(1, 1.0)], 4).await.unwrap();
    now.fetch_add(12 * 3, Ordering::SeqCst);
    assert!(matches!(
        validator.set_weights(1, &[(1, 1.0)], 4).await,
        Err(ChainError::Refused(PalletError::SettingWeightsTooFast))
    ));
    assert!(matches!(
        validator.set_weights(1, &[(1, 0.0)], 4).await,
        Err(ChainError::Refused(PalletError::SettingWeightsTooFast))
    ));
    // Block 19 still is; block 20, 10 blocks after the last setting, is not.
    now.fetch_add(12 * 6, Ordering::SeqCst);
    assert!(matches!(
        validator.set_weights(1, &[(1, 1.0)], 4).await,
        Err(ChainError::Refused(PalletError::SettingWeightsTooFast))
    ));
    now.fetch_add(12, Ordering::SeqCst);
    assert!(matches!(
        validator.set_weights(1, &[(1, 0.0)], 4).await,
        Err(ChainError::NothingToSet)
    ));
    assert!(matches!(
        validator.set_weights(1, &[(1, -1.0)], 4).await,
        Err(ChainError::Weights(_))
    ));
    validator.set_weights(1, &[(1, 2.0)], 4).await.unwrap();
    assert_eq!(read_ledger(validator.ledger_path()).unwrap().len(), 2);
}

#[tokio::test]
async fn refuses_what_the_chain_would_refuse() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("registry.json");
    let stranger = LocalRegistry::open(&path, 2, hotkey(3)).unwrap();
    let addr: SocketAddr = "127.0.0.1:9000".parse().unwrap();
    assert!(matches!(
        stranger.serve_axon(2, AxonInfo::new(addr, 1)).await,
        Err(ChainError::NotRegistered { netuid: 2, .. })
    ));
    assert!(matches!(
        stranger.set_weights(2, &[(0, 1.0)], 0).await,
        Err(ChainError::NotRegistered { .. })
    ));
    assert!(matches!(
        stranger.metagraph(3).await,
        Err(ChainError::UnknownSubnet(3))
    ));
    assert!(matches!(
        LocalRegistry::open(&path, 3, hotkey(3)),
        Err(ChainError::Config(_))
    ));
}

#[tokio::test]
async fn hand_written_registry_is_read_and_checked() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("registry.json");
    let text = format!(
        r#"{{"netuid": 4, "genesis_unix": 0,
            "rules": {{"min_allowed_weights": 2}},
            "neurons": [
              {{"uid": 0, "hotkey": "{}", "role": "validator", "stake": 12.5}},
              {{"uid": 1, "hotkey": "{}", "role": "miner", "axon": "10.1.2.3:7000",
                "validator_permit": true, "coldkey": "{}"}}
            ]}}"#,
        hotkey(1),
        hotkey(2),
        hotkey(3)
    );
    std::fs::write(&path, text).unwrap();
    let chain = LocalRegistry::open(&path, 4, hotkey(1)).unwrap();
    let metagraph = chain.metagraph(4).await.unwrap();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(metagraph.block.abs_diff(block_at(0, now)) <= 1);
    assert_eq!(metagraph.by_uid(1).unwrap().coldkey, hotkey(3));
    assert_eq!(metagraph.by_uid(0).unwrap().coldkey, hotkey(1));
    assert!(metagraph.by_uid(1).unwrap().validator_permit);
    assert_eq!(chain.weight_rules(4).await.unwrap().min_allowed_weights, 2);
    // One weight where the subnet wants two: padded with a zero on the validator itself.
    let receipt = chain.set_weights(4, &[(1, 1.0)], 0).await.unwrap();
    assert_eq!(
        (receipt.uids, receipt.weights),
        (vec![1, 0], vec![65535, 0])
    );

    // Not an address, and Alice's key under Polkadot's prefix 0 rather than Bittensor's.
    for bad in ["x", "15oF4uVJwmo4TdGW7VfQxNLavjCXviqxT9S1MgbjMNHr6Sp5"] {
        let text = format!(
            r#"{{"netuid": 4, "genesis_unix": 0, "neurons": [{{"uid": 0, "hotkey": "{bad}", "role": "miner"}}]}}"#
        );
        std::fs::write(&path, text).unwrap();
        assert!(matches!(
            chain.metagraph(4).await,
            Err(ChainError::Registry { .. })
        ));
    }
    std::fs::write(&path, "{").unwrap();
    assert!(matches!(
        chain.metagraph(4).await,
        Err(ChainError::Registry { .. })
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_registrations_get_distinct_uids() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("registry.json");
    let mut tasks = Vec::new();
    for n in 1..=24u8 {
        // Separate handles, as separate processes would have.
        let chain = LocalRegistry::open(&path, 1, hotkey(n)).unwrap();
        tasks.push(tokio::spawn(async move {
            let uid = chain
                .register(registration(n, Role::Miner, 0.0))
                .await
                .unwrap();
            let port = 9000 + u16::from(n);
            let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
            chain.serve_axon(1, AxonInfo::new(addr, 1)).await.unwrap();
            uid
        }));
    }
    let mut uids = Vec::new();
    for task in tasks {
        uids.push(task.await.unwrap());
    }
    uids.sort();
    assert_eq!(uids, (0..24).collect::<Vec<u16>>());
    let chain = LocalRegistry::open(&path, 1, hotkey(1)).unwrap();
    let metagraph = chain.metagraph(1).await.unwrap();
    assert_eq!(metagraph.len(), 24);
    assert_eq!(metagraph.serving_miners().count(), 24);
}
