//! Structural validation of a circuit. A circuit can come from a file or a customer,
//! so everything the simulators and the encrypted engine rely on is checked here:
//! shapes, weight and table lengths, encoding ranges, and that the exact integer
//! simulation cannot overflow.

use thiserror::Error;

use crate::model::{Circuit, LayerOutput, LinearOp, Shape};

/// Largest tensor (values per image) a circuit may produce; bounds simulator memory.
pub(crate) const MAX_TENSOR_LEN: usize = 1 << 22;
/// Largest rounding threshold R (tables have 2^R entries per channel).
pub(crate) const MAX_ROUNDING_BITS: u32 = 16;
/// Largest signed input width.
pub(crate) const MAX_INPUT_BITS: u32 = 16;
/// Largest |table value| and |lo|: keeps every clear computation far from i64 limits.
pub(crate) const MAX_TABLE_ABS: i64 = 1 << 24;
/// Largest |lo| of a lookup channel, in accumulator units.
pub(crate) const MAX_LO_ABS: i64 = 1 << 40;

/// Why a circuit is structurally unusable (see FORMAT.md).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ValidationError {
    /// `layers` is empty.
    #[error("the circuit has no layers")]
    NoLayers,
    /// R is 0 or above [`MAX_ROUNDING_BITS`].
    #[error("rounding_bits {0} is outside 1..={MAX_ROUNDING_BITS}")]
    RoundingBits(u32),
    /// `input_bits` is 0 or above [`MAX_INPUT_BITS`].
    #[error("input_bits {0} is outside 1..={MAX_INPUT_BITS}")]
    InputBits(u32),
    /// The input shape has a zero dimension or more than [`MAX_TENSOR_LEN`] values.
    #[error("input shape {0:?} is empty or larger than {MAX_TENSOR_LEN} values")]
    InputShape(Shape),
    /// One layer is inconsistent with its input or the encoding rules.
    #[error("layer {index} ({name}): {problem}")]
    Layer {
        /// Position of the layer in the circuit.
        index: usize,
        /// Its name.
        name: String,
        /// What is wrong with it.
        problem: LayerProblem,
    },
    /// The last layer is a lookup (image out) but no output scale is given.
    #[error("the last layer is a lookup but output_delta_log2 is missing")]
    MissingOutputDelta,
    /// `output_delta_log2` is given although the last layer's accumulator carries its own scale.
    #[error("output_delta_log2 is set but the last layer is an accumulator")]
    UnexpectedOutputDelta,
    /// `output_delta_log2` is outside `1..=63`.
    #[error("output_delta_log2 {0} is outside 1..=63")]
    OutputDelta(u32),
    /// Per-channel noise sigmas given to the noisy simulator do not fit the circuit.
    #[error(
        "noise sigmas do not match the circuit's layers and channels, or are not finite and >= 0"
    )]
    NoiseShape,
}

/// What is wrong with one layer of a circuit.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum LayerProblem {
    /// The op's `in_channels` (conv) or `inputs` (dense) differ from the previous output.
    #[error("expects {expected} input channels/values, the previous layer gives {found}")]
    InputMismatch {
        /// Channels (conv) or values (dense) the op takes.
        expected: usize,
        /// Channels or values the previous layer (or the input) gives.
        found: usize,
    },
    /// Zero kernel or stride, `padding >= kernel`, or a kernel larger than the padded input.
    #[error(
        "kernel {kernel}, stride {stride}, padding {padding} is not a usable convolution on {input:?}"
    )]
    BadConvolution {
        /// Kernel side, in pixels.
        kernel: usize,
        /// Stride, in pixels.
        stride: usize,
        /// Zero padding per side, in pixels.
        padding: usize,
        /// The layer's input shape.
        input: Shape,
    },
    /// A 2x2 sum pool on an input of odd height or width.
    #[error("2x2 sum pooling needs an even height and width, got {0:?}")]
    OddPooling(Shape),
    /// The weight vector's length does not match the op's shape.
    #[error("has {found} weights, its shape needs {expected}")]
    WeightLength {
        /// Weights the shape needs (`out * in * kernel^2` or `outputs * inputs`).
        expected: usize,
        /// Weights given.
        found: usize,
    },
    /// The layer's output has a zero dimension or more than [`MAX_TENSOR_LEN`] values.
    #[error("output {0:?} is empty or larger than {MAX_TENSOR_LEN} values")]
    OutputTooLarge(Shape),
    /// A lookup layer's `lo` or `tables` do not have one entry per output channel.
    #[error("has {found} lo values/tables, it has {expected} output channels")]
    ChannelCount {
        /// Output channels of the layer.
        expected: usize,
        /// Entries of `lo` or `tables`.
        found: usize,
    },
    /// A channel's table does not have 2^R entries.
    #[error("table of channel {channel} has {found} entries, 2^R = {expected}")]
    TableLength {
        /// The output channel.
        channel: usize,
        /// 2^R.
        expected: usize,
        /// Entries given.
        found: usize,
    },
    /// A table value's magnitude exceeds [`MAX_TABLE_ABS`].
    #[error("table of channel {channel} holds {value}, beyond +-{MAX_TABLE_ABS}")]
    TableValue {
        /// The output channel.
        channel: usize,
        /// The offending table value.
        value: i64,
    },
    /// A channel's `lo` magnitude exceeds [`MAX_LO_ABS`].
    #[error("lo of channel {channel} is {lo}, beyond +-{MAX_LO_ABS}")]
    Lo {
        /// The output channel.
        channel: usize,
        /// The offending `lo`, in accumulator units.
        lo: i64,
    },
    /// The shift puts the layer's input scale 2^(63-R-shift) outside 2^1..=2^63.
    #[error(
        "shift {shift} is outside {min}..={max} (input scale 2^(63-R-shift) must be in 2^1..2^63)"
    )]
    Shift {
        /// The layer's shift (log2 of the box width in accumulator units).
        shift: i32,
        /// Smallest allowed shift, `-R`.
        min: i32,
        /// Largest allowed shift, `62 - R`.
        max: i32,
    },
    /// A logits layer's `delta_log2` is outside `1..=62`.
    #[error("accumulator delta_log2 {0} is outside 1..=62")]
    AccumulatorDelta(u32),
    /// A layer other than the last hands out its accumulator.
    #[error("only the last layer may output its accumulator")]
    AccumulatorNotLast,
    /// The layer's worst-case |accumulator| (in accumulator units) needs more than 31 bits,
    /// so the exact i64 simulation and the encrypted torus encoding could not be trusted.
    #[error("worst-case |accumulator| {0} does not fit in 31 bits")]
    AccumulatorOverflow(u64),
}

