//! `brainlock-cheating-miner`: the real miner daemon (same flags, same HTTP, same
//! queue) whose evaluator cheats as `--cheat` says, so that the integrity tests face
//! cheaters exactly as validators would. A test tool: never deploy it.

#![deny(missing_docs)]

use std::sync::Arc;

use brainlock_daemon::shutdown_signal;
use brainlock_fhe::adversary::{Cheat, CheatingEvaluator};
use brainlock_fhe::{CpuEvaluator, Evaluator};
use brainlock_miner::{Cli, MinerConfig, run_with};
use clap::Parser;

#[derive(Parser, Debug)]
#[command(
    name = "brainlock-cheating-miner",
    about = "A Brainlock miner that cheats, for the integrity tests. Never deploy it."
)]
struct Args {
    /// affine | partial:FRACTION | shifted-tables | forged | replay; without it the
    /// miner works honestly.
    #[arg(long, value_parser = parse_cheat)]
    cheat: Option<Cheat>,
    #[command(flatten)]
    miner: Cli,
}

fn parse_cheat(text: &str) -> Result<Cheat, String> {
    Cheat::parse(text).ok_or_else(|| {
        format!("unknown cheat {text:?}: affine, partial:0.9, shifted-tables, forged or replay")
    })
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let config = MinerConfig::from_cli(&args.miner)?;
    brainlock_daemon::logging::init(config.neuron.log_directives());
    let evaluator: Arc<dyn Evaluator> = match args.cheat {
        Some(cheat) => Arc::new(CheatingEvaluator::new(cheat)),
        None => Arc::new(CpuEvaluator),
    };
    run_with(config, evaluator, shutdown_signal()).await
}
