//! Calibration: run the exact integer forward pass on calibration images and, layer by
//! layer, choose each lookup layer's shift, per-channel `lo` and tables from the
//! observed accumulators (DESIGN section 2: ranges from data, not the worst case).

use rayon::prelude::*;
use thiserror::Error;

use crate::encoding::{box_index, wrapped_lookup};
use crate::linear;
use crate::model::{Circuit, Layer, LayerOutput, LookupLayer, Shape};
use crate::requant::Requantizer;
use crate::spec::{Activation, NetworkSpec};
use crate::thresholds::{Histogram, TERNARY_QUANTILES, design_ternary};
use crate::validate::{LayerProblem, MAX_ROUNDING_BITS, ValidationError, shift_range};

/// How [`calibrate()`] turns a network spec and images into a circuit.
#[derive(Clone, Debug, PartialEq)]
pub struct CalibrationConfig {
    /// Rounding threshold R (tables of 2^R boxes).
    pub rounding_bits: u32,
    /// Boxes kept free at each end of `[0, 2^R)` around the calibrated range.
    pub guard_boxes: u32,
    /// Fraction of occurrences per channel allowed outside the calibrated range at
    /// each end. Beyond it the exact simulation and the PBS both apply the negacyclic
    /// wrap, so agreement does not suffer; only the activation of those outliers
    /// stops being the plain step function. For ternary steps the wrap still reads
    /// the right saturated value up to `2^R - band` boxes past each threshold (see
    /// `ternary_fits`), so a larger tail buys a smaller shift, i.e. more noise margin.
    /// `Quantized` layers always keep their full range.
    pub range_tail: f64,
    /// Noise std (in boxes) assumed when placing thresholds away from crowded values.
    pub design_sigma: f64,
    /// Ternary thresholds stay within this distance of their target quantiles
    /// (`thresholds::TERNARY_QUANTILES`).
    pub threshold_window: f64,
}

impl Default for CalibrationConfig {
    fn default() -> Self {
        Self {
            rounding_bits: 6,
            guard_boxes: 1,
            range_tail: 0.08,
            design_sigma: 0.2,
            threshold_window: 0.02,
        }
    }
}

/// Why a network spec could not be calibrated into a circuit.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum CalibrationError {
    /// The calibration image set is empty.
    #[error("no calibration images")]
    NoImages,
    /// A calibration image does not fit the spec's input shape or bits.
    #[error("calibration image {index}: {problem}")]
    Image {
        /// Position of the image in the calibration set.
        index: usize,
        /// What is wrong with it.
        problem: crate::exact::InputError,
    },
    /// The configuration is unusable (e.g. R out of range, guards filling the table).
    #[error("invalid calibration configuration: {0}")]
    Config(String),
    /// A layer of the spec is structurally wrong (shapes, weights).
    #[error("layer {index} ({name}): {problem}")]
    Layer {
        /// Position of the layer in the spec.
        index: usize,
        /// Its name.
        name: String,
        /// What is wrong with it.
        problem: LayerProblem,
    },
    /// A layer other than the last has [`Activation::Logits`].
    #[error("layer {index} ({name}): logits are only allowed in the last layer")]
    LogitsNotLast {
        /// Position of the layer in the spec.
        index: usize,
        /// Its name.
        name: String,
    },
    /// The layer's accumulator range on the images needs more than 2^R boxes at any
    /// allowed shift.
    #[error("layer {index} ({name}): no shift fits its range in 2^R boxes")]
    RangeTooWide {
        /// Position of the layer in the spec.
        index: usize,
        /// Its name.
        name: String,
    },
    /// The calibrated circuit fails validation (e.g. accumulator overflow).
    #[error("the calibrated circuit is invalid: {0}")]
    Invalid(#[from] ValidationError),
}

