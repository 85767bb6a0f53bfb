//! The Pareto allocation: standings to shares of the reward pool, by rank.
//!
//! Miners with a positive standing are ranked; rank `k` of `n` is worth a prize
//! proportional to `k^(-a)`, with the exponent `a` solved so that the top
//! [`ParetoPolicy::top_fraction`] of ranks receives [`ParetoPolicy::top_share`] of the
//! pool (80/20 by default). Standings within the measurement tolerance of each other
//! cannot be told apart, so such miners form a tier and split the prizes of the ranks
//! they occupy equally.
//!
//! Two rules for a tier's prize ([`TierPrize`]):
//! - [`TierPrize::Pooled`] (default): a tier splits the prizes of the ranks its members
//!   occupy. Every improvement pays (see [`pareto_allocation`]). The price: hotkeys with
//!   equal standings each bring their rank's prize, so a machine that registers several
//!   hotkeys and keeps them all as fast as one gains; each hotkey pays its registration,
//!   and `brainlock incentives simulate` measures what it gains.
//! - [`TierPrize::Shared`] (DESIGN's rule): tier `r` of `K` receives one prize
//!   `r^(-a)`, `a` solved over the `K` tiers, split among its members. Extra hotkeys of
//!   one machine gain nothing, but a miner that catches up with a crowded tier shares
//!   one prize with all of it and can end up with less than it had alone one tier lower,
//!   so it may rather stay slower.
//!
//! No rule can have both: it cannot tell hotkeys of one machine from independent
//! miners that caught up.

use serde::{Deserialize, Serialize};

/// Largest exponent tried: `2^(-64)` is already nothing next to the top prize.
const MAX_EXPONENT: f64 = 64.0;

/// What a tier of miners with indistinguishable standings receives.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TierPrize {
    /// The prizes of the ranks its members occupy, split equally: every improvement
    /// pays, extra hotkeys of one machine each bring a rank's prize.
    #[default]
    Pooled,
    /// One prize per tier, split equally: extra hotkeys of one machine gain nothing, a
    /// miner catching up with a crowded tier may lose weight.
    Shared,
}

impl TierPrize {
    /// The name flags and config files use.
    pub const fn as_str(self) -> &'static str {
        match self {
            TierPrize::Pooled => "pooled",
            TierPrize::Shared => "shared",
        }
    }
}

impl std::fmt::Display for TierPrize {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A tier prize rule name that is neither `pooled` nor `shared`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown tier prize rule {0:?}: pooled or shared")]
pub struct UnknownTierPrize(pub String);

impl std::str::FromStr for TierPrize {
    type Err = UnknownTierPrize;
    fn from_str(name: &str) -> Result<Self, UnknownTierPrize> {
        [TierPrize::Pooled, TierPrize::Shared]
            .into_iter()
            .find(|rule| rule.as_str() == name)
            .ok_or_else(|| UnknownTierPrize(name.to_owned()))
    }
}

/// How standings become shares.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ParetoPolicy {
    /// Relative measurement tolerance, 0 to 0.5: the width of the tier bands, so that
    /// standings in one tier are within this fraction of each other. Default 0.05.
    pub tolerance: f64,
    /// Fraction of the ranks, from the top, whose share is set; rounded to a whole
    /// number of ranks, at least one. Default 0.2.
    pub top_fraction: f64,
    /// The share those top ranks receive. Default 0.8.
    pub top_share: f64,
    /// What a tier receives. Default [`TierPrize::Pooled`].
    #[serde(default)]
    pub tier_prize: TierPrize,
}

impl Default for ParetoPolicy {
    fn default() -> Self {
        Self {
            tolerance: 0.05,
            top_fraction: 0.2,
            top_share: 0.8,
            tier_prize: TierPrize::Pooled,
        }
    }
}

/// How standings were allocated: the weights and how they came about.
#[derive(Clone, Debug, PartialEq)]
pub struct ParetoAllocation {
    /// One per standing, in the same order: 0 for a standing that is not positive and
    /// finite, otherwise the miner's share; they sum to 1 unless all are 0.
    pub weights: Vec<f64>,
    /// One per standing: the miner's tier, 1 for the best, `None` when it has no
    /// positive standing.
    pub tiers: Vec<Option<usize>>,
    /// The exponent `a` of the rank prizes `k^(-a)`.
    pub exponent: f64,
}

