//! Errors of the encrypted engine. Every malformed input from the network maps to one of
//! these; nothing a peer sends may panic or allocate without bound.

use thiserror::Error;

/// Why the engine refused a key, ciphertext, circuit or input: every rejection of
/// untrusted bytes is one of these, raised before any bound-exceeding allocation.
#[derive(Debug, Error)]
pub enum EngineError {
    /// A blob or request names a profile id that is not one of [`crate::Profile::all`].
    #[error("unknown parameter profile `{0}`")]
    UnknownProfile(String),
    /// A key, ciphertext or input was made for another profile than the one it is used with.
    #[error("{what} was made for profile `{found}`, expected `{expected}`")]
    WrongProfile {
        /// The object checked (e.g. "encrypted input").
        what: &'static str,
        /// Profile id required here.
        expected: String,
        /// Profile id the object carries.
        found: String,
    },
    /// A blob's magic or format version is wrong, or its header is truncated or its
    /// profile id longer than the wire allows.
    #[error("{what}: not a Brainlock blob (bad magic or unsupported version)")]
    BadHeader {
        /// The object being parsed.
        what: &'static str,
    },
    /// A blob's length differs from what its profile (and circuit) imply, or it is truncated.
    #[error("{what}: {found} bytes, expected {expected}")]
    WrongSize {
        /// The object being parsed.
        what: &'static str,
        /// Length implied by the profile and circuit, in bytes.
        expected: u64,
        /// Length actually received, in bytes.
        found: u64,
    },
    /// A blob is larger than the configured [`crate::Limits`]; rejected before parsing.
    #[error("{what}: {size} bytes exceeds the limit of {limit}")]
    TooLarge {
        /// The object being parsed.
        what: &'static str,
        /// Blob size, in bytes.
        size: u64,
        /// Configured maximum, in bytes.
        limit: u64,
    },
    /// A decoded keyswitching or bootstrapping key's dimensions or decomposition do not
    /// match its profile (tfhe-rs `is_conformant`).
    #[error("{what} does not conform to the parameter set")]
    NotConformant {
        /// The key checked.
        what: &'static str,
    },
    /// A result frame in another form than the profile and circuit call for.
    #[error("{what}: expected form {expected}, got {found}")]
    WrongForm {
        /// What was being parsed.
        what: &'static str,
        /// The form the profile and circuit call for.
        expected: String,
        /// What the frame claimed.
        found: String,
    },
    /// A ciphertext list or clear input has a different count than the circuit's input
    /// or output shape.
    #[error("{what}: expected {expected} ciphertexts, got {found}")]
    WrongShape {
        /// The object checked.
        what: &'static str,
        /// Count the circuit implies, in ciphertexts (or values).
        expected: u64,
        /// Count received.
        found: u64,
    },
    /// The circuit failed the circuit crate's validation (shapes, tables, ranges).
    #[error("invalid circuit")]
    InvalidCircuit(#[from] brainlock_circuit::ValidationError),
    /// The circuit's rounding bits leave fewer than 2 test-polynomial slots per lookup box
    /// at the profile's N (needs R + 1 < log2 N).
    #[error("R = {rounding_bits} needs boxes of at least 2 slots at N = {polynomial_size}")]
    BoxesTooSmall {
        /// The circuit's rounding bits R.
        rounding_bits: u32,
        /// The profile's GLWE polynomial size N.
        polynomial_size: usize,
    },
    /// The clear input was rejected by the circuit crate (wrong length or a value out of range).
    #[error("invalid input")]
    InvalidInput(#[from] brainlock_circuit::InputError),
    /// A clear input value exceeds the circuit's signed input width, so it cannot be encoded.
    #[error("input value {value} at index {index} does not fit in {bits} signed bits")]
    InputOutOfRange {
        /// Position of the value in the input.
        index: usize,
        /// The offending value.
        value: i64,
        /// The circuit's input width, in signed bits.
        bits: u32,
    },
    /// A layer has more terms or ciphertexts than a device backend's 32-bit index lists
    /// can address.
    #[error("layer `{layer}` is too large for a device backend's 32-bit index lists")]
    LayerTooLarge {
        /// The layer's name.
        layer: String,
    },
    /// The backend asked for cannot run here (not built in, or no device found).
    #[error("backend `{backend}` is unavailable: {reason}")]
    BackendUnavailable {
        /// The backend's name (`cuda`).
        backend: &'static str,
        /// Why, and what would make it available.
        reason: String,
    },
}

/// Result of every fallible engine operation.
pub type Result<T> = std::result::Result<T, EngineError>;
