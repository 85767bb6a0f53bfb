//! Placing a ternary activation's thresholds (BatchNorm + 2-bit quantizer folded into
//! one step table) so that FHE rounding noise rarely flips an activation.
//!
//! The activation zigzags: from low to high accumulators it steps through
//! [`TERNARY_LEVELS`] = 0, 1, -1, 0, 1, -1, 0, each band holding about a seventh of
//! the calibration values. A monotone step (-1, 0, 1) is a clamped rounding of an
//! affine function, which a miner computes without a bootstrap for ~95% of the
//! lookups. A rounded affine function is a monotone staircase, and no staircase
//! follows more than three of these seven bands (DESIGN section 5). The outer bands are 0, so the negacyclic wrap past either end of the
//! table (`-T[k -+ 2^R]`) still reads 0 until it reaches the first inner band.
//!
//! A threshold is a box boundary `t`: boxes `k >= t` are on its high side. An
//! accumulator value `v` sits at the real box position `x`
//! ([`crate::encoding::box_position`]); the PBS reads `round(x + e)` with
//! `e ~ N(0, sigma^2)` (in boxes), so `v` lands on the wrong side of `t` with
//! probability `Phi(-|x - (t - 1/2)| / sigma)`. The expected number of flips at `t` is that probability weighted by how
//! often each value occurs. Among boundaries whose quantile stays near 1/3 (resp.
//! 2/3), so that activations still use all three values, we take the one with the
//! fewest expected flips, and we choose the per-channel `lo` (the phase of the box
//! grid against the integers) the same way.

/// Distinct accumulator values of one channel with their counts, sorted by value.
pub(crate) type Histogram = [(i64, u64)];

use crate::encoding::box_position;

/// Standard normal upper tail `P(Z > z)`, via erfc (Abramowitz & Stegun 7.1.26,
/// absolute error < 1.5e-7: ample for ranking candidate thresholds).
pub(crate) fn normal_tail(z: f64) -> f64 {
    let x = z.abs() / std::f64::consts::SQRT_2;
    let t = 1.0 / (1.0 + 0.327_591_1 * x);
    let poly = t
        * (0.254_829_592
            + t * (-0.284_496_736
                + t * (1.421_413_741 + t * (-1.453_152_027 + t * 1.061_405_429))));
    let erfc = poly * (-x * x).exp();
    if z >= 0.0 {
        erfc / 2.0
    } else {
        1.0 - erfc / 2.0
    }
}

/// Expected flips (in occurrences) of a threshold at boundary `t`.
fn expected_flips(hist: &Histogram, lo: i64, shift: i32, t: i64, sigma: f64) -> f64 {
    let boundary = t as f64 - 0.5;
    hist.iter()
        .map(|&(v, count)| {
            let distance = (box_position(v, lo, shift) - boundary).abs();
            if sigma <= 0.0 {
                if distance == 0.0 {
                    0.5 * count as f64
                } else {
                    0.0
                }
            } else if distance > 9.0 * sigma {
                0.0
            } else {
                count as f64 * normal_tail(distance / sigma)
            }
        })
        .sum()
}

/// The ternary activation's values, band by band from low to high accumulators.
pub(crate) const TERNARY_LEVELS: [i64; 7] = [0, 1, -1, 0, 1, -1, 0];
/// Fraction of calibration values below each threshold between two bands.
pub(crate) const TERNARY_QUANTILES: [f64; 6] = [
    1.0 / 7.0,
    2.0 / 7.0,
    3.0 / 7.0,
    4.0 / 7.0,
    5.0 / 7.0,
    6.0 / 7.0,
];

/// A chosen ternary step table: box `k` takes level `i` where `i` thresholds are `<= k`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct TernaryStep {
    pub lo: i64,
    /// Increasing box boundaries, one per entry of [`TERNARY_QUANTILES`].
    pub thresholds: Vec<i64>,
    /// Expected flips per occurrence at `sigma` (all thresholds).
    pub flip_rate: f64,
}

impl TernaryStep {
    pub(crate) fn table(&self, boxes: usize) -> Vec<i64> {
        (0..boxes as i64)
            .map(|k| TERNARY_LEVELS[self.thresholds.iter().filter(|&&t| t <= k).count()])
            .collect()
    }
}

