//! The check of one batch item: its decrypted output against the exact simulation,
//! under the gates derived for the query ([`crate::gates`]).

use serde::{Deserialize, Serialize};

use crate::gates::{GateRule, Gates, ItemExpectation, OutputOdds, exact_match_fraction};
use crate::similarity::{cosine_similarity, top1};

/// What the validator knows about one returned item.
#[derive(Clone, Copy, Debug)]
pub struct ItemEvidence<'a> {
    /// The miner's output, decrypted (logits for VGG9, the output image for conv3x3),
    /// one value per returned ciphertext.
    pub decrypted: &'a [i64],
    /// What the exact simulation says of the same input ([`Gates::expect`]).
    pub expected: &'a ItemExpectation,
    /// Whether any returned ciphertext was trivial (all-zero mask): its body is the
    /// plaintext, so it proves no encrypted computation, whatever it decrypts to.
    pub trivial: bool,
}

/// Why an item failed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum ItemFailure {
    /// A returned ciphertext was trivial (all-zero mask): no encrypted work shown.
    TrivialCiphertext,
    /// The output has another number of values than the simulation, or none.
    WrongShape {
        /// Values the simulation has.
        expected: usize,
        /// Values returned.
        got: usize,
    },
    /// Outputs that no honest rounding noise produces from their accumulators: the
    /// miner computed something other than the table lookup there.
    ImpossibleValues {
        /// How many outputs are impossible.
        count: usize,
        /// Position of the first of them in the output.
        first_index: usize,
    },
    /// More outputs differ from the simulation than the noise explains.
    TooManyMismatches {
        /// Outputs that differ from the simulation.
        mismatches: usize,
        /// Most mismatches honest noise explains, within the item's failure budget.
        allowed: usize,
        /// Mismatches honest noise produces on average.
        expected: f64,
    },
    /// Too few outputs equal the simulation's (several lookup layers).
    LowExactMatch {
        /// Fraction of outputs equal to the simulation's, in `[0, 1]`.
        exact_match: f64,
        /// Lowest fraction that passes.
        e_min: f64,
    },
    /// The predicted class is neither the simulation's top-1 nor an accepted
    /// near-tied runner-up (classifiers).
    Top1Mismatch {
        /// The simulation's top-1 class index.
        expected: usize,
        /// The returned output's top-1 class index.
        got: usize,
        /// Cosine of the output with the simulation's, for the record.
        cosine: f64,
    },
    /// The output passed its rule but is too far from the simulation's.
    LowSimilarity {
        /// Cosine of the output with the simulation's.
        cosine: f64,
        /// Lowest cosine that passes.
        c_min: f64,
    },
}

/// The verdict on one item: its cosine with the simulation, or why it failed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum ItemOutcome {
    /// `cosine` is in `[c_min, 1]`.
    Passed {
        /// Cosine of the decrypted output with the exact simulation's.
        cosine: f64,
    },
    /// The item failed a gate, so its whole query fails.
    Failed(ItemFailure),
}

impl ItemOutcome {
    /// Whether the item passed every gate.
    pub fn passed(&self) -> bool {
        matches!(self, ItemOutcome::Passed { .. })
    }
}

/// Checks one item against its gates: trivial ciphertexts and wrong shapes fail
/// outright, then the gate rule ([`GateRule`]), then the cosine.
pub fn check_item(gates: &Gates, evidence: &ItemEvidence<'_>) -> ItemOutcome {
    let fail = ItemOutcome::Failed;
    if evidence.trivial {
        return fail(ItemFailure::TrivialCiphertext);
    }
    let truth = &evidence.expected.outputs;
    let got = evidence.decrypted;
    if truth.len() != got.len() || truth.is_empty() {
        return fail(ItemFailure::WrongShape {
            expected: truth.len(),
            got: got.len(),
        });
    }
    let cosine = cosine_similarity(got, truth);
    let verdict = match &gates.rule {
        GateRule::PerOutput { .. } => match &evidence.expected.odds {
            Some(odds) => check_per_output(odds, got, truth),
            // An expectation made under other gates: nothing to compare with.
            None => Err(ItemFailure::WrongShape {
                expected: truth.len(),
                got: 0,
            }),
        },
        GateRule::ExactFraction { e_min } => {
            let exact_match = exact_match_fraction(got, truth);
            // Written as a positive comparison so that a NaN gate fails the item.
            if exact_match >= *e_min {
                Ok(())
            } else {
                Err(ItemFailure::LowExactMatch {
                    exact_match,
                    e_min: *e_min,
                })
            }
        }
        GateRule::Classifier { top2_margin } => check_class(got, truth, *top2_margin, cosine),
    };
    if let Err(failure) = verdict {
        return fail(failure);
    }
    let c_min = evidence.expected.c_min;
    // Written as a positive comparison so that a NaN gate fails the item.
    if cosine >= c_min {
        ItemOutcome::Passed { cosine }
    } else {
        fail(ItemFailure::LowSimilarity { cosine, c_min })
    }
}

