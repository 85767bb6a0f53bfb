//! `brainlock devnet`: runs the `brainlock-devnet` program, which holds both daemons.

use std::path::PathBuf;
use std::process::Command;

use anyhow::Context;

const PROGRAM: &str = "brainlock-devnet";

/// Replaces this process with `brainlock-devnet ARGS` (so Ctrl-C and the exit status
/// are the devnet's own), found beside this executable or on `PATH`.
pub fn run(args: &[String]) -> anyhow::Result<()> {
    let program = locate().with_context(|| {
        format!(
            "`{PROGRAM}` is not installed beside `brainlock` nor on PATH; build it with \
             `cargo build --release -p brainlock-devnet` (or run \
             `cargo run --release -p brainlock-devnet -- ARGS`)"
        )
    })?;
    let mut command = Command::new(&program);
    command.args(args);
    exec(command).with_context(|| format!("running {}", program.display()))
}

fn locate() -> Option<PathBuf> {
    let beside = std::env::current_exe().ok()?.with_file_name(PROGRAM);
    if beside.is_file() {
        return Some(beside);
    }
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(PROGRAM))
        .find(|candidate| candidate.is_file())
}

#[cfg(unix)]
fn exec(mut command: Command) -> anyhow::Result<()> {
    use std::os::unix::process::CommandExt;
    // Only returns on failure.
    Err(command.exec().into())
}

#[cfg(not(unix))]
fn exec(mut command: Command) -> anyhow::Result<()> {
    let status = command.status()?;
    std::process::exit(status.code().unwrap_or(1));
}
