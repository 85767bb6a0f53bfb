use std::process::ExitCode;

use clap::Parser;
use tracing_subscriber::EnvFilter;

use brainlock_cli::cli::Cli;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let default = if cli.logging_debug {
        "debug"
    } else {
        "warn,brainlock=info"
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(brainlock_cli::dispatch(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
