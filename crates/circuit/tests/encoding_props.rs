//! Properties of the lookup encoding: box indices, positions, phase offsets and
//! wrapped lookups over arbitrary accumulators.

use brainlock_circuit::encoding::{
    box_index, box_position, lookup_input_delta_log2, lookup_phase_offset, wrapped_lookup,
};
use proptest::prelude::*;

proptest! {
    #[test]
    fn box_index_rounds_half_up(acc in -(1i64 << 31)..(1i64 << 31), lo in -(1i64 << 32)..(1i64 << 32), shift in 1i32..20) {
        let k = box_index(acc, lo, shift);
        let centered = acc - lo;
        // round_half_up(c / 2^s) = floor((2c + 2^s) / 2^(s+1))
        prop_assert_eq!(k, (2 * centered + (1 << shift)).div_euclid(1 << (shift + 1)));
        // The box centre is within half a box of the value, ties go up.
        let diff = centered - (k << shift);
        prop_assert!(diff >= -(1 << (shift - 1)) && diff < (1 << (shift - 1)));
    }

    #[test]
    fn box_index_spreads_exactly_for_non_positive_shift(acc in -(1i64 << 31)..(1i64 << 31), lo in -(1i64 << 32)..(1i64 << 32), shift in -8i32..=0) {
        prop_assert_eq!(box_index(acc, lo, shift), (acc - lo) * (1 << -shift));
    }

    #[test]
    fn wrapped_lookup_is_negacyclic(table in prop::collection::vec(-1000i64..1000, 16), k in -1000i64..1000) {
        let r = 4;
        let boxes = 16;
        prop_assert_eq!(wrapped_lookup(&table, k + boxes, r), -wrapped_lookup(&table, k, r));
        prop_assert_eq!(wrapped_lookup(&table, k + 2 * boxes, r), wrapped_lookup(&table, k, r));
        if (0..boxes).contains(&k) {
            prop_assert_eq!(wrapped_lookup(&table, k, r), table[k as usize]);
        }
    }

    #[test]
    fn noiseless_position_rounds_to_the_box_index(acc in -(1i64 << 31)..(1i64 << 31), lo in -(1i64 << 32)..(1i64 << 32), shift in -6i32..20) {
        let position = box_position(acc, lo, shift);
        prop_assert_eq!((position + 0.5).floor() as i64, box_index(acc, lo, shift));
        // Never on a box boundary: a small noise cannot flip the rounding.
        let frac = position - position.floor();
        prop_assert!((frac - 0.5).abs() >= 0.5f64.powi(shift.max(0) + 1) - 1e-12);
    }

    #[test]
    fn phase_offset_places_the_box_index_in_the_top_bits(acc in -(1i64 << 20)..(1i64 << 20), lo in -(1i64 << 20)..(1i64 << 20), shift in -6i32..12) {
        // Noiseless phase of the encoded accumulator, read the way the PBS does
        // (round to the nearest of 2^(R+1) boxes) gives box_index mod 2^(R+1).
        let r = 6u32;
        let delta = 1u64 << lookup_input_delta_log2(r, shift);
        let phase = (acc as u64).wrapping_mul(delta).wrapping_add(lookup_phase_offset(lo, shift, r));
        let box_width_log2 = 63 - r;
        let read = (phase.wrapping_add(1 << (box_width_log2 - 1)) >> box_width_log2) as i64;
        prop_assert_eq!(read, box_index(acc, lo, shift).rem_euclid(1 << (r + 1)));
    }
}
