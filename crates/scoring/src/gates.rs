//! The pass/fail gates of the item check, derived from the noise model, never typed.
//!
//! A miner holds the evaluation key, so it can return a non-trivial encryption of any
//! value it can predict and any affine function of the inputs for free (DESIGN
//! section 5). What it cannot do without the work is hit, lookup by lookup, the table
//! value of each accumulator it never sees. The gates accept exactly what the honest
//! rounding noise of the query's parameter set explains, with a failure budget for
//! honest work of `honest_query_failure` per query ([`GatePolicy`]):
//!
//! - Image-output circuits with one lookup layer (`conv3x3`): the validator knows every
//!   output's accumulator, hence its position in its box and the odds that noise moves
//!   it to a neighbouring box ([`ItemExpectation`]). An output that no noise of this
//!   profile reaches fails the item; so do more mismatches than the Bernstein bound on
//!   their count allows at the item's budget. An affine cheat misses the tables' curve
//!   and lands on impossible values; partial work, a shifted table or a replayed or
//!   forged answer fails the same way ([`crate::check_item`]).
//! - Image-output circuits with several lookup layers: slips cascade, so the gate is a
//!   floor `e_min` on the fraction of exactly right outputs, from the noise-aware
//!   simulation.
//! - Classifiers (VGG9): the top-1 class, or either of the top two where the
//!   simulation's margin between them is within what the noise can move
//!   ([`GateRule::Classifier`]), and the logit cosine.
//!
//! Every rule also requires a cosine of at least `c_min`: the log-normal tail of the
//! simulated cosine shortfalls, or under the per-output rule a per-item bound from the
//! same odds ([`ItemExpectation::c_min`]).

use brainlock_circuit::encoding::{box_index, box_position, wrapped_lookup};
use brainlock_circuit::{
    Circuit, InputError, LayerOutput, NoiseModel, NoisySimulator, Simulator, ValidationError,
    sample_inputs,
};
use rayon::prelude::*;
use serde::Serialize;

use crate::similarity::{cosine_similarity, top1};

/// What the gates are derived for.
#[derive(Clone, Debug, PartialEq)]
pub struct GatePolicy {
    /// Honest queries that may fail a gate, at most (DESIGN section 5: 1 in 1,000).
    pub honest_query_failure: f64,
    /// Factor on the noise model's standard deviations: the model is checked against
    /// real ciphertexts to within 20% (`brainlock-fhe`'s noise check), so the gates
    /// assume noise up to 20% larger than predicted.
    pub noise_tolerance: f64,
    /// Items of the noise-aware simulation the statistical gates are fitted on.
    pub simulated_items: usize,
    /// Seed of those items' images and noise.
    pub seed: u64,
}

impl Default for GatePolicy {
    fn default() -> Self {
        Self {
            honest_query_failure: 1e-3,
            noise_tolerance: 1.2,
            simulated_items: 200,
            seed: 0x6a7e_5eed,
        }
    }
}

