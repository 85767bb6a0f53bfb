//! `brainlock wallet create`: a new sr25519 hotkey in the Bittensor wallet layout.

use std::path::PathBuf;

use anyhow::Context;
use brainlock_epistula::wallet;

use crate::cli::WalletArgs;

/// The wallets folder `--wallet.path` names, or the Bittensor default.
pub fn wallets_dir(args: &WalletArgs) -> anyhow::Result<PathBuf> {
    match &args.path {
        Some(path) => Ok(path.clone()),
        None => wallet::default_wallets_dir().context("no home folder: pass --wallet.path"),
    }
}

/// The `wallet create` command: a new hotkey, printing its address and recovery phrase.
pub fn create(args: &WalletArgs, overwrite: bool) -> anyhow::Result<()> {
    let dir = wallets_dir(args)?;
    let created = wallet::create_hotkey(&dir, &args.name, &args.hotkey, overwrite)
        .with_context(|| format!("creating hotkey {}/{}", args.name, args.hotkey))?;
    println!("hotkey   {}", created.keypair.account_id().to_ss58());
    println!("file     {}", created.path.display());
    // The phrase is the only backup of the key; it goes to the terminal once and
    // nowhere else (never to the logs).
    println!("phrase   {}", created.phrase.as_str());
    println!("Write the phrase down: it is the only way to recover this hotkey.");
    Ok(())
}
