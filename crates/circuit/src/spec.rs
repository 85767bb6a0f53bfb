//! Network architectures before calibration, and the seeded default circuits.
//!
//! A [`NetworkSpec`] fixes the linear ops (with weights) and what each layer's
//! activation should be; [`crate::calibrate`] turns it into a [`Circuit`] by choosing
//! every lookup layer's encoding and tables from data.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::calibrate::{CalibrationConfig, CalibrationError, calibrate};
use crate::images::{IMAGE_SHAPE, synthetic_images};
use crate::model::{Circuit, LinearOp, Shape};
use crate::requant::{MaxOfCodes, Requantizer};

/// The nonlinearity of an 8-bit-style [`Activation::Quantized`] layer, applied to the
/// standardized accumulator `z`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ActivationShape {
    /// `z` itself (a hard-tanh after the quantizer's clamp). Affine over most of its
    /// range, so a miner could compute it without a bootstrap: never for scored
    /// circuits (DESIGN section 5), only for engine tests of rounding.
    Linear,
    /// GELU, `z * Phi(z)`: curved around 0 and negative-dipping, so no affine function
    /// of the accumulator reproduces more than about 30% of its 8-bit outputs.
    Gelu,
}

impl ActivationShape {
    /// The nonlinearity at `z` (standard deviations from the channel mean), before quantization.
    pub fn apply(self, z: f64) -> f64 {
        match self {
            ActivationShape::Linear => z,
            ActivationShape::Gelu => 0.5 * z * (1.0 + libm::erf(z / std::f64::consts::SQRT_2)),
        }
    }
}

/// What a layer does with its accumulator.
#[derive(Clone, Debug, PartialEq)]
pub enum Activation {
    /// BatchNorm + 2-bit narrow-range quantizer: a per-channel step function to
    /// {-1, 0, 1} with calibrated thresholds, zigzagging 0, 1, -1, 1, 0 so that no
    /// affine shortcut computes it (see `thresholds`).
    Ternary,
    /// BatchNorm (standardization from calibration data), then `shape`, then a
    /// symmetric quantizer to `[-max_abs, max_abs]` that maps `shape` at
    /// `full_scale_sigmas` standard deviations to `max_abs`.
    Quantized {
        /// The nonlinearity applied to the standardized accumulator.
        shape: ActivationShape,
        /// Largest |output| of the quantizer (127 for 8-bit outputs).
        max_abs: i64,
        /// Standardized accumulator, in standard deviations, where the output reaches `max_abs`.
        full_scale_sigmas: f64,
    },
    /// A pooled sum of ternary values to {-1, 1} by parity: 1 for odd sums, -1 for
    /// even ones. The sums of four ternary values are few and centre-heavy, and among
    /// all ternary tables over them (an exhaustive search of the 3^9) parity leaves the
    /// least to an affine shortcut, about half; a monotone requant leaves over 90%.
    Parity,
    /// An imported layer's folded activation (scale, bias, BatchNorm, ReLU and the
    /// next quantizer), sampled per channel into the tables.
    Requantize(Requantizer),
    /// A 2x2 max pool after a layer that outputs [`crate::requant::max_pool_codes`]:
    /// the pooled sum of codes becomes the largest level's value.
    MaxOfCodes(MaxOfCodes),
    /// The accumulator leaves the circuit as logits.
    Logits,
}

/// A layer before calibration: its linear part and the activation its table must compute.
#[derive(Clone, Debug, PartialEq)]
pub struct LayerSpec {
    /// Name the circuit layer will carry.
    pub name: String,
    /// The clear linear part, copied into the circuit.
    pub op: LinearOp,
    /// The function of the accumulator that calibration turns into lookup tables.
    pub activation: Activation,
}

/// A network before calibration: a circuit without ranges and tables.
#[derive(Clone, Debug, PartialEq)]
pub struct NetworkSpec {
    /// Wire id the circuit will carry (`vgg9`, `conv3x3`, ...).
    pub id: String,
    /// Shape of the (channel-major) input tensor.
    pub input_shape: Shape,
    /// Bits of the signed integer input.
    pub input_bits: u32,
    /// The layers, applied in order.
    pub layers: Vec<LayerSpec>,
}

/// How the seeded default circuits are built.
#[derive(Clone, Debug, PartialEq)]
pub struct BuildConfig {
    /// Rounding bits, guards and ranges used by [`calibrate()`].
    pub calibration: CalibrationConfig,
    /// Synthetic calibration images (seeded from the weight seed).
    pub calibration_images: usize,
}

impl Default for BuildConfig {
    fn default() -> Self {
        Self {
            calibration: CalibrationConfig::default(),
            calibration_images: 64,
        }
    }
}

/// Seed of the synthetic calibration set that goes with weight seed `seed`; distinct
/// from any validator query stream that uses the seed directly.
pub fn calibration_image_seed(seed: u64) -> u64 {
    seed ^ 0xca11_b4a7_e000_0000
}

fn uniform_weights(rng: &mut ChaCha8Rng, len: usize, min: i8, max: i8) -> Vec<i8> {
    (0..len).map(|_| rng.random_range(min..=max)).collect()
}

