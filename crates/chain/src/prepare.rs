//! Float scores -> the weights a setting carries, and the chain's checks on them in the
//! order the pallet applies them.

use brainlock_account::AccountId;

use crate::error::ChainError;
use crate::refusal::PalletError;
use crate::rules::WeightRules;
use crate::types::{Metagraph, Neuron};
use crate::weights::{split_pairs, weights_to_u16};

/// Weights ready to send: the sender's uid and the converted, checked `(uids, weights)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreparedWeights {
    /// Uid of the hotkey setting the weights.
    pub own_uid: u16,
    /// Uids with a non-zero weight in the order given, then any zero-weight padding up to
    /// the subnet's minimum count.
    pub uids: Vec<u16>,
    /// Weights of those uids on the u16 scale (largest = 65535).
    pub weights: Vec<u16>,
}

/// Converts float scores for `hotkey` on the subnet described by `metagraph`, and pads
/// them with zero weights up to the subnet's minimum count (zeros count on chain and
/// reward nobody): the setting the chain's own checks then judge.
pub fn convert_weights(
    hotkey: &AccountId,
    metagraph: &Metagraph,
    rules: &WeightRules,
    scores: &[(u16, f32)],
) -> Result<PreparedWeights, ChainError> {
    let own = own_neuron(hotkey, metagraph)?;
    let (uids, floats) = split_pairs(scores);
    let (mut uids, mut weights) = weights_to_u16(&uids, &floats)?;
    if uids.is_empty() {
        return Err(ChainError::NothingToSet);
    }
    let required = rules.min_weights(metagraph.len());
    if uids.len() < required && uids != [own.uid] {
        // Others first, oneself last: a zero on oneself only when every uid is needed.
        let others = metagraph
            .neurons
            .iter()
            .map(|n| n.uid)
            .filter(|&u| u != own.uid);
        for uid in others.chain([own.uid]) {
            if uids.len() >= required {
                break;
            }
            if !uids.contains(&uid) {
                uids.push(uid);
                weights.push(0);
            }
        }
    }
    Ok(PreparedWeights {
        own_uid: own.uid,
        uids,
        weights,
    })
}

/// [`convert_weights`], then the chain's checks in its order (version key, rate limit
/// for a setting applied at block `applied_at`, then the weights themselves), so a
/// refusal is explained before anything is signed or written. The local registry, which
/// is its own chain, and timelocked commits, which the chain judges only at reveal time,
/// run these; a direct setting on subtensor leaves them to the chain.
pub fn prepare_weights(
    hotkey: &AccountId,
    metagraph: &Metagraph,
    rules: &WeightRules,
    scores: &[(u16, f32)],
    version_key: u64,
    applied_at: u64,
) -> Result<PreparedWeights, ChainError> {
    let own = own_neuron(hotkey, metagraph)?;
    if !rules.accepts_version_key(version_key) {
        return Err(ChainError::Refused(PalletError::IncorrectWeightVersionKey));
    }
    if rules.blocks_until_allowed(own.last_update, applied_at) > 0 {
        return Err(ChainError::Refused(PalletError::SettingWeightsTooFast));
    }
    let prepared = convert_weights(hotkey, metagraph, rules, scores)?;
    rules
        .check_weights(
            &prepared.uids,
            &prepared.weights,
            metagraph.len(),
            (
                own.uid,
                own.validator_permit || rules.owner_hotkey == Some(*hotkey),
            ),
        )
        .map_err(ChainError::Refused)?;
    Ok(prepared)
}

fn own_neuron<'m>(hotkey: &AccountId, metagraph: &'m Metagraph) -> Result<&'m Neuron, ChainError> {
    metagraph
        .by_hotkey(hotkey)
        .ok_or(ChainError::NotRegistered {
            hotkey: *hotkey,
            netuid: metagraph.netuid,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

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
            50,
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
            prepare_weights(&key(9), &metagraph(500, 0), &rules, &scores, 2, 500),
            Err(ChainError::NotRegistered { netuid: 3, .. })
        ));
        assert!(matches!(
            prepare_weights(&VALIDATOR, &metagraph(500, 0), &rules, &scores, 1, 500),
            Err(ChainError::Refused(PalletError::IncorrectWeightVersionKey))
        ));
        assert!(matches!(
            prepare_weights(&VALIDATOR, &metagraph(500, 450), &rules, &scores, 2, 500),
            Err(ChainError::Refused(PalletError::SettingWeightsTooFast))
        ));
        assert!(matches!(
            prepare_weights(&VALIDATOR, &metagraph(500, 0), &rules, &[(1, 0.0)], 2, 500),
            Err(ChainError::NothingToSet)
        ));
        assert!(matches!(
            prepare_weights(&VALIDATOR, &metagraph(500, 0), &rules, &[(9, 1.0)], 2, 500),
            Err(ChainError::Refused(PalletError::UidVecContainInvalidOne))
        ));
    }

    #[test]
    fn pads_to_the_minimum_with_zero_weights() {
        let rules = WeightRules {
            min_allowed_weights: 3,
            ..WeightRules::default()
        };
        let got =
            prepare_weights(&VALIDATOR, &metagraph(50, 0), &rules, &[(2, 1.0)], 0, 50).unwrap();
        // Uid 1 first; the validator's own uid 0 only because all three are needed.
        assert_eq!(got.uids, [2, 1, 0]);
        assert_eq!(got.weights, [65535, 0, 0]);
        // Weight on oneself alone needs no padding.
        let own =
            prepare_weights(&VALIDATOR, &metagraph(50, 0), &rules, &[(0, 1.0)], 0, 50).unwrap();
        assert_eq!(own.uids, [0]);
    }
}
