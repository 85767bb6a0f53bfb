//! The `brainlock-miner` binary: parses flags and config, starts logging, and runs the miner until a shutdown signal.

use brainlock_daemon::shutdown_signal;
use brainlock_miner::{Cli, MinerConfig, run};
use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = MinerConfig::from_cli(&Cli::parse())?;
    brainlock_daemon::logging::init(config.neuron.log_directives());
    run(config, shutdown_signal()).await
}