/// What validation learns about a circuit and the simulators reuse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CircuitShapes {
    /// `inputs[i]` is layer i's input shape; `inputs[len]` is the circuit output.
    pub inputs: Vec<Shape>,
}

impl CircuitShapes {
    /// Input shape of layer `layer`.
    pub fn layer_input(&self, layer: usize) -> Shape {
        self.inputs[layer]
    }
    /// Output shape of layer `layer` (the next layer's input).
    pub fn layer_output(&self, layer: usize) -> Shape {
        self.inputs[layer + 1]
    }
    /// Shape of the circuit's output tensor.
    pub fn output(&self) -> Shape {
        *self.inputs.last().expect("at least the input shape")
    }
}

impl LinearOp {
    /// Output shape of the op on `input`, checking the op's own consistency.
    pub fn output_shape(&self, input: Shape) -> Result<Shape, LayerProblem> {
        let shape = match self {
            LinearOp::Conv2d {
                in_channels,
                out_channels,
                kernel,
                stride,
                padding,
                weights,
            } => {
                if *in_channels != input.channels {
                    return Err(LayerProblem::InputMismatch {
                        expected: *in_channels,
                        found: input.channels,
                    });
                }
                let bad = || LayerProblem::BadConvolution {
                    kernel: *kernel,
                    stride: *stride,
                    padding: *padding,
                    input,
                };
                if *kernel == 0 || *stride == 0 || *padding >= *kernel {
                    return Err(bad());
                }
                // Checked: a circuit file may carry any usize.
                let out_dim = |dim: usize| {
                    let padded = padding.checked_mul(2)?.checked_add(dim)?;
                    padded.checked_sub(*kernel).map(|room| room / stride + 1)
                };
                let (Some(h), Some(w)) = (out_dim(input.height), out_dim(input.width)) else {
                    return Err(bad());
                };
                let expected = kernel
                    .checked_mul(*kernel)
                    .and_then(|area| area.checked_mul(*in_channels))
                    .and_then(|v| v.checked_mul(*out_channels))
                    .unwrap_or(usize::MAX);
                if weights.len() != expected {
                    return Err(LayerProblem::WeightLength {
                        expected,
                        found: weights.len(),
                    });
                }
                Shape::new(*out_channels, h, w)
            }
            LinearOp::SumPool2x2 => {
                if !input.height.is_multiple_of(2) || !input.width.is_multiple_of(2) {
                    return Err(LayerProblem::OddPooling(input));
                }
                Shape::new(input.channels, input.height / 2, input.width / 2)
            }
            LinearOp::Dense {
                inputs,
                outputs,
                weights,
            } => {
                if *inputs != input.len() {
                    return Err(LayerProblem::InputMismatch {
                        expected: *inputs,
                        found: input.len(),
                    });
                }
                let expected = inputs.checked_mul(*outputs).unwrap_or(usize::MAX);
                if weights.len() != expected {
                    return Err(LayerProblem::WeightLength {
                        expected,
                        found: weights.len(),
                    });
                }
                Shape::new(*outputs, 1, 1)
            }
        };
        let len = shape
            .channels
            .checked_mul(shape.height)
            .and_then(|v| v.checked_mul(shape.width));
        match len {
            Some(len) if len > 0 && len <= MAX_TENSOR_LEN => Ok(shape),
            _ => Err(LayerProblem::OutputTooLarge(shape)),
        }
    }

