//! How much of a lookup layer a miner could compute without bootstrapping.
//!
//! A miner holds the evaluation key, so it can evaluate any affine function of the
//! encrypted accumulator for free (clear weights, integer scales, plaintext offsets).
//! If some affine function reproduced most of a layer's table outputs, skipping the
//! bootstraps would go unnoticed. DESIGN section 5 asks that no affine function
//! reproduce more than half of any scored layer's outputs on calibration images; this
//! module measures the best one per output channel.

use rayon::prelude::*;
use std::collections::BTreeMap;

use crate::exact::{InputError, Simulator};
use crate::model::LayerOutput;

/// The best affine shortcut of one lookup layer.
#[derive(Clone, Debug, PartialEq)]
pub struct LayerAffinity {
    /// Name of the lookup layer in the circuit.
    pub name: String,
    /// Lookups on the images.
    pub lookups: u64,
    /// Fraction of them that the best per-channel affine function of the box
    /// position, rounded to the nearest integer, reproduces exactly.
    pub best_affine_fraction: f64,
}

/// Per lookup layer of the simulated circuit, the best affine shortcut over `images`.
///
/// The fit is on the box position `k` rather than on the raw accumulator: every
/// accumulator in a box has the same output, so a function of `k` is at least as good
/// for the cheat as one of the accumulator, and the measure errs on the cheat's side.
pub fn layer_affinities(
    simulator: &Simulator<'_>,
    images: &[Vec<i64>],
) -> Result<Vec<LayerAffinity>, InputError> {
    let circuit = simulator.circuit();
    let lookup_layers: Vec<(usize, usize)> = circuit
        .layers
        .iter()
        .enumerate()
        .filter_map(|(i, layer)| match &layer.output {
            LayerOutput::Lookup(lookup) => Some((i, lookup.tables.len())),
            LayerOutput::Accumulator { .. } => None,
        })
        .collect();
    // Per lookup layer, per channel: box index -> (output, occurrences).
    type Points = Vec<Vec<BTreeMap<i64, (i64, u64)>>>;
    let empty = || -> Points {
        lookup_layers
            .iter()
            .map(|&(_, channels)| vec![BTreeMap::new(); channels])
            .collect()
    };
    let points = images
        .par_iter()
        .try_fold(empty, |mut points, image| {
            let trace = simulator.run_traced(image)?;
            for (slot, &(layer, channels)) in lookup_layers.iter().enumerate() {
                let layer_trace = &trace.layers[layer];
                let plane = layer_trace.outputs.len() / channels.max(1);
                for (i, (&k, &y)) in layer_trace
                    .box_indices
                    .iter()
                    .zip(&layer_trace.outputs)
                    .enumerate()
                {
                    let entry = points[slot][i / plane.max(1)].entry(k).or_insert((y, 0));
                    entry.1 += 1;
                }
            }
            Ok(points)
        })
        .try_reduce(empty, |mut a, b| {
            for (layer_a, layer_b) in a.iter_mut().zip(b) {
                for (channel_a, channel_b) in layer_a.iter_mut().zip(layer_b) {
                    for (k, (y, count)) in channel_b {
                        channel_a.entry(k).or_insert((y, 0)).1 += count;
                    }
                }
            }
            Ok(a)
        })?;
    Ok(lookup_layers
        .iter()
        .zip(points)
        .map(|(&(layer, _), channels)| {
            let (matched, total) = channels
                .par_iter()
                .map(|channel| {
                    let points: Vec<(f64, i64, u64)> = channel
                        .iter()
                        .map(|(&k, &(y, count))| (k as f64, y, count))
                        .collect();
                    let total: u64 = points.iter().map(|p| p.2).sum();
                    (best_affine_weight(&points), total)
                })
                .reduce(|| (0, 0), |a, b| (a.0 + b.0, a.1 + b.1));
            LayerAffinity {
                name: circuit.layers[layer].name.clone(),
                lookups: total,
                best_affine_fraction: matched as f64 / total.max(1) as f64,
            }
        })
        .collect())
}

/// The largest total weight of points `(x, y, w)` with `round(a x + b) == y` for one
/// line `(a, b)`.
///
/// Each point allows the open strip `|a x + b - y| < 1/2` of lines (a value exactly
/// half-way rounds to one side only). The best line can be moved to a vertex of the
/// strips' arrangement, i.e. onto the boundaries of two points' strips: trying every
/// pair of points and boundary sides, each boundary pulled inside its strip by
/// [`INSIDE`], finds it.
pub(crate) fn best_affine_weight(points: &[(f64, i64, u64)]) -> u64 {
    const INSIDE: f64 = 1e-6;
    let weight_of = |a: f64, b: f64| -> u64 {
        points
            .iter()
            .filter(|&&(x, y, _)| (a * x + b - y as f64).abs() < 0.5)
            .map(|p| p.2)
            .sum()
    };
    // A constant: the best single output value.
    let mut best = points
        .iter()
        .map(|&(_, y, _)| weight_of(0.0, y as f64))
        .max()
        .unwrap_or(0);
    for (i, &(xi, yi, _)) in points.iter().enumerate() {
        for &(xj, yj, _) in &points[i + 1..] {
            if xi == xj {
                continue;
            }
            let edge = 0.5 - INSIDE;
            for (di, dj) in [(-edge, -edge), (-edge, edge), (edge, -edge), (edge, edge)] {
                let a = ((yj as f64 + dj) - (yi as f64 + di)) / (xj - xi);
                let b = yi as f64 + di - a * xi;
                best = best.max(weight_of(a, b));
            }
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_affine_table_is_fully_affine() {
        let points: Vec<(f64, i64, u64)> = (0..64).map(|k| (k as f64, 3 * k - 7, 1)).collect();
        assert_eq!(best_affine_weight(&points), 64);
        // Rounded slopes count too: round(k / 3).
        let points: Vec<(f64, i64, u64)> = (0..64)
            .map(|k| (k as f64, (k as f64 / 3.0).round() as i64, 2))
            .collect();
        assert_eq!(best_affine_weight(&points), 128);
    }

    #[test]
    fn a_zigzag_is_not() {
        let points: Vec<(f64, i64, u64)> = (0..64)
            .map(|k| (k as f64, if k % 2 == 0 { 10 } else { -10 }, 1))
            .collect();
        assert_eq!(best_affine_weight(&points), 32);
    }

    #[test]
    fn weights_decide_which_line_wins() {
        // A heavy constant region beats a light linear one.
        let mut points: Vec<(f64, i64, u64)> = (0..10).map(|k| (k as f64, 0, 10)).collect();
        points.extend((10..20).map(|k| (k as f64, 5 * k, 1)));
        assert_eq!(best_affine_weight(&points), 100);
    }
}