/// Why gates could not be derived for a (circuit, profile, batch size).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum GateError {
    /// The batch size is 0.
    #[error("batch size must be at least 1")]
    EmptyBatch,
    /// [`GatePolicy::honest_query_failure`] is not strictly between 0 and 1; its value.
    #[error("honest_query_failure = {0} must lie in (0, 1)")]
    FailureBudget(f64),
    /// [`GatePolicy::noise_tolerance`] is below 1 or not finite; its value.
    #[error("noise_tolerance = {0} must be finite and at least 1")]
    Tolerance(f64),
    /// [`GatePolicy::simulated_items`] is under 20: too few to fit the gates on.
    #[error("simulated_items must be at least 20")]
    TooFewItems,
    /// The circuit has no output layer to judge.
    #[error("the circuit has no output")]
    NoOutput,
    /// The circuit is malformed, so it cannot be simulated.
    #[error("the circuit does not simulate")]
    Circuit(#[from] ValidationError),
    /// A sampled simulation input does not fit the circuit's input shape.
    #[error("simulation input: {0}")]
    Input(#[from] InputError),
}

/// How one item's output is judged, beyond the cosine.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "rule", rename_all = "snake_case")]
pub enum GateRule {
    /// One lookup layer: per-output odds from each output's own accumulator.
    PerOutput {
        /// Noise std in boxes, per output channel (tolerance included).
        sigmas: Vec<f64>,
        /// Slips of more than this many boxes have negligible probability.
        max_slip: i64,
        /// `ln(1 / p)` for the mismatch-count part `p` of the item's budget.
        log_inverse_budget: f64,
    },
    /// Several lookup layers: at least `e_min` of the outputs exactly right.
    ExactFraction {
        /// Lowest fraction of outputs equal to the simulation's that passes, in `[0, 1]`.
        e_min: f64,
    },
    /// Logits: the top-1 class, or the runner-up where the simulation's top-two margin
    /// is at most `top2_margin`.
    Classifier {
        /// Largest top-two logit gap (in output units) at which the runner-up
        /// class is also accepted.
        top2_margin: i64,
    },
}

impl std::fmt::Display for GateRule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            GateRule::PerOutput { max_slip, .. } => write!(
                f,
                "every output its table value or one of the {max_slip} neighbouring boxes' \
                 on each side, mismatches within the noise's Bernstein bound"
            ),
            GateRule::ExactFraction { e_min } => write!(f, "exact-match fraction >= {e_min:.4}"),
            GateRule::Classifier { top2_margin } => write!(
                f,
                "top-1 class, or the runner-up where the top-two margin is <= {top2_margin}"
            ),
        }
    }
}

/// The gates of one (circuit, profile, batch size).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Gates {
    /// Items per query these gates were derived for.
    pub batch: usize,
    /// The honest failure budget of one item: the query's, split over its items.
    pub item_failure: f64,
    /// Lowest cosine with the exact simulation that passes. Under the per-output rule
    /// each item has its own bound ([`ItemExpectation::c_min`]); this is then their
    /// mean over the simulated items, for the record.
    pub c_min: f64,
    /// How each item's outputs are judged, beyond the cosine.
    pub rule: GateRule,
    /// For the record: the noise-aware simulation's items and their mean cosine.
    pub simulated_items: usize,
    /// Mean cosine of those items with the exact simulation.
    pub simulated_cosine_mean: f64,
    /// The mean exact-match floor an item faced in the simulation (image circuits).
    pub simulated_e_min_mean: Option<f64>,
}

