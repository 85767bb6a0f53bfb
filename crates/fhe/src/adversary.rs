//! Cheating miners' evaluations, on real ciphertexts, for the integrity tests (feature
//! `adversary`; never in a shipped binary).
//!
//! Each [`Cheat`] is something a miner holding the evaluation key and the public
//! circuit can return faster than honest work (DESIGN section 5, threat model). The
//! validator's check must fail every one of them; the tests that show it use these
//! evaluators in real miner processes, so the cheats face the same wire, timing and
//! decryption as honest work.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use brainlock_circuit::{Circuit, LayerOutput, Shape, Simulator, sample_inputs};

use crate::ciphertext::{EncryptedInput, EncryptedOutput};
use crate::engine::{LookupWork, evaluate, evaluate_with};
use crate::error::Result;
use crate::evaluator::{Backend, Evaluator};
use crate::keys::EvaluationKey;
use crate::plan::{Plan, channel_of};

/// What a cheating miner does instead of the work.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Cheat {
    /// No bootstrap at all: per output channel, the encrypted accumulator times the
    /// integer nearest to the table's least-squares slope, plus its intercept (fitted
    /// on calibration images the miner simulates in the clear).
    Affine,
    /// Bootstraps this fraction of the lookups (a fixed pseudo-random subset), the
    /// rest as [`Cheat::Affine`]: saves the rest's time.
    Partial {
        /// Fraction of lookups actually bootstrapped, in [0, 1].
        bootstrapped: f64,
    },
    /// All the work, through tables shifted by one box (`T[k + 1]`): close, but wrong.
    ShiftedTables,
    /// No work: every output is an input ciphertext times `2^(64 - delta_log2)` (a
    /// non-trivial encryption of 0) plus the value it guesses: the channel's most
    /// frequent output on calibration images.
    Forged,
    /// Honest work for the first item of each circuit; every later item gets that
    /// first answer again.
    Replay,
}

impl Cheat {
    /// Parses `affine`, `partial:0.9`, `shifted-tables`, `forged` or `replay`.
    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "affine" => Cheat::Affine,
            "shifted-tables" => Cheat::ShiftedTables,
            "forged" => Cheat::Forged,
            "replay" => Cheat::Replay,
            _ => {
                let fraction: f64 = text.strip_prefix("partial:")?.parse().ok()?;
                if !(0.0..=1.0).contains(&fraction) {
                    return None;
                }
                Cheat::Partial {
                    bootstrapped: fraction,
                }
            }
        })
    }
}

/// Calibration images a cheater simulates to fit its shortcuts.
const CALIBRATION_IMAGES: usize = 16;

/// An [`Evaluator`] that cheats.
pub struct CheatingEvaluator {
    cheat: Cheat,
    /// Per circuit id, what the cheat precomputed in the clear.
    prepared: Mutex<HashMap<String, Arc<Shortcuts>>>,
    /// [`Cheat::Replay`]'s first answer per circuit id.
    replayed: Mutex<HashMap<String, EncryptedOutput>>,
}

/// A cheater's clear-side preparation for one circuit.
struct Shortcuts {
    /// Per layer, per output channel: `(scale, intercept)` on the torus.
    affine: Vec<Vec<(u64, u64)>>,
    /// Per layer, its output shape (to find an output's channel).
    shapes: Vec<Shape>,
    /// Per output channel of the last layer: the most frequent output value.
    guesses: Vec<i64>,
    shifted: Circuit,
}

impl CheatingEvaluator {
    /// An evaluator that answers every item by `cheat` instead of doing the work.
    pub fn new(cheat: Cheat) -> Self {
        Self {
            cheat,
            prepared: Mutex::new(HashMap::new()),
            replayed: Mutex::new(HashMap::new()),
        }
    }

    fn shortcuts(&self, circuit: &Circuit) -> Result<Arc<Shortcuts>> {
        let mut prepared = self.prepared.lock().expect("not poisoned");
        if let Some(found) = prepared.get(&circuit.id) {
            return Ok(found.clone());
        }
        let made = Arc::new(Shortcuts::fit(circuit)?);
        prepared.insert(circuit.id.clone(), made.clone());
        Ok(made)
    }
}

impl Evaluator for CheatingEvaluator {
    fn backend(&self) -> Backend {
        Backend::Cpu
    }

