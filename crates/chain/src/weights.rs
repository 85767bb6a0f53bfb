//! Float scores -> the u16 weights the chain stores, exactly as the Bittensor Python SDK
//! converts them (`bittensor.utils.weight_utils.convert_weights_and_uids_for_emit`).

/// Largest on-chain weight value; the largest float weight maps to it.
pub const U16_MAX: u16 = u16::MAX;

/// Why a set of float weights cannot be sent.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum WeightError {
    /// The uid and weight lists differ in length.
    #[error("{uids} uids but {weights} weights: they must have the same length")]
    LengthMismatch {
        /// Number of uids given.
        uids: usize,
        /// Number of weights given.
        weights: usize,
    },
    /// The uid and weight lists are empty.
    #[error("no weights given")]
    Empty,
    /// A weight is below zero; on-chain weights are unsigned.
    #[error("weight {value} at index {index} is negative and cannot exist on chain")]
    Negative {
        /// Position of the weight in the input.
        index: usize,
        /// The negative weight.
        value: f32,
    },
    /// A weight is NaN or infinite.
    #[error("weight at index {index} is not a finite number")]
    NotFinite {
        /// Position of the NaN or infinite weight in the input.
        index: usize,
    },
}

/// Converts `(uids, float weights)` into the `(uids, u16 weights)` the chain expects.
///
/// Same rules and the same arithmetic as the Python SDK: negatives are rejected, the
/// weights are divided by their maximum (in f64, as Python floats), each is scaled by
/// 65535 and rounded half-to-even (Python's `round`), and zeros are dropped together with
/// their uids. All-zero weights give two empty vectors (nothing to set). Unlike Python
/// (where NaN slips through `min`), non-finite weights are rejected.
pub fn weights_to_u16(uids: &[u16], weights: &[f32]) -> Result<(Vec<u16>, Vec<u16>), WeightError> {
    if uids.len() != weights.len() {
        return Err(WeightError::LengthMismatch {
            uids: uids.len(),
            weights: weights.len(),
        });
    }
    if weights.is_empty() {
        // Python's `min([])` raises: an empty call is a caller bug, not "nothing to set".
        return Err(WeightError::Empty);
    }
    for (index, &value) in weights.iter().enumerate() {
        if !value.is_finite() {
            return Err(WeightError::NotFinite { index });
        }
        if value < 0.0 {
            return Err(WeightError::Negative { index, value });
        }
    }
    let as_f64: Vec<f64> = weights.iter().map(|&w| f64::from(w)).collect();
    let max = as_f64.iter().copied().fold(0.0_f64, f64::max);
    if max == 0.0 {
        return Ok((Vec::new(), Vec::new()));
    }
    let mut out_uids = Vec::with_capacity(uids.len());
    let mut out_weights = Vec::with_capacity(uids.len());
    for (&uid, &w) in uids.iter().zip(&as_f64) {
        // w / max is in [0, 1], so the rounded product always fits in a u16.
        let value = ((w / max) * f64::from(U16_MAX)).round_ties_even() as u16;
        if value != 0 {
            out_uids.push(uid);
            out_weights.push(value);
        }
    }
    Ok((out_uids, out_weights))
}