/// Derives the gates of `circuit` under the noise of `model` for queries of `batch`
/// items. Validators and their tests call this one function; nothing else sets a gate.
pub fn derive_gates(
    circuit: &Circuit,
    model: &NoiseModel,
    batch: usize,
    policy: &GatePolicy,
) -> Result<Gates, GateError> {
    check_policy(policy, batch)?;
    let simulator = Simulator::new(circuit)?;
    let sigmas: Vec<Vec<f64>> = model
        .layer_sigmas(circuit)
        .into_iter()
        .map(|layer| {
            layer
                .into_iter()
                .map(|s| s * policy.noise_tolerance)
                .collect()
        })
        .collect();
    let noisy = NoisySimulator::with_sigmas(circuit, sigmas.clone())?;
    let item_failure = policy.honest_query_failure / batch as f64;
    // Each item's budget is split between the cosine and the rule.
    let part = item_failure / 2.0;
    let z = upper_normal_quantile(part);

    let images = sample_inputs(circuit, policy.seed, policy.simulated_items);
    let runs: Vec<(Vec<i64>, Vec<i64>)> = images
        .par_iter()
        .enumerate()
        .map(|(i, image)| {
            let exact = simulator.run(image)?;
            let run = noisy.run(image, policy.seed.wrapping_add(i as u64))?;
            Ok((exact, run.trace.output))
        })
        .collect::<Result<_, InputError>>()?;

    let shortfalls: Vec<f64> = runs
        .iter()
        .map(|(exact, noisy)| 1.0 - cosine_similarity(noisy, exact))
        .collect();
    let mut c_min = (1.0 - log_normal_upper_tail(&shortfalls, z)).clamp(0.0, 1.0);
    let simulated_cosine_mean = 1.0 - mean(&shortfalls);

    let lookup_layers = circuit
        .layers
        .iter()
        .filter(|l| matches!(l.output, LayerOutput::Lookup(_)))
        .count();
    let (rule, simulated_e_min_mean) = match circuit.layers.last().map(|l| &l.output) {
        None => return Err(GateError::NoOutput),
        Some(LayerOutput::Accumulator { .. }) => {
            let growth: Vec<f64> = runs
                .iter()
                .map(|(exact, noisy)| rival_gain(exact, noisy) as f64)
                .collect();
            let top2_margin = upper_tail(&growth, z).ceil().max(0.0) as i64;
            (GateRule::Classifier { top2_margin }, None)
        }
        Some(LayerOutput::Lookup(_)) if lookup_layers == 1 => {
            let last = sigmas.last().cloned().unwrap_or_default();
            let outputs = simulator
                .shapes()
                .layer_output(circuit.layers.len() - 1)
                .len();
            let rule = GateRule::PerOutput {
                max_slip: max_slip(&last, outputs, part),
                sigmas: last,
                log_inverse_budget: (1.0 / part).ln(),
            };
            let gates = Gates {
                batch,
                item_failure,
                c_min,
                rule: rule.clone(),
                simulated_items: runs.len(),
                simulated_cosine_mean,
                simulated_e_min_mean: None,
            };
            let expectations: Vec<ItemExpectation> = images
                .iter()
                .map(|image| gates.expect(&simulator, image))
                .collect::<Result<_, InputError>>()?;
            let floors: Vec<f64> = expectations.iter().map(ItemExpectation::e_min).collect();
            let cosines: Vec<f64> = expectations.iter().map(|e| e.c_min).collect();
            c_min = mean(&cosines);
            (rule, Some(mean(&floors)))
        }
        Some(LayerOutput::Lookup(_)) => {
            let misses: Vec<f64> = runs
                .iter()
                .map(|(exact, noisy)| 1.0 - exact_match_fraction(noisy, exact))
                .collect();
            let e_min = (1.0 - log_normal_upper_tail(&misses, z)).clamp(0.0, 1.0);
            (GateRule::ExactFraction { e_min }, Some(e_min))
        }
    };
    Ok(Gates {
        batch,
        item_failure,
        c_min,
        rule,
        simulated_items: runs.len(),
        simulated_cosine_mean,
        simulated_e_min_mean,
    })
}

fn check_policy(policy: &GatePolicy, batch: usize) -> Result<(), GateError> {
    if batch == 0 {
        return Err(GateError::EmptyBatch);
    }
    let p = policy.honest_query_failure;
    if !(p > 0.0 && p < 1.0) {
        return Err(GateError::FailureBudget(p));
    }
    let t = policy.noise_tolerance;
    if !(t.is_finite() && t >= 1.0) {
        return Err(GateError::Tolerance(t));
    }
    if policy.simulated_items < 20 {
        return Err(GateError::TooFewItems);
    }
    Ok(())
}

/// How far noise moved the best rival class towards the true top-1 class: the largest
/// `(noisy_j - exact_j) - (noisy_top - exact_top)` over the other classes. The top-1
/// flips only to a class whose exact margin is below this.
fn rival_gain(exact: &[i64], noisy: &[i64]) -> i64 {
    let Some(top) = top1(exact) else { return 0 };
    let drift_top = noisy[top] - exact[top];
    exact
        .iter()
        .zip(noisy)
        .enumerate()
        .filter(|&(j, _)| j != top)
        .map(|(_, (e, n))| (n - e) - drift_top)
        .max()
        .unwrap_or(0)
}