    fn evaluate(
        &self,
        circuit: &Circuit,
        key: &EvaluationKey,
        input: &EncryptedInput,
        progress: &(dyn Fn(usize, usize) + Sync),
    ) -> Result<EncryptedOutput> {
        let shortcuts = self.shortcuts(circuit)?;
        match self.cheat {
            Cheat::Affine => evaluate_with(circuit, key, input, progress, &|layer, o| {
                shortcuts.affine_work(layer, o)
            }),
            Cheat::Partial { bootstrapped } => {
                evaluate_with(circuit, key, input, progress, &|layer, o| {
                    if pseudo_random_fraction(layer, o) < bootstrapped {
                        LookupWork::Bootstrap
                    } else {
                        shortcuts.affine_work(layer, o)
                    }
                })
            }
            Cheat::ShiftedTables => evaluate(&shortcuts.shifted, key, input, progress),
            Cheat::Forged => forge(circuit, &shortcuts.guesses, key, input),
            Cheat::Replay => {
                let mut replayed = self.replayed.lock().expect("not poisoned");
                if let Some(first) = replayed.get(&circuit.id) {
                    return Ok(first.clone());
                }
                let output = evaluate(circuit, key, input, progress)?;
                replayed.insert(circuit.id.clone(), output.clone());
                Ok(output)
            }
        }
    }
}

impl Shortcuts {
    fn fit(circuit: &Circuit) -> Result<Self> {
        let plan = Plan::new(circuit)?;
        let simulator = Simulator::new(circuit)?;
        let traces = sample_inputs(circuit, 0xc4ea7, CALIBRATION_IMAGES)
            .iter()
            .map(|image| simulator.run_traced(image))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        let mut affine = Vec::with_capacity(circuit.layers.len());
        for (i, layer) in circuit.layers.iter().enumerate() {
            let LayerOutput::Lookup(lookup) = &layer.output else {
                affine.push(Vec::new());
                continue;
            };
            let shape = plan.shapes[i + 1];
            let (din, dout) = (plan.deltas_log2[i] as i32, plan.deltas_log2[i + 1] as i32);
            let mut points = vec![Vec::new(); lookup.tables.len()];
            for trace in &traces {
                let layer_trace = &trace.layers[i];
                for (o, (&acc, &y)) in layer_trace
                    .accumulators
                    .iter()
                    .zip(&layer_trace.outputs)
                    .enumerate()
                {
                    points[channel_of(shape, o)].push((acc as f64, y as f64));
                }
            }
            affine.push(points.iter().map(|p| torus_affine(p, din, dout)).collect());
        }
        let last = traces.iter().map(|t| &t.output);
        let out_shape = *plan.shapes.last().expect("non-empty");
        let mut counts: Vec<HashMap<i64, usize>> = vec![HashMap::new(); out_shape.channels];
        for output in last {
            for (o, &v) in output.iter().enumerate() {
                *counts[channel_of(out_shape, o)].entry(v).or_default() += 1;
            }
        }
        let guesses = counts
            .iter()
            .map(|c| {
                c.iter()
                    .max_by_key(|&(v, n)| (*n, -v.abs()))
                    .map_or(0, |(v, _)| *v)
            })
            .collect();
        let mut shifted = circuit.clone();
        for layer in &mut shifted.layers {
            if let LayerOutput::Lookup(lookup) = &mut layer.output {
                for table in &mut lookup.tables {
                    table.rotate_left(1);
                    let last = table.len() - 1;
                    table[last] = table[last - 1];
                }
            }
        }
        Ok(Self {
            affine,
            shapes: plan.shapes[1..].to_vec(),
            guesses,
            shifted,
        })
    }

    fn affine_work(&self, layer: usize, o: usize) -> LookupWork {
        let (scale, intercept) = self.affine[layer][channel_of(self.shapes[layer], o)];
        LookupWork::Affine { scale, intercept }
    }
}

/// The best affine map `y = a acc + b` that the torus allows: the phase of the
/// accumulator is `acc 2^din`, the output's `y 2^dout`, so the ciphertext can only be
/// scaled by an integer `c ~ a 2^(dout - din)`; the intercept is then refitted.
fn torus_affine(points: &[(f64, f64)], din: i32, dout: i32) -> (u64, u64) {
    let n = points.len().max(1) as f64;
    let (mx, my) = points
        .iter()
        .fold((0.0, 0.0), |(sx, sy), (x, y)| (sx + x / n, sy + y / n));
    let (sxy, sxx) = points.iter().fold((0.0, 0.0), |(a, b), (x, y)| {
        (a + (x - mx) * (y - my), b + (x - mx) * (x - mx))
    });
    let slope = if sxx > 0.0 { sxy / sxx } else { 0.0 };
    let scale = (slope * f64::from(dout - din).exp2()).round() as i64;
    let effective = scale as f64 * f64::from(din - dout).exp2();
    let intercept = my - effective * mx;
    let intercept_torus = (intercept * f64::from(dout).exp2()).round() as i64;
    (scale as u64, intercept_torus as u64)
}

