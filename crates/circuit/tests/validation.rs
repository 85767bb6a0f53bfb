//! Circuit validation: every malformed circuit is refused with the problem named.

use brainlock_circuit::{
    Circuit, Layer, LayerOutput, LayerProblem, LinearOp, LookupLayer, Shape, ValidationError,
};

fn base() -> Circuit {
    Circuit {
        id: "t".into(),
        input_shape: Shape::new(2, 4, 4),
        input_bits: 8,
        rounding_bits: 3,
        layers: vec![
            Layer {
                name: "conv".into(),
                op: LinearOp::Conv2d {
                    in_channels: 2,
                    out_channels: 2,
                    kernel: 3,
                    stride: 1,
                    padding: 1,
                    weights: vec![1; 36],
                },
                output: LayerOutput::Lookup(LookupLayer {
                    shift: 4,
                    lo: vec![0, 0],
                    tables: vec![vec![0; 8], vec![1; 8]],
                }),
            },
            Layer {
                name: "pool".into(),
                op: LinearOp::SumPool2x2,
                output: LayerOutput::Lookup(LookupLayer {
                    shift: -1,
                    lo: vec![-4, -4],
                    tables: vec![vec![0; 8], vec![0; 8]],
                }),
            },
        ],
        output_delta_log2: Some(56),
    }
}

fn layer_problem(circuit: &Circuit) -> LayerProblem {
    match circuit.validate() {
        Err(ValidationError::Layer { problem, .. }) => problem,
        other => panic!("expected a layer problem, got {other:?}"),
    }
}

#[test]
fn base_is_valid_and_round_trips() {
    let circuit = base();
    circuit.validate().unwrap();
    let json = circuit.to_json().unwrap();
    assert_eq!(Circuit::from_json(&json).unwrap(), circuit);
    let stats = circuit.stats().unwrap();
    assert_eq!(stats.lookups, 2 * 16 + 2 * 4);
    assert_eq!(stats.macs, 2 * 16 * 18);
}

#[test]
fn rejects_wrong_weight_length() {
    let mut c = base();
    if let LinearOp::Conv2d { weights, .. } = &mut c.layers[0].op {
        weights.pop();
    }
    assert_eq!(
        layer_problem(&c),
        LayerProblem::WeightLength {
            expected: 36,
            found: 35
        }
    );
}

/// A circuit file may carry any usize: sizes whose products or sums overflow are
/// refused as unusable convolutions or wrong weight counts, never a panic.
#[test]
fn overflowing_convolution_sizes_are_errors() {
    let huge = [usize::MAX, usize::MAX / 2 + 1, 1 << 32, 1 << 33];
    for kernel in huge {
        for padding in [0, 1, kernel - 1] {
            let mut c = base();
            if let LinearOp::Conv2d {
                kernel: k,
                padding: p,
                ..
            } = &mut c.layers[0].op
            {
                (*k, *p) = (kernel, padding);
            }
            assert!(
                matches!(
                    layer_problem(&c),
                    LayerProblem::BadConvolution { .. } | LayerProblem::WeightLength { .. }
                ),
                "kernel {kernel}, padding {padding}"
            );
        }
    }
    let mut c = base();
    if let LinearOp::Conv2d {
        in_channels,
        out_channels,
        ..
    } = &mut c.layers[0].op
    {
        (*in_channels, *out_channels) = (2, usize::MAX);
    }
    assert!(matches!(
        layer_problem(&c),
        LayerProblem::WeightLength {
            expected: usize::MAX,
            ..
        }
    ));
}

#[test]
fn rejects_wrong_table_length() {
    let mut c = base();
    if let LayerOutput::Lookup(l) = &mut c.layers[1].output {
        l.tables[1].push(0);
    }
    assert_eq!(
        layer_problem(&c),
        LayerProblem::TableLength {
            channel: 1,
            expected: 8,
            found: 9
        }
    );
}

#[test]
fn rejects_bad_shift() {
    let mut c = base();
    if let LayerOutput::Lookup(l) = &mut c.layers[0].output {
        l.shift = 60; // 63 - 3 - 60 = 0: no input scale left
    }
    assert!(matches!(
        layer_problem(&c),
        LayerProblem::Shift { shift: 60, .. }
    ));
    if let LayerOutput::Lookup(l) = &mut c.layers[0].output {
        l.shift = -4;
    }
    assert!(matches!(
        layer_problem(&c),
        LayerProblem::Shift { shift: -4, .. }
    ));
}

#[test]
fn rejects_other_malformations() {
    let mut c = base();
    if let LayerOutput::Lookup(l) = &mut c.layers[0].output {
        l.lo.pop();
    }
    assert!(matches!(
        layer_problem(&c),
        LayerProblem::ChannelCount { .. }
    ));

    let mut c = base();
    c.input_shape = Shape::new(2, 5, 5); // conv keeps 5x5, pooling needs even sizes
    assert!(matches!(layer_problem(&c), LayerProblem::OddPooling(_)));

    let mut c = base();
    c.output_delta_log2 = None;
    assert_eq!(c.validate(), Err(ValidationError::MissingOutputDelta));

    let mut c = base();
    c.rounding_bits = 0;
    assert_eq!(c.validate(), Err(ValidationError::RoundingBits(0)));

    let mut c = base();
    c.layers[0].output = LayerOutput::Accumulator { delta_log2: 40 };
    assert_eq!(layer_problem(&c), LayerProblem::AccumulatorNotLast);

    let mut c = base();
    c.input_shape = Shape::new(2, 1 << 20, 1 << 20);
    assert!(matches!(c.validate(), Err(ValidationError::InputShape(_))));

    // Accumulators that would overflow the exact simulation are refused:
    // 1024 * 127 * 2^15 > 2^31.
    let c = Circuit {
        id: "wide".into(),
        input_shape: Shape::new(1024, 1, 1),
        input_bits: 16,
        rounding_bits: 3,
        layers: vec![Layer {
            name: "fc".into(),
            op: LinearOp::Dense {
                inputs: 1024,
                outputs: 1,
                weights: vec![127; 1024],
            },
            output: LayerOutput::Accumulator { delta_log2: 20 },
        }],
        output_delta_log2: None,
    };
    assert!(matches!(
        layer_problem(&c),
        LayerProblem::AccumulatorOverflow(_)
    ));
}

#[test]
fn malformed_json_is_an_error() {
    assert!(Circuit::from_json(b"{").is_err());
    assert!(Circuit::from_json(b"{\"id\": 3}").is_err());
    let mut c = base();
    if let LinearOp::Conv2d { weights, .. } = &mut c.layers[0].op {
        weights.clear();
    }
    let json = serde_json::to_vec(&c).unwrap();
    let err = Circuit::from_json(&json).unwrap_err().to_string();
    assert!(err.contains("weights"), "{err}");
}

#[test]
fn load_reports_missing_files() {
    let err = Circuit::load("/nonexistent/circuit.json")
        .unwrap_err()
        .to_string();
    assert!(err.contains("/nonexistent/circuit.json"), "{err}");
}
