//! What the engine needs to know about a circuit before touching ciphertexts: the
//! circuit crate's validation (shapes, table lengths, encoding ranges, overflow bounds),
//! plus the torus scale of every layer boundary. Circuits arrive from the network, so
//! nothing here may assume a well-formed circuit before `Circuit::shapes` accepted it.

use crate::error::Result;
use brainlock_circuit::encoding::layer_input_delta_log2;
use brainlock_circuit::{Circuit, LayerOutput, LinearOp, Shape};

/// Validated per-layer facts.
#[derive(Clone, Debug)]
pub struct Plan {
    /// `shapes[i]` is the input shape of layer i; the last entry is the circuit output.
    pub shapes: Vec<Shape>,
    /// log2 of the scale of layer i's inputs (i < layers), then of the circuit output.
    pub deltas_log2: Vec<u32>,
}

impl Plan {
    /// Validates `circuit` (shapes, tables, ranges) and computes each layer boundary's scale.
    pub fn new(circuit: &Circuit) -> Result<Self> {
        let shapes = circuit.shapes()?.inputs;
        let mut deltas_log2: Vec<u32> = (0..circuit.layers.len())
            .map(|i| layer_input_delta_log2(circuit, i))
            .collect();
        deltas_log2.push(circuit.output_delta_log2());
        Ok(Self {
            shapes,
            deltas_log2,
        })
    }

    /// Number of circuit output values (= output ciphertexts).
    pub fn output_len(&self) -> usize {
        self.shapes.last().expect("non-empty").len()
    }

    /// Number of programmable bootstraps (one per lookup output).
    pub fn lookups(&self, circuit: &Circuit) -> usize {
        circuit
            .layers
            .iter()
            .enumerate()
            .filter(|(_, l)| matches!(l.output, LayerOutput::Lookup(_)))
            .map(|(i, _)| self.shapes[i + 1].len())
            .sum()
    }
}

/// Calls `f(input_index, weight)` for every non-zero term of output `out_index`'s
/// accumulator. Shared by the encrypted engine and the clear reference so both see the
/// same receptive fields.
#[inline]
pub fn for_each_term(
    op: &LinearOp,
    input: Shape,
    output: Shape,
    out_index: usize,
    mut f: impl FnMut(usize, i64),
) {
    let plane = output.height * output.width;
    match op {
        LinearOp::Conv2d {
            in_channels,
            kernel,
            stride,
            padding,
            weights,
            ..
        } => {
            let (oc, rest) = (out_index / plane, out_index % plane);
            let (oy, ox) = (rest / output.width, rest % output.width);
            for ic in 0..*in_channels {
                for ky in 0..*kernel {
                    let Some(iy) = (oy * stride + ky).checked_sub(*padding) else {
                        continue;
                    };
                    if iy >= input.height {
                        continue;
                    }
                    for kx in 0..*kernel {
                        let Some(ix) = (ox * stride + kx).checked_sub(*padding) else {
                            continue;
                        };
                        if ix >= input.width {
                            continue;
                        }
                        let w = weights[((oc * in_channels + ic) * kernel + ky) * kernel + kx];
                        if w != 0 {
                            f((ic * input.height + iy) * input.width + ix, w as i64);
                        }
                    }
                }
            }
        }
        LinearOp::SumPool2x2 => {
            let (c, rest) = (out_index / plane, out_index % plane);
            let (oy, ox) = (rest / output.width, rest % output.width);
            for dy in 0..2 {
                for dx in 0..2 {
                    f(
                        (c * input.height + 2 * oy + dy) * input.width + 2 * ox + dx,
                        1,
                    );
                }
            }
        }
        LinearOp::Dense {
            inputs, weights, ..
        } => {
            let row = &weights[out_index * inputs..(out_index + 1) * inputs];
            for (i, &w) in row.iter().enumerate() {
                if w != 0 {
                    f(i, w as i64);
                }
            }
        }
    }
}

/// Output channel of a flat output index.
pub fn channel_of(output: Shape, out_index: usize) -> usize {
    out_index / (output.height * output.width)
}
