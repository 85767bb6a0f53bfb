//! Opening the chain interface the configuration names.

use std::sync::Arc;

use brainlock_chain::{Chain, LocalRegistry};

use crate::config::{ChainTarget, ValidatorConfig};

/// The local registry (embedded, no chain) or a subtensor network.
pub fn open(config: &ValidatorConfig, hotkey: &str) -> anyhow::Result<Arc<dyn Chain>> {
    match &config.chain {
        ChainTarget::Registry(path) => Ok(Arc::new(LocalRegistry::open(
            path.clone(),
            config.netuid,
            hotkey,
        )?)),
        ChainTarget::Subtensor(network) => anyhow::bail!(
            "subtensor network {network:?}: this build has no subtensor client yet; use --registry PATH"
        ),
    }
}
