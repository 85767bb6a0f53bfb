//! Properties of the scoring functions over arbitrary inputs.

use brainlock_scoring::{
    GateRule, Gates, HISTORY_LEN, ItemEvidence, ItemExpectation, MinerHistory, QueryRecord,
    ScoringParams, check_item, cosine_similarity, query_score,
};
use proptest::prelude::*;

fn params() -> impl Strategy<Value = ScoringParams> {
    prop_oneof![Just(ScoringParams::CONV3X3), Just(ScoringParams::VGG9)]
}

/// Any f64, special values included.
fn any_f64() -> impl Strategy<Value = f64> {
    prop_oneof![
        any::<f64>(),
        Just(f64::NAN),
        Just(f64::INFINITY),
        Just(f64::NEG_INFINITY),
        Just(0.0),
        0.0f64..1.0,
        0.0f64..1e5,
    ]
}

fn record() -> impl Strategy<Value = QueryRecord> {
    (any_f64(), any_f64(), any::<bool>()).prop_map(|(score, seconds, failed)| {
        if failed {
            QueryRecord::failed()
        } else {
            QueryRecord::passed(score, seconds)
        }
    })
}

proptest! {
    #[test]
    fn scores_are_finite_and_non_negative(p in params(), q in any_f64(), t in any_f64()) {
        let s = query_score(&p, q, t);
        prop_assert!(s.is_finite() && s >= 0.0, "q={q} t={t} -> {s}");
        prop_assert!(s <= p.max_score() * (1.0 + 1e-12));
    }

    #[test]
    fn score_is_non_increasing_in_time(p in params(), q in 0.9f64..=1.0, t1 in 0.0f64..1e5, dt in 0.0f64..1e5) {
        prop_assert!(query_score(&p, q, t1) >= query_score(&p, q, t1 + dt));
    }

    #[test]
    fn score_is_non_decreasing_in_quality(p in params(), q1 in 0.0f64..=1.0, dq in 0.0f64..1.0, t in 0.0f64..1e5) {
        let q2 = (q1 + dq).min(1.0);
        prop_assert!(query_score(&p, q2, t) >= query_score(&p, q1, t));
    }

    #[test]
    fn cosine_is_bounded_and_symmetric(
        pairs in prop::collection::vec((any::<i64>(), any::<i64>()), 0..40),
    ) {
        let (a, b): (Vec<i64>, Vec<i64>) = pairs.into_iter().unzip();
        let c = cosine_similarity(&a, &b);
        prop_assert!((-1.0..=1.0).contains(&c), "{c}");
        prop_assert_eq!(c, cosine_similarity(&b, &a));
    }

    #[test]
    fn item_checks_never_panic_and_passes_are_above_c_min(
        decrypted in prop::collection::vec(-300i64..300, 0..12),
        expected in prop::collection::vec(-300i64..300, 0..12),
        trivial in any::<bool>(),
        classifier in any::<bool>(),
        c_min in 0.0f64..=1.0,
        gate in 0i64..=10,
    ) {
        let rule = if classifier {
            GateRule::Classifier { top2_margin: gate }
        } else {
            GateRule::ExactFraction { e_min: gate as f64 / 10.0 }
        };
        let gates = Gates {
            batch: 1,
            item_failure: 1e-3,
            c_min,
            rule,
            simulated_items: 0,
            simulated_cosine_mean: 1.0,
            simulated_e_min_mean: None,
        };
        let expectation = ItemExpectation::outputs_only(expected.clone(), c_min);
        let outcome = check_item(&gates, &ItemEvidence { decrypted: &decrypted, expected: &expectation, trivial });
        if let brainlock_scoring::ItemOutcome::Passed { cosine } = outcome {
            prop_assert!(!trivial && decrypted.len() == expected.len());
            prop_assert!(cosine >= c_min && cosine <= 1.0);
        }
    }

    #[test]
    fn standing_is_finite_and_at_most_the_median(records in prop::collection::vec(record(), 0..100)) {
        let mut history = MinerHistory::new();
        for r in records {
            history.push(r);
        }
        prop_assert!(history.len() <= HISTORY_LEN);
        let standing = history.standing();
        prop_assert!(standing.is_finite() && standing >= 0.0);
        prop_assert!(standing <= history.median_score());
        // Storage round trip (serde_json parses floats to within an ulp by default).
        let json = serde_json::to_string(&history).unwrap();
        let back = serde_json::from_str::<MinerHistory>(&json).unwrap();
        prop_assert_eq!(back.len(), history.len());
        for (a, b) in back.records().zip(history.records()) {
            prop_assert_eq!(a.is_failure(), b.is_failure());
            prop_assert_eq!(a.seconds_per_item().is_some(), b.seconds_per_item().is_some());
            prop_assert!((a.score() - b.score()).abs() <= 1e-12 * b.score());
        }
    }

    #[test]
    fn another_failure_never_raises_the_standing(records in prop::collection::vec(record(), 0..60)) {
        let mut history = MinerHistory::new();
        for r in records {
            history.push(r);
        }
        let before = history.standing();
        history.push(QueryRecord::failed());
        prop_assert!(history.standing() <= before);
    }
}