fn check_per_output(odds: &OutputOdds, got: &[i64], truth: &[i64]) -> Result<(), ItemFailure> {
    let width = (2 * odds.max_slip + 1) as usize;
    let mut impossible = 0;
    let mut first_index = None;
    let mut mismatches = 0;
    for (i, (value, exact)) in got.iter().zip(truth).enumerate() {
        if value == exact {
            continue;
        }
        mismatches += 1;
        if !odds.reachable[i * width..(i + 1) * width].contains(value) {
            impossible += 1;
            first_index.get_or_insert(i);
        }
    }
    if let Some(first_index) = first_index {
        return Err(ItemFailure::ImpossibleValues {
            count: impossible,
            first_index,
        });
    }
    if mismatches > odds.allowed_mismatches {
        return Err(ItemFailure::TooManyMismatches {
            mismatches,
            allowed: odds.allowed_mismatches,
            expected: odds.mismatch.iter().sum(),
        });
    }
    Ok(())
}

/// The top-1 class must agree (ties to the lowest index), except that the runner-up
/// also passes where the simulation's margin between the two is within the noise.
fn check_class(
    got: &[i64],
    truth: &[i64],
    top2_margin: i64,
    cosine: f64,
) -> Result<(), ItemFailure> {
    // Both are non-empty, checked by the caller.
    let expected = top1(truth).unwrap_or_default();
    let got_class = top1(got).unwrap_or_default();
    if got_class == expected {
        return Ok(());
    }
    let margin = truth[expected].saturating_sub(truth[got_class]);
    let runner_up = runner_up(truth, expected);
    if Some(got_class) == runner_up && margin <= top2_margin {
        return Ok(());
    }
    Err(ItemFailure::Top1Mismatch {
        expected,
        got: got_class,
        cosine,
    })
}

