//! The subnet hyperparameters that gate weight setting, and the checks the chain applies
//! (so a daemon learns why before paying for a rejected extrinsic).

use serde::{Deserialize, Serialize};

use crate::weights::WeightError;

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
    /// `MinAllowedWeights`: fewest non-zero weights in one setting.
    pub min_allowed_weights: u16,
    /// `MaxWeightsLimit`: largest normalized weight, in 1/65535 (65535 = no limit).
    pub max_weight_limit: u16,
    /// `Tempo`: blocks per epoch.
    pub tempo: u16,
    /// Commit-reveal settings when `CommitRevealWeightsEnabled`, `None` otherwise.
    pub commit_reveal: Option<CommitReveal>,
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
        }
    }
}

impl WeightRules {
    /// Blocks still to wait before this hotkey may set weights again (0 = allowed now).
    /// Like the chain, a hotkey that never set weights (`last_update` 0) may set at once.
    pub fn blocks_until_allowed(&self, last_update: u64, current_block: u64) -> u64 {
        if last_update == 0 {
            return 0;
        }
        let next = last_update.saturating_add(self.rate_limit_blocks);
        next.saturating_sub(current_block)
    }

    /// Whether a version key is accepted (it must be at least the subnet's).
    pub fn accepts_version_key(&self, version_key: u64) -> bool {
        self.version_key == 0 || version_key >= self.version_key
    }

    /// Checks converted weights against the subnet's rules as the chain does: uids exist
    /// and appear once, enough weights are set, and no normalized weight exceeds the
    /// maximum. Setting weight only on oneself is exempt from the count and limit rules.
    pub fn check_weights(
        &self,
        uids: &[u16],
        weights: &[u16],
        subnet_size: usize,
        own_uid: Option<u16>,
    ) -> Result<(), WeightError> {
        if uids.len() != weights.len() {
            return Err(WeightError::LengthMismatch {
                uids: uids.len(),
                weights: weights.len(),
            });
        }
        let mut seen = vec![false; subnet_size];
        for &uid in uids {
            let slot = seen
                .get_mut(usize::from(uid))
                .ok_or(WeightError::UnknownUid { uid, subnet_size })?;
            if *slot {
                return Err(WeightError::DuplicateUid(uid));
            }
            *slot = true;
        }
        let self_weight_only = uids.len() == 1 && own_uid == Some(uids[0]);
        if self_weight_only {
            return Ok(());
        }
        let required = usize::from(self.min_allowed_weights).min(subnet_size);
        if uids.len() < required {
            return Err(WeightError::TooFewWeights {
                given: uids.len(),
                required,
            });
        }
        if self.max_weight_limit != u16::MAX {
            let total: f64 = weights.iter().map(|&w| f64::from(w)).sum();
            let largest = weights.iter().copied().max().map(f64::from).unwrap_or(0.0);
            let largest = if total > 0.0 { largest / total } else { 0.0 };
            let limit = f64::from(self.max_weight_limit) / f64::from(u16::MAX);
            if largest > limit {
                return Err(WeightError::AboveMaxWeight { largest, limit });
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
    fn rejects_unknown_and_duplicate_uids() {
        let rules = WeightRules::default();
        assert_eq!(
            rules.check_weights(&[0, 4], &[1, 1], 4, None),
            Err(WeightError::UnknownUid {
                uid: 4,
                subnet_size: 4
            })
        );
        assert_eq!(
            rules.check_weights(&[1, 1], &[1, 1], 4, None),
            Err(WeightError::DuplicateUid(1))
        );
    }

    #[test]
    fn enforces_min_count_except_for_self_weight() {
        let rules = WeightRules {
            min_allowed_weights: 3,
            ..WeightRules::default()
        };
        assert!(matches!(
            rules.check_weights(&[0, 1], &[1, 1], 10, Some(5)),
            Err(WeightError::TooFewWeights {
                given: 2,
                required: 3
            })
        ));
        assert!(rules.check_weights(&[5], &[65535], 10, Some(5)).is_ok());
        // A subnet smaller than the minimum only needs every neuron.
        assert!(rules.check_weights(&[0, 1], &[1, 1], 2, None).is_ok());
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
                .check_weights(&[0, 1], &[65535, 65535], 4, None)
                .is_ok()
        );
        assert!(matches!(
            rules.check_weights(&[0, 1], &[65535, 1000], 4, None),
            Err(WeightError::AboveMaxWeight { .. })
        ));
    }
}
