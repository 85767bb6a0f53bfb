//! Circuit files: serde JSON of [`Circuit`] (see FORMAT.md), validated on load.

use std::io::Read;
use std::path::Path;

use thiserror::Error;

use crate::model::Circuit;
use crate::validate::ValidationError;

/// Largest circuit file accepted (VGG9 with its tables is about 5 MB).
pub(crate) const MAX_CIRCUIT_FILE_BYTES: u64 = 256 << 20;

/// Why a circuit file could not be loaded or saved (FORMAT.md).
#[derive(Debug, Error)]
pub enum CircuitFileError {
    /// The file could not be opened or read.
    #[error("cannot read circuit file {path}: {source}")]
    Read {
        /// The path as given.
        path: String,
        /// The I/O failure.
        source: std::io::Error,
    },
    /// The file could not be created or written.
    #[error("cannot write circuit file {path}: {source}")]
    Write {
        /// The path as given.
        path: String,
        /// The I/O failure.
        source: std::io::Error,
    },
    /// The file or JSON exceeds [`MAX_CIRCUIT_FILE_BYTES`]; refused before parsing.
    #[error("circuit file is larger than {MAX_CIRCUIT_FILE_BYTES} bytes")]
    TooLarge,
    /// The bytes are not JSON of a circuit (syntax, missing field, wrong type).
    #[error("circuit JSON is malformed: {0}")]
    Json(#[from] serde_json::Error),
    /// The JSON parses but the circuit fails validation.
    #[error("circuit is invalid: {0}")]
    Invalid(#[from] ValidationError),
}

impl Circuit {
    /// Parses and validates a circuit from JSON bytes.
    pub fn from_json(bytes: &[u8]) -> Result<Self, CircuitFileError> {
        if bytes.len() as u64 > MAX_CIRCUIT_FILE_BYTES {
            return Err(CircuitFileError::TooLarge);
        }
        let circuit: Circuit = serde_json::from_slice(bytes)?;
        circuit.validate()?;
        Ok(circuit)
    }

    /// Validates and serializes to compact JSON.
    pub fn to_json(&self) -> Result<Vec<u8>, CircuitFileError> {
        self.validate()?;
        Ok(serde_json::to_vec(self)?)
    }

    /// Reads, parses and validates a circuit file.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, CircuitFileError> {
        let path = path.as_ref();
        let read_err = |source| CircuitFileError::Read {
            path: path.display().to_string(),
            source,
        };
        let file = std::fs::File::open(path).map_err(read_err)?;
        let mut bytes = Vec::new();
        file.take(MAX_CIRCUIT_FILE_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(read_err)?;
        Self::from_json(&bytes)
    }

    /// Validates and writes the circuit as JSON.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<(), CircuitFileError> {
        let path = path.as_ref();
        let bytes = self.to_json()?;
        std::fs::write(path, bytes).map_err(|source| CircuitFileError::Write {
            path: path.display().to_string(),
            source,
        })
    }
}
