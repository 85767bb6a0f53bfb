//! Writes a ciphertext made by this crate for `scripts/interop/timelock_check.py check`.
//!
//! Usage: `cargo run -p brainlock-timelock --example timelock_encrypt -- ROUND MESSAGE OUT_FILE`
//! (OUT_FILE receives the raw ciphertext in hex).

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [round, message, out_file] = args.as_slice() else {
        eprintln!("usage: timelock_encrypt ROUND MESSAGE OUT_FILE");
        return ExitCode::FAILURE;
    };
    let Ok(round) = round.parse::<u64>() else {
        eprintln!("ROUND must be an unsigned integer, got {round:?}");
        return ExitCode::FAILURE;
    };
    let ciphertext = match brainlock_timelock::encrypt(message.as_bytes(), round, &mut rand::rng())
    {
        Ok(ciphertext) => ciphertext,
        Err(error) => {
            eprintln!("encryption failed: {error}");
            return ExitCode::FAILURE;
        }
    };
    if let Err(error) = std::fs::write(out_file, hex::encode(&ciphertext) + "\n") {
        eprintln!("{out_file}: {error}");
        return ExitCode::FAILURE;
    }
    println!(
        "wrote {} bytes for round {round} to {out_file}",
        ciphertext.len()
    );
    ExitCode::SUCCESS
}
