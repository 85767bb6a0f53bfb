//! The subnet hyperparameters that gate weight setting, and the checks the chain applies
//! (so a daemon learns why before paying for a rejected extrinsic).

use brainlock_account::AccountId;
use serde::{Deserialize, Serialize};

use crate::refusal::PalletError;

/// Commit-reveal settings of a subnet, present when commit-reveal is enabled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommitReveal {
    /// `CommitRevealWeightsVersion`: the version the timelocked commit must declare.
    pub version: u16,
    /// `RevealPeriodEpochs`: how many epochs after the commit the weights are revealed.
    pub reveal_period_epochs: u64,
}

/// Hyperparameters that decide whether and how weights can be set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct WeightRules {
    /// `WeightsSetRateLimit`: blocks between two weight settings of one hotkey.
    pub rate_limit_blocks: u64,
    /// `WeightsVersionKey`: the smallest version key accepted (0 accepts any).
    pub version_key: u64,
    /// `MinAllowedWeights`: fewest weights in one setting (zeros count).
    pub min_allowed_weights: u16,
    /// `MaxWeightsLimit`: largest normalized weight, in 1/65535 (65535 = no limit).
    pub max_weight_limit: u16,
    /// `Tempo`: blocks per epoch.
    pub tempo: u16,
    /// Commit-reveal settings when `CommitRevealWeightsEnabled`, `None` otherwise.
    pub commit_reveal: Option<CommitReveal>,
    /// `SubnetOwnerHotkey`: the owner's hotkey sets weights without a validator permit.
    pub owner_hotkey: Option<AccountId>,
}

impl Default for WeightRules {
    /// Rules that gate nothing: what a local registry uses unless its file says otherwise.
    fn default() -> Self {
        Self {
            rate_limit_blocks: 0,
            version_key: 0,
            min_allowed_weights: 0,
            max_weight_limit: u16::MAX,
            tempo: 360,
            commit_reveal: None,
            owner_hotkey: None,
        }
    }
}

impl WeightRules {
    /// What a new local registry starts with: one setting per block (the smallest rate
    /// limit a chain can have) and version key 1, so that devnet and compose runs meet
    /// both rules. A registry file without rules gates nothing ([`WeightRules::default`]).
    pub fn local() -> Self {
        Self {
            rate_limit_blocks: 1,
            version_key: 1,
            ..Self::default()
        }
    }

    /// Blocks still to wait before a weight setting applied at block `applied_at` passes
    /// the rate limit (0 = it passes). As on chain (`check_rate_limit`), the limit counts
    /// from `last_update` inclusively, and a hotkey that never set weights (`last_update`
    /// 0) passes at once.
    pub fn blocks_until_allowed(&self, last_update: u64, applied_at: u64) -> u64 {
        if last_update == 0 {
            return 0;
        }
        let next = last_update.saturating_add(self.rate_limit_blocks);
        next.saturating_sub(applied_at)
    }

    /// Whether a version key is accepted (`check_version_key`: at least the subnet's, or
    /// any when the subnet's is 0).
    pub fn accepts_version_key(&self, version_key: u64) -> bool {
        self.version_key == 0 || version_key >= self.version_key
    }

    /// The fewest weights a setting must carry on a subnet of `subnet_size` neurons
    /// (`check_length`: zero weights count, a subnet smaller than the minimum needs all).
    pub fn min_weights(&self, subnet_size: usize) -> usize {
        usize::from(self.min_allowed_weights).min(subnet_size)
    }

