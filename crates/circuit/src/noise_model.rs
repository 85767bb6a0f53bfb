//! Noise of one encrypted lookup, predicted from a tfhe-rs parameter set (DESIGN
//! section 2, "KS-PBS" order: linear part on PBS outputs under the GLWE key seen as an
//! LWE key, then one keyswitch and one PBS per accumulator).
//!
//! Variances are in torus units (fraction of q = 2^64, squared) unless the name says
//! "boxes": one box is q / 2^(R+1), the width of one table entry in the phase.
//!
//! Formulas and their sources:
//! - PBS output: tfhe-rs 1.8 `core_crypto/commons/noise_formulas/lwe_programmable_bootstrap.rs`
//!   (`pbs_variance_132_bits_security_*_fft_mul_impl`, from the TFHE analysis of
//!   Chillotti et al. plus Zama's fitted FFT term), with the bootstrapping key's
//!   actual encryption variance in place of the 132-bit security bound.
//! - Keyswitch: tfhe-rs 1.8 `noise_formulas/lwe_keyswitch.rs`
//!   (`keyswitch_additive_variance_132_bits_security_*_impl`), likewise with the
//!   keyswitching key's actual variance.
//! - Modulus switch to 2N: DESIGN section 2; the centered binary switch matches
//!   tfhe-rs `noise_formulas/centered_mean_shifted_modulus_switch.rs` (n/48 per
//!   (2N)^2) plus the body's rounding (1/12), the plain switch
//!   `noise_formulas/modulus_switch.rs` ((1 + n/2)/12).

use serde::{Deserialize, Serialize};

use crate::model::{Circuit, LayerOutput, LinearOp};

/// Distribution of an encryption noise, as tfhe-rs parameter sets state it.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum NoiseDistribution {
    /// Integers uniform on `[-2^b, 2^b]`, ends at half weight (tfhe-rs `TUniform(b)`),
    /// on the native modulus 2^64.
    TUniform {
        /// b: the noise is at most 2^b in magnitude, as an integer modulo 2^64.
        bound_log2: u32,
    },
    /// Gaussian with standard deviation `std_dev` in torus units (tfhe-rs `StandardDev`).
    Gaussian {
        /// Standard deviation as a fraction of the torus (so in `(0, 1)`).
        std_dev: f64,
    },
}

impl NoiseDistribution {
    /// Variance in torus units.
    pub fn variance(&self) -> f64 {
        match *self {
            // Var = (2^(2b+1) + 1) / 6 integer units; q^2 = 2^128.
            NoiseDistribution::TUniform { bound_log2 } => {
                ((2.0 * bound_log2 as f64 + 1.0).exp2() + 1.0) / 6.0 / 128f64.exp2()
            }
            NoiseDistribution::Gaussian { std_dev } => std_dev * std_dev,
        }
    }
}

/// The numbers of a tfhe-rs parameter set that matter for noise.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ParameterSet {
    /// tfhe-rs name of the parameter set, as reported and selected by name.
    pub name: String,
    /// LWE (small key) dimension n.
    pub lwe_dimension: usize,
    /// GLWE dimension k.
    pub glwe_dimension: usize,
    /// Polynomial size N.
    pub polynomial_size: usize,
    /// Noise of encryptions under the LWE key (the keyswitching key).
    pub lwe_noise: NoiseDistribution,
    /// Noise of encryptions under the GLWE key (bootstrapping key, fresh inputs).
    pub glwe_noise: NoiseDistribution,
    /// log2 of the gadget base of the bootstrapping key's decomposition.
    pub pbs_base_log: u32,
    /// Levels of the bootstrapping key's gadget decomposition.
    pub pbs_level: u32,
    /// log2 of the gadget base of the key-switching key's decomposition.
    pub ks_base_log: u32,
    /// Levels of the key-switching key's gadget decomposition.
    pub ks_level: u32,
    /// Centered binary modulus switch before the blind rotation.
    pub centered_modulus_switch: bool,
}

