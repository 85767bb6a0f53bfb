//! Exact clear simulation: the integer semantics validators trust. Box indices are
//! [`crate::encoding::box_index`] and out-of-range indices wrap exactly as
//! [`crate::encoding::wrapped_lookup`], i.e. as the PBS does without noise.

use rayon::prelude::*;
use thiserror::Error;

use crate::encoding::box_index;
use crate::forward::{self, BoxRounding, LayerTrace};
use crate::model::{Circuit, LookupLayer};
use crate::validate::{CircuitShapes, ValidationError};

/// Why an input tensor cannot be fed to a circuit.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum InputError {
    /// The input does not have the circuit's `input_shape.len()` values.
    #[error("input has {found} values, the circuit takes {expected}")]
    Length {
        /// Values the circuit's input shape holds.
        expected: usize,
        /// Values given.
        found: usize,
    },
    /// A value is not a signed integer of the circuit's `input_bits`.
    #[error("input value {value} at {index} does not fit in {bits} signed bits")]
    OutOfRange {
        /// Position of the value in the flattened (channel-major) input.
        index: usize,
        /// The offending value.
        value: i64,
        /// The circuit's `input_bits`.
        bits: u32,
    },
}

/// One image's run with every layer's intermediate values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trace {
    /// Accumulators and outputs of each layer, in circuit order.
    pub layers: Vec<LayerTrace>,
    /// The circuit's output: logits, or the last layer's table values (image out).
    pub output: Vec<i64>,
}

/// A validated circuit ready to simulate.
#[derive(Debug, Clone)]
pub struct Simulator<'a> {
    circuit: &'a Circuit,
    shapes: CircuitShapes,
}

pub(crate) struct ExactRounding;

impl BoxRounding for ExactRounding {
    fn box_index(&mut self, _layer: usize, channel: usize, lookup: &LookupLayer, acc: i64) -> i64 {
        box_index(acc, lookup.lo[channel], lookup.shift)
    }
}

impl<'a> Simulator<'a> {
    /// Validates `circuit` once so that runs can skip the checks.
    pub fn new(circuit: &'a Circuit) -> Result<Self, ValidationError> {
        Ok(Self {
            shapes: circuit.shapes()?,
            circuit,
        })
    }

    /// The simulated (valid) circuit.
    pub fn circuit(&self) -> &'a Circuit {
        self.circuit
    }

    /// The circuit's tensor shapes, learned by validation.
    pub fn shapes(&self) -> &CircuitShapes {
        &self.shapes
    }

    /// The circuit's output (logits, or the output image) for one input.
    pub fn run(&self, input: &[i64]) -> Result<Vec<i64>, InputError> {
        let input = self.check_input(input)?;
        Ok(forward::run(
            self.circuit,
            &self.shapes,
            &input,
            &mut ExactRounding,
            None,
        ))
    }

    /// Like [`Simulator::run`], keeping every layer's accumulators, box indices and
    /// outputs.
    pub fn run_traced(&self, input: &[i64]) -> Result<Trace, InputError> {
        let input = self.check_input(input)?;
        let mut layers = Vec::with_capacity(self.circuit.layers.len());
        let output = forward::run(
            self.circuit,
            &self.shapes,
            &input,
            &mut ExactRounding,
            Some(&mut layers),
        );
        Ok(Trace { layers, output })
    }

    /// [`Simulator::run`] over many inputs, in parallel.
    pub fn run_batch(&self, inputs: &[Vec<i64>]) -> Result<Vec<Vec<i64>>, InputError> {
        inputs.par_iter().map(|input| self.run(input)).collect()
    }

    /// Checks length and range of an input and narrows it for the integer kernels.
    pub(crate) fn check_input(&self, input: &[i64]) -> Result<Vec<i32>, InputError> {
        let expected = self.shapes.layer_input(0).len();
        if input.len() != expected {
            return Err(InputError::Length {
                expected,
                found: input.len(),
            });
        }
        let bits = self.circuit.input_bits;
        let (min, max) = (-(1i64 << (bits - 1)), (1i64 << (bits - 1)) - 1);
        input
            .iter()
            .enumerate()
            .map(|(index, &value)| {
                if (min..=max).contains(&value) {
                    Ok(value as i32)
                } else {
                    Err(InputError::OutOfRange { index, value, bits })
                }
            })
            .collect()
    }
}

/// Index of the largest value; ties go to the lowest index (DESIGN section 2).
/// Returns 0 for an empty slice.
pub fn argmax(values: &[i64]) -> usize {
    let mut best = 0;
    for (i, v) in values.iter().enumerate() {
        if *v > values[best] {
            best = i;
        }
    }
    best
}

/// Cosine similarity of two vectors; exactly 1 for equal vectors (both zero included),
/// 0 when only one is zero.
pub fn cosine(a: &[i64], b: &[i64]) -> f64 {
    if a == b {
        return 1.0;
    }
    let dot: f64 = a.iter().zip(b).map(|(&x, &y)| x as f64 * y as f64).sum();
    let na: f64 = a.iter().map(|&x| (x as f64).powi(2)).sum::<f64>().sqrt();
    let nb: f64 = b.iter().map(|&x| (x as f64).powi(2)).sum::<f64>().sqrt();
    match (na == 0.0, nb == 0.0) {
        (true, true) => 1.0,
        (true, false) | (false, true) => 0.0,
        _ => dot / (na * nb),
    }
}
