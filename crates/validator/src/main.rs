//! The `brainlock-validator` binary: parses flags and config, starts logging, and runs
//! the validator until a shutdown signal.

use clap::Parser;

use brainlock_daemon::shutdown_signal;
use brainlock_validator::{Cli, ValidatorConfig};

/// See the dependency's comment in Cargo.toml: glibc's arenas kept what each query freed.
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = ValidatorConfig::from_cli(Cli::parse())?;
    brainlock_daemon::logging::init(config.neuron.log_directives());
    brainlock_validator::run(config, shutdown_signal()).await
}