impl ParameterSet {
    /// tfhe-rs `V1_4_PARAM_MESSAGE_2_CARRY_2_KS_PBS_TUNIFORM_2M128` (= V1_8 alias).
    pub fn tfhe_rs_n2048() -> Self {
        Self {
            name: "N2048 (PARAM_MESSAGE_2_CARRY_2_KS_PBS_TUNIFORM_2M128)".into(),
            lwe_dimension: 918,
            glwe_dimension: 1,
            polynomial_size: 2048,
            lwe_noise: NoiseDistribution::TUniform { bound_log2: 45 },
            glwe_noise: NoiseDistribution::TUniform { bound_log2: 17 },
            pbs_base_log: 23,
            pbs_level: 1,
            ks_base_log: 4,
            ks_level: 4,
            centered_modulus_switch: true,
        }
    }

    /// tfhe-rs `V1_4_PARAM_MESSAGE_2_CARRY_3_KS_PBS_GAUSSIAN_2M128`.
    pub fn tfhe_rs_n4096() -> Self {
        Self {
            name: "N4096 (PARAM_MESSAGE_2_CARRY_3_KS_PBS_GAUSSIAN_2M128)".into(),
            lwe_dimension: 930,
            glwe_dimension: 1,
            polynomial_size: 4096,
            lwe_noise: NoiseDistribution::Gaussian {
                std_dev: 6.782362904013915e-07,
            },
            glwe_noise: NoiseDistribution::Gaussian {
                std_dev: 2.168404344971009e-19,
            },
            pbs_base_log: 15,
            pbs_level: 2,
            ks_base_log: 3,
            ks_level: 6,
            centered_modulus_switch: true,
        }
    }

    /// tfhe-rs `V1_4_PARAM_MESSAGE_3_CARRY_3_KS_PBS_TUNIFORM_2M128`.
    pub fn tfhe_rs_n8192() -> Self {
        Self {
            name: "N8192 (PARAM_MESSAGE_3_CARRY_3_KS_PBS_TUNIFORM_2M128)".into(),
            lwe_dimension: 1077,
            glwe_dimension: 1,
            polynomial_size: 8192,
            lwe_noise: NoiseDistribution::TUniform { bound_log2: 41 },
            glwe_noise: NoiseDistribution::TUniform { bound_log2: 3 },
            pbs_base_log: 15,
            pbs_level: 2,
            ks_base_log: 4,
            ks_level: 5,
            centered_modulus_switch: true,
        }
    }

    /// The candidate sets of DESIGN section 2, smallest N first.
    pub fn candidates() -> Vec<Self> {
        vec![
            Self::tfhe_rs_n2048(),
            Self::tfhe_rs_n4096(),
            Self::tfhe_rs_n8192(),
        ]
    }
}

/// Predicted noise of every stage for one parameter set.
#[derive(Clone, Debug, PartialEq)]
pub struct NoiseModel {
    /// The parameter set the predictions are for.
    pub params: ParameterSet,
    /// Variance of a PBS output (torus).
    pub pbs_output_variance: f64,
    /// Variance added by one keyswitch from k*N to n (torus).
    pub keyswitch_variance: f64,
    /// Variance of a fresh input encryption under the GLWE key (torus).
    pub fresh_variance: f64,
}

/// Bits of an f64 mantissa (the FFT's precision in tfhe-rs's noise formula).
const FFT_MANTISSA_BITS: f64 = 53.0;
/// log2 of the ciphertext modulus.
const LOG2_Q: f64 = 64.0;

