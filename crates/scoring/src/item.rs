//! The check of one batch item: its decrypted output against the exact simulation.

use serde::{Deserialize, Serialize};

use crate::params::{CircuitKind, ScoringParams};
use crate::similarity::{cosine_similarity, top1};

/// What the validator knows about one returned item.
#[derive(Clone, Copy, Debug)]
pub struct ItemEvidence<'a> {
    /// The miner's output, decrypted (logits for VGG9, the output image for conv3x3),
    /// one value per returned ciphertext.
    pub decrypted: &'a [i64],
    /// The exact clear simulation's output for the same input.
    pub expected: &'a [i64],
    /// Whether any returned ciphertext was trivial (all-zero mask): its body is the
    /// plaintext, so it proves no encrypted computation, whatever it decrypts to.
    pub trivial: bool,
}

/// Why an item failed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum ItemFailure {
    TrivialCiphertext,
    WrongShape {
        expected: usize,
        got: usize,
    },
    Top1Mismatch {
        expected: usize,
        got: usize,
        cosine: f64,
    },
    LowSimilarity {
        cosine: f64,
        c_min: f64,
    },
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum ItemOutcome {
    /// `cosine` is in `[c_min, 1]`.
    Passed {
        cosine: f64,
    },
    Failed(ItemFailure),
}

impl ItemOutcome {
    pub fn passed(&self) -> bool {
        matches!(self, ItemOutcome::Passed { .. })
    }
}

/// Checks one item: trivial ciphertexts and wrong shapes fail outright; VGG9 must
/// agree on the top-1 class (ties to the lowest index) and reach `c_min` logit cosine;
/// conv3x3 must reach `c_min` output cosine.
pub fn check_item(
    kind: CircuitKind,
    params: &ScoringParams,
    evidence: &ItemEvidence<'_>,
) -> ItemOutcome {
    let fail = ItemOutcome::Failed;
    if evidence.trivial {
        return fail(ItemFailure::TrivialCiphertext);
    }
    let (expected, got) = (evidence.expected.len(), evidence.decrypted.len());
    if expected != got || expected == 0 {
        return fail(ItemFailure::WrongShape { expected, got });
    }
    let cosine = cosine_similarity(evidence.decrypted, evidence.expected);
    if kind == CircuitKind::Vgg9 {
        // Both are non-empty, checked above.
        let expected_class = top1(evidence.expected).unwrap_or_default();
        let got_class = top1(evidence.decrypted).unwrap_or_default();
        if expected_class != got_class {
            return fail(ItemFailure::Top1Mismatch {
                expected: expected_class,
                got: got_class,
                cosine,
            });
        }
    }
    // Written as a positive comparison so that a NaN threshold fails the item.
    let reaches_c_min = cosine >= params.c_min;
    if !reaches_c_min {
        return fail(ItemFailure::LowSimilarity {
            cosine,
            c_min: params.c_min,
        });
    }
    ItemOutcome::Passed { cosine }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(kind: CircuitKind, decrypted: &[i64], expected: &[i64], trivial: bool) -> ItemOutcome {
        let params = ScoringParams::for_circuit(kind);
        check_item(
            kind,
            &params,
            &ItemEvidence {
                decrypted,
                expected,
                trivial,
            },
        )
    }

    #[test]
    fn exact_answer_passes_with_cosine_one() {
        let logits = [3, -1, 7, 0, 2, 2, -5, 1, 0, 4];
        assert_eq!(
            check(CircuitKind::Vgg9, &logits, &logits, false),
            ItemOutcome::Passed { cosine: 1.0 }
        );
        assert_eq!(
            check(CircuitKind::Conv3x3, &logits, &logits, false),
            ItemOutcome::Passed { cosine: 1.0 }
        );
    }

    #[test]
    fn trivial_ciphertext_fails_even_when_right() {
        let logits = [3, -1, 7];
        assert_eq!(
            check(CircuitKind::Vgg9, &logits, &logits, true),
            ItemOutcome::Failed(ItemFailure::TrivialCiphertext)
        );
    }

    #[test]
    fn wrong_shape_fails() {
        assert_eq!(
            check(CircuitKind::Conv3x3, &[1, 2], &[1, 2, 3], false),
            ItemOutcome::Failed(ItemFailure::WrongShape {
                expected: 3,
                got: 2
            })
        );
        assert_eq!(
            check(CircuitKind::Conv3x3, &[], &[], false),
            ItemOutcome::Failed(ItemFailure::WrongShape {
                expected: 0,
                got: 0
            })
        );
    }

    #[test]
    fn vgg9_needs_the_same_class_even_when_cosine_is_high() {
        // Cosine 0.9999 but the top class moved from index 1 to index 0.
        let expected = [100, 101, 0];
        let decrypted = [101, 100, 0];
        let outcome = check(CircuitKind::Vgg9, &decrypted, &expected, false);
        assert!(matches!(
            outcome,
            ItemOutcome::Failed(ItemFailure::Top1Mismatch {
                expected: 1,
                got: 0,
                ..
            })
        ));
        // conv3x3 has no class: the same vectors pass.
        assert!(check(CircuitKind::Conv3x3, &decrypted, &expected, false).passed());
    }

    #[test]
    fn low_similarity_fails() {
        let outcome = check(CircuitKind::Vgg9, &[10, 5, 5], &[10, 0, 0], false);
        assert!(matches!(
            outcome,
            ItemOutcome::Failed(ItemFailure::LowSimilarity { .. })
        ));
        let outcome = check(CircuitKind::Conv3x3, &[0, 0, 0], &[0, 0, 0], false);
        assert!(matches!(
            outcome,
            ItemOutcome::Failed(ItemFailure::LowSimilarity { cosine: 0.0, .. })
        ));
    }
}
