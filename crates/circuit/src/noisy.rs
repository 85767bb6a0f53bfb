//! Noise-aware clear simulation: each lookup reads box `round(position + e)` with
//! `position = (acc - lo + h)/2^s` ([`box_position`], h = 1/2 for s > 0),
//! `e ~ N(0, sigma_c^2)` (DESIGN section 2), and the result is compared with the exact
//! simulation to predict how often an honest encrypted run agrees with it.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

use crate::encoding::{box_index, box_position, wrapped_lookup};
use crate::exact::{InputError, Simulator, Trace, argmax, cosine};
use crate::forward::{self, BoxRounding};
use crate::model::{Circuit, LayerOutput, LookupLayer};
use crate::noise_model::NoiseModel;
use crate::validate::ValidationError;

/// Per layer, per output channel, lookup noise std in boxes.
pub(crate) type LayerSigmas = Vec<Vec<f64>>;

/// Simulates a circuit with Gaussian rounding noise.
#[derive(Debug, Clone)]
pub struct NoisySimulator<'a> {
    exact: Simulator<'a>,
    sigmas: LayerSigmas,
}

/// One noisy run: the trace and, per layer, how many lookups slipped (returned a
/// different value than the exact lookup of the same accumulator).
#[derive(Debug, Clone)]
pub struct NoisyRun {
    /// The run's values, with noisy box indices in every lookup.
    pub trace: Trace,
    /// Per layer: lookups whose noisy box gave another value than the exact one (0 for logits).
    pub slips: Vec<u64>,
}

/// Agreement of one layer over all images.
#[derive(Debug, Clone, PartialEq)]
pub struct LayerAgreement {
    /// Name of the layer in the circuit.
    pub name: String,
    /// Table lookups (one PBS each) of this lookup layer in one image.
    pub lookups_per_image: usize,
    /// Lookups whose noise changed the value, given the (noisy run's) accumulator.
    pub slip_fraction: f64,
    /// Outputs that differ from the exact run (slips plus their cascade).
    pub differ_fraction: f64,
}

/// Noisy vs exact over a set of images.
#[derive(Debug, Clone, PartialEq)]
pub struct AgreementReport {
    /// Images simulated.
    pub images: usize,
    /// Fraction of images with the same argmax (circuits ending in logits).
    pub top1_agreement: Option<f64>,
    /// Mean over images of the cosine between noisy and exact outputs (1 = same).
    pub cosine_mean: f64,
    /// 1st percentile of the per-image output cosine.
    pub cosine_p01: f64,
    /// Smallest per-image output cosine.
    pub cosine_min: f64,
    /// Agreement of each lookup layer, in circuit order (logits layers are left out).
    pub layers: Vec<LayerAgreement>,
}

struct NoisyRounding<'s> {
    sigmas: &'s LayerSigmas,
    rng: ChaCha8Rng,
    spare: Option<f64>,
    rounding_bits: u32,
    slips: Vec<u64>,
}

impl NoisyRounding<'_> {
    /// Standard normal draw (Box-Muller, both halves used).
    fn gaussian(&mut self) -> f64 {
        if let Some(z) = self.spare.take() {
            return z;
        }
        let u1: f64 = 1.0 - self.rng.random::<f64>(); // (0, 1]
        let u2: f64 = self.rng.random::<f64>();
        let radius = (-2.0 * u1.ln()).sqrt();
        let angle = std::f64::consts::TAU * u2;
        self.spare = Some(radius * angle.sin());
        radius * angle.cos()
    }
}

impl BoxRounding for NoisyRounding<'_> {
    fn box_index(&mut self, layer: usize, channel: usize, lookup: &LookupLayer, acc: i64) -> i64 {
        let lo = lookup.lo[channel];
        let exact = box_index(acc, lo, lookup.shift);
        let sigma = self.sigmas[layer][channel];
        if sigma == 0.0 {
            return exact;
        }
        let position = box_position(acc, lo, lookup.shift);
        let noisy = (position + sigma * self.gaussian() + 0.5).floor() as i64;
        let table = &lookup.tables[channel];
        if noisy != exact
            && wrapped_lookup(table, noisy, self.rounding_bits)
                != wrapped_lookup(table, exact, self.rounding_bits)
        {
            self.slips[layer] += 1;
        }
        noisy
    }
}

impl<'a> NoisySimulator<'a> {
    /// Noise predicted by `model` for each lookup of `circuit`.
    pub fn new(circuit: &'a Circuit, model: &NoiseModel) -> Result<Self, ValidationError> {
        Self::with_sigmas(circuit, model.layer_sigmas(circuit))
    }