impl NoiseModel {
    /// Predicts the variances of PBS outputs, key switches and fresh encryptions under `params`.
    pub fn new(params: &ParameterSet) -> Self {
        let n = params.lwe_dimension as f64;
        let k = params.glwe_dimension as f64;
        let big_n = params.polynomial_size as f64;
        let q_inv2 = (-2.0 * LOG2_Q).exp2();

        let base = (params.pbs_base_log as f64).exp2();
        let level = params.pbs_level as f64;
        let fft = 0.00705
            * (2.0 * (LOG2_Q - FFT_MANTISSA_BITS).max(0.0) + 2.0 * base.log2() - 2.0 * LOG2_Q)
                .exp2()
            * level.powf(1.01827)
            * k.powf(1.22003)
            * big_n.powf(2.22003)
            * (k + 1.0).powf(1.01827);
        let key = level
            * big_n
            * params.glwe_noise.variance()
            * (base * base / 12.0 + 1.0 / 6.0)
            * (k + 1.0);
        let decomposition = 0.5 * k * big_n * (q_inv2 / 48.0 + base.powf(-2.0 * level) / 24.0)
            + base.powf(-2.0 * level) / 24.0
            - q_inv2 / 24.0;
        let pbs_output_variance = n * (fft + key + decomposition);

        let keyswitch_variance = keyswitch_variance(
            params.glwe_dimension * params.polynomial_size,
            params.ks_base_log,
            params.ks_level,
            params.lwe_noise,
            1,
        );

        Self {
            params: params.clone(),
            pbs_output_variance,
            keyswitch_variance,
            fresh_variance: params.glwe_noise.variance(),
        }
    }

    /// Variance (in boxes) of the modulus switch to 2N before the blind rotation.
    pub fn modulus_switch_variance_boxes(&self, rounding_bits: u32) -> f64 {
        let n = self.params.lwe_dimension as f64;
        let ratio =
            (rounding_bits as f64 + 1.0).exp2() / (2.0 * self.params.polynomial_size as f64);
        let per = if self.params.centered_modulus_switch {
            1.0 / 12.0 + n / 48.0
        } else {
            (1.0 + n / 2.0) / 12.0
        };
        ratio * ratio * per
    }

    /// Noise std (in boxes) of a lookup whose accumulator has weight 2-norm squared
    /// `weight_norm2` over inputs of variance `input_variance` (torus).
    pub fn lookup_sigma_boxes(
        &self,
        rounding_bits: u32,
        weight_norm2: f64,
        input_variance: f64,
    ) -> f64 {
        let box_scale = (2.0 * (rounding_bits as f64 + 1.0)).exp2();
        let torus = weight_norm2 * input_variance + self.keyswitch_variance;
        (self.modulus_switch_variance_boxes(rounding_bits) + torus * box_scale).sqrt()
    }

    /// Per layer, per output channel, the lookup noise std in boxes (empty for the
    /// accumulator layer). Layer 0 sums fresh encryptions, later layers PBS outputs.
    pub fn layer_sigmas(&self, circuit: &Circuit) -> Vec<Vec<f64>> {
        circuit
            .layers
            .iter()
            .enumerate()
            .map(|(index, layer)| {
                let LayerOutput::Lookup(lookup) = &layer.output else {
                    return Vec::new();
                };
                let input_variance = if index == 0 {
                    self.fresh_variance
                } else {
                    self.pbs_output_variance
                };
                channel_weight_norms2(&layer.op, lookup.lo.len())
                    .into_iter()
                    .map(|norm2| {
                        self.lookup_sigma_boxes(circuit.rounding_bits, norm2, input_variance)
                    })
                    .collect()
            })
            .collect()
    }

    /// Variance (torus) of the circuit's output values before they leave the miner: a
    /// PBS output for a circuit ending in a lookup, the noisiest channel's weighted sum
    /// for one ending in an accumulator.
    pub fn output_variance(&self, circuit: &Circuit) -> f64 {
        let Some(last) = circuit.layers.last() else {
            return self.fresh_variance;
        };
        match last.output {
            LayerOutput::Lookup(_) => self.pbs_output_variance,
            LayerOutput::Accumulator { .. } => {
                let input_variance = if circuit.layers.len() == 1 {
                    self.fresh_variance
                } else {
                    self.pbs_output_variance
                };
                let worst = channel_weight_norms2(&last.op, 1)
                    .into_iter()
                    .fold(0.0, f64::max);
                worst.max(1.0) * input_variance
            }
        }
    }

    /// Std (in output units) of a decrypted accumulator layer's output noise with
    /// scale 2^delta_log2 and weight 2-norm squared `weight_norm2`.
    pub fn accumulator_sigma(&self, delta_log2: u32, weight_norm2: f64) -> f64 {
        (weight_norm2 * self.pbs_output_variance).sqrt() * (LOG2_Q - delta_log2 as f64).exp2()
    }
}