/// Best threshold near `target` (fraction of occurrences below it) within `window`.
/// Returns (boundary, expected flips).
fn best_threshold(
    hist: &Histogram,
    lo: i64,
    shift: i32,
    boxes: i64,
    target: f64,
    window: f64,
    sigma: f64,
) -> (i64, f64) {
    let total: u64 = hist.iter().map(|h| h.1).sum();
    let exact_box = |v: i64| crate::encoding::box_index(v, lo, shift);
    let mut best: Option<(f64, f64, i64, f64)> = None; // (in-window penalty, flips, t, distance)
    let mut below = 0u64;
    let mut idx = 0;
    for t in 1..boxes {
        while idx < hist.len() && exact_box(hist[idx].0) < t {
            below += hist[idx].1;
            idx += 1;
        }
        let fraction = below as f64 / total.max(1) as f64;
        let distance = (fraction - target).abs();
        let flips = expected_flips(hist, lo, shift, t, sigma);
        // Out-of-window candidates only win when nothing is in the window.
        let key = (
            if distance <= window { 0.0 } else { distance },
            flips,
            t,
            distance,
        );
        let better = match &best {
            None => true,
            Some(b) => (key.0, key.1 + 1e-9 * key.3) < (b.0, b.1 + 1e-9 * b.3),
        };
        if better {
            best = Some(key);
        }
    }
    let (_, flips, t, _) = best.expect("at least two boxes");
    (t, flips)
}

/// Chooses `lo` among `lo_candidates` and the thresholds for one channel.
pub(crate) fn design_ternary(
    hist: &Histogram,
    lo_candidates: &[i64],
    shift: i32,
    rounding_bits: u32,
    window: f64,
    sigma: f64,
) -> TernaryStep {
    let boxes = 1i64 << rounding_bits;
    let total: u64 = hist.iter().map(|h| h.1).sum::<u64>().max(1);
    lo_candidates
        .iter()
        .map(|&lo| {
            let mut thresholds = Vec::with_capacity(TERNARY_QUANTILES.len());
            let mut flips = 0.0;
            for target in TERNARY_QUANTILES {
                let (t, f) = best_threshold(hist, lo, shift, boxes, target, window, sigma);
                // Keep every band non-empty even where the windows overlap.
                let t = thresholds
                    .last()
                    .map_or(t, |&previous: &i64| t.max(previous + 1));
                thresholds.push(t);
                flips += f;
            }
            TernaryStep {
                lo,
                thresholds,
                flip_rate: flips / total as f64,
            }
        })
        .min_by(|a, b| a.flip_rate.total_cmp(&b.flip_rate))
        .expect("at least one lo candidate")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normal_tail_matches_known_values() {
        assert!((normal_tail(0.0) - 0.5).abs() < 1e-7);
        assert!((normal_tail(1.0) - 0.158_655_25).abs() < 1e-6);
        assert!((normal_tail(-2.0) - 0.977_249_87).abs() < 1e-6);
        assert!((normal_tail(3.5) - 2.326e-4).abs() < 1e-6);
    }

    #[test]
    fn thresholds_avoid_crowded_values_near_box_boundaries() {
        // shift 2: positions (v - lo + 1/2) / 4 put residues 1 and 2 (mod 4) of
        // v - lo 1/8 box from a boundary, residues 0 and 3 3/8 box away. With the
        // values = 1, 2 mod 4 rare, the chosen lo must put them next to boundaries.
        let hist: Vec<(i64, u64)> = (0..120)
            .map(|v| (v, if matches!(v % 4, 1 | 2) { 1 } else { 100 }))
            .collect();
        let step = design_ternary(&hist, &[-4, -5, -6, -7], 2, 6, 0.1, 0.1);
        assert_eq!(step.lo, -4);
        let total: u64 = hist.iter().map(|h| h.1).sum();
        // Only the rare values can flip noticeably: P(|e| > 1/8 box) ~ 0.1 each, two
        // of them next to each threshold.
        assert!(
            step.flip_rate * (total as f64) < 0.25 * TERNARY_QUANTILES.len() as f64,
            "flip rate {}",
            step.flip_rate
        );
        let table = step.table(64);
        assert!(table.contains(&-1) && table.contains(&0) && table.contains(&1));
        assert!(step.thresholds.is_sorted());
        assert_eq!(
            (table[0], table[63]),
            (0, 0),
            "outer bands are 0: {table:?}"
        );
    }
}
