//! Brainlock circuits and their clear simulation. No FHE here: this crate is what
//! validators trust, and what the encrypted engine must agree with.

pub mod encoding;
pub mod model;

pub use model::{Circuit, Layer, LayerOutput, LinearOp, LookupLayer, Shape};