    /// Checks converted weights against the subnet's rules in the pallet's order
    /// (`internal_set_weights`): lengths, validator permit, duplicate and unknown uids,
    /// the minimum count and the maximum normalized weight. `own` is the setter's uid and
    /// whether it may weigh others (a validator permit, or the subnet owner's hotkey);
    /// weight on oneself alone is exempt from the permit, count and limit rules.
    pub fn check_weights(
        &self,
        uids: &[u16],
        weights: &[u16],
        subnet_size: usize,
        own: (u16, bool),
    ) -> Result<(), PalletError> {
        let (own_uid, own_permit) = own;
        if uids.len() != weights.len() {
            return Err(PalletError::WeightVecNotEqualSize);
        }
        if uids.len() > subnet_size {
            return Err(PalletError::UidsLengthExceedUidsInSubNet);
        }
        let self_weight_only = uids == [own_uid];
        if !self_weight_only && !own_permit {
            return Err(PalletError::NeuronNoValidatorPermit);
        }
        let mut seen = std::collections::HashSet::with_capacity(uids.len());
        if !uids.iter().all(|uid| seen.insert(uid)) {
            return Err(PalletError::DuplicateUids);
        }
        if uids.iter().any(|&uid| usize::from(uid) >= subnet_size) {
            return Err(PalletError::UidVecContainInvalidOne);
        }
        if self_weight_only {
            return Ok(());
        }
        if uids.len() < self.min_weights(subnet_size) {
            return Err(PalletError::WeightVecLengthIsLow);
        }
        if self.max_weight_limit != u16::MAX {
            let total: f64 = weights.iter().map(|&w| f64::from(w)).sum();
            let largest = weights.iter().copied().max().map(f64::from).unwrap_or(0.0);
            let largest = if total > 0.0 { largest / total } else { 0.0 };
            if largest > f64::from(self.max_weight_limit) / f64::from(u16::MAX) {
                return Err(PalletError::MaxWeightExceeded);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_limit_counts_from_last_update() {
        let rules = WeightRules {
            rate_limit_blocks: 100,
            ..WeightRules::default()
        };
        assert_eq!(rules.blocks_until_allowed(0, 5), 0);
        assert_eq!(rules.blocks_until_allowed(1000, 1040), 60);
        assert_eq!(rules.blocks_until_allowed(1000, 1099), 1);
        assert_eq!(rules.blocks_until_allowed(1000, 1100), 0);
        assert_eq!(rules.blocks_until_allowed(1000, 5000), 0);
    }

    #[test]
    fn version_key_must_not_be_older() {
        let rules = WeightRules {
            version_key: 7,
            ..WeightRules::default()
        };
        assert!(!rules.accepts_version_key(6));
        assert!(rules.accepts_version_key(7));
        assert!(WeightRules::default().accepts_version_key(0));
    }

    #[test]
    fn checks_weights_in_the_pallet_order() {
        let rules = WeightRules::default();
        let check =
            |uids: &[u16], permit| rules.check_weights(uids, &vec![1; uids.len()], 4, (0, permit));
        assert_eq!(
            rules.check_weights(&[1], &[1, 1], 4, (0, true)),
            Err(PalletError::WeightVecNotEqualSize)
        );
        assert_eq!(
            check(&[0, 1, 2, 3, 3], true),
            Err(PalletError::UidsLengthExceedUidsInSubNet)
        );
        assert_eq!(
            check(&[1], false),
            Err(PalletError::NeuronNoValidatorPermit)
        );
        assert_eq!(check(&[0], false), Ok(()));
        assert_eq!(check(&[9, 1, 1], true), Err(PalletError::DuplicateUids));
        assert_eq!(
            check(&[0, 4], true),
            Err(PalletError::UidVecContainInvalidOne)
        );
    }

    #[test]
    fn enforces_min_count_except_for_self_weight() {
        let rules = WeightRules {
            min_allowed_weights: 3,
            ..WeightRules::default()
        };
        assert_eq!(
            rules.check_weights(&[0, 1], &[1, 1], 10, (5, true)),
            Err(PalletError::WeightVecLengthIsLow)
        );
        assert!(rules.check_weights(&[5], &[65535], 10, (5, true)).is_ok());
        // Zero weights count.
        assert!(
            rules
                .check_weights(&[0, 1, 2], &[1, 0, 0], 10, (5, true))
                .is_ok()
        );
        // A subnet smaller than the minimum only needs every neuron.
        assert!(rules.check_weights(&[0, 1], &[1, 1], 2, (0, true)).is_ok());
    }

    #[test]
    fn enforces_max_weight_limit_on_normalized_values() {
        let rules = WeightRules {
            // Half of the total at most.
            max_weight_limit: 32768,
            ..WeightRules::default()
        };
        assert!(
            rules
                .check_weights(&[0, 1], &[65535, 65535], 4, (3, true))
                .is_ok()
        );
        assert_eq!(
            rules.check_weights(&[0, 1], &[65535, 1000], 4, (3, true)),
            Err(PalletError::MaxWeightExceeded)
        );
    }
}
