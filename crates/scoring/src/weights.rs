//! Standings and bounties to weights: `(1 - bounties) x Pareto allocation + bounties`.

use serde::{Deserialize, Serialize};

use crate::bounty::BountyPolicy;
use crate::pareto::{ParetoPolicy, pareto_allocation};

/// Everything that turns standings into weights, as the validator is configured.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RewardPolicy {
    /// Tiers and the power law over ranks.
    pub pareto: ParetoPolicy,
    /// Speed records and their bounties.
    pub bounty: BountyPolicy,
}

/// Why a reward policy was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{name} = {value} is out of range: {range}")]
pub struct PolicyError {
    /// The setting, as the config file names it.
    pub name: &'static str,
    /// Its value.
    pub value: f64,
    /// Its allowed range, in words.
    pub range: &'static str,
}

impl RewardPolicy {
    /// Checks every setting's range.
    pub fn validate(&self) -> Result<(), PolicyError> {
        let checks: [(&'static str, f64, bool, &'static str); 6] = [
            (
                "rewards.tolerance",
                self.pareto.tolerance,
                (0.0..=0.5).contains(&self.pareto.tolerance),
                "0 <= x <= 0.5",
            ),
            (
                "rewards.top_fraction",
                self.pareto.top_fraction,
                self.pareto.top_fraction > 0.0 && self.pareto.top_fraction <= 1.0,
                "0 < x <= 1",
            ),
            (
                "rewards.top_share",
                self.pareto.top_share,
                self.pareto.top_share > 0.0 && self.pareto.top_share <= 1.0,
                "0 < x <= 1",
            ),
            (
                "bounty.step",
                self.bounty.step,
                self.bounty.step > 0.0 && self.bounty.step < 1.0,
                "0 < x < 1",
            ),
            (
                "bounty.share",
                self.bounty.share,
                (0.0..=1.0).contains(&self.bounty.share),
                "0 <= x <= 1",
            ),
            (
                "bounty.queries",
                self.bounty.queries as f64,
                (crate::MIN_SUSTAINED_QUERIES..=crate::HISTORY_LEN).contains(&self.bounty.queries),
                "10 to 40",
            ),
        ];
        for (name, value, ok, range) in checks {
            if !ok {
                return Err(PolicyError { name, value, range });
            }
        }
        if self.bounty.tempos == 0 {
            return Err(PolicyError {
                name: "bounty.tempos",
                value: 0.0,
                range: "at least 1",
            });
        }
        Ok(())
    }
}

/// Weights and how they came about.
#[derive(Clone, Debug, PartialEq)]
pub struct Rewards {
    /// One per miner: finite, non-negative, summing to 1, or all 0 when no standing is
    /// positive.
    pub weights: Vec<f64>,
    /// One per miner: its Pareto tier, 1 for the best; `None` without a positive standing.
    pub tiers: Vec<Option<usize>>,
    /// The exponent of the rank prizes.
    pub exponent: f64,
}

/// The final weights. `bounties[i]` is what is left of miner `i`'s bounty (0 to 1;
/// 0 without one). Running bounties split [`BountyPolicy::share`] equally, each
/// scaled by what is left of it; a holder whose standing is not positive is paid
/// nothing. The rest of the pool follows the Pareto allocation of `standings`.
///
/// # Panics
/// If the two slices differ in length.
pub fn reward_weights(standings: &[f64], bounties: &[f64], policy: &RewardPolicy) -> Rewards {
    assert_eq!(
        standings.len(),
        bounties.len(),
        "one bounty entry per miner"
    );
    let pareto = pareto_allocation(standings, &policy.pareto);
    let holders: Vec<f64> = bounties
        .iter()
        .zip(&pareto.tiers)
        .map(|(&left, tier)| {
            if tier.is_some() && left.is_finite() {
                left.clamp(0.0, 1.0)
            } else {
                0.0
            }
        })
        .collect();
    let running = holders.iter().filter(|&&left| left > 0.0).count();
    let per_holder = if running == 0 {
        0.0
    } else {
        policy.bounty.share.clamp(0.0, 1.0) / running as f64
    };
    let paid: f64 = holders.iter().map(|left| left * per_holder).sum();
    let weights = pareto
        .weights
        .iter()
        .zip(&holders)
        .map(|(w, left)| (1.0 - paid) * w + left * per_holder)
        .collect();
    Rewards {
        weights,
        tiers: pareto.tiers,
        exponent: pareto.exponent,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_to_reward_gives_all_zero() {
        let policy = RewardPolicy::default();
        let none = |n| vec![0.0; n];
        assert_eq!(
            reward_weights(&[0.0, 0.0], &none(2), &policy).weights,
            none(2)
        );
        assert_eq!(reward_weights(&[], &[], &policy).weights, none(0));
        let hostile = [f64::NAN, -1.0, f64::INFINITY];
        assert_eq!(
            reward_weights(&hostile, &[1.0; 3], &policy).weights,
            none(3)
        );
        assert_eq!(
            reward_weights(&[f64::NAN, 2.0], &none(2), &policy).weights,
            vec![0.0, 1.0]
        );
    }

    #[test]
    fn a_running_bounty_takes_its_share_of_the_pool() {
        let mut policy = RewardPolicy::default();
        policy.bounty.share = 0.2;
        let standings = [10.0, 5.0, 1.0];
        let plain = reward_weights(&standings, &[0.0; 3], &policy).weights;
        let half_left = reward_weights(&standings, &[0.0, 0.5, 0.0], &policy).weights;
        let paid = 0.2 * 0.5;
        assert!((half_left[1] - ((1.0 - paid) * plain[1] + paid)).abs() < 1e-12);
        assert!((half_left[0] - (1.0 - paid) * plain[0]).abs() < 1e-12);
        assert!((half_left.iter().sum::<f64>() - 1.0).abs() < 1e-12);
    }

    #[test]
    fn out_of_range_settings_are_named() {
        let mut policy = RewardPolicy::default();
        policy.validate().unwrap();
        policy.pareto.top_share = 1.5;
        assert_eq!(policy.validate().unwrap_err().name, "rewards.top_share");
        let mut policy = RewardPolicy::default();
        policy.bounty.queries = 5;
        assert_eq!(policy.validate().unwrap_err().name, "bounty.queries");
    }
}
