//! The encoding contract between the clear simulation and the encrypted engine.
//!
//! Ciphertexts live on the discrete torus Z/2^64. A lookup layer with rounding
//! threshold R and shift s encodes its *inputs* with `delta = 2^(63 - R - s)` and adds
//! the plaintext [`lookup_phase_offset`] (`-lo * delta`, plus `delta / 2` when s > 0 so
//! that no integer accumulator sits exactly on a box boundary), so that the
//! accumulator's box index `k = (acc - lo) / 2^s` lands in the top R+1 bits of the
//! phase (padding bit 0, then k). The PBS modulus switch then rounds away the low bits by itself, half up, and
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

/// Real position of an accumulator in box units as the engine encodes it:
/// `(acc - lo + h) / 2^shift` with `h = 1/2` when `shift > 0` (see
/// [`lookup_phase_offset`]), 0 otherwise. `floor(position + 1/2)` is exactly
/// [`box_index`]; the half-unit keeps every integer accumulator away from a box
/// boundary, so a small noise cannot flip the rounding of a value that sits exactly
/// on one (without it, every 2^shift-th value would flip with probability 1/2).
pub fn box_position(acc: i64, lo: i64, shift: i32) -> f64 {
    let half = if shift > 0 { 0.5 } else { 0.0 };
    ((acc - lo) as f64 + half) * (-shift as f64).exp2()
}

/// The plaintext the engine adds to a lookup layer's accumulator phase before the
/// keyswitch: `-lo * delta + (delta / 2 if shift > 0)`, wrapping mod 2^64, with
/// `delta = 2^lookup_input_delta_log2(R, shift)`. Noiseless, the PBS then reads
/// exactly [`box_index`]; with noise it reads `round(box_position + e)`.
pub fn lookup_phase_offset(lo: i64, shift: i32, rounding_bits: u32) -> u64 {
    let delta_log2 = lookup_input_delta_log2(rounding_bits, shift);
    let delta = 1u64 << delta_log2;
    let offset = (lo as u64).wrapping_neg().wrapping_mul(delta);
    if shift > 0 {
        offset.wrapping_add(delta / 2)
    } else {
        offset
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
