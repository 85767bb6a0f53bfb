//! Properties of the rewards: Pareto allocation over tiers, speed records, bounties.

use brainlock_scoring::{
    BountyPolicy, MIN_SUSTAINED_QUERIES, MinerHistory, QueryRecord, RecordBook, RecordEvent,
    RewardPolicy, SpeedRecord, TierPrize, reward_weights, tiers,
};
use proptest::prelude::*;

const TEMPO: u64 = 360;

/// Any f64, special values included.
fn any_f64() -> impl Strategy<Value = f64> {
    prop_oneof![
        any::<f64>(),
        Just(f64::NAN),
        Just(f64::INFINITY),
        Just(0.0),
        0.0f64..1.0,
        0.0f64..1e5,
    ]
}

/// Standings as validators see them: positive, with ties and near-ties, some zeros.
fn standings() -> impl Strategy<Value = Vec<f64>> {
    prop::collection::vec(
        prop_oneof![
            3 => 0.01f64..1e6,
            1 => Just(0.0),
            1 => prop::sample::select(vec![1.0, 2.0, 100.0]),
        ],
        1..40,
    )
}

/// Reward policies with the default tier prize rule, [`TierPrize::Pooled`].
fn policy() -> impl Strategy<Value = RewardPolicy> {
    (0.0f64..0.3, 0.05f64..=0.5, 0.5f64..=0.95, 0.0f64..=0.5).prop_map(
        |(tolerance, top_fraction, top_share, share)| {
            let mut policy = RewardPolicy::default();
            policy.pareto.tolerance = tolerance;
            policy.pareto.top_fraction = top_fraction;
            policy.pareto.top_share = top_share;
            policy.bounty.share = share;
            policy
        },
    )
}

/// Reward policies under either tier prize rule.
fn any_rule_policy() -> impl Strategy<Value = RewardPolicy> {
    (policy(), any::<bool>()).prop_map(|(mut policy, shared)| {
        if shared {
            policy.pareto.tier_prize = TierPrize::Shared;
        }
        policy
    })
}

fn no_bounties(n: usize) -> Vec<f64> {
    vec![0.0; n]
}

