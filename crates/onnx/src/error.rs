//! Why a model could not be imported.

use brainlock_circuit::CalibrationError;
use thiserror::Error;

/// The operators import understands (ONNX's default domain), for error messages.
pub const SUPPORTED_OPERATORS: &str = "QuantizeLinear, DequantizeLinear, Clip, Conv, Gemm, \
    MatMul, Transpose, Add, Sub, Mul, Div (by constants), Pow and Sqrt (of constants), BatchNormalization, Relu, \
    AveragePool and MaxPool (2x2, stride 2), Flatten, Reshape, Identity, Dropout, Constant, \
    and QONNX Quant";

/// Widest weights: circuit weights are `i8`.
pub const MAX_WEIGHT_BITS: u32 = 8;
/// Widest activations and inputs: a lookup's output or the circuit input.
pub const MAX_ACTIVATION_BITS: u32 = 16;

/// Why an ONNX model could not be turned into a Brainlock circuit.
#[derive(Debug, Error)]
pub enum ImportError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The path as given.
        path: String,
        /// The I/O failure.
        source: std::io::Error,
    },
    /// The file exceeds the size import accepts.
    #[error("the model is larger than {max} bytes")]
    TooLarge {
        /// The limit, in bytes.
        max: u64,
    },
    /// The bytes are not an ONNX protobuf.
    #[error("not an ONNX model: {0}")]
    Decode(#[from] prost::DecodeError),
    /// The model holds no graph, or the graph has no input or output.
    #[error("the model {0}")]
    Graph(String),
    /// A constant tensor cannot be decoded.
    #[error("tensor `{name}`: {problem}")]
    Tensor {
        /// The tensor's name.
        name: String,
        /// What is wrong with it.
        problem: String,
    },
    /// An operator import does not support.
    #[error(
        "node `{node}`: operator `{op}` is not supported (supported: {SUPPORTED_OPERATORS}; \
         export Brevitas models with export_onnx_qcdq or export_qonnx)"
    )]
    UnsupportedOperator {
        /// The node's name.
        node: String,
        /// Its operator, with its domain when not ONNX's.
        op: String,
    },
    /// A linear layer whose weights or input are floats rather than quantized integers.
    #[error(
        "node `{node}` ({op}): {what} is not quantized; every linear layer needs integer \
         weights and a quantized input (Brevitas QuantConv2d/QuantLinear after a quantized \
         activation, exported as QCDQ)"
    )]
    Unquantized {
        /// The node's name.
        node: String,
        /// Its operator.
        op: String,
        /// Which operand is a float.
        what: String,
    },
    /// A quantizer wider than a circuit can hold.
    #[error("node `{node}` ({op}): {what} need {bits} bits, at most {max} are supported")]
    TooWide {
        /// The node's name.
        node: String,
        /// Its operator.
        op: String,
        /// `weights`, `activations` or `values` (a QONNX quantizer).
        what: &'static str,
        /// Bits the values need.
        bits: u32,
        /// Bits supported.
        max: u32,
    },
    /// A supported operator used in a way import cannot map (attributes, operands,
    /// position in the graph).
    #[error("node `{node}` ({op}): {problem}")]
    Node {
        /// The node's name.
        node: String,
        /// Its operator.
        op: String,
        /// What import cannot do with it.
        problem: String,
    },
    /// Choosing the tables from the calibration inputs failed.
    #[error("calibration: {0}")]
    Calibration(#[from] CalibrationError),
}
