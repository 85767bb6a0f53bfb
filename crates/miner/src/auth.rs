//! Who may call the inference routes: a registered validator with a permit, or a
//! registered hotkey with at least the configured stake, from a metagraph snapshot
//! refreshed in the background; plus a fixed allow-list for local use.
//!
//! Checked on every request before its body is read, so it only consults memory.

use std::collections::HashSet;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use brainlock_chain::{Chain, Metagraph};
use brainlock_epistula::{AccountId, SenderPolicy};
use tokio::task::JoinHandle;

/// The sender policy of a miner.
#[derive(Debug)]
pub(crate) struct ValidatorPolicy {
    min_stake: f64,
    allow: HashSet<AccountId>,
    permitted: RwLock<HashSet<AccountId>>,
}

impl ValidatorPolicy {
    pub(crate) fn new(min_stake: f64, allow: impl IntoIterator<Item = AccountId>) -> Self {
        Self {
            min_stake,
            allow: allow.into_iter().collect(),
            permitted: RwLock::new(HashSet::new()),
        }
    }

    /// Replaces the snapshot with the senders `metagraph` permits.
    pub(crate) fn update(&self, metagraph: &Metagraph) {
        let permitted: HashSet<AccountId> = metagraph
            .neurons
            .iter()
            .filter(|n| n.validator_permit || n.stake >= self.min_stake)
            .map(|n| n.hotkey)
            .collect();
        tracing::debug!(
            block = metagraph.block,
            senders = permitted.len(),
            "sender policy refreshed"
        );
        *self.permitted.write().unwrap_or_else(|p| p.into_inner()) = permitted;
    }

    /// Senders the last snapshot permits (allow-list excluded).
    #[cfg(test)]
    pub(crate) fn permitted_count(&self) -> usize {
        self.permitted
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .len()
    }
}

impl SenderPolicy for ValidatorPolicy {
    fn allows(&self, sender: &AccountId) -> bool {
        self.allow.contains(sender)
            || self
                .permitted
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .contains(sender)
    }
}

/// Refreshes `policy` from the chain every `every` until aborted. A failed refresh keeps
/// the previous snapshot (validators stay served through a chain hiccup).
pub(crate) fn spawn_refresh(
    policy: Arc<ValidatorPolicy>,
    chain: Arc<dyn Chain>,
    netuid: u16,
    every: Duration,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(every);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticker.tick().await; // the first tick is immediate; the caller loaded one already
        loop {
            ticker.tick().await;
            match chain.metagraph(netuid).await {
                Ok(metagraph) => policy.update(&metagraph),
                Err(error) => {
                    tracing::warn!(%error, "metagraph refresh failed; keeping the previous one")
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use brainlock_chain::Neuron;
    use brainlock_epistula::{CryptoType, Keypair};

    fn account(n: u8) -> AccountId {
        Keypair::from_seed(CryptoType::Sr25519, &[n; 32]).account_id()
    }

    fn neuron(uid: u16, who: AccountId, permit: bool, stake: f64) -> Neuron {
        Neuron {
            uid,
            hotkey: who,
            coldkey: who,
            axon: None,
            validator_permit: permit,
            stake,
            last_update: 0,
        }
    }

    #[test]
    fn permit_stake_or_allow_list() {
        let (validator, whale, miner, local, stranger) =
            (account(1), account(2), account(3), account(4), account(5));
        let policy = ValidatorPolicy::new(1000.0, [local]);
        assert!(!policy.allows(&validator));
        policy.update(&Metagraph {
            netuid: 55,
            block: 1,
            neurons: vec![
                neuron(0, validator, true, 0.0),
                neuron(1, whale, false, 5000.0),
                neuron(2, miner, false, 10.0),
            ],
        });
        assert!(policy.allows(&validator));
        assert!(policy.allows(&whale));
        assert!(!policy.allows(&miner));
        assert!(policy.allows(&local));
        assert!(!policy.allows(&stranger));
        // A later snapshot without the validator revokes it.
        policy.update(&Metagraph {
            netuid: 55,
            block: 2,
            neurons: vec![neuron(2, miner, false, 10.0)],
        });
        assert!(!policy.allows(&validator));
        assert_eq!(policy.permitted_count(), 0);
    }
}