/// Splits `(uid, weight)` pairs into the two parallel slices [`weights_to_u16`] takes.
pub fn split_pairs(pairs: &[(u16, f32)]) -> (Vec<u16>, Vec<f32>) {
    pairs.iter().copied().unzip()
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Case {
        name: &'static str,
        uids: &'static [u16],
        weights: &'static [f32],
        expected: Result<(&'static [u16], &'static [u16]), WeightError>,
    }

    // Expected values follow the Python SDK: round(float(w) / float(max) * 65535).
    fn cases() -> Vec<Case> {
        vec![
            Case {
                name: "single weight becomes the maximum",
                uids: &[3],
                weights: &[0.25],
                expected: Ok((&[3], &[65535])),
            },
            Case {
                name: "proportional scaling",
                uids: &[0, 1, 2],
                weights: &[1.0, 0.5, 0.25],
                // 0.5 * 65535 = 32767.5 -> 32768 (even); 0.25 * 65535 = 16383.75 -> 16384
                expected: Ok((&[0, 1, 2], &[65535, 32768, 16384])),
            },
            Case {
                name: "fraction below a half rounds down",
                uids: &[0, 1],
                // 1.5 / 2.0 * 65535 = 49151.25 -> 49151
                weights: &[2.0, 1.5],
                expected: Ok((&[0, 1], &[65535, 49151])),
            },
            Case {
                name: "ties between equal weights",
                uids: &[5, 6, 7],
                weights: &[0.3, 0.3, 0.3],
                expected: Ok((&[5, 6, 7], &[65535, 65535, 65535])),
            },
            Case {
                name: "tie at x.5 rounds to even",
                uids: &[0, 1],
                // 1.5 / 65535 * 65535 = 1.5 in f64; half-to-even gives 2 (not 1 or away).
                weights: &[65535.0, 1.5],
                expected: Ok((&[0, 1], &[65535, 2])),
            },
            Case {
                // 2.5 -> 2: half-to-even, where rounding half away from zero would give 3.
                name: "tie at x.5 with an even floor stays",
                uids: &[0, 1],
                weights: &[65535.0, 2.5],
                expected: Ok((&[0, 1], &[65535, 2])),
            },
            Case {
                name: "zeros and tiny weights are dropped with their uids",
                uids: &[0, 1, 2, 3],
                // 1e-6 * 65535 = 0.065 -> 0, dropped.
                weights: &[0.0, 1.0, 1e-6, 0.0],
                expected: Ok((&[1], &[65535])),
            },
            Case {
                name: "all zero sets nothing",
                uids: &[0, 1, 2],
                weights: &[0.0, 0.0, 0.0],
                expected: Ok((&[], &[])),
            },
            Case {
                name: "negative zero counts as zero",
                uids: &[0, 1],
                weights: &[-0.0, 0.5],
                expected: Ok((&[1], &[65535])),
            },
            Case {
                name: "float32 inputs are widened exactly before dividing",
                uids: &[0, 1],
                // f32 0.1 = 0.100000001490116..., 0.3 = 0.300000011920928...
                // 0.1f32 / 0.3f32 * 65535 = 21845.000000000004 -> 21845
                weights: &[0.1, 0.3],
                expected: Ok((&[0, 1], &[21845, 65535])),
            },
            Case {
                name: "negative rejected",
                uids: &[0, 1],
                weights: &[0.5, -0.1],
                expected: Err(WeightError::Negative {
                    index: 1,
                    value: -0.1,
                }),
            },
            Case {
                name: "length mismatch rejected",
                uids: &[0, 1, 2],
                weights: &[0.5, 0.1],
                expected: Err(WeightError::LengthMismatch {
                    uids: 3,
                    weights: 2,
                }),
            },
            Case {
                name: "empty rejected",
                uids: &[],
                weights: &[],
                expected: Err(WeightError::Empty),
            },
            Case {
                name: "NaN rejected",
                uids: &[0],
                weights: &[f32::NAN],
                expected: Err(WeightError::NotFinite { index: 0 }),
            },
            Case {
                name: "infinity rejected",
                uids: &[0, 1],
                weights: &[1.0, f32::INFINITY],
                expected: Err(WeightError::NotFinite { index: 1 }),
            },
        ]
    }

    #[test]
    fn matches_python_sdk_table() {
        for case in cases() {
            let got = weights_to_u16(case.uids, case.weights);
            let expected = case.expected.clone().map(|(u, w)| (u.to_vec(), w.to_vec()));
            assert_eq!(got, expected, "case: {}", case.name);
        }
    }

    #[test]
    fn largest_weight_always_maps_to_u16_max() {
        let weights = [0.7_f32, 0.2, 0.9, 0.1];
        let (_, values) = weights_to_u16(&[0, 1, 2, 3], &weights).unwrap();
        assert_eq!(values.iter().copied().max(), Some(U16_MAX));
    }
}
