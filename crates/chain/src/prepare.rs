//! The checks every implementation runs before setting weights, in the order the chain
//! applies them, so a refusal is explained before anything is signed or written.

use brainlock_account::AccountId;

use crate::error::ChainError;
use crate::rules::WeightRules;
use crate::types::Metagraph;
use crate::weights::{split_pairs, weights_to_u16};

/// Weights ready to send: the sender's uid and the converted, checked `(uids, weights)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreparedWeights {
    /// Uid of the hotkey setting the weights.
    pub own_uid: u16,
    /// Uids with a non-zero weight, in the order given.
    pub uids: Vec<u16>,
    /// Weights of those uids on the u16 scale (largest = 65535).
    pub weights: Vec<u16>,
}

/// Converts float scores and checks them against the rules, for `hotkey` on the subnet
/// described by `metagraph` (whose block is taken as the current block).
pub fn prepare_weights(
    hotkey: &AccountId,
    metagraph: &Metagraph,
    rules: &WeightRules,
    scores: &[(u16, f32)],
    version_key: u64,
) -> Result<PreparedWeights, ChainError> {
    let own = metagraph
        .by_hotkey(hotkey)
        .ok_or(ChainError::NotRegistered {
            hotkey: *hotkey,
            netuid: metagraph.netuid,
        })?;
    if !rules.accepts_version_key(version_key) {
        return Err(ChainError::VersionKey {
            given: version_key,
            required: rules.version_key,
        });
    }
    let blocks_left = rules.blocks_until_allowed(own.last_update, metagraph.block);
    if blocks_left > 0 {
        return Err(ChainError::RateLimited {
            last_update: own.last_update,
            blocks_left,
        });
    }
    let (uids, floats) = split_pairs(scores);
    let (uids, weights) = weights_to_u16(&uids, &floats)?;
    if uids.is_empty() {
        return Err(ChainError::NothingToSet);
    }
    rules.check_weights(&uids, &weights, metagraph.len(), Some(own.uid))?;
    Ok(PreparedWeights {
        own_uid: own.uid,
        uids,
        weights,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::Neuron;

    fn key(n: u8) -> AccountId {
        AccountId([n; 32])
    }

    /// The hotkey of the validator (uid 0) in [`metagraph`].
    const VALIDATOR: AccountId = AccountId([0; 32]);

    fn metagraph(block: u64, last_update: u64) -> Metagraph {
        let neuron = |uid: u16| Neuron {
            uid,
            hotkey: key(uid as u8),
            coldkey: key(0xc0),
            axon: None,
            validator_permit: uid == 0,
            stake: 10.0,
            last_update,
        };
        Metagraph {
            netuid: 3,
            block,
            neurons: vec![neuron(0), neuron(1), neuron(2)],
        }
    }

    #[test]
    fn converts_and_returns_own_uid() {
        let got = prepare_weights(
            &VALIDATOR,
            &metagraph(50, 0),
            &WeightRules::default(),
            &[(1, 0.5), (2, 1.0)],
            0,
        )
        .unwrap();
        assert_eq!(got.own_uid, 0);
        assert_eq!(got.uids, vec![1, 2]);
        assert_eq!(got.weights, vec![32768, 65535]);
    }

    #[test]
    fn refuses_in_chain_order() {
        let rules = WeightRules {
            rate_limit_blocks: 100,
            version_key: 2,
            ..WeightRules::default()
        };
        let scores = [(1, 1.0)];
        assert!(matches!(
            prepare_weights(&key(9), &metagraph(500, 0), &rules, &scores, 2),
            Err(ChainError::NotRegistered { netuid: 3, .. })
        ));
        assert!(matches!(
            prepare_weights(&VALIDATOR, &metagraph(500, 0), &rules, &scores, 1),
            Err(ChainError::VersionKey {
                given: 1,
                required: 2
            })
        ));
        assert!(matches!(
            prepare_weights(&VALIDATOR, &metagraph(500, 450), &rules, &scores, 2),
            Err(ChainError::RateLimited {
                blocks_left: 50,
                ..
            })
        ));
        assert!(matches!(
            prepare_weights(&VALIDATOR, &metagraph(500, 0), &rules, &[(1, 0.0)], 2),
            Err(ChainError::NothingToSet)
        ));
        assert!(matches!(
            prepare_weights(&VALIDATOR, &metagraph(500, 0), &rules, &[(9, 1.0)], 2),
            Err(ChainError::Weights(_))
        ));
    }
}
