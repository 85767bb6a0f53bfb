//! The devnet on the tiny circuit: registry, two miners and a validator on
//! loopback, two rounds of sessions, a leaderboard with non-zero weights for the honest miners,
//! weights in the ledger, and a clean shutdown.

use std::time::{Duration, Instant};

use brainlock_chain::local::read_ledger;
use brainlock_devnet::{DevnetOptions, Layout, run_devnet};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn devnet_runs_rounds_and_writes_weights() {
    let dir = tempfile::tempdir().unwrap();
    let options = DevnetOptions {
        data_dir: dir.path().join("devnet"),
        rounds: 2,
        miners: 2,
        circuit: "test-tiny".into(),
    };
    let started = Instant::now();
    let mut reports = Vec::new();
    let outcome = run_devnet(&options, std::future::pending(), |text| {
        reports.push(text.to_string())
    })
    .await
    .unwrap();
    eprintln!("{}", reports.join("\n"));
    assert!(!outcome.interrupted);
    assert_eq!(outcome.rounds, 2);
    // Each miner gets a session a round, of one or more queries: every one passes.
    for round in 1..=2 {
        let prefix = format!("round {round}/2: ");
        let line = reports
            .iter()
            .find_map(|r| r.strip_prefix(&prefix))
            .unwrap_or_else(|| panic!("no report of round {round}: {reports:?}"));
        let counts = line.split(' ').next().unwrap();
        let (passed, queried) = counts.split_once('/').unwrap();
        let (passed, queried): (usize, usize) = (passed.parse().unwrap(), queried.parse().unwrap());
        assert!(passed == queried && queried >= 2, "{line}");
    }
    let miners = &outcome.leaderboard.miners;
    assert_eq!(miners.len(), 2);
    for miner in miners {
        assert!(miner.queries >= 2, "{miner:?}");
        assert!(miner.weight > 0.0, "honest miner without weight: {miner:?}");
        assert!(
            miner.latency.is_some_and(|l| l > 0.0) && miner.quality.is_some_and(|q| q > 0.99),
            "{miner:?}"
        );
        let in_ledger = outcome
            .ledger_weights
            .iter()
            .find(|(uid, _)| *uid == miner.uid);
        assert!(
            in_ledger.is_some_and(|(_, w)| *w > 0),
            "uid {} not weighted in the ledger: {:?}",
            miner.uid,
            outcome.ledger_weights
        );
    }
    let layout = Layout::new(&options.data_dir);
    assert!(layout.registry().exists() && layout.database().exists() && layout.ledger().exists());
    // Weights are set again only when a query changed the standings since the last time.
    let ledger = read_ledger(&layout.ledger()).unwrap();
    for pair in ledger.windows(2) {
        let same =
            |e: &brainlock_chain::local::LedgerEntry| (e.block, e.uids.clone(), e.weights.clone());
        assert_ne!(
            same(&pair[0]),
            same(&pair[1]),
            "repeated weights: {ledger:?}"
        );
    }
    // The registry's rules, as a new one has them: version key 1, and a rate limit of
    // one block between settings.
    assert!(ledger.iter().all(|e| e.version_key == 1), "{ledger:?}");
    assert!(
        ledger.windows(2).all(|pair| pair[1].block > pair[0].block),
        "two settings in one block: {ledger:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(110),
        "took {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn interrupted_devnet_stops_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let options = DevnetOptions {
        data_dir: dir.path().join("devnet"),
        rounds: 100,
        miners: 1,
        circuit: "test-tiny".into(),
    };
    let outcome = run_devnet(
        &options,
        tokio::time::sleep(Duration::from_millis(300)),
        |_| {},
    )
    .await
    .unwrap();
    assert!(outcome.interrupted);
    assert!(outcome.rounds < 100);
}
