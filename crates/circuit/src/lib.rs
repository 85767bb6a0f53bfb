//! Brainlock circuits and their clear simulation. No FHE here: this crate is what
//! validators trust, and what the encrypted engine must agree with.
//!
//! - [`Circuit`]: the circuit description (shared with the engine), [`encoding`]: the
//!   integer/torus contract, [`Circuit::validate`]: checks for circuits from files or
//!   customers, JSON load and save (FORMAT.md).
//! - [`spec`]: the seeded default architectures ([`vgg9`], [`conv3x3`]),
//!   [`shipped_circuit`]: the circuits miners and validators serve, by name, and
//!   [`calibrate`](calibrate()): choosing ranges and tables from data.
//! - Content ids (`LABEL.HASH`, [`Circuit::with_content_id`]): how circuit files are named.
//! - [`requant`]: activations of imported quantization-aware-trained models.
//! - [`layer_affinities`]: how much of a layer an affine shortcut could compute.
//! - [`Simulator`]: the exact simulation; [`NoisySimulator`] and [`NoiseModel`]: the
//!   noise-aware simulation that predicts agreement of encrypted runs per tfhe-rs
//!   parameter set.

#![deny(missing_docs)]

mod affinity;
pub mod calibrate;
mod content;
pub mod encoding;
mod exact;
mod file;
mod forward;
mod images;
mod linear;
mod model;
mod noise_model;
mod noisy;
pub mod requant;
mod shipped;
pub mod spec;
mod stats;
mod thresholds;
mod validate;

pub use affinity::{LayerAffinity, layer_affinities};
pub use calibrate::{CalibrationConfig, CalibrationError, calibrate};
pub use content::{CONTENT_HASH_HEX, ContentIdError, MAX_CONTENT_LABEL};
pub use exact::{InputError, Simulator, Trace, argmax, cosine};
pub use file::CircuitFileError;
pub use forward::LayerTrace;
pub use images::{
    IMAGE_SHAPE, quantize_pixel, sample_inputs, sample_inputs_of, synthetic_image, synthetic_images,
};
pub use model::{Circuit, Layer, LayerOutput, LinearOp, LookupLayer, Shape};
pub use noise_model::{
    NoiseDistribution, NoiseModel, ParameterSet, keyswitch_variance, storage_variance,
};
pub use noisy::{AgreementReport, LayerAgreement, NoisyRun, NoisySimulator};
pub use shipped::{
    CONV3X3, DEFAULT_CIRCUIT_SEED, SHIPPED_NAMES, TEST_TINY, VGG9, shipped_circuit, test_tiny,
};
pub use spec::{
    Activation, ActivationShape, BuildConfig, LayerSpec, NetworkSpec, conv3x3, conv3x3_with, vgg9,
    vgg9_with,
};
pub use stats::CircuitStats;
pub use validate::{LayerProblem, ValidationError};
