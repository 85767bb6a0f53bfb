//! The circuit description: what every peer (customer, validator, miner) agrees on.
//!
//! A circuit is a chain of integer layers. Each layer computes an exact integer
//! accumulator per output (a linear map with clear small weights) and then either a
//! table lookup per output channel (one programmable bootstrap per output when
//! encrypted) or, for the last layer, hands the accumulator out as a logit.

use serde::{Deserialize, Serialize};

/// Channel-major tensor shape (C x H x W). Dense layers use `C x 1 x 1`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Shape {
    /// Channels (feature maps); the outermost, slowest-varying axis.
    pub channels: usize,
    /// Rows per channel (1 for dense activations).
    pub height: usize,
    /// Columns per row (1 for dense activations).
    pub width: usize,
}

impl Shape {
    /// The shape of `channels` maps of `height` x `width` values.
    pub const fn new(channels: usize, height: usize, width: usize) -> Self {
        Self {
            channels,
            height,
            width,
        }
    }

    /// Number of values in a tensor of this shape (C * H * W).
    pub const fn len(&self) -> usize {
        self.channels * self.height * self.width
    }

    /// True when some dimension is zero (such a tensor fails validation).
    pub const fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The clear linear part of a layer. Weights are small signed integers (ternary for
/// VGG9, 4-bit for conv3x3), so an encrypted multiply-accumulate is a few additions.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum LinearOp {
    /// Square-kernel convolution. `weights` is laid out `[out][in][ky][kx]`.
    Conv2d {
        /// Channels of the input tensor; must equal the previous layer's output channels.
        in_channels: usize,
        /// Channels of the output tensor (one accumulator map each).
        out_channels: usize,
        /// Side of the square kernel, in pixels.
        kernel: usize,
        /// Step between kernel positions, in pixels (>= 1).
        stride: usize,
        /// Zero padding on every side, in pixels (`< kernel`).
        padding: usize,
        /// Signed integer weights, `out_channels * in_channels * kernel^2` of them.
        weights: Vec<i8>,
    },
    /// Sum of each non-overlapping 2x2 window, per channel (average pooling before
    /// its requantization table).
    SumPool2x2,
    /// Fully connected layer. `weights` is laid out `[out][in]`; the input is the
    /// previous activation flattened channel-major.
    Dense {
        /// Values of the flattened input; must equal the previous output's length.
        inputs: usize,
        /// Output accumulators (the output shape is `outputs x 1 x 1`).
        outputs: usize,
        /// Signed integer weights, `outputs * inputs` of them.
        weights: Vec<i8>,
    },
}

/// How a layer's accumulators become the next layer's inputs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum LayerOutput {
    /// One programmable bootstrap per output: box index
    /// `k = round_half_up((acc - lo[c]) / 2^shift)` (see [`crate::encoding`]), then
    /// `tables[c][k]` with the negacyclic wrap of the PBS outside `[0, 2^R)`.
    Lookup(LookupLayer),
    /// The accumulator itself leaves the circuit (logits). It is encrypted with
    /// `delta = 2^delta_log2` on the torus of 2^64.
    Accumulator {
        /// log2 of the torus scale of each logit, in `1..=62`.
        delta_log2: u32,
    },
}

/// Encoding and tables of a lookup layer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LookupLayer {
    /// log2 of the box width in accumulator units; negative spreads one accumulator
    /// value over several boxes (exact with overwhelming probability).
    pub shift: i32,
    /// Per output channel: the accumulator value that maps to box 0.
    pub lo: Vec<i64>,
    /// Per output channel: `2^R` output values, one per box.
    pub tables: Vec<Vec<i64>>,
}

/// One quantized layer: a clear linear map to integer accumulators, then a lookup
/// table per output channel (or, last, the accumulators themselves as logits).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Layer {
    /// Human-readable label (`conv1`, `fc`, ...), used in errors and reports.
    pub name: String,
    /// The linear part computing one exact integer accumulator per output.
    pub op: LinearOp,
    /// What becomes of the accumulators: a table lookup or the circuit's logits.
    pub output: LayerOutput,
}

/// A whole circuit, from quantized image to logits (or to an output image).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Circuit {
    /// Stable id used on the wire (`vgg9`, `conv3x3`, ...).
    pub id: String,
    /// Shape of the (channel-major) input tensor.
    pub input_shape: Shape,
    /// Bits of the signed integer input (8 for images quantized with scale 2^-7).
    pub input_bits: u32,
    /// Rounding threshold R: lookup tables have 2^R boxes.
    pub rounding_bits: u32,
    /// The layers, applied in order; at least one.
    pub layers: Vec<Layer>,
    /// log2 of the torus scale of the circuit's output when the last layer is a
    /// lookup (an image out, e.g. `conv3x3`): the last layer's table values are
    /// multiplied by `2^output_delta_log2` (wrapping) in its PBS lookup polynomials.
    /// `None` when the last layer is an [`LayerOutput::Accumulator`], whose own
    /// `delta_log2` is the output scale. See [`Circuit::output_delta_log2`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_delta_log2: Option<u32>,
}

impl Circuit {
    /// log2 of the torus scale of the circuit's output: the stored
    /// `output_delta_log2` for a lookup last layer, the accumulator's `delta_log2`
    /// otherwise.
    ///
    /// # Panics
    /// On a circuit that [`Circuit::validate`] rejects for its output encoding (no
    /// layers, or a lookup last layer without `output_delta_log2`).
    pub fn output_delta_log2(&self) -> u32 {
        match &self
            .layers
            .last()
            .expect("a circuit has at least one layer")
            .output
        {
            LayerOutput::Accumulator { delta_log2 } => *delta_log2,
            LayerOutput::Lookup(_) => self
                .output_delta_log2
                .expect("a circuit ending in a lookup stores output_delta_log2"),
        }
    }
}