    /// Largest `sum |w|` over the op's outputs (the factor between the largest input
    /// magnitude and the largest accumulator magnitude).
    pub fn max_abs_weight_sum(&self) -> u64 {
        let row_sum = |row: &[i8]| row.iter().map(|w| w.unsigned_abs() as u64).sum::<u64>();
        match self {
            LinearOp::Conv2d {
                out_channels,
                weights,
                ..
            } if *out_channels > 0 => weights
                .chunks(weights.len() / out_channels)
                .map(row_sum)
                .max()
                .unwrap_or(0),
            LinearOp::Conv2d { .. } => 0,
            LinearOp::SumPool2x2 => 4,
            LinearOp::Dense {
                inputs, weights, ..
            } if *inputs > 0 => weights.chunks(*inputs).map(row_sum).max().unwrap_or(0),
            LinearOp::Dense { .. } => 0,
        }
    }
}

/// Allowed shift range for rounding threshold R (see [`crate::encoding`]).
pub(crate) fn shift_range(rounding_bits: u32) -> (i32, i32) {
    (-(rounding_bits as i32), 62 - rounding_bits as i32)
}

impl Circuit {
    /// Checks everything the simulators and the encrypted engine rely on.
    pub fn validate(&self) -> Result<(), ValidationError> {
        self.shapes().map(|_| ())
    }

    /// Validates the circuit and returns the shape of every layer's input and of the
    /// output.
    pub fn shapes(&self) -> Result<CircuitShapes, ValidationError> {
        if self.layers.is_empty() {
            return Err(ValidationError::NoLayers);
        }
        let r = self.rounding_bits;
        if !(1..=MAX_ROUNDING_BITS).contains(&r) {
            return Err(ValidationError::RoundingBits(r));
        }
        if !(1..=MAX_INPUT_BITS).contains(&self.input_bits) {
            return Err(ValidationError::InputBits(self.input_bits));
        }
        let input = self.input_shape;
        let input_len = input
            .channels
            .checked_mul(input.height)
            .and_then(|v| v.checked_mul(input.width));
        if !matches!(input_len, Some(1..=MAX_TENSOR_LEN)) {
            return Err(ValidationError::InputShape(input));
        }
        let mut inputs = vec![input];
        // Largest |value| entering the current layer.
        let mut max_abs_input: u64 = 1 << (self.input_bits - 1);
        for (index, layer) in self.layers.iter().enumerate() {
            let fail = |problem| ValidationError::Layer {
                index,
                name: layer.name.clone(),
                problem,
            };
            let out = layer
                .op
                .output_shape(*inputs.last().expect("nonempty"))
                .map_err(fail)?;
            let bound = layer.op.max_abs_weight_sum().saturating_mul(max_abs_input);
            if bound > i32::MAX as u64 {
                return Err(fail(LayerProblem::AccumulatorOverflow(bound)));
            }
            match &layer.output {
                LayerOutput::Lookup(lookup) => {
                    check_lookup(lookup, out.channels, r).map_err(fail)?;
                    max_abs_input = lookup
                        .tables
                        .iter()
                        .flatten()
                        .map(|v| v.unsigned_abs())
                        .max()
                        .unwrap_or(0);
                }
                LayerOutput::Accumulator { delta_log2 } => {
                    if index + 1 != self.layers.len() {
                        return Err(fail(LayerProblem::AccumulatorNotLast));
                    }
                    if !(1..=62).contains(delta_log2) {
                        return Err(fail(LayerProblem::AccumulatorDelta(*delta_log2)));
                    }
                }
            }
            inputs.push(out);
        }
        match (
            &self.layers.last().expect("nonempty").output,
            self.output_delta_log2,
        ) {
            (LayerOutput::Lookup(_), None) => return Err(ValidationError::MissingOutputDelta),
            (LayerOutput::Lookup(_), Some(d)) if !(1..=63).contains(&d) => {
                return Err(ValidationError::OutputDelta(d));
            }
            (LayerOutput::Accumulator { .. }, Some(_)) => {
                return Err(ValidationError::UnexpectedOutputDelta);
            }
            _ => {}
        }
        Ok(CircuitShapes { inputs })
    }
}

fn check_lookup(
    lookup: &crate::model::LookupLayer,
    channels: usize,
    rounding_bits: u32,
) -> Result<(), LayerProblem> {
    let (min, max) = shift_range(rounding_bits);
    if !(min..=max).contains(&lookup.shift) {
        return Err(LayerProblem::Shift {
            shift: lookup.shift,
            min,
            max,
        });
    }
    for found in [lookup.lo.len(), lookup.tables.len()] {
        if found != channels {
            return Err(LayerProblem::ChannelCount {
                expected: channels,
                found,
            });
        }
    }
    let boxes = 1usize << rounding_bits;
    for (channel, (table, &lo)) in lookup.tables.iter().zip(&lookup.lo).enumerate() {
        if table.len() != boxes {
            return Err(LayerProblem::TableLength {
                channel,
                expected: boxes,
                found: table.len(),
            });
        }
        if let Some(&value) = table.iter().find(|v| v.abs() > MAX_TABLE_ABS) {
            return Err(LayerProblem::TableValue { channel, value });
        }
        if lo.abs() > MAX_LO_ABS {
            return Err(LayerProblem::Lo { channel, lo });
        }
    }
    Ok(())
}