/// Tiers of `standings`, 1 for the best; `None` for standings that are not positive
/// and finite.
///
/// Tiers are bands of a fixed grid: band `k` holds the standings in
/// `[g^k, g^(k+1))` with `g = 1 / (1 - tolerance)`, so standings in one band are within
/// the tolerance of each other, and equal standings share one. Occupied bands are
/// numbered from the best. The grid is fixed, not anchored at anyone's standing, so a
/// miner's band moves only with its own standing: a leader that speeds away cannot
/// regroup the miners below it. With `tolerance` 0 only equal standings share a tier.
pub fn tiers(standings: &[f64], tolerance: f64) -> Vec<Option<usize>> {
    let width = -(1.0 - tolerance).ln();
    let band = |s: f64| {
        let band = (s.ln() / width).floor();
        if band.is_finite() { band } else { s }
    };
    let order = ranked(standings);
    let mut tiers = vec![None; standings.len()];
    let mut tier = 0;
    let mut current = f64::NAN;
    for &i in &order {
        let b = band(standings[i]);
        if b != current {
            tier += 1;
            current = b;
        }
        tiers[i] = Some(tier);
    }
    tiers
}

/// The exponent `a` such that ranks `1..=top` of `ranks` receive `top_share` of
/// `sum k^(-a)`, where `top = max(1, round(top_fraction * ranks))`. 0 (equal prizes)
/// when the top is every rank or when equal prizes already give it `top_share`;
/// at most [`MAX_EXPONENT`] (winner takes practically all) when `top_share` is out of
/// reach.
pub fn pareto_exponent(ranks: usize, top_fraction: f64, top_share: f64) -> f64 {
    let top = top_ranks(ranks, top_fraction);
    if top >= ranks || top_share <= top as f64 / ranks as f64 {
        return 0.0;
    }
    // The top share grows with `a`: bisect.
    let (mut low, mut high) = (0.0, MAX_EXPONENT);
    if share_of_top(ranks, top, high) <= top_share {
        return high;
    }
    for _ in 0..100 {
        let mid = (low + high) / 2.0;
        if share_of_top(ranks, top, mid) < top_share {
            low = mid;
        } else {
            high = mid;
        }
    }
    (low + high) / 2.0
}

/// How many of `ranks` ranks count as the top: `round(top_fraction * ranks)`, at
/// least one.
pub(crate) fn top_ranks(ranks: usize, top_fraction: f64) -> usize {
    ((top_fraction * ranks as f64).round() as usize).clamp(1, ranks.max(1))
}

fn share_of_top(ranks: usize, top: usize, exponent: f64) -> f64 {
    let prizes = rank_prizes(ranks, exponent);
    prizes[..top].iter().sum()
}

/// Prizes of ranks `1..=ranks` for exponent `a`: `k^(-a)`, normalized to sum to 1.
fn rank_prizes(ranks: usize, exponent: f64) -> Vec<f64> {
    let raw: Vec<f64> = (1..=ranks).map(|k| (k as f64).powf(-exponent)).collect();
    let sum: f64 = raw.iter().sum();
    raw.into_iter().map(|p| p / sum).collect()
}

/// Standings to shares (see the module documentation).
///
/// Under [`TierPrize::Pooled`], a miner's weight is the mean prize of the block of ranks its tier occupies, and the
/// number of ranks (hence the exponent) depends only on how many standings are
/// positive. Prizes fall with rank, so:
/// - every improvement pays: when one miner's standing rises and the others' stay, it
///   moves to a better band or stays in its own; a better band's block gains one rank at
///   its end, and that rank is no worse than any of its old block's. Its weight never
///   falls.
/// - standing still costs: when the others' standings rise and its own stays, its band
///   keeps its place on the grid while miners leave the band upwards (its block loses
///   its best rank) or join it from below (its block gains a worse one). Its weight
///   never rises, and falls as soon as anyone passes it or catches up with it.
///
/// Under [`TierPrize::Shared`], tier `r` of `K` receives prize `r` of `K` ranks, split
/// equally among its members.
pub fn pareto_allocation(standings: &[f64], policy: &ParetoPolicy) -> ParetoAllocation {
    let tiers = tiers(standings, policy.tolerance);
    let order = ranked(standings);
    let ranks = match policy.tier_prize {
        TierPrize::Pooled => order.len(),
        TierPrize::Shared => tiers.iter().flatten().max().copied().unwrap_or(0),
    };
    let exponent = pareto_exponent(ranks, policy.top_fraction, policy.top_share);
    let prizes = rank_prizes(ranks, exponent);
    let mut weights = vec![0.0; standings.len()];
    // `order` lists each tier's members together: split each run's prize.
    let mut start = 0;
    while start < order.len() {
        let tier = tiers[order[start]];
        let end = start
            + order[start..]
                .iter()
                .take_while(|&&i| tiers[i] == tier)
                .count();
        let prize = match policy.tier_prize {
            TierPrize::Pooled => prizes[start..end].iter().sum::<f64>(),
            TierPrize::Shared => prizes[tier.expect("ranked standings have a tier") - 1],
        };
        let share = prize / (end - start) as f64;
        for &i in &order[start..end] {
            weights[i] = share;
        }
        start = end;
    }
    ParetoAllocation {
        weights,
        tiers,
        exponent,
    }
}

