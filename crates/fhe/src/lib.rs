//! Brainlock's encrypted engine on tfhe-rs `core_crypto`: parameter profiles, client and
//! evaluation keys, seeded/compressed wire formats, KS-PBS evaluation of circuits, and the
//! benchmark behind `brainlock bench`. The noise formulas live in the circuit crate
//! (`brainlock_circuit::NoiseModel`, fed by [`Profile::parameter_set`]); this crate's
//! tests check them against real ciphertexts.

#![deny(missing_docs)]

#[cfg(feature = "adversary")]
pub mod adversary;
pub mod batch;
pub mod bench;
mod blind_rotation;
mod ciphertext;
mod compression;
#[cfg(feature = "cuda")]
mod cuda;
mod engine;
mod error;
mod evaluator;
mod keys;
mod keyswitch;
#[cfg(test)]
mod noise_check;
pub mod plan;
mod profile;
mod wire;
pub mod workload;

pub use ciphertext::{EncryptedInput, EncryptedOutput};
pub use compression::{OUTPUT_SIGMAS, OutputForm};
pub use engine::evaluate;
pub use error::{EngineError, Result};
pub use evaluator::{Backend, CpuEvaluator, Evaluator};
pub use keys::{ClientKey, CompressedEvaluationKey, EvaluationKey};
pub use profile::{Narrowing, Packing, Profile};
pub use wire::{Limits, VERSION as WIRE_VERSION};
