//! The circuits Brainlock ships, by name. Miners, validators and the CLI all build them
//! from here, so every party agrees on every weight as long as they use the same seed.

use crate::model::{Circuit, Layer, LayerOutput, LinearOp, LookupLayer, Shape};
use crate::spec::{conv3x3, vgg9};

/// VGG9 (Brevitas CNV) on CIFAR-10: the production workload.
pub const VGG9: &str = "vgg9";
/// One 3x3 convolution over a CIFAR-10 image: the fast default workload.
pub const CONV3X3: &str = "conv3x3";
/// One small convolution (32 lookups): end-to-end tests and HTTP overhead benchmarks.
pub const TEST_TINY: &str = "test-tiny";

/// Every shipped circuit name, for help texts and error messages.
pub const SHIPPED_NAMES: [&str; 3] = [CONV3X3, VGG9, TEST_TINY];

/// Seed of the shipped circuits' weights, shared by miners and validators.
pub const DEFAULT_CIRCUIT_SEED: u64 = 0x5eed_b4a1_0c4b_0055;

/// The shipped circuit called `name`, seeded weights from `seed`; `None` for other names.
pub fn shipped_circuit(name: &str, seed: u64) -> Option<Circuit> {
    match name {
        CONV3X3 => Some(conv3x3(seed)),
        VGG9 => Some(vgg9(seed)),
        TEST_TINY => Some(test_tiny()),
        _ => None,
    }
}

/// `test-tiny`: a 1x4x4 input of 2-bit values in [-2, 1], one 3x3 convolution (padding
/// 1) to two channels of three ternary taps each, one lookup per output (32 lookups).
///
/// It is built so that honest encrypted results equal the exact simulation with
/// overwhelming probability, which makes any mismatch in a test a real bug:
/// - shift -2 spreads every accumulator value over four boxes and the table is constant
///   on the three boxes around each value's centre, so only a noise of more than 1.5
///   boxes (ten standard deviations of the noisiest profile) changes a result;
/// - the table never returns 0 ([`TINY_ACTIVATION`]), so even a flat image has a
///   non-zero expected output and a cosine check is meaningful; a miner that skips
///   lookups (returning 0) loses cosine;
/// - the table zigzags, so no affine function of the accumulator computes it: every
///   output needs its bootstrap, as in every scored circuit (DESIGN section 5).
pub fn test_tiny() -> Circuit {
    const R: u32 = 6;
    const SHIFT: i32 = -2;
    // Three taps per channel, inputs in [-2, 1]: |acc| <= 6. With lo = -7 the centre box
    // 4 (acc + 7) stays in [4, 52], inside [0, 2^R) with room for noise: nothing wraps.
    const LO: i64 = -7;
    // Each channel's taps sum to 1, so a flat region's accumulator is its own value and
    // an edge's a difference.
    let weights: Vec<i8> = vec![
        0, -1, 0, 1, 1, 0, 0, 0, 0, // channel 0: up -1, left +1, centre +1
        0, 0, 0, 0, 1, -1, 0, 1, 0, // channel 1: centre +1, right -1, down +1
    ];
    // Box k holds accumulator LO + round(k / 4); boxes 4a - 1 ..= 4a + 1 (around value
    // a's centre 4a) share a's entry, box 4a + 2 goes to the next value.
    let table: Vec<i64> = (0..1i64 << R)
        .map(|k| tiny_activation(LO + (k + 1).div_euclid(4)))
        .collect();
    Circuit {
        id: TEST_TINY.into(),
        input_shape: Shape::new(1, 4, 4),
        input_bits: 2,
        rounding_bits: R,
        layers: vec![Layer {
            name: "conv".into(),
            op: LinearOp::Conv2d {
                in_channels: 1,
                out_channels: 2,
                kernel: 3,
                stride: 1,
                padding: 1,
                weights,
            },
            output: LayerOutput::Lookup(LookupLayer {
                shift: SHIFT,
                lo: vec![LO, LO],
                tables: vec![table.clone(), table],
            }),
        }],
        // Table values fit in 3 bits plus sign: keep them well under the padding bit.
        output_delta_log2: Some(59),
    }
}

/// `test-tiny`'s activation of accumulators -6..=6: non-zero, alternating in sign.
const TINY_ACTIVATION: [i64; 13] = [3, -5, 6, -2, 7, -4, 1, -6, 5, -1, 4, -7, 2];

/// [`TINY_ACTIVATION`] of `acc`, saturated beyond the accumulator's reach.
fn tiny_activation(acc: i64) -> i64 {
    TINY_ACTIVATION[(acc + 6).clamp(0, 12) as usize]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encoding::box_index;
    use crate::exact::Simulator;

    #[test]
    fn shipped_names_build_their_circuits() {
        for name in SHIPPED_NAMES {
            let circuit = shipped_circuit(name, 1).unwrap();
            assert_eq!(circuit.id, name);
        }
        assert!(shipped_circuit("resnet", 1).is_none());
    }

    #[test]
    fn tiny_circuit_is_valid_and_never_wraps() {
        let circuit = test_tiny();
        circuit.validate().unwrap();
        let LayerOutput::Lookup(lookup) = &circuit.layers[0].output else {
            panic!("test-tiny ends in a lookup layer")
        };
        let LinearOp::Conv2d { weights, .. } = &circuit.layers[0].op else {
            panic!("test-tiny is a convolution")
        };
        for taps in weights.chunks(9) {
            let reach: i64 = taps
                .iter()
                .map(|w| i64::from(w.unsigned_abs()))
                .sum::<i64>()
                * 2;
            for acc in -reach..=reach {
                let k = box_index(acc, lookup.lo[0], lookup.shift);
                assert!((2..61).contains(&k), "acc {acc} -> box {k}");
                // The three boxes around the centre agree: one box of noise changes nothing.
                let table = &lookup.tables[0];
                let entry = table[k as usize];
                assert_eq!(table[k as usize - 1], entry, "acc {acc}");
                assert_eq!(table[k as usize + 1], entry, "acc {acc}");
                assert_eq!(entry, tiny_activation(acc));
            }
        }
    }

    #[test]
    fn tiny_circuit_output_is_never_zero_even_on_a_flat_image() {
        let circuit = test_tiny();
        let simulator = Simulator::new(&circuit).unwrap();
        for value in -2..=1 {
            let output = simulator.run(&[value; 16]).unwrap();
            assert!(output.iter().all(|&v| v != 0), "flat {value}: {output:?}");
        }
    }
}
