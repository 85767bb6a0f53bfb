//! Errors of the encrypted engine. Every malformed input from the network maps to one of
//! these; nothing a peer sends may panic or allocate without bound.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum EngineError {
    #[error("unknown parameter profile `{0}`")]
    UnknownProfile(String),
    #[error("{what} was made for profile `{found}`, expected `{expected}`")]
    WrongProfile {
        what: &'static str,
        expected: String,
        found: String,
    },
    #[error("{what}: not a Brainlock blob (bad magic or unsupported version)")]
    BadHeader { what: &'static str },
    #[error("{what}: {found} bytes, expected {expected}")]
    WrongSize {
        what: &'static str,
        expected: u64,
        found: u64,
    },
    #[error("{what}: {size} bytes exceeds the limit of {limit}")]
    TooLarge {
        what: &'static str,
        size: u64,
        limit: u64,
    },
    #[error("{what} does not conform to the parameter set")]
    NotConformant { what: &'static str },
    #[error("{what}: expected {expected} ciphertexts, got {found}")]
    WrongShape {
        what: &'static str,
        expected: u64,
        found: u64,
    },
    #[error("invalid circuit")]
    InvalidCircuit(#[from] brainlock_circuit::ValidationError),
    #[error("R = {rounding_bits} needs boxes of at least 2 slots at N = {polynomial_size}")]
    BoxesTooSmall {
        rounding_bits: u32,
        polynomial_size: usize,
    },
    #[error("invalid input")]
    InvalidInput(#[from] brainlock_circuit::InputError),
    #[error("input value {value} at index {index} does not fit in {bits} signed bits")]
    InputOutOfRange { index: usize, value: i64, bits: u32 },
}

pub type Result<T> = std::result::Result<T, EngineError>;
