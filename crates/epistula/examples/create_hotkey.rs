//! Creates an unencrypted sr25519 hotkey in the Bittensor wallet layout, for local use:
//!
//!     cargo run -p brainlock-epistula --example create_hotkey -- <wallets_dir> <wallet> <hotkey> [--overwrite]
//!
//! `<wallets_dir>` is usually `~/.bittensor/wallets`.

use std::path::PathBuf;
use std::process::ExitCode;

use brainlock_epistula::wallet;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let overwrite = args.iter().any(|a| a == "--overwrite");
    let positional: Vec<&String> = args.iter().filter(|a| !a.starts_with("--")).collect();
    let [dir, name, hotkey] = positional.as_slice() else {
        eprintln!("usage: create_hotkey <wallets_dir> <wallet> <hotkey> [--overwrite]");
        return ExitCode::from(2);
    };
    match wallet::create_hotkey(&PathBuf::from(dir), name, hotkey, overwrite) {
        Ok(created) => {
            println!("hotkey file: {}", created.path.display());
            println!("ss58 address: {}", created.keypair.account_id());
            println!(
                "mnemonic (the only backup, keep it secret): {}",
                *created.phrase
            );
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}
