//! Operation counts: what an encrypted run costs.

use crate::model::{Circuit, LayerOutput, LinearOp};
use crate::validate::ValidationError;

/// Per-image operation counts of a circuit, the cost of one encrypted inference.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CircuitStats {
    /// Table lookups (one programmable bootstrap each when encrypted).
    pub lookups: u64,
    /// Multiply-accumulates of convolutions and dense layers (with zero weights).
    pub macs: u64,
    /// Additions of the 2x2 sum pools (3 per output).
    pub pool_adds: u64,
    /// Weights stored in the circuit.
    pub weights: u64,
}

impl Circuit {
    /// Counts lookups and linear work of a valid circuit.
    pub fn stats(&self) -> Result<CircuitStats, ValidationError> {
        let shapes = self.shapes()?;
        let mut stats = CircuitStats::default();
        for (index, layer) in self.layers.iter().enumerate() {
            let out = shapes.layer_output(index).len() as u64;
            match &layer.op {
                LinearOp::Conv2d {
                    in_channels,
                    kernel,
                    weights,
                    ..
                } => {
                    stats.macs += out * (*in_channels * kernel * kernel) as u64;
                    stats.weights += weights.len() as u64;
                }
                LinearOp::SumPool2x2 => stats.pool_adds += 3 * out,
                LinearOp::Dense {
                    inputs, weights, ..
                } => {
                    stats.macs += out * *inputs as u64;
                    stats.weights += weights.len() as u64;
                }
            }
            if let LayerOutput::Lookup(_) = layer.output {
                stats.lookups += out;
            }
        }
        Ok(stats)
    }
}