/// Fraction of positions where `a` equals `b` (0 for different lengths or empty).
pub fn exact_match_fraction(a: &[i64], b: &[i64]) -> f64 {
    if a.len() != b.len() || a.is_empty() {
        return 0.0;
    }
    a.iter().zip(b).filter(|(x, y)| x == y).count() as f64 / a.len() as f64
}

fn mean(values: &[f64]) -> f64 {
    values.iter().sum::<f64>() / values.len().max(1) as f64
}

/// `mean + z * std` of `values`: the Gaussian fit of their upper tail at the quantile
/// `z`, never below the largest value seen.
fn upper_tail(values: &[f64], z: f64) -> f64 {
    let m = mean(values);
    let var = values.iter().map(|v| (v - m).powi(2)).sum::<f64>() / values.len().max(2) as f64;
    let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    (m + z * var.sqrt()).max(max)
}

/// The upper tail of positive `values` at the normal quantile `z` of a log-normal fit:
/// cosine shortfalls and mismatch fractions spread over orders of magnitude from image
/// to image, which a normal fit of the values themselves underestimates. Zeros count
/// as [`SMALLEST_SHORTFALL`].
fn log_normal_upper_tail(values: &[f64], z: f64) -> f64 {
    let logs: Vec<f64> = values
        .iter()
        .map(|v| v.max(SMALLEST_SHORTFALL).ln())
        .collect();
    upper_tail(&logs, z).exp()
}

/// Below this a shortfall is rounding: `1 - cosine` of identical vectors is 0 or 1e-16.
const SMALLEST_SHORTFALL: f64 = 1e-9;

/// The smallest slip (in boxes) beyond which, summed over `outputs` lookups at the
/// largest `sigma`, the odds are under a thousandth of `budget`.
fn max_slip(sigmas: &[f64], outputs: usize, budget: f64) -> i64 {
    let sigma = sigmas.iter().copied().fold(0.0, f64::max);
    (1..)
        .find(|&d| {
            outputs as f64 * 2.0 * normal_upper_tail((d as f64 + 0.5) / sigma.max(1e-12))
                <= budget * 1e-3
        })
        .unwrap_or(1)
}

/// `P(Z > x)` for a standard normal `Z`.
pub(crate) fn normal_upper_tail(x: f64) -> f64 {
    0.5 * libm::erfc(x / std::f64::consts::SQRT_2)
}