/// First-layer filters: each output channel is the difference of two neighbouring
/// pixels of one input channel (+1 and -1 taps, 3x3 kernel). On natural images its
/// accumulator is small (neighbours are correlated), so the layer fits the table at
/// shift <= 0 (exact under noise) instead of rounding an 8-bit-input sum with a
/// range of thousands, whose rounding slips then cascade through the ternary
/// layers (DESIGN section 2).
fn difference_filters(rng: &mut ChaCha8Rng, in_channels: usize, out_channels: usize) -> Vec<i8> {
    let mut weights = vec![0i8; out_channels * in_channels * 9];
    for oc in 0..out_channels {
        let ic = rng.random_range(0..in_channels);
        let horizontal: bool = rng.random();
        let (ky, kx) = if horizontal {
            (rng.random_range(0..3), rng.random_range(0..2))
        } else {
            (rng.random_range(0..2), rng.random_range(0..3))
        };
        let (ny, nx) = if horizontal {
            (ky, kx + 1)
        } else {
            (ky + 1, kx)
        };
        let sign: i8 = if rng.random() { 1 } else { -1 };
        let base = (oc * in_channels + ic) * 9;
        weights[base + ky * 3 + kx] = sign;
        weights[base + ny * 3 + nx] = -sign;
    }
    weights
}

fn layer_rng(seed: u64, layer: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(layer);
    rng
}

/// VGG9 "CNV 2w2a" (DESIGN section 1) with ternary weights from `seed`: uniform on
/// {-1, 0, 1} except the first layer's [`difference_filters`].
pub fn vgg9_spec(seed: u64) -> NetworkSpec {
    let convs = [
        ("c1", 3, 64),
        ("c2", 64, 64),
        ("c3", 64, 128),
        ("c4", 128, 128),
        ("c5", 128, 256),
        ("c6", 256, 256),
    ];
    let mut layers = Vec::new();
    let mut stream = 0u64;
    let mut conv = |name: &str, cin: usize, cout: usize, layers: &mut Vec<LayerSpec>| {
        let mut rng = layer_rng(seed, stream);
        let weights = if stream == 0 {
            difference_filters(&mut rng, cin, cout)
        } else {
            uniform_weights(&mut rng, cout * cin * 9, -1, 1)
        };
        stream += 1;
        layers.push(LayerSpec {
            name: name.into(),
            op: LinearOp::Conv2d {
                in_channels: cin,
                out_channels: cout,
                kernel: 3,
                stride: 1,
                padding: 0,
                weights,
            },
            activation: Activation::Ternary,
        });
    };
    let pool = |name: &str| LayerSpec {
        name: name.into(),
        op: LinearOp::SumPool2x2,
        activation: Activation::Parity,
    };
    for (i, (name, cin, cout)) in convs.into_iter().enumerate() {
        conv(name, cin, cout, &mut layers);
        if i == 1 {
            layers.push(pool("p1"));
        } else if i == 3 {
            layers.push(pool("p2"));
        }
    }
    for (i, (name, inputs, outputs)) in [("f1", 256, 512), ("f2", 512, 512), ("f3", 512, 10)]
        .into_iter()
        .enumerate()
    {
        let weights = uniform_weights(
            &mut layer_rng(seed, 100 + i as u64),
            inputs * outputs,
            -1,
            1,
        );
        let activation = if name == "f3" {
            Activation::Logits
        } else {
            Activation::Ternary
        };
        layers.push(LayerSpec {
            name: name.into(),
            op: LinearOp::Dense {
                inputs,
                outputs,
                weights,
            },
            activation,
        });
    }
    NetworkSpec {
        id: "vgg9".into(),
        input_shape: IMAGE_SHAPE,
        input_bits: 8,
        layers,
    }
}

/// `conv3x3`: one 3x3 convolution 3->3, padding 1, 4-bit weights from `seed`,
/// BatchNorm + GELU + 8-bit quantizer (narrow range, +-127) so its output is a valid
/// input. GELU, not a clamp: every output needs its bootstrap (DESIGN section 5).
pub fn conv3x3_spec(seed: u64) -> NetworkSpec {
    let weights = uniform_weights(&mut layer_rng(seed, 0), 3 * 3 * 9, -8, 7);
    NetworkSpec {
        id: "conv3x3".into(),
        input_shape: IMAGE_SHAPE,
        input_bits: 8,
        layers: vec![LayerSpec {
            name: "conv".into(),
            op: LinearOp::Conv2d {
                in_channels: 3,
                out_channels: 3,
                kernel: 3,
                stride: 1,
                padding: 1,
                weights,
            },
            activation: Activation::Quantized {
                shape: ActivationShape::Gelu,
                max_abs: 127,
                full_scale_sigmas: 3.0,
            },
        }],
    }
}

fn build(spec: &NetworkSpec, seed: u64, config: &BuildConfig) -> Result<Circuit, CalibrationError> {
    let images = synthetic_images(calibration_image_seed(seed), config.calibration_images);
    calibrate(spec, &images, &config.calibration)
}

const DEFAULT_BUILDS: &str = "the built-in architectures calibrate with the default configuration";

/// The seeded default VGG9, calibrated with the default configuration.
pub fn vgg9(seed: u64) -> Circuit {
    vgg9_with(seed, &BuildConfig::default()).expect(DEFAULT_BUILDS)
}

/// The seeded VGG9 (ternary weights, CIFAR-10 shape), calibrated with `config`.
pub fn vgg9_with(seed: u64, config: &BuildConfig) -> Result<Circuit, CalibrationError> {
    build(&vgg9_spec(seed), seed, config)
}

/// The seeded default `conv3x3`, calibrated with the default configuration.
pub fn conv3x3(seed: u64) -> Circuit {
    conv3x3_with(seed, &BuildConfig::default()).expect(DEFAULT_BUILDS)
}

/// The seeded `conv3x3` (one 4-bit 3x3 convolution, image out), calibrated with `config`.
pub fn conv3x3_with(seed: u64, config: &BuildConfig) -> Result<Circuit, CalibrationError> {
    build(&conv3x3_spec(seed), seed, config)
}
