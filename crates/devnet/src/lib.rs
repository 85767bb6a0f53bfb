//! `brainlock-devnet` (also run as `brainlock devnet`): a whole subnet on loopback, in
//! this process. A local registry stands in for the chain; miners serve through their
//! library; the devnet drives the validator round by round, prints its leaderboard after
//! each, writes weights to the local ledger at the end, and shuts everything down after
//! `--rounds` rounds or on Ctrl-C.
//!
//! It is the one crate that depends on both daemons, so the tests that need a whole
//! subnet (a validator against real miners, the CLI through a validator's gateway) live
//! here too.

#![deny(missing_docs)]

mod layout;
mod leaderboard;
mod nodes;

use std::future::Future;
use std::path::PathBuf;

use anyhow::Context;
use brainlock_chain::Chain;
use brainlock_chain::local::read_ledger;
use brainlock_validator::Leaderboard;

pub use layout::Layout;
pub use nodes::NETUID;

/// What a devnet run is asked to do.
#[derive(Debug, Clone)]
pub struct DevnetOptions {
    /// Folder holding the registry, test wallets, validator database and weights ledger;
    /// kept after the run, and its previous run's files are replaced.
    pub data_dir: PathBuf,
    /// Validator rounds to score before writing weights and stopping.
    pub rounds: u32,
    /// Miners to register and serve on loopback (at least one).
    pub miners: u32,
    /// Circuit the subnet runs, by name (e.g. `conv3x3`, `vgg9`, `test-tiny`).
    pub circuit: String,
}

/// How a devnet run ended.
#[derive(Debug, Clone)]
pub struct DevnetOutcome {
    /// Rounds completed (fewer than asked when interrupted).
    pub rounds: u32,
    /// Whether the run stopped early on the interrupt (then no final weights are written).
    pub interrupted: bool,
    /// The validator's final standings and weights.
    pub leaderboard: Leaderboard,
    /// The weights the ledger holds last for the devnet validator: (uid, u16 weight).
    pub ledger_weights: Vec<(u16, u16)>,
}

/// Runs a devnet until `options.rounds` rounds are scored and weights written, or until
/// `interrupt` completes. `report` receives each leaderboard as text.
pub async fn run_devnet(
    options: &DevnetOptions,
    interrupt: impl Future<Output = ()>,
    mut report: impl FnMut(&str),
) -> anyhow::Result<DevnetOutcome> {
    anyhow::ensure!(options.miners >= 1, "a devnet needs at least one miner");
    anyhow::ensure!(options.rounds >= 1, "--rounds must be at least 1");
    let layout = Layout::new(&options.data_dir);
    layout.prepare_fresh()?;
    let registry = nodes::register_validator(&layout).await?;
    let validator_hotkey = *registry.hotkey();
    let miners = nodes::start_miners(&layout, options, &registry).await?;
    report(&format!(
        "devnet in {}: validator {validator_hotkey}, {} miner(s) on {}, circuit {}",
        layout.root.display(),
        miners.addrs.len(),
        miners
            .addrs
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", "),
        options.circuit
    ));
    let run = drive_validator(&layout, options, registry.clone(), interrupt, &mut report).await;
    let stopped = miners.stop().await;
    let (rounds, interrupted, leaderboard) = run?;
    stopped.context("stopping the miners")?;
    let ledger_weights = read_ledger(&layout.ledger())?
        .into_iter()
        .rev()
        .find(|entry| entry.validator == validator_hotkey)
        .map(|entry| entry.uids.into_iter().zip(entry.weights).collect())
        .unwrap_or_default();
    Ok(DevnetOutcome {
        rounds,
        interrupted,
        leaderboard,
        ledger_weights,
    })
}

/// Runs the rounds, then sets weights once more if the last queries came after the last
/// setting, so the ledger holds the standings of the last round. Returns (rounds done,
/// interrupted, final leaderboard).
async fn drive_validator(
    layout: &Layout,
    options: &DevnetOptions,
    registry: brainlock_chain::LocalRegistry,
    interrupt: impl Future<Output = ()>,
    report: &mut impl FnMut(&str),
) -> anyhow::Result<(u32, bool, Leaderboard)> {
    let mut validator = nodes::start_validator(layout, options, registry.clone()).await?;
    let board = validator.leaderboard();
    tokio::pin!(interrupt);
    let mut done = 0;
    let mut interrupted = false;
    let mut last_weights = None;
    while done < options.rounds {
        tokio::select! {
            summary = validator.round_once() => {
                let summary = summary.context("validator round failed")?;
                done += 1;
                last_weights = summary.weights.or(last_weights);
                report(&leaderboard::render(
                    &format!("round {done}/{}: {}/{} queries passed", options.rounds, summary.passed, summary.queried),
                    &board.borrow(),
                ));
            }
            () = &mut interrupt => {
                interrupted = true;
                break;
            }
        }
    }
    if !interrupted && validator.weights_outdated() {
        // The final weights wait until the registry's rate limit (one setting per block
        // unless its file says otherwise) allows them.
        let rules = registry.weight_rules(NETUID).await?;
        let (metagraph, block) = loop {
            let metagraph = registry.metagraph(NETUID).await?;
            let last_update = metagraph
                .by_hotkey(registry.hotkey())
                .map_or(0, |n| n.last_update);
            let block = metagraph.block;
            if rules.blocks_until_allowed(last_update, block) == 0 {
                break (metagraph, block);
            }
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        };
        last_weights = validator.set_weights(&metagraph, block).await;
        if last_weights.is_none() {
            report("no weights written: no miner has a positive standing");
        }
    }
    if let Some(receipt) = last_weights {
        report(&format!(
            "weights written to {} at block {}: uids {:?} weights {:?}",
            layout.ledger().display(),
            receipt.block,
            receipt.uids,
            receipt.weights
        ));
    }
    let final_board = board.borrow().clone();
    validator.close().await;
    Ok((done, interrupted, final_board))
}

/// Runs a devnet in the foreground: leaderboards on stdout, Ctrl-C stops it cleanly.
pub async fn run(options: DevnetOptions) -> anyhow::Result<()> {
    let stop = async {
        brainlock_daemon::shutdown_signal().await;
        eprintln!("\nstopping the devnet...");
    };
    let outcome = run_devnet(&options, stop, |text| println!("{text}\n")).await?;
    let title = format!(
        "final leaderboard after {} round(s){}",
        outcome.rounds,
        if outcome.interrupted {
            " (interrupted)"
        } else {
            ""
        }
    );
    println!("{}", leaderboard::render(&title, &outcome.leaderboard));
    println!("data kept in {}", options.data_dir.display());
    Ok(())
}
