//! The integer forward pass shared by the exact and the noise-aware simulations; they
//! differ only in how an accumulator becomes a box index.

use crate::encoding::wrapped_lookup;
use crate::linear;
use crate::model::{Circuit, LayerOutput, LookupLayer};
use crate::validate::CircuitShapes;

/// Decides the box index of one lookup.
pub(crate) trait BoxRounding {
    fn box_index(&mut self, layer: usize, channel: usize, lookup: &LookupLayer, acc: i64) -> i64;
}

/// Everything one layer computed on one image.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LayerTrace {
    /// The exact integer accumulators (channel-major).
    pub accumulators: Vec<i64>,
    /// Box index of each lookup (empty for an accumulator layer).
    pub box_indices: Vec<i64>,
    /// The layer's output values (equal to the accumulators for an accumulator layer).
    pub outputs: Vec<i64>,
}

/// Runs `circuit` (validated, with `shapes`) on one input already range-checked.
pub(crate) fn run(
    circuit: &Circuit,
    shapes: &CircuitShapes,
    input: &[i32],
    rounding: &mut impl BoxRounding,
    mut trace: Option<&mut Vec<LayerTrace>>,
) -> Vec<i64> {
    let mut current = input.to_vec();
    let mut acc = Vec::new();
    for (index, layer) in circuit.layers.iter().enumerate() {
        let out_shape = shapes.layer_output(index);
        linear::apply(
            &layer.op,
            shapes.layer_input(index),
            out_shape,
            &current,
            &mut acc,
        );
        let plane = out_shape.height * out_shape.width;
        match &layer.output {
            LayerOutput::Accumulator { .. } => {
                let logits: Vec<i64> = acc.iter().map(|&a| a as i64).collect();
                if let Some(t) = trace.as_deref_mut() {
                    t.push(LayerTrace {
                        accumulators: logits.clone(),
                        box_indices: Vec::new(),
                        outputs: logits.clone(),
                    });
                }
                return logits;
            }
            LayerOutput::Lookup(lookup) => {
                let mut boxes = Vec::with_capacity(if trace.is_some() { acc.len() } else { 0 });
                current.clear();
                for (i, &a) in acc.iter().enumerate() {
                    let channel = i / plane;
                    let k = rounding.box_index(index, channel, lookup, a as i64);
                    let value = wrapped_lookup(&lookup.tables[channel], k, circuit.rounding_bits);
                    // Validation bounds table values by 2^24.
                    current.push(value as i32);
                    if trace.is_some() {
                        boxes.push(k);
                    }
                }
                if let Some(t) = trace.as_deref_mut() {
                    t.push(LayerTrace {
                        accumulators: acc.iter().map(|&a| a as i64).collect(),
                        box_indices: boxes,
                        outputs: current.iter().map(|&v| v as i64).collect(),
                    });
                }
            }
        }
    }
    current.iter().map(|&v| v as i64).collect()
}
