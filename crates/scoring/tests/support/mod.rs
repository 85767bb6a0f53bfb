//! A clear forward pass with a hook on every lookup, to simulate miners that skip
//! lookups. It follows the circuit's integer semantics (DESIGN section 1,
//! `brainlock_circuit::encoding`); the tests check that without tampering it agrees
//! with `brainlock_circuit::Simulator` exactly.

use brainlock_circuit::encoding::{box_index, wrapped_lookup};
use brainlock_circuit::{Circuit, LayerOutput, LinearOp, Shape};

/// What a lookup returns: the honest value, or what a cheater puts in its place.
pub(crate) trait LookupHook {
    /// `index` counts every lookup of the run; `table` is the channel's table, `k` the
    /// honest box index, `honest` the honest result.
    fn lookup(&mut self, index: usize, table: &[i64], k: i64, honest: i64) -> i64;
}

/// Runs `circuit` on `input` (already quantized and in range) with `hook` deciding
/// every lookup's result.
pub(crate) fn run_with_hook(
    circuit: &Circuit,
    input: &[i64],
    hook: &mut impl LookupHook,
) -> Vec<i64> {
    let mut shape = circuit.input_shape;
    let mut values = input.to_vec();
    let mut lookups = 0;
    for layer in &circuit.layers {
        let (acc, out_shape) = linear(&layer.op, shape, &values);
        match &layer.output {
            LayerOutput::Accumulator { .. } => return acc,
            LayerOutput::Lookup(lookup) => {
                let plane = out_shape.height * out_shape.width;
                values = acc
                    .iter()
                    .enumerate()
                    .map(|(i, &a)| {
                        let channel = i / plane;
                        let table = &lookup.tables[channel];
                        let k = box_index(a, lookup.lo[channel], lookup.shift);
                        let honest = wrapped_lookup(table, k, circuit.rounding_bits);
                        lookups += 1;
                        hook.lookup(lookups - 1, table, k, honest)
                    })
                    .collect();
            }
        }
        shape = out_shape;
    }
    values
}

fn linear(op: &LinearOp, shape: Shape, input: &[i64]) -> (Vec<i64>, Shape) {
    match op {
        LinearOp::Conv2d {
            in_channels,
            out_channels,
            kernel,
            stride,
            padding,
            weights,
        } => {
            let (h, w) = (shape.height as i64, shape.width as i64);
            let (k, s, p) = (*kernel as i64, *stride as i64, *padding as i64);
            let out_h = ((h + 2 * p - k) / s + 1) as usize;
            let out_w = ((w + 2 * p - k) / s + 1) as usize;
            let mut out = vec![0i64; out_channels * out_h * out_w];
            for o in 0..*out_channels {
                for oy in 0..out_h {
                    for ox in 0..out_w {
                        let mut acc = 0;
                        for c in 0..*in_channels {
                            for ky in 0..k {
                                for kx in 0..k {
                                    let y = oy as i64 * s + ky - p;
                                    let x = ox as i64 * s + kx - p;
                                    if y < 0 || x < 0 || y >= h || x >= w {
                                        continue;
                                    }
                                    let weight = weights[((o * in_channels + c) * *kernel
                                        + ky as usize)
                                        * *kernel
                                        + kx as usize];
                                    acc += weight as i64
                                        * input[(c * h as usize + y as usize) * w as usize
                                            + x as usize];
                                }
                            }
                        }
                        out[(o * out_h + oy) * out_w + ox] = acc;
                    }
                }
            }
            (out, Shape::new(*out_channels, out_h, out_w))
        }
        LinearOp::SumPool2x2 => {
            let (h, w) = (shape.height / 2, shape.width / 2);
            let mut out = vec![0i64; shape.channels * h * w];
            for c in 0..shape.channels {
                for y in 0..h {
                    for x in 0..w {
                        let at = |dy: usize, dx: usize| {
                            input[(c * shape.height + 2 * y + dy) * shape.width + 2 * x + dx]
                        };
                        out[(c * h + y) * w + x] = at(0, 0) + at(0, 1) + at(1, 0) + at(1, 1);
                    }
                }
            }
            (out, Shape::new(shape.channels, h, w))
        }
        LinearOp::Dense {
            inputs,
            outputs,
            weights,
        } => {
            let out = (0..*outputs)
                .map(|o| {
                    (0..*inputs)
                        .map(|i| weights[o * inputs + i] as i64 * input[i])
                        .sum()
                })
                .collect();
            (out, Shape::new(*outputs, 1, 1))
        }
    }
}

/// Every lookup computed honestly.
pub(crate) struct Honest;

impl LookupHook for Honest {
    fn lookup(&mut self, _: usize, _: &[i64], _: i64, honest: i64) -> i64 {
        honest
    }
}

/// What a skipped lookup returns.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Skipped {
    /// Nothing computed: 0.
    Zero,
    /// A cheap guess: the entry half a table away from the right box.
    WrongEntry,
}

/// Skips every fifth lookup (20% of the work), returning `Skipped` for it.
pub(crate) struct SkipFifth(pub Skipped);

impl LookupHook for SkipFifth {
    fn lookup(&mut self, index: usize, table: &[i64], k: i64, honest: i64) -> i64 {
        if !index.is_multiple_of(5) {
            return honest;
        }
        match self.0 {
            Skipped::Zero => 0,
            Skipped::WrongEntry => {
                let boxes = table.len() as i64;
                table[(k + boxes / 2).rem_euclid(boxes) as usize]
            }
        }
    }
}