/// Calibrates `spec` on `images` (int values within `spec.input_bits`).
pub fn calibrate(
    spec: &NetworkSpec,
    images: &[Vec<i64>],
    config: &CalibrationConfig,
) -> Result<Circuit, CalibrationError> {
    check_config(config)?;
    if images.is_empty() {
        return Err(CalibrationError::NoImages);
    }
    let mut activations = images
        .iter()
        .enumerate()
        .map(|(index, image)| {
            narrow_input(spec, image).map_err(|problem| CalibrationError::Image { index, problem })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let r = config.rounding_bits;
    let mut shape = spec.input_shape;
    let mut max_abs_input: u64 = 1 << (spec.input_bits - 1);
    let mut layers = Vec::with_capacity(spec.layers.len());
    for (index, layer_spec) in spec.layers.iter().enumerate() {
        let layer_err = |problem| CalibrationError::Layer {
            index,
            name: layer_spec.name.clone(),
            problem,
        };
        let out_shape = layer_spec.op.output_shape(shape).map_err(layer_err)?;
        let worst = layer_spec
            .op
            .max_abs_weight_sum()
            .saturating_mul(max_abs_input);
        if worst > i32::MAX as u64 {
            return Err(layer_err(LayerProblem::AccumulatorOverflow(worst)));
        }
        let accumulators: Vec<Vec<i32>> = activations
            .par_iter()
            .map(|input| {
                let mut acc = Vec::new();
                linear::apply(&layer_spec.op, shape, out_shape, input, &mut acc);
                acc
            })
            .collect();
        let output = match &layer_spec.activation {
            Activation::Logits => {
                if index + 1 != spec.layers.len() {
                    return Err(CalibrationError::LogitsNotLast {
                        index,
                        name: layer_spec.name.clone(),
                    });
                }
                LayerOutput::Accumulator {
                    delta_log2: logit_delta_log2(worst),
                }
            }
            activation => {
                let histograms = channel_histograms(&accumulators, out_shape);
                let lookup = design_lookup(activation, &histograms, worst as i64, config)
                    .ok_or_else(|| CalibrationError::RangeTooWide {
                        index,
                        name: layer_spec.name.clone(),
                    })?;
                let plane = out_shape.height * out_shape.width;
                activations = accumulators
                    .par_iter()
                    .map(|acc| apply_lookup(&lookup, acc, plane, r))
                    .collect();
                max_abs_input = lookup
                    .tables
                    .iter()
                    .flatten()
                    .map(|v| v.unsigned_abs())
                    .max()
                    .unwrap_or(0);
                LayerOutput::Lookup(lookup)
            }
        };
        tracing::debug!(layer = %layer_spec.name, ?out_shape, "calibrated");
        layers.push(Layer {
            name: layer_spec.name.clone(),
            op: layer_spec.op.clone(),
            output,
        });
        shape = out_shape;
    }
    let mut circuit = Circuit {
        id: spec.id.clone(),
        input_shape: spec.input_shape,
        input_bits: spec.input_bits,
        rounding_bits: r,
        layers,
        output_delta_log2: None,
    };
    if let Some(LayerOutput::Lookup(_)) = circuit.layers.last().map(|l| &l.output) {
        // Image out: the output holds values of the input's bit width, so it chains
        // (decrypt, re-encrypt) onto the circuit's input. Its scale keeps one padding
        // bit above those bits: a coarser scale (the first layer's input scale, 2^49 for
        // conv3x3) would leave the PBS output noise at about one output unit.
        circuit.output_delta_log2 = Some(63 - spec.input_bits);
    }
    circuit.validate()?;
    Ok(circuit)
}

fn check_config(config: &CalibrationConfig) -> Result<(), CalibrationError> {
    let bad = |what: &str| Err(CalibrationError::Config(what.into()));
    if !(2..=MAX_ROUNDING_BITS).contains(&config.rounding_bits) {
        return bad("rounding_bits must be in 2..=16");
    }
    if 2 * config.guard_boxes as u64 + 3 > 1 << config.rounding_bits {
        return bad("guard boxes leave no room for values");
    }
    if !(0.0..0.5).contains(&config.range_tail) {
        return bad("range_tail must be in [0, 0.5)");
    }
    if !(config.design_sigma >= 0.0 && config.design_sigma.is_finite()) {
        return bad("design_sigma must be finite and >= 0");
    }
    if !(0.0..=0.1).contains(&config.threshold_window) {
        return bad("threshold_window must be in [0, 0.1]");
    }
    Ok(())
}

fn narrow_input(spec: &NetworkSpec, image: &[i64]) -> Result<Vec<i32>, crate::exact::InputError> {
    use crate::exact::InputError;
    if image.len() != spec.input_shape.len() {
        return Err(InputError::Length {
            expected: spec.input_shape.len(),
            found: image.len(),
        });
    }
    let bits = spec.input_bits.clamp(1, 16);
    let half = 1i64 << (bits - 1);
    image
        .iter()
        .enumerate()
        .map(|(index, &value)| {
            if (-half..half).contains(&value) {
                Ok(value as i32)
            } else {
                Err(InputError::OutOfRange { index, value, bits })
            }
        })
        .collect()
}

/// Logit scale: the worst-case |logit| times the scale stays below 2^62, so logits
/// never wrap; decryption noise (~2^18 absolute) stays far below one unit (2^53 for
/// VGG9's worst case 512).
fn logit_delta_log2(worst_abs: u64) -> u32 {
    let bits =
        64 - worst_abs.max(1).leading_zeros() - u32::from(worst_abs.max(1).is_power_of_two());
    62 - bits.min(61)
}

fn channel_histograms(accumulators: &[Vec<i32>], shape: Shape) -> Vec<Vec<(i64, u64)>> {
    let plane = shape.height * shape.width;
    (0..shape.channels)
        .into_par_iter()
        .map(|c| {
            let mut values: Vec<i32> = accumulators
                .iter()
                .flat_map(|acc| acc[c * plane..(c + 1) * plane].iter().copied())
                .collect();
            values.sort_unstable();
            let mut hist: Vec<(i64, u64)> = Vec::new();
            for v in values {
                match hist.last_mut() {
                    Some((last, count)) if *last == v as i64 => *count += 1,
                    _ => hist.push((v as i64, 1)),
                }
            }
            hist
        })
        .collect()
}

/// The value range of `hist` without `tail` of its occurrences at each end.
fn quantile_range(hist: &Histogram, tail: f64) -> (i64, i64) {
    let total: u64 = hist.iter().map(|h| h.1).sum();
    let cut = (tail * total as f64).floor() as u64;
    let at = |rank: u64| {
        let mut seen = 0;
        for &(v, c) in hist {
            seen += c;
            if seen > rank {
                return v;
            }
        }
        hist.last().map_or(0, |h| h.0)
    };
    (at(cut), at(total.saturating_sub(1 + cut)))
}

/// Each channel's whole observed range (`(0, 0)` for a channel never observed).
fn full_ranges(histograms: &[Vec<(i64, u64)>]) -> Vec<(i64, i64)> {
    histograms
        .iter()
        .map(|h| {
            if h.is_empty() {
                (0, 0)
            } else {
                quantile_range(h, 0.0)
            }
        })
        .collect()
}

/// `lo` values that keep `[min, max]` inside the guarded boxes at `shift`, centred,
/// one per phase of the box grid against the integers (at most 64 phases).
fn lo_candidates(min: i64, max: i64, shift: i32, config: &CalibrationConfig) -> Vec<i64> {
    let boxes = 1i64 << config.rounding_bits;
    let guard = config.guard_boxes as i64;
    let fits =
        |lo: i64| box_index(min, lo, shift) >= guard && box_index(max, lo, shift) < boxes - guard;
    let unit = 1i64 << shift.max(0);
    // Centre: put the middle of the range at the middle box.
    let mid_box = (boxes - 1) as f64 / 2.0;
    let centre = ((min + max) as f64 / 2.0 - mid_box * (shift as f64).exp2()).round() as i64;
    let phases = unit.min(64);
    let mut candidates: Vec<i64> = (0..phases)
        .map(|p| centre - p * unit / phases)
        .filter(|&lo| fits(lo))
        .collect();
    if candidates.is_empty() {
        // The centred grid may miss by rounding: scan nearby positions.
        candidates = (-2 * unit..=2 * unit)
            .map(|d| centre + d)
            .filter(|&lo| fits(lo))
            .take(1)
            .collect();
    }
    candidates
}

/// Smallest shift at which every channel's range fits.
fn choose_shift(ranges: &[(i64, i64)], config: &CalibrationConfig) -> Option<i32> {
    let (min_shift, max_shift) = shift_range(config.rounding_bits);
    (min_shift..=max_shift.min(40)).find(|&s| {
        ranges
            .iter()
            .all(|&(min, max)| !lo_candidates(min, max, s, config).is_empty())
    })
}

/// Quantiles of a ternary channel: range ends and the outer nominal thresholds.
#[derive(Clone, Copy, Debug)]
struct TernaryQuantiles {
    min: i64,
    low: i64,
    high: i64,
    max: i64,
}

fn ternary_quantiles(hist: &Histogram, tail: f64) -> TernaryQuantiles {
    let (min, max) = quantile_range(hist, tail);
    // The values at the first and last thresholds' quantiles.
    let (low, high) = quantile_range(hist, TERNARY_QUANTILES[0]);
    TernaryQuantiles {
        min,
        low,
        high,
        max,
    }
}

/// Whether a ternary channel fits at `shift` using the negacyclic wrap: the inner bands
/// span w boxes between the outer thresholds, and the outer bands (both 0) read
/// correctly for box positions in `[t_last - 2^R, 2^R + t_first)` (beyond the table,
/// -T continues the 0), so each side may reach `2^R - w` boxes.
fn ternary_fits(q: &TernaryQuantiles, shift: i32, config: &CalibrationConfig) -> bool {
    let unit = (shift as f64).exp2();
    let boxes = (1u64 << config.rounding_bits) as f64;
    let guard = config.guard_boxes as f64;
    let band = (q.high - q.low) as f64 / unit + 1.0;
    let reach = boxes - band - guard;
    band <= boxes - 2.0 * guard - 2.0
        && (q.low - q.min) as f64 / unit + guard <= reach
        && (q.max - q.high) as f64 / unit + guard <= reach
}

/// `lo` values that centre a ternary channel's inner bands in the table, one per phase
/// of the box grid against the integers (at most 64).
fn ternary_lo_candidates(q: &TernaryQuantiles, shift: i32, rounding_bits: u32) -> Vec<i64> {
    let half_table = (1u64 << (rounding_bits - 1)) as f64;
    let centre =
        ((q.low + q.high) as f64 / 2.0 - half_table * (shift as f64).exp2()).round() as i64;
    let unit = 1i64 << shift.max(0);
    let phases = unit.min(64);
    (0..phases).map(|p| centre - p * unit / phases).collect()
}

fn design_lookup(
    activation: &Activation,
    histograms: &[Vec<(i64, u64)>],
    worst_abs: i64,
    config: &CalibrationConfig,
) -> Option<LookupLayer> {
    let r = config.rounding_bits;
    let boxes = 1usize << r;
    let (min_shift, max_shift) = shift_range(r);
    let worst = choose_shift(&[(-worst_abs, worst_abs)], config);
    match activation {
        Activation::Ternary => {
            let smoothed: Vec<Vec<(i64, u64)>> =
                histograms.iter().map(|h| smooth_if_sparse(h)).collect();
            let histograms = &smoothed[..];
            let quantiles: Vec<TernaryQuantiles> = histograms
                .iter()
                .map(|h| {
                    if h.is_empty() {
                        TernaryQuantiles {
                            min: 0,
                            low: 0,
                            high: 0,
                            max: 0,
                        }
                    } else {
                        ternary_quantiles(h, config.range_tail)
                    }
                })
                .collect();
            let calibrated = (min_shift..=max_shift.min(40))
                .find(|&s| quantiles.iter().all(|q| ternary_fits(q, s, config)))?;
            let (shift, use_worst) = match worst {
                // A worst-case range that fits spread out (exact) is free safety.
                Some(w) if w <= calibrated.max(-2) => (w, true),
                _ => (calibrated, false),
            };
            let mut lo = Vec::with_capacity(histograms.len());
            let mut tables = Vec::with_capacity(histograms.len());
            for (hist, q) in histograms.iter().zip(&quantiles) {
                let candidates = if use_worst {
                    lo_candidates(-worst_abs, worst_abs, shift, config)
                } else {
                    ternary_lo_candidates(q, shift, r)
                };
                let step = design_ternary(
                    hist,
                    &candidates,
                    shift,
                    r,
                    config.threshold_window,
                    config.design_sigma,
                );
                lo.push(step.lo);
                tables.push(step.table(boxes));
            }
            Some(LookupLayer { shift, lo, tables })
        }
        Activation::Quantized {
            shape,
            max_abs,
            full_scale_sigmas,
        } => {
            // A wrapped output is wrong by a lot: keep the full range.
            let ranges = full_ranges(histograms);
            let shift = choose_shift(&ranges, config)?;
            let max_abs = *max_abs as f64;
            let full_scale = shape.apply(*full_scale_sigmas);
            let mut lo = Vec::with_capacity(histograms.len());
            let mut tables = Vec::with_capacity(histograms.len());
            for (hist, &(min, max)) in histograms.iter().zip(&ranges) {
                let chosen = lo_candidates(min, max, shift, config)[0];
                let (mean, std) = moments(hist);
                let table = (0..boxes as i64)
                    .map(|k| {
                        // The accumulator value at the centre of box k, standardized.
                        let value = chosen as f64 + k as f64 * (shift as f64).exp2();
                        let z = (value - mean) / std.max(1.0);
                        (max_abs * shape.apply(z) / full_scale)
                            .round()
                            .clamp(-max_abs, max_abs) as i64
                    })
                    .collect();
                lo.push(chosen);
                tables.push(table);
            }
            Some(LookupLayer { shift, lo, tables })
        }
        Activation::Parity => {
            // Exact: the worst-case range spread over the table, values boxes apart.
            let shift = worst?;
            let lo = lo_candidates(-worst_abs, worst_abs, shift, config)[0];
            let table: Vec<i64> = (0..boxes as i64)
                .map(|k| {
                    // The value whose box is nearest to k.
                    let value = lo + ((k as f64) * (shift as f64).exp2()).round() as i64;
                    if value.rem_euclid(2) == 1 { 1 } else { -1 }
                })
                .collect();
            Some(LookupLayer {
                shift,
                lo: vec![lo; histograms.len()],
                tables: vec![table; histograms.len()],
            })
        }
        Activation::Requantize(requant) => {
            // Every observed accumulator inside the table: an imported activation is
            // not periodic, so a wrapped value would be wrong by a lot.
            let ranges = full_ranges(histograms);
            let shift = choose_shift(&ranges, config)?;
            let mut lo = Vec::with_capacity(histograms.len());
            let mut tables = Vec::with_capacity(histograms.len());
            for (channel, (hist, &(min, max))) in histograms.iter().zip(&ranges).enumerate() {
                let chosen = lo_candidates(min, max, shift, config)[0];
                let table = (0..boxes as i64)
                    .map(|k| requantized_box(requant, channel, hist, chosen, shift, k))
                    .collect();
                lo.push(chosen);
                tables.push(table);
            }
            Some(LookupLayer { shift, lo, tables })
        }
        Activation::MaxOfCodes(pool) => {
            // Exact or nothing: a rounded sum of codes could name the wrong level.
            let shift = choose_shift(&[(0, pool.max_sum())], config).filter(|&s| s <= 0)?;
            let lo = lo_candidates(0, pool.max_sum(), shift, config)[0];
            let table: Vec<i64> = (0..boxes as i64)
                .map(|k| pool.apply(lo + ((k as f64) * (shift as f64).exp2()).round() as i64))
                .collect();
            Some(LookupLayer {
                shift,
                lo: vec![lo; histograms.len()],
                tables: vec![table; histograms.len()],
            })
        }
        Activation::Logits => None,
    }
}

/// Table entry `k` of an imported activation: exact when the box holds at most one
/// accumulator value (`shift <= 0`); otherwise the output most of the box's calibration
/// accumulators have (the box centre's output where none fell), so that rounding
/// costs the fewest agreements with the trained model.
fn requantized_box(
    requant: &Requantizer,
    channel: usize,
    hist: &Histogram,
    lo: i64,
    shift: i32,
    k: i64,
) -> i64 {
    if shift <= 0 {
        let acc = lo + ((k as f64) * (shift as f64).exp2()).round() as i64;
        return requant.apply(channel, acc as f64);
    }
    let width = 1i64 << shift;
    let first = lo + k * width - width / 2;
    let start = hist.partition_point(|&(v, _)| v < first);
    let end = hist.partition_point(|&(v, _)| v < first + width);
    let mut votes: Vec<(i64, u64)> = Vec::new();
    for &(acc, count) in &hist[start..end] {
        let value = requant.apply(channel, acc as f64);
        match votes.iter_mut().find(|(v, _)| *v == value) {
            Some((_, total)) => *total += count,
            None => votes.push((value, count)),
        }
    }
    votes
        .into_iter()
        .max_by_key(|&(value, count)| (count, std::cmp::Reverse(value)))
        .map_or_else(
            || requant.apply(channel, (first as f64) + (width - 1) as f64 / 2.0),
            |(value, _)| value,
        )
}

/// Occurrences per channel below which a ternary channel's thresholds come from a
/// normal fit rather than from the values themselves: a dense layer sees one value per
/// calibration image, and seven bands placed on 64 values are off by a few values each,
/// enough to unbalance them on other images (and let an affine shortcut reproduce more
/// of them, see `affinity`).
const SPARSE_CHANNEL: u64 = 2_000;

/// `hist` itself, or for a sparse channel the normal density with its mean and
/// standard deviation, as a histogram of the integers within 5 standard deviations.
fn smooth_if_sparse(hist: &Histogram) -> Vec<(i64, u64)> {
    let total: u64 = hist.iter().map(|h| h.1).sum();
    let (mean, std) = moments(hist);
    if total >= SPARSE_CHANNEL || std < 1.0 {
        return hist.to_vec();
    }
    let (first, last) = (
        (mean - 5.0 * std).floor() as i64,
        (mean + 5.0 * std).ceil() as i64,
    );
    (first..=last)
        .map(|v| {
            let z = (v as f64 - mean) / std;
            (v, (1e4 * (-0.5 * z * z).exp() / std).round() as u64)
        })
        .filter(|&(_, count)| count > 0)
        .collect()
}

fn moments(hist: &Histogram) -> (f64, f64) {
    let total: f64 = hist.iter().map(|h| h.1 as f64).sum::<f64>().max(1.0);
    let mean = hist.iter().map(|&(v, c)| v as f64 * c as f64).sum::<f64>() / total;
    let var = hist
        .iter()
        .map(|&(v, c)| (v as f64 - mean).powi(2) * c as f64)
        .sum::<f64>()
        / total;
    (mean, var.sqrt())
}

/// The next layer's inputs: exact lookups of every accumulator.
fn apply_lookup(lookup: &LookupLayer, acc: &[i32], plane: usize, rounding_bits: u32) -> Vec<i32> {
    acc.iter()
        .enumerate()
        .map(|(i, &a)| {
            let c = i / plane;
            let k = box_index(a as i64, lookup.lo[c], lookup.shift);
            wrapped_lookup(&lookup.tables[c], k, rounding_bits) as i32
        })
        .collect()
}
