//! DESIGN section 5 on real ciphertexts: each cheat of the threat model runs in a real
//! miner process (`brainlock-cheating-miner`, the miner daemon with a cheating
//! evaluator) on `conv3x3`, queried through the validator's own query path (fresh key,
//! encryption, signed HTTP, streamed frames, decryption, the derived gates). Every
//! cheat must fail its query, scoring 0; honest work must pass.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use brainlock_chain::{Chain, LocalRegistry, Registration, Role};
use brainlock_daemon::NeuronArgs;
use brainlock_epistula::wallet::{create_hotkey, load_hotkey};
use brainlock_validator::config::FileConfig;
use brainlock_validator::store::Outcome;
use brainlock_validator::{Cli, Validator, ValidatorConfig};

const NETUID: u16 = 55;
const CIRCUIT: &str = "conv3x3";

/// (miner name, `--cheat`): `None` works honestly. Partial work runs only at its
/// hardest, 98% of the lookups computed: skipping more leaves more wrong values, so a
/// gate that catches 2% skipped catches 10% or 50% (the simulated cheaters of
/// `brainlock-scoring`'s tests skip other fractions), and each miner here costs a
/// full `conv3x3` evaluation of CI time.
const MINERS: [(&str, Option<&str>); 6] = [
    ("honest", None),
    ("affine", Some("affine")),
    ("partial-98", Some("partial:0.98")),
    ("shifted-tables", Some("shifted-tables")),
    ("forged", Some("forged")),
    ("replay", Some("replay")),
];

/// Kills the miner processes however the test ends.
struct Processes(Vec<Child>);

impl Drop for Processes {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn spawn_miner(
    registry: &Path,
    wallets: &Path,
    name: &str,
    cheat: Option<&str>,
    validator: &str,
) -> Child {
    let mut command = Command::new(env!("CARGO_BIN_EXE_brainlock-cheating-miner"));
    command
        .args(["--netuid", &NETUID.to_string()])
        .arg("--registry")
        .arg(registry)
        .arg("--wallet.path")
        .arg(wallets)
        .args(["--wallet.name", name, "--wallet.hotkey", "default"])
        .args([
            "--axon.ip",
            "127.0.0.1",
            "--port",
            "0",
            "--circuit",
            CIRCUIT,
        ])
        .args(["--workers", "1", "--auth.allow", validator])
        // Eight miners on one host: like their API ports, their metrics ports must
        // differ; none is scraped here.
        .args(["--metrics-port", "0"])
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    if let Some(cheat) = cheat {
        command.args(["--cheat", cheat]);
    }
    command.spawn().expect("the cheating miner binary runs")
}

/// The validator's configuration as its flags would give it: the local registry,
/// synthetic images, one query at a time, deadlines long enough for a loaded machine.
fn validator_config(dir: &Path, registry: PathBuf) -> ValidatorConfig {
    let flags = Cli {
        neuron: NeuronArgs {
            netuid: Some(NETUID),
            registry: Some(registry),
            ..NeuronArgs::default()
        },
        database: Some(dir.join("validator.sqlite").to_string_lossy().into_owned()),
        dataset: Some("synthetic".into()),
        circuit: Some(CIRCUIT.into()),
        key_upload_timeout: Some(120.0),
        infer_timeout: Some(300.0),
        weights_interval: Some(0),
        max_concurrent_queries: Some(1),
        ..Cli::default()
    };
    ValidatorConfig::merge(flags, FileConfig::default()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_cheat_fails_on_real_ciphertexts_and_honest_work_passes() {
    let dir = tempfile::tempdir().unwrap();
    let wallets = dir.path().join("wallets");
    let registry = dir.path().join("registry.json");

    let validator_key = {
        create_hotkey(&wallets, "validator", "default", false).unwrap();
        load_hotkey(&wallets, "validator", "default").unwrap()
    };
    let validator = validator_key.account_id();
    let chain = LocalRegistry::open(&registry, NETUID, validator).unwrap();
    chain
        .register(Registration {
            hotkey: validator,
            coldkey: None,
            role: Role::Validator,
            stake: 0.0,
        })
        .await
        .unwrap();
    let mut hotkeys = Vec::new();
    for (name, _) in MINERS {
        create_hotkey(&wallets, name, "default", false).unwrap();
        let hotkey = load_hotkey(&wallets, name, "default").unwrap().account_id();
        chain
            .register(Registration {
                hotkey,
                coldkey: None,
                role: Role::Miner,
                stake: 0.0,
            })
            .await
            .unwrap();
        hotkeys.push(hotkey);
    }
    let _processes = Processes(
        MINERS
            .iter()
            .map(|(name, cheat)| {
                spawn_miner(&registry, &wallets, name, *cheat, &validator.to_string())
            })
            .collect(),
    );

    // Every miner announces its axon once it serves.
    let started = Instant::now();
    let metagraph = loop {
        let metagraph = chain.metagraph(NETUID).await.unwrap();
        if metagraph.serving_miners().count() == MINERS.len() {
            break metagraph;
        }
        assert!(
            started.elapsed() < Duration::from_secs(300),
            "miners did not all start"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };

    let config = validator_config(dir.path(), registry.clone());
    let mut validator = Validator::new(config, Arc::new(chain), Arc::new(validator_key))
        .await
        .unwrap();
    let block = 1;
    let mut table = Vec::new();
    for ((name, _), hotkey) in MINERS.iter().zip(&hotkeys) {
        let neuron = metagraph.by_hotkey(hotkey).unwrap().clone();
        // The replay cheat answers its first query honestly and replays it after.
        let queries = if *name == "replay" { 2 } else { 1 };
        for _ in 0..queries {
            let report = validator.query_neuron(&neuron, block).await.unwrap();
            table.push((*name, report));
        }
    }
    eprintln!("| miner | outcome | seconds per item | reason |");
    for (name, report) in &table {
        let (outcome, reason) = match &report.outcome {
            Outcome::Passed => (
                "passed".to_string(),
                format!("quality {:.4}", report.quality.unwrap_or_default()),
            ),
            Outcome::Failed { kind, reason } => (format!("failed ({kind})"), reason.clone()),
        };
        eprintln!(
            "| {name} | {outcome} | {:.2} | {reason} |",
            report.seconds_per_item.unwrap_or(f64::NAN)
        );
    }
    for (name, report) in &table {
        let last_replay = *name == "replay" && std::ptr::eq(report, &table.last().unwrap().1);
        let first_replay = *name == "replay" && !last_replay;
        if *name == "honest" || first_replay {
            assert!(report.outcome.passed(), "{name}: {:?}", report.outcome);
            assert!(report.score > 0.0);
        } else {
            assert!(!report.outcome.passed(), "{name} passed: {report:?}");
            assert_eq!(report.score, 0.0, "{name}");
        }
    }
    let honest = validator.standing(&hotkeys[0]);
    assert!(honest > 0.0);
    for ((name, _), hotkey) in MINERS.iter().zip(&hotkeys).skip(1) {
        let standing = validator.standing(hotkey);
        if *name == "replay" {
            // One honest answer, then a replayed one: half the honest standing at most.
            assert!(standing < honest, "replay {standing} >= honest {honest}");
        } else {
            assert_eq!(standing, 0.0, "{name}");
        }
    }
    validator.close().await;
}