    /// Explicit noise std per layer and channel (boxes); must match the circuit.
    pub fn with_sigmas(circuit: &'a Circuit, sigmas: LayerSigmas) -> Result<Self, ValidationError> {
        let exact = Simulator::new(circuit)?;
        let fits = sigmas.len() == circuit.layers.len()
            && circuit
                .layers
                .iter()
                .zip(&sigmas)
                .all(|(layer, s)| match &layer.output {
                    LayerOutput::Lookup(l) => {
                        s.len() == l.lo.len() && s.iter().all(|v| v.is_finite() && *v >= 0.0)
                    }
                    LayerOutput::Accumulator { .. } => s.is_empty(),
                });
        if !fits {
            return Err(ValidationError::NoiseShape);
        }
        Ok(Self { exact, sigmas })
    }

    /// The same noise std for every lookup.
    pub fn uniform(circuit: &'a Circuit, sigma: f64) -> Result<Self, ValidationError> {
        let sigmas = circuit
            .layers
            .iter()
            .map(|layer| match &layer.output {
                LayerOutput::Lookup(l) => vec![sigma; l.lo.len()],
                LayerOutput::Accumulator { .. } => Vec::new(),
            })
            .collect();
        Self::with_sigmas(circuit, sigmas)
    }

    /// Per layer and output channel: std of the noise added to the box index, in boxes.
    pub fn sigmas(&self) -> &LayerSigmas {
        &self.sigmas
    }

    /// One noisy run; `seed` fixes the noise.
    pub fn run(&self, input: &[i64], seed: u64) -> Result<NoisyRun, InputError> {
        let narrowed = self.exact.check_input(input)?;
        let circuit = self.exact.circuit();
        let mut rounding = NoisyRounding {
            sigmas: &self.sigmas,
            rng: ChaCha8Rng::seed_from_u64(seed),
            spare: None,
            rounding_bits: circuit.rounding_bits,
            slips: vec![0; circuit.layers.len()],
        };
        let mut layers = Vec::with_capacity(circuit.layers.len());
        let output = forward::run(
            circuit,
            self.exact.shapes(),
            &narrowed,
            &mut rounding,
            Some(&mut layers),
        );
        Ok(NoisyRun {
            trace: Trace { layers, output },
            slips: rounding.slips,
        })
    }

    /// Noisy vs exact over `images` (image i uses noise seed `seed + i`), in parallel.
    pub fn agreement(&self, images: &[Vec<i64>], seed: u64) -> Result<AgreementReport, InputError> {
        let circuit = self.exact.circuit();
        let per_image: Vec<ImageAgreement> = images
            .par_iter()
            .enumerate()
            .map(|(i, image)| {
                let exact = self.exact.run_traced(image)?;
                let noisy = self.run(image, seed.wrapping_add(i as u64))?;
                let differ = exact
                    .layers
                    .iter()
                    .zip(&noisy.trace.layers)
                    .map(|(e, n)| {
                        e.outputs
                            .iter()
                            .zip(&n.outputs)
                            .filter(|(a, b)| a != b)
                            .count() as u64
                    })
                    .collect();
                Ok(ImageAgreement {
                    same_top1: argmax(&exact.output) == argmax(&noisy.trace.output),
                    cosine: cosine(&exact.output, &noisy.trace.output),
                    slips: noisy.slips,
                    differ,
                })
            })
            .collect::<Result<_, InputError>>()?;
        let count = per_image.len().max(1) as f64;
        let mut cosines: Vec<f64> = per_image.iter().map(|a| a.cosine).collect();
        cosines.sort_by(f64::total_cmp);
        let is_logits = matches!(
            circuit.layers.last().map(|l| &l.output),
            Some(LayerOutput::Accumulator { .. })
        );
        let layers = circuit
            .layers
            .iter()
            .enumerate()
            .filter(|(_, layer)| matches!(layer.output, LayerOutput::Lookup(_)))
            .map(|(index, layer)| {
                let lookups = self.exact.shapes().layer_output(index).len();
                let total = lookups as f64 * count;
                LayerAgreement {
                    name: layer.name.clone(),
                    lookups_per_image: lookups,
                    slip_fraction: per_image.iter().map(|a| a.slips[index]).sum::<u64>() as f64
                        / total,
                    differ_fraction: per_image.iter().map(|a| a.differ[index]).sum::<u64>() as f64
                        / total,
                }
            })
            .collect();
        Ok(AgreementReport {
            images: per_image.len(),
            top1_agreement: is_logits
                .then(|| per_image.iter().filter(|a| a.same_top1).count() as f64 / count),
            cosine_mean: cosines.iter().sum::<f64>() / count,
            cosine_p01: percentile(&cosines, 0.01),
            cosine_min: cosines.first().copied().unwrap_or(1.0),
            layers,
        })
    }
}

struct ImageAgreement {
    same_top1: bool,
    cosine: f64,
    slips: Vec<u64>,
    differ: Vec<u64>,
}

/// Lower percentile of sorted values (nearest rank); 1 for no values.
fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 1.0;
    }
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}
