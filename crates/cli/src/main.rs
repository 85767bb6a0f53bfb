//! The `brainlock` binary: the command-line tool of customers, operators and model
//! authors (`brainlock --help` is the manual); everything it does lives in the library.

use std::process::ExitCode;

use clap::Parser;

use brainlock_cli::cli::Cli;

fn main() -> ExitCode {
    let cli = Cli::parse();
    brainlock_daemon::logging::init(if cli.logging_debug {
        "debug"
    } else {
        "warn,brainlock=info"
    });
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
            eprintln!(
                "error: {}",
                brainlock_daemon::logging::error_chain(e.as_ref())
            );
            ExitCode::FAILURE
        }
    }
}
