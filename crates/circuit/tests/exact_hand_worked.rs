//! A tiny circuit worked out by hand: conv 1->1 (2x2 kernel) on a 1x3x3 input, a
//! lookup with a wrap, a 2x2 sum pool... and dense logits.

use brainlock_circuit::encoding::{box_index, lookup_output_delta_log2, wrapped_lookup};
use brainlock_circuit::{Circuit, Layer, LayerOutput, LinearOp, LookupLayer, Shape, Simulator};

fn ramp(boxes: i64) -> Vec<i64> {
    (0..boxes).map(|k| k - boxes / 2).collect()
}

/// R = 2 (4 boxes): tables are tiny enough to check every index by hand.
fn tiny() -> Circuit {
    Circuit {
        id: "tiny".into(),
        input_shape: Shape::new(1, 3, 3),
        input_bits: 5,
        rounding_bits: 2,
        layers: vec![
            Layer {
                name: "conv".into(),
                // [[1, -1], [0, 2]]
                op: LinearOp::Conv2d {
                    in_channels: 1,
                    out_channels: 1,
                    kernel: 2,
                    stride: 1,
                    padding: 0,
                    weights: vec![1, -1, 0, 2],
                },
                // shift 1, lo = -2: k = round_half_up((acc + 2) / 2); table [-2, -1, 0, 1].
                output: LayerOutput::Lookup(LookupLayer {
                    shift: 1,
                    lo: vec![-2],
                    tables: vec![ramp(4)],
                }),
            },
            Layer {
                name: "fc".into(),
                op: LinearOp::Dense {
                    inputs: 4,
                    outputs: 2,
                    weights: vec![1, 1, 1, 1, 1, -1, 0, 0],
                },
                output: LayerOutput::Accumulator { delta_log2: 50 },
            },
        ],
        output_delta_log2: None,
    }
}

#[test]
fn tiny_circuit_matches_hand_computation() {
    let circuit = tiny();
    circuit.validate().unwrap();
    // input (3x3):
    //  1  2  3
    //  4  5  6
    //  7  8 -8
    let input = [1, 2, 3, 4, 5, 6, 7, 8, -8];
    let trace = Simulator::new(&circuit)
        .unwrap()
        .run_traced(&input)
        .unwrap();
    // acc(y,x) = in(y,x) - in(y,x+1) + 2 in(y+1,x+1)
    // (0,0): 1 - 2 + 10 = 9    (0,1): 2 - 3 + 12 = 11
    // (1,0): 4 - 5 + 16 = 15   (1,1): 5 - 6 - 16 = -17
    assert_eq!(trace.layers[0].accumulators, vec![9, 11, 15, -17]);
    // k = floor((acc + 2 + 1) / 2): 9 -> 6, 11 -> 7, 15 -> 9, -17 -> -7
    assert_eq!(trace.layers[0].box_indices, vec![6, 7, 9, -7]);
    // wrap mod 8, upper half negated: 6 -> -T[2] = 0, 7 -> -T[3] = -1,
    // 9 = 1 mod 8 -> T[1] = -1, -7 = 1 mod 8 -> T[1] = -1
    assert_eq!(trace.layers[0].outputs, vec![0, -1, -1, -1]);
    // logits: [0 - 1 - 1 - 1, 0 + 1] = [-3, 1]
    assert_eq!(trace.output, vec![-3, 1]);
    assert_eq!(brainlock_circuit::argmax(&trace.output), 1);
}

#[test]
fn wrapped_index_semantics() {
    let table = ramp(4);
    assert_eq!(box_index(-17, -2, 1), -7);
    assert_eq!(wrapped_lookup(&table, 4, 2), 2); // -T[0] = 2
    assert_eq!(wrapped_lookup(&table, -1, 2), -1); // -T[3] = -1
    assert_eq!(wrapped_lookup(&table, 8, 2), -2); // full period
    assert_eq!(box_index(5, 3, -2), 8); // spread: (5 - 3) * 4
    assert_eq!(box_index(5, 3, 2), 1); // (2 + 2) >> 2
    assert_eq!(box_index(4, 3, 2), 0); // (1 + 2) >> 2
}

#[test]
fn output_delta_follows_the_next_layer() {
    let circuit = tiny();
    // Layer 1 is the logit layer: its inputs use its delta_log2.
    assert_eq!(lookup_output_delta_log2(&circuit, 0), 50);
    assert_eq!(circuit.output_delta_log2(), 50);
}

#[test]
fn inputs_are_checked() {
    let circuit = tiny();
    let sim = Simulator::new(&circuit).unwrap();
    assert!(sim.run(&[0; 8]).is_err());
    assert!(
        sim.run(&[0, 0, 0, 0, 16, 0, 0, 0, 0]).is_err(),
        "16 does not fit 5 signed bits"
    );
    assert!(sim.run(&[0, 0, 0, 0, -16, 0, 0, 0, 0]).is_ok());
}
