//! `brainlock-devnet`: a local subnet on loopback (see the library's documentation).

use std::path::PathBuf;

use brainlock_devnet::DevnetOptions;
use clap::Parser;

/// Run a local subnet on loopback: a registry standing in for the chain, miners and one
/// validator; show a live leaderboard after each round and write weights to the local
/// ledger. `brainlock devnet` runs this program.
#[derive(Debug, Parser)]
#[command(name = "brainlock-devnet", version)]
struct Cli {
    /// Validator rounds to run before stopping (Ctrl-C stops earlier, cleanly).
    #[arg(long, default_value_t = 2, value_name = "N")]
    rounds: u32,
    /// Number of miners.
    #[arg(long, default_value_t = 2, value_name = "N")]
    miners: u32,
    /// Circuit the subnet runs: conv3x3 (tens of seconds per query on 2 cores), vgg9
    /// (hours on 2 cores), or test-tiny (a 32-lookup demo circuit, seconds).
    #[arg(long, default_value = "conv3x3", value_name = "CIRCUIT")]
    circuit: String,
    /// Folder for the registry, test wallets, the validator database and the weights
    /// ledger. Kept after the run for inspection; reused runs start a fresh subnet.
    #[arg(long = "data-dir", default_value = "./devnet-data", value_name = "DIR")]
    data_dir: PathBuf,
    /// Log at debug level (RUST_LOG overrides).
    #[arg(long = "logging.debug")]
    logging_debug: bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    brainlock_daemon::logging::init(if cli.logging_debug {
        "debug"
    } else {
        "warn,brainlock=info"
    });
    brainlock_devnet::run(DevnetOptions {
        data_dir: cli.data_dir,
        rounds: cli.rounds,
        miners: cli.miners,
        circuit: cli.circuit,
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_quick_demo() {
        let cli = Cli::try_parse_from(["brainlock-devnet"]).unwrap();
        assert_eq!(
            (cli.rounds, cli.miners, cli.circuit.as_str()),
            (2, 2, "conv3x3")
        );
        assert_eq!(cli.data_dir, PathBuf::from("./devnet-data"));
    }
}