/// `x` with `P(Z > x) = p` (bisection on [`normal_upper_tail`], exact to 1e-12).
pub(crate) fn upper_normal_quantile(p: f64) -> f64 {
    let (mut lo, mut hi) = (-40.0, 40.0);
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if normal_upper_tail(mid) > p {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    0.5 * (lo + hi)
}

/// What the validator expects of one item: the exact outputs and, under the
/// per-output rule, which values honest noise can produce at each output and how
/// likely each output is to differ from the exact one.
#[derive(Clone, Debug, PartialEq)]
pub struct ItemExpectation {
    /// The exact simulation's outputs, one per returned ciphertext.
    pub outputs: Vec<i64>,
    /// Lowest cosine with `outputs` that passes: the gates' `c_min`, or under the
    /// per-output rule a bound from this item's own odds.
    pub c_min: f64,
    pub(crate) odds: Option<OutputOdds>,
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) struct OutputOdds {
    /// Per output, `2 * max_slip + 1` values: the table entries of the boxes within
    /// `max_slip` of the exact one.
    pub reachable: Vec<i64>,
    pub max_slip: i64,
    /// Per output, the probability that honest noise changes its value.
    pub mismatch: Vec<f64>,
    /// The most mismatches an honest item shows within its budget.
    pub allowed_mismatches: usize,
}

impl ItemExpectation {
    /// An expectation of the outputs alone, for the rules that need no per-output odds.
    pub fn outputs_only(outputs: Vec<i64>, c_min: f64) -> Self {
        Self {
            outputs,
            c_min,
            odds: None,
        }
    }

    /// The exact-match fraction below which this item fails: under the per-output rule
    /// it depends on the item's own accumulators.
    pub fn e_min(&self) -> f64 {
        match &self.odds {
            Some(odds) => {
                let n = self.outputs.len().max(1) as f64;
                (1.0 - odds.allowed_mismatches as f64 / n).max(0.0)
            }
            None => 0.0,
        }
    }

    /// Predicted honest mismatches (the mean of their count).
    pub fn expected_mismatches(&self) -> Option<f64> {
        self.odds.as_ref().map(|o| o.mismatch.iter().sum())
    }
}

impl Gates {
    /// The expectation of one input: the exact simulation and, under the per-output
    /// rule, the odds of each output.
    pub fn expect(
        &self,
        simulator: &Simulator<'_>,
        input: &[i64],
    ) -> Result<ItemExpectation, InputError> {
        let GateRule::PerOutput {
            sigmas,
            max_slip,
            log_inverse_budget,
        } = &self.rule
        else {
            return Ok(ItemExpectation::outputs_only(
                simulator.run(input)?,
                self.c_min,
            ));
        };
        let circuit = simulator.circuit();
        let trace = simulator.run_traced(input)?;
        let last = trace.layers.last().expect("a validated circuit has layers");
        let Some(LayerOutput::Lookup(lookup)) = circuit.layers.last().map(|l| &l.output) else {
            unreachable!("the per-output rule is derived for lookup outputs only")
        };
        let r = circuit.rounding_bits;
        let channels = lookup.tables.len();
        let plane = last.accumulators.len() / channels.max(1);
        let width = (2 * max_slip + 1) as usize;
        let mut reachable = Vec::with_capacity(last.accumulators.len() * width);
        let mut mismatch = Vec::with_capacity(last.accumulators.len());
        // Squared error: per output its mean and variance, and the largest square.
        let (mut error_mean, mut error_var, mut error_max) = (0.0, 0.0, 0.0f64);
        for (i, &acc) in last.accumulators.iter().enumerate() {
            let c = i / plane.max(1);
            let (lo, table, sigma) = (lookup.lo[c], &lookup.tables[c], sigmas[c]);
            let k = box_index(acc, lo, lookup.shift);
            let position = box_position(acc, lo, lookup.shift);
            let exact = wrapped_lookup(table, k, r);
            let (mut p_change, mut square, mut square2) = (0.0, 0.0, 0.0);
            for j in -max_slip..=*max_slip {
                let value = wrapped_lookup(table, k + j, r);
                reachable.push(value);
                if value != exact {
                    let p = box_probability(position, k + j, sigma);
                    let d2 = ((value - exact) as f64).powi(2);
                    p_change += p;
                    square += p * d2;
                    square2 += p * d2 * d2;
                    error_max = error_max.max(d2);
                }
            }
            mismatch.push(p_change.min(1.0));
            error_mean += square;
            error_var += square2 - square * square;
        }
        let allowed_mismatches = bernstein_bound(&mismatch, *log_inverse_budget);
        // The cosine of x and x + d is at least 1 - |d|^2 / |x|^2 (for |d| < |x|), and
        // Bernstein bounds |d|^2, a sum of independent terms each at most `error_max`.
        let norm2: f64 = trace.output.iter().map(|&v| (v as f64).powi(2)).sum();
        let l = *log_inverse_budget;
        let error_bound = error_mean
            + l * error_max / 3.0
            + ((l * error_max / 3.0).powi(2) + 2.0 * error_var.max(0.0) * l).sqrt();
        let c_min = if norm2 > 0.0 {
            (1.0 - error_bound / norm2).max(0.0)
        } else {
            0.0
        };
        Ok(ItemExpectation {
            outputs: trace.output,
            c_min,
            odds: Some(OutputOdds {
                reachable,
                max_slip: *max_slip,
                mismatch,
                allowed_mismatches,
            }),
        })
    }
}

/// Probability that `round(position + e)` is `k` for `e ~ N(0, sigma^2)`.
fn box_probability(position: f64, k: i64, sigma: f64) -> f64 {
    if sigma <= 0.0 {
        return f64::from(u8::from((position + 0.5).floor() as i64 == k));
    }
    let below = |edge: f64| 1.0 - normal_upper_tail((edge - position) / sigma);
    (below(k as f64 + 0.5) - below(k as f64 - 0.5)).max(0.0)
}

/// The most mismatches among independent outputs with mismatch probabilities `p`
/// that honest noise exceeds with probability at most `e^-log_inverse_budget`:
/// Bernstein's inequality for a sum of Bernoulli variables, `mean + t` with
/// `t = L/3 + sqrt(L^2/9 + 2 var L)`. Unlike a normal approximation it holds for
/// any mean, including the near-zero mismatch counts of exact circuits.
fn bernstein_bound(p: &[f64], log_inverse_budget: f64) -> usize {
    let mean: f64 = p.iter().sum();
    let var: f64 = p.iter().map(|q| q * (1.0 - q)).sum();
    let l = log_inverse_budget;
    let t = l / 3.0 + (l * l / 9.0 + 2.0 * var * l).sqrt();
    (mean + t).floor() as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normal_quantiles_invert_the_tail() {
        for p in [0.5, 0.1, 1e-3, 1e-6, 1e-12] {
            let x = upper_normal_quantile(p);
            assert!(
                (normal_upper_tail(x) / p - 1.0).abs() < 1e-6,
                "p {p}: x {x}"
            );
        }
        assert!((upper_normal_quantile(0.025) - 1.959964).abs() < 1e-5);
    }

    #[test]
    fn box_odds_sum_to_one_and_centre_wins() {
        for position in [10.0, 10.3, 10.49, 9.6] {
            let total: f64 = (0..20).map(|k| box_probability(position, k, 0.2)).sum();
            assert!((total - 1.0).abs() < 1e-9);
        }
        assert!(box_probability(10.0, 10, 0.14) > 0.999);
        let near_edge = box_probability(10.45, 11, 0.14);
        assert!((0.3..0.5).contains(&near_edge), "{near_edge}");
    }

    #[test]
    fn bernstein_bound_covers_the_mean_and_grows_with_the_budget() {
        let p = vec![0.1; 3000];
        let loose = bernstein_bound(&p, (1.0f64 / 1e-2).ln());
        let tight = bernstein_bound(&p, (1.0f64 / 1e-6).ln());
        assert!(loose > 300 && tight > loose, "{loose} {tight}");
        // Exact outputs: a handful of mismatches at most.
        assert!(bernstein_bound(&vec![0.0; 3000], 10.0) <= 7);
    }

    #[test]
    fn rival_gain_is_the_worst_closing_of_a_margin() {
        assert_eq!(rival_gain(&[10, 5, 0], &[10, 5, 0]), 0);
        assert_eq!(rival_gain(&[10, 5, 0], &[9, 7, 0]), 3);
        assert_eq!(rival_gain(&[10, 5, 0], &[12, 5, 4]), 2);
    }

    #[test]
    fn bad_policies_are_refused() {
        let circuit = brainlock_circuit::test_tiny();
        let model = NoiseModel::new(&brainlock_circuit::ParameterSet::tfhe_rs_n2048());
        let policy = GatePolicy::default();
        assert_eq!(
            derive_gates(&circuit, &model, 0, &policy),
            Err(GateError::EmptyBatch)
        );
        for bad in [0.0, 1.0, f64::NAN] {
            let p = GatePolicy {
                honest_query_failure: bad,
                ..policy.clone()
            };
            assert!(derive_gates(&circuit, &model, 1, &p).is_err());
        }
        let p = GatePolicy {
            noise_tolerance: 0.5,
            ..policy
        };
        assert_eq!(
            derive_gates(&circuit, &model, 1, &p),
            Err(GateError::Tolerance(0.5))
        );
    }
}
