//! `brainlock registry register`: put a wallet's hotkey into a local registry, the way
//! `btcli subnet register` puts it on chain.

use std::path::Path;

use anyhow::Context;
use brainlock_chain::{LocalRegistry, Registration, Role};
use brainlock_epistula::wallet;

use crate::cli::{RegistryRole, WalletArgs};
use crate::wallet::wallets_dir;

/// The `registry register` command: puts the wallet's hotkey into the local registry
/// file with `role` and `stake` (TAO) and prints its uid.
pub async fn register(
    registry: &Path,
    netuid: u16,
    wallet_args: &WalletArgs,
    role: RegistryRole,
    stake: f64,
) -> anyhow::Result<()> {
    let dir = wallets_dir(wallet_args)?;
    let hotkey = wallet::load_hotkey(&dir, &wallet_args.name, &wallet_args.hotkey)
        .with_context(|| format!("loading hotkey {}/{}", wallet_args.name, wallet_args.hotkey))?
        .account_id();
    let chain = LocalRegistry::open(registry, netuid, hotkey)
        .with_context(|| format!("opening local registry {}", registry.display()))?;
    let uid = chain
        .register(Registration {
            hotkey,
            coldkey: None,
            role: match role {
                RegistryRole::Miner => Role::Miner,
                RegistryRole::Validator => Role::Validator,
            },
            stake,
        })
        .await
        .context("registering")?;
    println!("uid      {uid}");
    println!("hotkey   {hotkey}");
    println!("registry {}", registry.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use brainlock_chain::Chain;

    use super::*;

    #[tokio::test]
    async fn registers_a_wallet_hotkey_once_and_updates_it_after() {
        let dir = tempfile::tempdir().unwrap();
        let wallets = dir.path().join("wallets");
        let created = wallet::create_hotkey(&wallets, "val", "default", false).unwrap();
        let args = WalletArgs {
            name: "val".into(),
            hotkey: "default".into(),
            path: Some(wallets),
        };
        let registry = dir.path().join("registry.json");
        register(&registry, 55, &args, RegistryRole::Miner, 0.0)
            .await
            .unwrap();
        register(&registry, 55, &args, RegistryRole::Validator, 500.0)
            .await
            .unwrap();
        let hotkey = created.keypair.account_id();
        let chain = LocalRegistry::open(&registry, 55, hotkey).unwrap();
        let metagraph = chain.metagraph(55).await.unwrap();
        assert_eq!(metagraph.neurons.len(), 1);
        assert_eq!(metagraph.by_hotkey(&hotkey).unwrap().stake, 500.0);

        let missing = WalletArgs {
            name: "nobody".into(),
            ..args
        };
        let error = register(&registry, 55, &missing, RegistryRole::Miner, 0.0)
            .await
            .unwrap_err();
        assert!(format!("{error:#}").contains("nobody"), "{error:#}");
    }
}
