use clap::Parser;
use tracing_subscriber::EnvFilter;

use brainlock_validator::{Cli, ValidatorConfig};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = ValidatorConfig::from_cli(Cli::parse())?;
    let default = if config.debug { "debug" } else { "info" };
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default)),
        )
        .init();
    brainlock_validator::run(config, brainlock_miner::shutdown_signal()).await
}
