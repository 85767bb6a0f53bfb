//! Constant tensors: initializers and `Constant` nodes, decoded once into `f64`s.

use crate::error::ImportError;
use crate::proto::{TensorProto, data_type};

/// Most values one constant tensor may hold (64 Mi: far above any model Brainlock can
/// run, far below what would exhaust memory).
const MAX_TENSOR_VALUES: usize = 1 << 26;

/// A constant tensor's element type, as far as import cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ElementType {
    /// Floating point (`FLOAT` or `DOUBLE`).
    Float,
    /// An integer type of this many bits, signed or not.
    Integer { bits: u32, signed: bool },
}

/// A decoded constant: dimensions, values and element type.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Tensor {
    pub(crate) dims: Vec<usize>,
    pub(crate) values: Vec<f64>,
    pub(crate) element: ElementType,
}

impl Tensor {
    /// Decodes `proto`; `name` is for errors.
    pub(crate) fn decode(proto: &TensorProto, name: &str) -> Result<Self, ImportError> {
        let bad = |problem: String| ImportError::Tensor {
            name: name.to_owned(),
            problem,
        };
        let dims = proto
            .dims
            .iter()
            .map(|&d| usize::try_from(d).map_err(|_| bad(format!("negative dimension {d}"))))
            .collect::<Result<Vec<_>, _>>()?;
        let count = dims
            .iter()
            .try_fold(1usize, |n, &d| n.checked_mul(d))
            .filter(|&n| n <= MAX_TENSOR_VALUES)
            .ok_or_else(|| bad(format!("more than {MAX_TENSOR_VALUES} values")))?;
        let (element, size) = match proto.data_type {
            data_type::FLOAT => (ElementType::Float, 4),
            data_type::DOUBLE => (ElementType::Float, 8),
            data_type::UINT8 => (int(8, false), 1),
            data_type::INT8 => (int(8, true), 1),
            data_type::INT32 => (int(32, true), 4),
            data_type::INT64 => (int(64, true), 8),
            other => return Err(bad(format!("element type {other} is not supported"))),
        };
        let values: Vec<f64> = if !proto.raw_data.is_empty() {
            if proto.raw_data.len() != count * size {
                return Err(bad(format!(
                    "raw data holds {} bytes, {count} values need {}",
                    proto.raw_data.len(),
                    count * size
                )));
            }
            proto
                .raw_data
                .chunks_exact(size)
                .map(|b| match proto.data_type {
                    data_type::FLOAT => f64::from(f32::from_le_bytes(b.try_into().unwrap())),
                    data_type::DOUBLE => f64::from_le_bytes(b.try_into().unwrap()),
                    data_type::UINT8 => f64::from(b[0]),
                    data_type::INT8 => f64::from(b[0] as i8),
                    data_type::INT32 => f64::from(i32::from_le_bytes(b.try_into().unwrap())),
                    _ => i64::from_le_bytes(b.try_into().unwrap()) as f64,
                })
                .collect()
        } else {
            // Typed fields: 8-bit and 32-bit integers share int32_data.
            match proto.data_type {
                data_type::FLOAT => proto.float_data.iter().map(|&v| f64::from(v)).collect(),
                data_type::DOUBLE => proto.double_data.clone(),
                data_type::INT64 => proto.int64_data.iter().map(|&v| v as f64).collect(),
                _ => proto.int32_data.iter().map(|&v| f64::from(v)).collect(),
            }
        };
        if values.len() != count {
            return Err(bad(format!(
                "holds {} values, its dimensions {dims:?} need {count}",
                values.len()
            )));
        }
        if values.iter().any(|v| !v.is_finite()) {
            return Err(bad("holds a value that is not finite".into()));
        }
        Ok(Self {
            dims,
            values,
            element,
        })
    }

    /// The single value of a scalar (or one-element) tensor.
    pub(crate) fn scalar(&self) -> Option<f64> {
        (self.values.len() == 1).then(|| self.values[0])
    }

    /// Whether the values are integers (an integer type, or floats holding integers).
    pub(crate) fn is_integer_typed(&self) -> bool {
        matches!(self.element, ElementType::Integer { .. })
    }
}

fn int(bits: u32, signed: bool) -> ElementType {
    ElementType::Integer { bits, signed }
}

/// Signed bits that hold every integer in `[min, max]`.
pub(crate) fn signed_bits(min: i64, max: i64) -> u32 {
    (1..=64)
        .find(|&b| {
            let half = 1i128 << (b - 1);
            -half <= min as i128 && (max as i128) < half
        })
        .unwrap_or(64)
}