/// The second class: the largest value other than `top`, ties to the lowest index.
fn runner_up(values: &[i64], top: usize) -> Option<usize> {
    values
        .iter()
        .enumerate()
        .filter(|&(j, _)| j != top)
        .fold(None, |best: Option<(usize, i64)>, (j, &v)| match best {
            Some((_, b)) if b >= v => best,
            _ => Some((j, v)),
        })
        .map(|(j, _)| j)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gates(rule: GateRule) -> Gates {
        Gates {
            batch: 1,
            item_failure: 1e-3,
            c_min: 0.9,
            rule,
            simulated_items: 0,
            simulated_cosine_mean: 1.0,
            simulated_e_min_mean: None,
        }
    }

    const CLASSIFIER: GateRule = GateRule::Classifier { top2_margin: 2 };
    const FRACTION: GateRule = GateRule::ExactFraction { e_min: 0.5 };

    fn check(rule: GateRule, decrypted: &[i64], expected: &[i64], trivial: bool) -> ItemOutcome {
        let expected = ItemExpectation::outputs_only(expected.to_vec(), 0.9);
        check_item(
            &gates(rule),
            &ItemEvidence {
                decrypted,
                expected: &expected,
                trivial,
            },
        )
    }

    #[test]
    fn exact_answer_passes_with_cosine_one() {
        let logits = [3, -1, 7, 0, 2, 2, -5, 1, 0, 4];
        for rule in [CLASSIFIER, FRACTION] {
            assert_eq!(
                check(rule, &logits, &logits, false),
                ItemOutcome::Passed { cosine: 1.0 }
            );
        }
    }

    #[test]
    fn trivial_ciphertext_fails_even_when_right() {
        let logits = [3, -1, 7];
        assert_eq!(
            check(CLASSIFIER, &logits, &logits, true),
            ItemOutcome::Failed(ItemFailure::TrivialCiphertext)
        );
    }

    #[test]
    fn wrong_shape_fails() {
        assert_eq!(
            check(FRACTION, &[1, 2], &[1, 2, 3], false),
            ItemOutcome::Failed(ItemFailure::WrongShape {
                expected: 3,
                got: 2
            })
        );
        assert_eq!(
            check(FRACTION, &[], &[], false),
            ItemOutcome::Failed(ItemFailure::WrongShape {
                expected: 0,
                got: 0
            })
        );
    }

    #[test]
    fn classifier_needs_the_top_class_or_a_close_runner_up() {
        // Cosine 0.9999 but the top class moved from index 1 to index 0, whose margin
        // (1) is within the noise (2): passes.
        assert!(check(CLASSIFIER, &[101, 100, 0], &[100, 101, 0], false).passed());
        // A margin of 5 is not.
        let outcome = check(CLASSIFIER, &[106, 100, 0], &[100, 105, 0], false);
        assert!(matches!(
            outcome,
            ItemOutcome::Failed(ItemFailure::Top1Mismatch {
                expected: 1,
                got: 0,
                ..
            })
        ));
        // A third class never passes, however close.
        let outcome = check(CLASSIFIER, &[0, 100, 102], &[100, 101, 99], false);
        assert!(matches!(
            outcome,
            ItemOutcome::Failed(ItemFailure::Top1Mismatch { got: 2, .. })
        ));
    }

    #[test]
    fn exact_fraction_gate() {
        let truth = [10, 20, 30, 40];
        assert!(check(FRACTION, &[10, 20, 31, 41], &truth, false).passed());
        assert!(matches!(
            check(FRACTION, &[10, 21, 31, 41], &truth, false),
            ItemOutcome::Failed(ItemFailure::LowExactMatch { .. })
        ));
    }

    #[test]
    fn low_similarity_fails() {
        let outcome = check(CLASSIFIER, &[10, 5, 5], &[10, 0, 0], false);
        assert!(matches!(
            outcome,
            ItemOutcome::Failed(ItemFailure::LowSimilarity { .. })
        ));
        let outcome = check(FRACTION, &[0, 0, 0], &[0, 0, 0], false);
        assert!(matches!(
            outcome,
            ItemOutcome::Failed(ItemFailure::LowSimilarity { cosine: 0.0, .. })
        ));
    }

    #[test]
    fn per_output_rule_accepts_neighbour_slips_only() {
        // Three outputs; each may also be its neighbours' table values.
        let expected = ItemExpectation {
            outputs: vec![10, 20, 30],
            c_min: 0.9,
            odds: Some(OutputOdds {
                reachable: vec![6, 10, 14, 16, 20, 24, 26, 30, 34],
                max_slip: 1,
                mismatch: vec![0.3, 0.3, 0.3],
                allowed_mismatches: 1,
            }),
        };
        let rule = GateRule::PerOutput {
            sigmas: vec![0.1],
            max_slip: 1,
            log_inverse_budget: 1.0,
        };
        let run = |decrypted: &[i64]| {
            check_item(
                &gates(rule.clone()),
                &ItemEvidence {
                    decrypted,
                    expected: &expected,
                    trivial: false,
                },
            )
        };
        assert!(run(&[10, 20, 30]).passed());
        assert!(run(&[14, 20, 30]).passed());
        assert!(matches!(
            run(&[14, 24, 30]),
            ItemOutcome::Failed(ItemFailure::TooManyMismatches {
                mismatches: 2,
                allowed: 1,
                ..
            })
        ));
        assert_eq!(
            run(&[10, 21, 30]),
            ItemOutcome::Failed(ItemFailure::ImpossibleValues {
                count: 1,
                first_index: 1
            })
        );
    }
}
