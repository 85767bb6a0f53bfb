//! Customers' canaries end to end on loopback, on real ciphertexts: `brainlock
//! classify` through a validator's gateway, real miners behind test-only fronts.
//!
//! - honest: answers everything, held until 4 s after the request (so it is the
//!   lighter of the two: the real work takes 1 to 2 s here);
//! - cheater: answers as fast as it can, but garbles every answer while it believes it
//!   serves customers. Its belief is a switch the test flips: the perfect
//!   distinguisher, stronger than any real miner.
//!
//! With `organic.top_k = 1` a new customer session goes to the heaviest miner: the
//! cheater. Its garbage fails the customer's canary; the client reports it and
//! retries with a fresh key, which the gateway routes elsewhere: the customer gets the
//! right answer from the honest miner. The report makes the cheater a suspect: the
//! next round gives it extra scored sessions, which it garbles as long as it takes them
//! for customers' (it cannot tell them apart), so it fails them and loses its weight.
//! The honest miner is never reported and never checked more.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use brainlock_chain::{Chain, Role};
use brainlock_cli::cli::{Cli, Command};
use brainlock_cli::workload::{resolve_circuit, synthetic_input};
use brainlock_gateway::{GatewayLimits, SessionPolicy};
use brainlock_validator::{OrganicPolicy, Validator, ValidatorConfig};
use clap::Parser;

use common::*;

const API_KEY: &str = "blk_canary_customer";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn canaries_catch_a_miner_that_cheats_customers_and_it_loses_weight() {
    let TestSubnet {
        dir,
        registry,
        validator: validator_kp,
    } = test_subnet().await;

    let serving_customers = Arc::new(AtomicBool::new(false));
    let (honest_kp, cheater_kp) = (keypair(30), keypair(31));
    for (kp, shaping) in [
        (
            &honest_kp,
            Shaping {
                hold: Box::new(|_| Duration::from_secs(4)),
                corrupt: Box::new(|_| false),
            },
        ),
        (&cheater_kp, {
            let believes = serving_customers.clone();
            Shaping {
                hold: Box::new(|_| Duration::ZERO),
                corrupt: Box::new(move |_| believes.load(Ordering::SeqCst)),
            }
        }),
    ] {
        register(&registry, kp, Role::Miner, 0.0).await;
        let upstream = start_miner(
            &miner_config(&registry, validator_kp.account_id()),
            &registry,
            kp,
        )
        .await;
        announce(&registry, kp, shaping_front(upstream, shaping).await).await;
    }

    let chain: Arc<dyn Chain> = Arc::new(chain_as(&registry, &validator_kp));
    let config = ValidatorConfig {
        infer_timeout: Some(Duration::from_secs(30)),
        key_upload_timeout: Duration::from_secs(30),
        // Synthetic sessions of one request (one query per miner per round, as counted
        // below); customers' keys serve two: the image and one canary.
        sessions: SessionPolicy {
            max_requests: 2,
            mean_requests: 1.0,
            min_gap_seconds: 0.0,
            max_gap_seconds: 0.1,
            start_spread_seconds: 0.0,
            ..SessionPolicy::default()
        },
        organic: OrganicPolicy {
            top_k: 1,
            extra_checks: 2,
            ..OrganicPolicy::default()
        },
        gateway: Some(one_customer_gateway(
            "carol",
            API_KEY,
            None,
            GatewayLimits::default(),
        )),
        ..validator_config(dir.path(), &registry)
    };
    let gateway_settings = config.gateway.clone().unwrap();
    let mut validator = Validator::new(config, chain.clone(), Arc::new(keypair(1)))
        .await
        .unwrap();
    for _ in 0..2 {
        let round = validator.round_once().await.unwrap();
        assert_eq!((round.queried, round.passed), (2, 2), "{round:?}");
    }
    let metagraph = chain.metagraph(NETUID).await.unwrap();
    let uid = |kp: &brainlock_epistula::Keypair| metagraph.by_hotkey(&kp.account_id()).unwrap().uid;
    let (honest, cheater) = (uid(&honest_kp), uid(&cheater_kp));
    let weights_before: std::collections::HashMap<u16, f64> =
        validator.weights(&metagraph, 0).into_iter().collect();
    assert!(
        weights_before[&cheater] > weights_before[&honest],
        "the faster cheater is the heavier before anyone notices: {weights_before:?}"
    );

    let (gateway_addr, stop, gateway_task) =
        serve_gateway(&validator, gateway_settings, validator_kp.account_id()).await;

    // The customer's session: an image and a canary, in random order.
    serving_customers.store(true, Ordering::SeqCst);
    let cli = Cli::try_parse_from([
        "brainlock",
        "classify",
        "synthetic:7",
        "--circuit",
        "test-tiny",
        "--gateway",
        &format!("http://{gateway_addr}"),
        "--api-key",
        API_KEY,
        "--canaries",
        "1",
        "--json",
    ])
    .unwrap();
    let Command::Classify(args) = cli.command else {
        panic!("not a classify command")
    };
    let report = brainlock_cli::classify::report(&args).await.unwrap();
    println!("{}", serde_json::to_string_pretty(&report).unwrap());
    assert_eq!(report.canaries.per_session, 1);
    assert_eq!(
        report.canaries.failed, 1,
        "the cheater's garbage fails the canary"
    );
    assert!(report.canaries.reported && report.canaries.retried);
    // The retry went to the honest miner: the right answer.
    let circuit = resolve_circuit("test-tiny").unwrap();
    let clear = brainlock_circuit::Simulator::new(&circuit)
        .unwrap()
        .run(&synthetic_input(&circuit, 7))
        .unwrap();
    assert_eq!(report.class, brainlock_circuit::argmax(&clear));
    assert_eq!(report.exact_match_fraction, 1.0);

    // The next round, while the cheater still believes it serves customers: its
    // session and two extra ones, all failed; the honest miner's one session passes.
    let round = validator.round_once().await.unwrap();
    assert_eq!((round.queried, round.passed), (4, 1), "{round:?}");
    serving_customers.store(false, Ordering::SeqCst);
    let board = validator.leaderboard().borrow().clone();
    let (honest_standing, cheater_standing) = (
        board.miner(honest).unwrap().clone(),
        board.miner(cheater).unwrap().clone(),
    );
    assert_eq!(honest_standing.failure_rate, 0.0, "{honest_standing:?}");
    assert_eq!(honest_standing.queries, 3, "one session a round, no extra");
    assert_eq!(cheater_standing.queries, 5, "{cheater_standing:?}");
    let weights_after: std::collections::HashMap<u16, f64> =
        validator.weights(&metagraph, 0).into_iter().collect();
    println!("weights before {weights_before:?}, after {weights_after:?}");
    assert!(
        weights_after[&cheater] < weights_before[&cheater]
            && weights_after[&cheater] < weights_after[&honest],
        "{weights_after:?}"
    );

    stop.send(true).unwrap();
    gateway_task.await.unwrap().unwrap();
    validator.close().await;
}
