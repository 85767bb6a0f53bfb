//! The devnet's data folder:
//!
//! ```text
//! <data-dir>/registry.json                  the local registry (neurons, axons, rules)
//! <data-dir>/registry.json.weights.jsonl    the weights ledger
//! <data-dir>/validator.sqlite               the validator's history
//! <data-dir>/wallets/devnet-validator/...   test hotkeys (Bittensor layout)
//! <data-dir>/wallets/devnet-miner-N/...
//! ```
//!
//! Hotkeys are kept across runs; the registry, ledger and database are started afresh
//! so every run is a new subnet.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::Context;
use brainlock_chain::local::default_ledger_path;
use brainlock_epistula::{Keypair, wallet};

/// Hotkey name used in every devnet wallet.
pub(crate) const HOTKEY: &str = "default";
pub(crate) const VALIDATOR_WALLET: &str = "devnet-validator";

pub(crate) fn miner_wallet(index: u32) -> String {
    format!("devnet-miner-{index}")
}

/// Paths of one devnet.
#[derive(Debug, Clone)]
pub struct Layout {
    /// The devnet's data folder (`--data-dir`).
    pub root: PathBuf,
}

impl Layout {
    /// The layout of a devnet kept in `root`; touches nothing on disk.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The local registry file that stands in for the chain.
    pub fn registry(&self) -> PathBuf {
        self.root.join("registry.json")
    }

    /// The ledger the validator writes its weights to, next to the registry.
    pub fn ledger(&self) -> PathBuf {
        default_ledger_path(&self.registry())
    }

    /// The validator's SQLite database (`validator.sqlite`).
    pub fn database(&self) -> PathBuf {
        self.root.join("validator.sqlite")
    }

    /// The folder of the devnet's test wallets (validator and miners).
    pub fn wallets(&self) -> PathBuf {
        self.root.join("wallets")
    }

    /// Creates the folder and removes the previous run's registry, ledger and
    /// database (only those files: the folder may be the user's).
    pub fn prepare_fresh(&self) -> anyhow::Result<()> {
        fs::create_dir_all(&self.root)
            .with_context(|| format!("creating {}", self.root.display()))?;
        let database = self.database();
        let mut stale = vec![self.registry(), self.ledger(), database.clone()];
        for suffix in ["-wal", "-shm", "-journal"] {
            let mut name = database.as_os_str().to_owned();
            name.push(suffix);
            stale.push(PathBuf::from(name));
        }
        for path in stale {
            remove_if_present(&path)?;
        }
        Ok(())
    }

    /// The devnet hotkey of `wallet_name`, created on first use.
    pub fn hotkey(&self, wallet_name: &str) -> anyhow::Result<Keypair> {
        let dir = self.wallets();
        let path = wallet::hotkey_path(&dir, wallet_name, HOTKEY)?;
        if path.exists() {
            return wallet::load_hotkey(&dir, wallet_name, HOTKEY)
                .with_context(|| format!("loading devnet hotkey {}", path.display()));
        }
        let created = wallet::create_hotkey(&dir, wallet_name, HOTKEY, false)
            .with_context(|| format!("creating devnet hotkey {}", path.display()))?;
        Ok(created.keypair)
    }
}

fn remove_if_present(path: &Path) -> anyhow::Result<()> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e).with_context(|| format!("removing {}", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fresh_runs_keep_hotkeys_and_drop_state() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path().join("devnet"));
        layout.prepare_fresh().unwrap();
        let first = layout.hotkey(VALIDATOR_WALLET).unwrap();
        fs::write(layout.registry(), "{}").unwrap();
        fs::write(layout.ledger(), "").unwrap();
        fs::write(layout.database(), "").unwrap();
        fs::write(layout.root.join("notes.txt"), "mine").unwrap();
        layout.prepare_fresh().unwrap();
        assert!(
            !layout.registry().exists() && !layout.ledger().exists() && !layout.database().exists()
        );
        assert!(
            layout.root.join("notes.txt").exists(),
            "other files are left alone"
        );
        let again = layout.hotkey(VALIDATOR_WALLET).unwrap();
        assert_eq!(first.account_id(), again.account_id());
        assert_ne!(
            layout.hotkey(&miner_wallet(0)).unwrap().account_id(),
            first.account_id()
        );
    }
}
