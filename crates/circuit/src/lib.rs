//! Brainlock circuits and their clear simulation. No FHE here: this crate is what
//! validators trust, and what the encrypted engine must agree with.
//!
//! - [`model`]: the circuit description (shared with the engine), [`encoding`]: the
//!   integer/torus contract, [`validate`]: checks for circuits from files or customers,
//!   [`file`]: JSON load/save (FORMAT.md).
//! - [`spec`]: the seeded default architectures ([`vgg9`], [`conv3x3`]), [`shipped`]:
//!   the circuits miners and validators serve, by name, and
//!   [`calibrate`]: choosing ranges and tables from data.
//! - [`affinity`]: how much of a layer an affine shortcut could compute.
//! - [`exact`]: the exact simulation; [`noisy`] + [`noise_model`]: the noise-aware
//!   simulation that predicts agreement of encrypted runs per tfhe-rs parameter set.

#![deny(missing_docs)]

pub mod affinity;
pub mod calibrate;
pub mod encoding;
pub mod exact;
pub mod file;
mod forward;
pub mod images;
mod linear;
pub mod model;
pub mod noise_model;
pub mod noisy;
pub mod shipped;
pub mod spec;
pub mod stats;
mod thresholds;
pub mod validate;

pub use affinity::{LayerAffinity, layer_affinities};
pub use calibrate::{CalibrationConfig, CalibrationError, calibrate};
pub use exact::{InputError, Simulator, Trace, argmax, cosine};
pub use file::CircuitFileError;
pub use forward::LayerTrace;
pub use images::{sample_inputs, synthetic_image, synthetic_images};
pub use model::{Circuit, Layer, LayerOutput, LinearOp, LookupLayer, Shape};
pub use noise_model::{NoiseDistribution, NoiseModel, ParameterSet};
pub use noisy::{AgreementReport, LayerAgreement, NoisyRun, NoisySimulator};
pub use shipped::{
    CONV3X3, DEFAULT_CIRCUIT_SEED, SHIPPED_NAMES, TEST_TINY, VGG9, shipped_circuit, test_tiny,
};
pub use spec::{BuildConfig, conv3x3, conv3x3_with, vgg9, vgg9_with};
pub use stats::CircuitStats;
pub use validate::{LayerProblem, ValidationError};
