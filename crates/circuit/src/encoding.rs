//! The encoding contract between the clear simulation and the encrypted engine.
//!
//! Ciphertexts live on the discrete torus Z/2^64. A lookup layer with rounding
//! threshold R and shift s encodes its *inputs* with `delta = 2^(63 - R - s)` and adds
//! the plaintext `-lo * delta`, so that the accumulator's box index
//! `k = (acc - lo) / 2^s` lands in the top R+1 bits of the phase (padding bit 0, then
//! k). The PBS modulus switch then rounds away the low bits by itself, half up, and
//! indices outside `[0, 2^R)` wrap negacyclically. These functions are exactly what
//! the PBS computes, minus the noise.

use crate::model::{Circuit, LayerOutput};

/// log2 of the torus scale with which a lookup layer's inputs must be encoded.
pub fn lookup_input_delta_log2(rounding_bits: u32, shift: i32) -> u32 {
    let log2 = 63 - rounding_bits as i64 - shift as i64;
    assert!(
        (1..64).contains(&log2),
        "shift {shift} is out of range for R = {rounding_bits}"
    );
    log2 as u32
}

/// Box index of an accumulator: `round_half_up((acc - lo) / 2^shift)`; exact scaling
/// when `shift <= 0`.
pub fn box_index(acc: i64, lo: i64, shift: i32) -> i64 {
    let centered = acc - lo;
    if shift <= 0 {
        centered << (-shift)
    } else {
        (centered + (1 << (shift - 1))) >> shift
    }
}

/// The table entry the PBS returns for box `k`: `k` is taken modulo 2^(R+1); the upper
/// half of that range returns the negated entry (negacyclic wrap).
pub fn wrapped_lookup(table: &[i64], k: i64, rounding_bits: u32) -> i64 {
    let boxes = 1i64 << rounding_bits;
    let k = k.rem_euclid(2 * boxes);
    if k < boxes {
        table[k as usize]
    } else {
        -table[(k - boxes) as usize]
    }
}

/// log2 of the scale with which the inputs of layer `index` are encoded.
pub fn layer_input_delta_log2(circuit: &Circuit, index: usize) -> u32 {
    match &circuit.layers[index].output {
        LayerOutput::Lookup(l) => lookup_input_delta_log2(circuit.rounding_bits, l.shift),
        LayerOutput::Accumulator { delta_log2 } => *delta_log2,
    }
}

/// log2 of the scale by which the tables of lookup layer `index` are multiplied: the
/// input scale of the next layer, or the circuit's output scale for the last layer.
pub fn lookup_output_delta_log2(circuit: &Circuit, index: usize) -> u32 {
    if index + 1 < circuit.layers.len() {
        layer_input_delta_log2(circuit, index + 1)
    } else {
        circuit.output_delta_log2()
    }
}