proptest! {
    #[test]
    fn weights_are_finite_and_sum_to_one(
        standings in prop::collection::vec(any_f64(), 0..40),
        bounty in any_f64(),
        policy in any_rule_policy(),
    ) {
        let bounties: Vec<f64> = (0..standings.len()).map(|i| if i % 3 == 0 { bounty } else { 0.0 }).collect();
        let weights = reward_weights(&standings, &bounties, &policy).weights;
        prop_assert_eq!(weights.len(), standings.len());
        prop_assert!(weights.iter().all(|w| w.is_finite() && *w >= 0.0), "{:?}", weights);
        let sum: f64 = weights.iter().sum();
        if standings.iter().any(|s| s.is_finite() && *s > 0.0) {
            prop_assert!((sum - 1.0).abs() < 1e-9, "sum {}", sum);
        } else {
            prop_assert_eq!(sum, 0.0);
        }
    }

    #[test]
    fn equal_standings_get_equal_weights(
        mut standings in standings(),
        copies in 1usize..5,
        policy in any_rule_policy(),
    ) {
        let value = standings[0];
        standings.extend(std::iter::repeat_n(value, copies));
        let weights = reward_weights(&standings, &no_bounties(standings.len()), &policy).weights;
        for (s, w) in standings.iter().zip(&weights) {
            if *s == value {
                prop_assert_eq!(*w, weights[0]);
            }
        }
    }

    #[test]
    fn a_strict_improvement_never_lowers_a_weight(
        standings in standings(),
        who in any::<prop::sample::Index>(),
        factor in 1.0001f64..10.0,
        bounty in 0.0f64..=1.0,
        policy in policy(),
    ) {
        let i = who.index(standings.len());
        let mut bounties = no_bounties(standings.len());
        bounties[i] = bounty;
        let before = reward_weights(&standings, &bounties, &policy).weights[i];
        let mut improved = standings.clone();
        improved[i] = if improved[i] > 0.0 { improved[i] * factor } else { factor };
        let after = reward_weights(&improved, &bounties, &policy).weights[i];
        prop_assert!(after >= before * (1.0 - 1e-12), "{} -> {}", before, after);
    }

    #[test]
    fn standing_still_while_others_improve_loses_share(
        mut standings in standings(),
        who in any::<prop::sample::Index>(),
        factors in prop::collection::vec(1.0f64..3.0, 40),
        policy in policy(),
    ) {
        let i = who.index(standings.len());
        if standings[i] <= 0.0 {
            standings[i] = 1.0;
        }
        let improved: Vec<f64> = standings
            .iter()
            .zip(&factors)
            .enumerate()
            .map(|(j, (s, f))| if j == i { *s } else { s * f })
            .collect();
        let none = no_bounties(standings.len());
        let before = reward_weights(&standings, &none, &policy);
        let after = reward_weights(&improved, &none, &policy);
        let (w0, w1) = (before.weights[i], after.weights[i]);
        prop_assert!(w1 <= w0 * (1.0 + 1e-12), "still miner gained: {} -> {}", w0, w1);
        // Once another miner passes it or catches up with it, it loses share.
        let caught_up = (0..standings.len()).any(|j| {
            j != i
                && before.tiers[j].is_none_or(|t| Some(t) > before.tiers[i])
                && after.tiers[j].is_some_and(|t| Some(t) <= after.tiers[i])
        });
        if caught_up && before.exponent > 0.0 {
            prop_assert!(w1 < w0, "caught up with, yet {} -> {}", w0, w1);
        }
    }

    #[test]
    fn the_top_fifth_of_tiers_gets_the_top_share(
        gaps in prop::collection::vec(1.06f64..3.0, 1..60),
        top_share in 0.6f64..0.95,
        shared in any::<bool>(),
    ) {
        // Standings more than the 5% tolerance apart: one miner per tier.
        let mut standing = 1e4;
        let mut standings = vec![standing];
        for gap in &gaps {
            standing /= gap;
            standings.push(standing);
        }
        let mut policy = RewardPolicy::default();
        policy.pareto.top_share = top_share;
        if shared {
            policy.pareto.tier_prize = TierPrize::Shared;
        }
        let rewards = reward_weights(&standings, &no_bounties(standings.len()), &policy);
        let tiers = standings.len();
        prop_assert_eq!(rewards.tiers.iter().flatten().max().copied(), Some(tiers));
        let top = ((0.2 * tiers as f64).round() as usize).max(1);
        prop_assume!(top < tiers && top_share > top as f64 / tiers as f64);
        let share: f64 = rewards.weights[..top].iter().sum();
        prop_assert!((share - top_share).abs() < 0.01 * top_share, "top {} of {} tiers get {}", top, tiers, share);
    }

    #[test]
    fn shared_tiers_pay_extra_hotkeys_nothing(
        mut standings in standings(),
        who in any::<prop::sample::Index>(),
        copies in 1usize..6,
        mut policy in policy(),
    ) {
        policy.pareto.tier_prize = TierPrize::Shared;
        let i = who.index(standings.len());
        if standings[i] <= 0.0 {
            standings[i] = 1.0;
        }
        let none = no_bounties(standings.len());
        let alone = reward_weights(&standings, &none, &policy).weights[i];
        let mut sybils = standings.clone();
        sybils.extend(std::iter::repeat_n(standings[i], copies));
        let weights = reward_weights(&sybils, &no_bounties(sybils.len()), &policy).weights;
        let together = weights[i] + weights[standings.len()..].iter().sum::<f64>();
        // A machine alone in its tier; with tier mates its hotkeys take more of the
        // tier's one prize from them.
        let tiers = tiers(&standings, policy.pareto.tolerance);
        let alone_in_tier = (0..standings.len()).all(|j| j == i || tiers[j] != tiers[i]);
        if alone_in_tier {
            prop_assert!(together <= alone * (1.0 + 1e-9), "{} hotkeys earn {} against {}", copies + 1, together, alone);
        }
    }

    #[test]
    fn a_record_is_never_set_from_one_query(
        latencies in prop::collection::vec(1.0f64..100.0, 0..45),
        failures in prop::collection::vec(any::<bool>(), 45),
        outlier in 0.0f64..1.0,
        queries in MIN_SUSTAINED_QUERIES..=40,
    ) {
        let policy = BountyPolicy { queries, ..BountyPolicy::default() };
        let mut history = MinerHistory::new();
        for (latency, failed) in latencies.iter().zip(&failures) {
            // Few failures, so that records happen.
            history.push(if *failed && latency > &90.0 { QueryRecord::failed() } else { QueryRecord::passed(1.0, *latency) });
        }
        history.push(QueryRecord::passed(1.0, outlier));
        let record = SpeedRecord { holder: 0, seconds_per_item: 1e3, block: 0 };
        let mut book = RecordBook::restore(Some(record), false, Vec::new());
        if let Some(RecordEvent::NewRecord { record, .. }) = book.observe(&1, &history, 10, TEMPO, &policy) {
            // At least `MIN_SUSTAINED_QUERIES` queries, and the record is no faster than
            // the fastest query but the outlier.
            prop_assert!(history.len() >= MIN_SUSTAINED_QUERIES);
            let others = history.records().rev().skip(1).take(queries.max(MIN_SUSTAINED_QUERIES) - 1);
            let fastest_other = others.filter_map(|r| r.seconds_per_item()).fold(f64::INFINITY, f64::min);
            prop_assert!(record.seconds_per_item >= fastest_other, "{} < {}", record.seconds_per_item, fastest_other);
        }
    }
}
