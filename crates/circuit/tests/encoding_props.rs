use brainlock_circuit::encoding::{box_index, wrapped_lookup};
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
}