/// Variance (torus) a keyswitch adds to each coefficient of its output: `input_dimension`
/// key coefficients, `levels` digits of base 2^`base_log`, key rows encrypted with
/// `key_noise`. `packed` ciphertexts keyswitched into one GLWE each bring their own key
/// noise to every coefficient (tfhe-rs `noise_formulas/lwe_packing_keyswitch.rs`); the
/// rounding of the decomposition lands on the ciphertext's own coefficient only. An LWE
/// keyswitch is the case `packed = 1` (`noise_formulas/lwe_keyswitch.rs`).
pub fn keyswitch_variance(
    input_dimension: usize,
    base_log: u32,
    levels: u32,
    key_noise: NoiseDistribution,
    packed: usize,
) -> f64 {
    let q_inv2 = (-2.0 * LOG2_Q).exp2();
    let (n, base, levels) = (
        input_dimension as f64,
        (base_log as f64).exp2(),
        levels as f64,
    );
    levels * n * packed as f64 * key_noise.variance() * (base * base / 12.0 + 1.0 / 6.0)
        + n * (q_inv2 / 48.0 + base.powf(-2.0 * levels) / 24.0)
}

/// Variance (torus) of rounding a ciphertext with `mask_len` mask coefficients under a
/// binary key from modulus 2^64 to 2^`bits` (tfhe-rs `noise_formulas/modulus_switch.rs`,
/// the 2^-64 terms dropped).
pub fn storage_variance(mask_len: usize, bits: u32) -> f64 {
    (mask_len as f64 / 24.0 + 1.0 / 12.0) * (-2.0 * bits as f64).exp2()
}

/// Squared 2-norm of each output channel's weights (the noise gain of the sum).
pub(crate) fn channel_weight_norms2(op: &LinearOp, channels: usize) -> Vec<f64> {
    let norm2 = |row: &[i8]| row.iter().map(|&w| (w as f64).powi(2)).sum::<f64>();
    match op {
        LinearOp::Conv2d {
            weights,
            out_channels,
            ..
        } if *out_channels > 0 => weights
            .chunks(weights.len().div_ceil(*out_channels).max(1))
            .map(norm2)
            .collect(),
        LinearOp::Dense {
            weights, inputs, ..
        } if *inputs > 0 => weights.chunks(*inputs).map(norm2).collect(),
        LinearOp::SumPool2x2 => vec![4.0; channels],
        _ => vec![0.0; channels],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn n2048_matches_design_figures() {
        let model = NoiseModel::new(&ParameterSet::tfhe_rs_n2048());
        // DESIGN: about 0.14 box std from the centered switch at R = 6, N = 2048.
        let ms = model.modulus_switch_variance_boxes(6).sqrt();
        assert!((0.13..0.15).contains(&ms), "{ms}");
        // c6 (2-norm^2 ~ 1536) adds about 0.1-0.2 box of sum noise.
        let total = model.lookup_sigma_boxes(6, 1536.0, model.pbs_output_variance);
        assert!(total > ms * 1.1 && total < 0.3, "{total}");
        // The PBS output std is far below one box.
        assert!(model.pbs_output_variance.sqrt() < 2f64.powi(-12));
    }

    #[test]
    fn larger_n_is_quieter() {
        let sig = |p: ParameterSet| {
            NoiseModel::new(&p).lookup_sigma_boxes(
                6,
                1000.0,
                NoiseModel::new(&p).pbs_output_variance,
            )
        };
        let (a, b, c) = (
            sig(ParameterSet::tfhe_rs_n2048()),
            sig(ParameterSet::tfhe_rs_n4096()),
            sig(ParameterSet::tfhe_rs_n8192()),
        );
        assert!(a > b && b > c, "{a} {b} {c}");
    }

    #[test]
    fn tuniform_variance() {
        // TUniform(0): values -1, 0, 1 with weights 1/4, 1/2, 1/4 -> variance 1/2.
        let v = NoiseDistribution::TUniform { bound_log2: 0 }.variance() * 128f64.exp2();
        assert!((v - 0.5).abs() < 1e-12);
    }
}