/// Indices of the positive, finite standings, best first (ties in index order).
fn ranked(standings: &[f64]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..standings.len())
        .filter(|&i| standings[i].is_finite() && standings[i] > 0.0)
        .collect();
    order.sort_by(|&a, &b| standings[b].total_cmp(&standings[a]).then(a.cmp(&b)));
    order
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiers_are_bands_of_a_fixed_grid() {
        // 1.0 starts band 0 of the 5% grid, 1 / 0.95 starts band 1.
        let g = 1.0 / 0.95;
        let t = tiers(
            &[g * 1.01, g * 0.999, 1.0, 0.96, 0.0, f64::NAN, g * 1.02],
            0.05,
        );
        assert_eq!(
            t,
            vec![Some(1), Some(2), Some(2), Some(3), None, None, Some(1)]
        );
        assert_eq!(tiers(&[], 0.05), Vec::<Option<usize>>::new());
        assert_eq!(
            tiers(&[3.0, 3.0, 2.9], 0.0),
            vec![Some(1), Some(1), Some(2)]
        );
        assert_eq!(
            tiers(&[3.0, 1e300, 1e-300], 0.05),
            vec![Some(2), Some(1), Some(3)]
        );
    }

    #[test]
    fn eighty_twenty_over_ten_ranks() {
        let a = pareto_exponent(10, 0.2, 0.8);
        let prizes = rank_prizes(10, a);
        assert!((prizes[0] + prizes[1] - 0.8).abs() < 1e-9, "{prizes:?}");
        assert_eq!(pareto_exponent(1, 0.2, 0.8), 0.0);
        assert_eq!(pareto_exponent(10, 0.2, 0.1), 0.0);
        assert_eq!(pareto_exponent(10, 0.2, 1.0), MAX_EXPONENT);
        // Two ranks: the top one (at least one rank) gets 80%, so a = 2.
        assert!((pareto_exponent(2, 0.2, 0.8) - 2.0).abs() < 1e-9);
    }

    #[test]
    fn shared_tiers_are_neutral_to_hotkeys_of_one_machine() {
        let policy = ParetoPolicy {
            tier_prize: TierPrize::Shared,
            ..ParetoPolicy::default()
        };
        let alone = pareto_allocation(&[10.0, 5.0, 2.0], &policy).weights;
        let sybils = pareto_allocation(&[10.0, 5.0, 5.0, 5.0, 5.0, 5.0, 2.0], &policy).weights;
        assert!((sybils[1..6].iter().sum::<f64>() - alone[1]).abs() < 1e-12);
        assert!((sybils[0] - alone[0]).abs() < 1e-12 && (sybils[6] - alone[2]).abs() < 1e-12);
        assert_eq!("shared".parse::<TierPrize>(), Ok(TierPrize::Shared));
        assert!("fair".parse::<TierPrize>().is_err());
    }

    #[test]
    fn a_tier_splits_the_prizes_of_the_ranks_it_occupies() {
        let policy = ParetoPolicy::default();
        let alone = pareto_allocation(&[10.0, 5.0, 2.0], &policy);
        let prizes = rank_prizes(3, alone.exponent);
        assert_eq!(alone.weights, prizes);
        let tied = pareto_allocation(&[10.0, 10.0, 2.0], &policy);
        assert_eq!(tied.tiers, vec![Some(1), Some(1), Some(2)]);
        let pooled = (prizes[0] + prizes[1]) / 2.0;
        assert!((tied.weights[0] - pooled).abs() < 1e-12);
        assert_eq!(tied.weights[0], tied.weights[1]);
        assert_eq!(tied.weights[2], prizes[2]);
    }
}
