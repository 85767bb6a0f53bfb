//! Import of quantization-aware-trained ONNX models (Brevitas QCDQ exports, and QONNX
//! `Quant` nodes) as Brainlock circuits.
//!
//! [`lower_model`] reads the graph and folds every layer's scales, bias, BatchNorm,
//! ReLU and output quantizer into one function per output channel (see `lower`);
//! [`Lowered::calibrate`] samples those functions into lookup tables at rounding R,
//! with ranges from calibration inputs, and yields a validated [`Circuit`].
//!
//! The circuit's input is the model's first quantizer's integers (`q - zero_point`);
//! anything before that quantizer is the caller's preprocessing. Its logits are the
//! last layer's integer accumulators: their real values are a common positive
//! multiple ([`Lowered::notes`] gives it).

#![deny(missing_docs)]

mod error;
mod lower;
pub mod proto;
mod tensor;

use std::io::Read;
use std::path::Path;

use brainlock_circuit::{CalibrationConfig, Circuit, calibrate};
use prost::Message;

pub use error::{ImportError, MAX_ACTIVATION_BITS, MAX_WEIGHT_BITS, SUPPORTED_OPERATORS};
pub use lower::{InputQuantizer, Lowered};

/// Largest model file import reads (1 GiB).
pub const MAX_MODEL_BYTES: u64 = 1 << 30;

/// Reads an ONNX file (at most [`MAX_MODEL_BYTES`]).
pub fn read_model(path: impl AsRef<Path>) -> Result<Vec<u8>, ImportError> {
    let path = path.as_ref();
    let read_err = |source| ImportError::Read {
        path: path.display().to_string(),
        source,
    };
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .map_err(read_err)?
        .take(MAX_MODEL_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(read_err)?;
    Ok(bytes)
}

/// Decodes an ONNX model and lowers its graph to Brainlock layers; the circuit will be
/// called `id`.
pub fn lower_model(bytes: &[u8], id: &str) -> Result<Lowered, ImportError> {
    if bytes.len() as u64 > MAX_MODEL_BYTES {
        return Err(ImportError::TooLarge {
            max: MAX_MODEL_BYTES,
        });
    }
    let model = proto::ModelProto::decode(bytes)?;
    let graph = model
        .graph
        .as_ref()
        .ok_or_else(|| ImportError::Graph("holds no graph".into()))?;
    lower::lower(graph, id)
}

impl Lowered {
    /// Chooses every lookup layer's shift, offsets and tables from `inputs` (integers
    /// of the circuit's input), at `config`'s rounding R.
    pub fn calibrate(
        &self,
        inputs: &[Vec<i64>],
        config: &CalibrationConfig,
    ) -> Result<Circuit, ImportError> {
        Ok(calibrate(&self.spec, inputs, config)?)
    }
}