/// A fixed pseudo-random number in [0, 1) per lookup (splitmix64 of its position).
fn pseudo_random_fraction(layer: usize, output: usize) -> f64 {
    (splitmix64((layer as u64) << 40 ^ output as u64) >> 11) as f64 / (1u64 << 53) as f64
}

/// SplitMix64: a well-mixed word from a counter.
fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Outputs forged from the inputs without any evaluation: input ciphertext `j mod n`
/// times `2^(64 - din)` encrypts 0 under the same key with a random-looking mask; its
/// body gets `guess * 2^dout` added.
fn forge(
    circuit: &Circuit,
    guesses: &[i64],
    key: &EvaluationKey,
    input: &EncryptedInput,
) -> Result<EncryptedOutput> {
    let plan = Plan::new(circuit)?;
    let lwe_size = key.profile.big_dim().to_lwe_size().0;
    let inputs = input.expand();
    let count = inputs.len() / lwe_size;
    let to_zero = 1u64 << (64 - plan.deltas_log2[0]);
    let dout = *plan.deltas_log2.last().expect("non-empty");
    let out_shape = *plan.shapes.last().expect("non-empty");
    let mut data = vec![0u64; plan.output_len() * lwe_size];
    for (o, out) in data.chunks_exact_mut(lwe_size).enumerate() {
        let j = o % count.max(1);
        for (w, x) in out
            .iter_mut()
            .zip(&inputs[j * lwe_size..(j + 1) * lwe_size])
        {
            *w = x.wrapping_mul(to_zero);
        }
        let guess = guesses[channel_of(out_shape, o)];
        out[lwe_size - 1] = out[lwe_size - 1].wrapping_add((guess as u64).wrapping_shl(dout));
    }
    Ok(EncryptedOutput::compress(key, circuit, &plan, &data))
}

/// A trivial encryption of `values` (all-zero masks) in `circuit`'s result form under
/// `profile`: what anyone forges without any key. Validators reject it
/// ([`EncryptedOutput::has_trivial_ciphertext`]).
pub fn trivial_output(
    circuit: &Circuit,
    profile: &'static crate::Profile,
    values: &[i64],
) -> Result<EncryptedOutput> {
    let plan = Plan::new(circuit)?;
    let lwe_size = profile.big_dim().to_lwe_size().0;
    let delta = *plan.deltas_log2.last().expect("non-empty");
    let mut lwes = vec![0u64; plan.output_len() * lwe_size];
    for (lwe, &v) in lwes.chunks_exact_mut(lwe_size).zip(values.iter().cycle()) {
        lwe[lwe_size - 1] = (v as u64).wrapping_shl(delta);
    }
    Ok(EncryptedOutput::trivial(profile, circuit, &plan, &lwes))
}

/// Replaces every `every`-th result of an honest output with noise: a miner that skips
/// those results' work and pads the frame so that its size stays right.
pub fn scramble_results(output: &mut EncryptedOutput, every: usize) {
    output.scramble_results(every.max(1), |i| splitmix64(i as u64));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cheats_parse() {
        assert_eq!(Cheat::parse("affine"), Some(Cheat::Affine));
        assert_eq!(
            Cheat::parse("partial:0.9"),
            Some(Cheat::Partial { bootstrapped: 0.9 })
        );
        assert_eq!(Cheat::parse("partial:1.5"), None);
        assert_eq!(Cheat::parse("lazy"), None);
    }

    #[test]
    fn the_pseudo_random_subset_has_the_asked_size() {
        let picked = (0..10_000)
            .filter(|&o| pseudo_random_fraction(0, o) < 0.9)
            .count();
        assert!((8_850..9_150).contains(&picked), "{picked}");
    }

    #[test]
    fn torus_affine_recovers_an_exact_line() {
        // y = 3 acc / 32 + 5 with din = 50, dout = 55: scale 3, intercept 5 * 2^55.
        let points: Vec<(f64, f64)> = (0..100)
            .map(|a| (a as f64, 3.0 * a as f64 / 32.0 + 5.0))
            .collect();
        let (scale, intercept) = torus_affine(&points, 50, 55);
        assert_eq!(scale, 3);
        // Within the f64 rounding of the fit, far below one output unit (2^55).
        assert!(
            (intercept as i64 - (5i64 << 55)).abs() < 1 << 20,
            "{intercept}"
        );
    }
}
