//! Opening the chain interface the configuration names.

use std::sync::Arc;

use anyhow::Context;
use brainlock_chain::{Chain, LocalRegistry};
use brainlock_epistula::Keypair;
use brainlock_subtensor::SubtensorChain;

use crate::config::{ChainTarget, ValidatorConfig};

/// The local registry (embedded, no chain) or a subtensor network, acting as `hotkey`.
pub async fn open(config: &ValidatorConfig, hotkey: &Keypair) -> anyhow::Result<Arc<dyn Chain>> {
    match &config.chain {
        ChainTarget::Registry(path) => Ok(Arc::new(
            LocalRegistry::open(path.clone(), config.netuid, &hotkey.account_id().to_ss58())
                .with_context(|| format!("opening the local registry {}", path.display()))?,
        )),
        ChainTarget::Subtensor(network) => Ok(Arc::new(
            SubtensorChain::connect_as(network, hotkey)
                .await
                .with_context(|| format!("connecting to subtensor {network:?}"))?,
        )),
    }
}
