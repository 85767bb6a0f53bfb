//! Lowering: one pass over the graph's nodes (ONNX stores them in topological order)
//! that tracks what each tensor is in integer terms and emits Brainlock layers.
//!
//! A quantized activation is an integer tensor `q` with a scale and zero point; the
//! circuit carries `q - zero_point`. A linear node (Conv, Gemm, MatMul, a pool) over
//! such a tensor with integer weights starts a layer: its integer accumulator is
//! exact, and the real value it stands for is `gain[c] * acc + offset[c]`. BatchNorm,
//! biases and constant scalings fold into `gain` and `offset`, a ReLU is noted, and the
//! next QuantizeLinear/Clip/DequantizeLinear closes the layer: its lookup tables are
//! that whole function, sampled by calibration ([`Requantizer`]). A layer still open
//! at the graph's output is the logits layer.

use std::collections::{HashMap, HashSet};

use brainlock_circuit::requant::{MaxOfCodes, Requantizer, max_pool_codes, round_half_even};
use brainlock_circuit::spec::{Activation, LayerSpec, NetworkSpec};
use brainlock_circuit::{LinearOp, Shape};

use crate::error::{ImportError, MAX_ACTIVATION_BITS, MAX_WEIGHT_BITS};
use crate::proto::{AttributeProto, GraphProto, NodeProto, data_type};
use crate::tensor::{ElementType, Tensor, signed_bits};

/// Domains QONNX (and FINN before it) give their `Quant` operator.
const QONNX_DOMAINS: [&str; 3] = [
    "qonnx.custom_op.general",
    "finn.custom_op.general",
    "onnx.brevitas",
];

/// Most constant values (decoded initializers, weights and what import derives from
/// them) held at once: 2 GiB of `f64`s, far above any model a circuit can run.
const MAX_HELD_VALUES: usize = 1 << 28;

/// Most activation levels a max pool can take: the sums of four codes of eight levels
/// reach 4 * 5461, which fits a table of 2^15 entries exactly.
const MAX_POOLED_LEVELS: usize = 8;

/// How the circuit's input integers come from real inputs: the model's first quantizer.
#[derive(Clone, Debug, PartialEq)]
pub struct InputQuantizer {
    /// Real value of one integer step.
    pub scale: f64,
    /// Integer the real 0 maps to; the circuit takes `q - zero_point`.
    pub zero_point: i64,
    /// Smallest quantized value.
    pub min: i64,
    /// Largest quantized value.
    pub max: i64,
}

/// A graph lowered to Brainlock layers, before calibration.
#[derive(Clone, Debug)]
pub struct Lowered {
    /// The layers with their folded activations.
    pub spec: NetworkSpec,
    /// The quantizer that defines the circuit's input integers.
    pub input: InputQuantizer,
    /// What import left out or assumed, for the user to read (preprocessing before the
    /// input quantizer, a positive scaling after the logits).
    pub notes: Vec<String>,
}

/// An integer activation tensor.
#[derive(Clone, Debug)]
struct Activation8 {
    shape: Shape,
    scale: f64,
    zero_point: i64,
    min: i64,
    max: i64,
    /// The layer whose tables output it (`None` for the circuit input).
    producer: Option<usize>,
}

/// A layer whose accumulator is computed and whose activation is still being folded.
#[derive(Clone, Debug)]
struct Open {
    layer: usize,
    shape: Shape,
    /// Rank of the tensor in the ONNX graph (2 for dense outputs, 4 otherwise).
    rank: usize,
    gain: Vec<f64>,
    offset: Vec<f64>,
    relu: bool,
}

/// Integer weights with their scale (one, or one per slice along `axis`).
#[derive(Clone, Debug)]
struct Weights {
    dims: Vec<usize>,
    ints: Vec<i64>,
    scale: Vec<f64>,
    axis: usize,
    /// Whether a dequantizer has run: `ints` are then the integers the real weights
    /// are multiples of (zero point removed); before, quantizer outputs.
    dequantized: bool,
}

/// The output of a QuantizeLinear (and Clip) before its DequantizeLinear.
#[derive(Clone, Debug)]
struct Quantizing {
    source: Box<Value>,
    scale: f64,
    zero_point: i64,
    min: i64,
    max: i64,
}

#[derive(Clone, Debug)]
enum Value {
    Const(Tensor),
    /// The graph input, possibly through constant scalar arithmetic.
    Raw {
        dims: Vec<usize>,
    },
    Quantizing(Quantizing),
    Weights(Weights),
    Activation(Activation8),
    Open(Open),
}

struct Lowering<'g> {
    graph: &'g GraphProto,
    values: HashMap<String, Value>,
    /// Outputs of Identity and Dropout: the name of the value they pass on.
    aliases: HashMap<String, String>,
    /// Constant values held in `values`, against [`MAX_HELD_VALUES`].
    held: usize,
    consumers: HashMap<&'g str, usize>,
    layers: Vec<LayerSpec>,
    input: Option<(InputQuantizer, Shape)>,
    notes: Vec<String>,
}

/// Lowers `graph` (its first output is the circuit's output) to layers named after
/// their nodes; the spec carries id `id`.
pub(crate) fn lower(graph: &GraphProto, id: &str) -> Result<Lowered, ImportError> {
    let output = graph
        .output
        .first()
        .ok_or_else(|| ImportError::Graph("graph has no output".into()))?
        .name
        .clone();
    let needed = needed_nodes(graph, &output);
    let mut lowering = Lowering {
        graph,
        values: HashMap::new(),
        aliases: HashMap::new(),
        held: 0,
        consumers: HashMap::new(),
        layers: Vec::new(),
        input: None,
        notes: Vec::new(),
    };
    for (node, _) in graph.node.iter().zip(&needed).filter(|(_, n)| **n) {
        for input in node.input.iter().filter(|i| !i.is_empty()) {
            *lowering.consumers.entry(input).or_default() += 1;
        }
    }
    lowering.seed_values()?;
    for (node, _) in graph.node.iter().zip(&needed).filter(|(_, n)| **n) {
        lowering.node(node)?;
    }
    if graph.output.len() > 1 {
        lowering.notes.push(format!(
            "the graph has {} outputs; only the first, `{output}`, is imported",
            graph.output.len()
        ));
    }
    lowering.finish(&output, id)
}

/// Which nodes the first output depends on (the rest, such as Brevitas's scale
/// side-outputs, are skipped).
fn needed_nodes(graph: &GraphProto, output: &str) -> Vec<bool> {
    let mut wanted: HashSet<&str> = HashSet::from([output]);
    let mut needed = vec![false; graph.node.len()];
    for (i, node) in graph.node.iter().enumerate().rev() {
        if node.output.iter().any(|o| wanted.contains(o.as_str())) {
            needed[i] = true;
            wanted.extend(node.input.iter().map(String::as_str));
        }
    }
    needed
}

impl<'g> Lowering<'g> {
    fn seed_values(&mut self) -> Result<(), ImportError> {
        // Only the initializers the output depends on are decoded.
        for init in &self.graph.initializer {
            if self.consumers.contains_key(init.name.as_str()) {
                let tensor = Tensor::decode(init, &init.name)?;
                self.hold(tensor.values.len())?;
                self.values.insert(init.name.clone(), Value::Const(tensor));
            }
        }
        // Initializers may also be listed as inputs; the others are the real inputs.
        let constants: HashSet<&str> = self
            .graph
            .initializer
            .iter()
            .map(|t| t.name.as_str())
            .collect();
        let inputs: Vec<_> = self
            .graph
            .input
            .iter()
            .filter(|i| !constants.contains(i.name.as_str()))
            .collect();
        let [input] = inputs[..] else {
            return Err(ImportError::Graph(format!(
                "has {} non-constant inputs; a circuit takes exactly one",
                inputs.len()
            )));
        };
        let dims = input
            .r#type
            .as_ref()
            .and_then(|t| t.tensor_type.as_ref())
            .and_then(|t| t.shape.as_ref())
            .map(|s| {
                s.dim
                    .iter()
                    .map(|d| usize::try_from(d.dim_value).unwrap_or(0))
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default();
        self.values.insert(input.name.clone(), Value::Raw { dims });
        Ok(())
    }

    /// Counts `count` more constant values held; an error past [`MAX_HELD_VALUES`].
    fn hold(&mut self, count: usize) -> Result<(), ImportError> {
        self.held = self.held.saturating_add(count);
        if self.held > MAX_HELD_VALUES {
            return Err(ImportError::Graph(format!(
                "holds more than {MAX_HELD_VALUES} constant values"
            )));
        }
        Ok(())
    }

    fn value(&self, node: &NodeProto, index: usize) -> Result<&Value, ImportError> {
        let name = node
            .input
            .get(index)
            .filter(|n| !n.is_empty())
            .ok_or_else(|| node_error(node, format!("expects an operand at position {index}")))?;
        let name = self.aliases.get(name).unwrap_or(name);
        self.values.get(name).ok_or_else(|| {
            node_error(
                node,
                format!("reads `{name}`, which no earlier node produces"),
            )
        })
    }

    fn constant(&self, node: &NodeProto, index: usize) -> Result<&Tensor, ImportError> {
        match self.value(node, index)? {
            Value::Const(t) => Ok(t),
            _ => Err(node_error(
                node,
                format!("operand {index} must be a constant"),
            )),
        }
    }

    fn has_input(node: &NodeProto, index: usize) -> bool {
        node.input.get(index).is_some_and(|n| !n.is_empty())
    }

    fn node(&mut self, node: &NodeProto) -> Result<(), ImportError> {
        let qonnx = QONNX_DOMAINS.contains(&node.domain.as_str());
        if qonnx && node.op_type == "Quant" {
            let value = self.qonnx_quant(node)?;
            return self.set_output(node, value);
        }
        if !node.domain.is_empty() && node.domain != "ai.onnx" {
            return Err(ImportError::UnsupportedOperator {
                node: node.name.clone(),
                op: format!("{}:{}", node.domain, node.op_type),
            });
        }
        let value = match node.op_type.as_str() {
            "Constant" => Value::Const(constant_node(node)?),
            "Identity" | "Dropout" => {
                // Passed on by name: a chain of them copies nothing.
                self.value(node, 0)?;
                let input = &node.input[0];
                let source = self.aliases.get(input).unwrap_or(input).clone();
                let output = self.fresh_output(node)?;
                self.aliases.insert(output, source);
                return Ok(());
            }
            "QuantizeLinear" => self.quantize(node)?,
            "Clip" => self.clip(node)?,
            "DequantizeLinear" => self.dequantize(node)?,
            "Transpose" => self.transpose(node)?,
            "Conv" => self.conv(node)?,
            "Gemm" | "MatMul" => self.dense(node)?,
            "BatchNormalization" => self.batch_norm(node)?,
            "Relu" => match self.value(node, 0)? {
                Value::Open(open) if !open.relu => Value::Open(Open {
                    relu: true,
                    ..open.clone()
                }),
                _ => {
                    return Err(node_error(
                        node,
                        "a ReLU must follow a linear layer (and its BatchNorm), before the \
                         layer's quantizer",
                    ));
                }
            },
            "Add" | "Sub" | "Mul" | "Div" => self.arithmetic(node)?,
            "Pow" | "Sqrt" => Value::Const(self.constant_math(node)?),
            "AveragePool" | "MaxPool" => self.pool(node)?,
            "Flatten" | "Reshape" => self.flatten(node)?,
            _ => {
                return Err(ImportError::UnsupportedOperator {
                    node: node.name.clone(),
                    op: node.op_type.clone(),
                });
            }
        };
        self.set_output(node, value)
    }

    /// The node's output name, checked to be new (ONNX graphs assign each name once).
    fn fresh_output(&self, node: &NodeProto) -> Result<String, ImportError> {
        let output = node
            .output
            .first()
            .ok_or_else(|| node_error(node, "has no output"))?;
        if self.values.contains_key(output) || self.aliases.contains_key(output) {
            return Err(node_error(
                node,
                format!("produces `{output}`, which an earlier node or constant already produced"),
            ));
        }
        Ok(output.clone())
    }

    fn set_output(&mut self, node: &NodeProto, value: Value) -> Result<(), ImportError> {
        let output = self.fresh_output(node)?;
        self.hold(value.held_values())?;
        self.values.insert(output, value);
        Ok(())
    }

    /// The scale operand (1) of a quantizer: positive and finite values.
    fn scale(&self, node: &NodeProto) -> Result<Tensor, ImportError> {
        let scale = self.constant(node, 1)?;
        if scale.values.is_empty() || scale.values.iter().any(|&s| !(s > 0.0 && s.is_finite())) {
            return Err(node_error(node, "scales must be positive and finite"));
        }
        Ok(scale.clone())
    }

    /// Scale and zero point operands (1 and 2) of a Quantize/DequantizeLinear.
    fn scale_zero_point(&self, node: &NodeProto) -> Result<(Tensor, i64, i64, i64), ImportError> {
        let scale = self.scale(node)?;
        if attribute(node, "block_size").is_some_and(|a| a.i != 0) {
            return Err(node_error(
                node,
                "blocked quantization (block_size) is not supported",
            ));
        }
        let (zero_point, min, max) = if Self::has_input(node, 2) {
            let zp = self.constant(node, 2)?;
            let z = zp.values.first().copied().unwrap_or(0.0);
            if zp.values.iter().any(|&v| v != z) {
                return Err(node_error(node, "zero points must be one per tensor"));
            }
            let (min, max) = match zp.element {
                ElementType::Integer { bits, signed } if bits < 64 => {
                    if signed {
                        (-(1i64 << (bits - 1)), (1i64 << (bits - 1)) - 1)
                    } else {
                        (0, (1i64 << bits) - 1)
                    }
                }
                _ => {
                    return Err(node_error(
                        node,
                        "zero points must be 8- to 32-bit integers",
                    ));
                }
            };
            (z as i64, min, max)
        } else {
            // No zero point: its type is output_dtype (opset 21), else uint8.
            match attribute(node, "output_dtype").map_or(data_type::UINT8, |a| a.i as i32) {
                data_type::UINT8 => (0, 0, 255),
                data_type::INT8 => (0, -128, 127),
                other => {
                    return Err(node_error(
                        node,
                        format!("output type {other} is not supported (int8 or uint8)"),
                    ));
                }
            }
        };
        Ok((scale, zero_point, min, max))
    }

    fn quantize(&self, node: &NodeProto) -> Result<Value, ImportError> {
        let (scale, zero_point, min, max) = self.scale_zero_point(node)?;
        let source = self.value(node, 0)?;
        match source {
            // Weights quantized at export time (older Brevitas): quantize them here.
            Value::Const(tensor) => Ok(Value::Weights(Weights::quantized(
                tensor,
                &scale,
                zero_point,
                (min, max),
                node,
            )?)),
            Value::Raw { .. } | Value::Open(_) | Value::Activation(_) => {
                let scale = scale
                    .scalar()
                    .ok_or_else(|| node_error(node, "activations need one scale per tensor"))?;
                Ok(Value::Quantizing(Quantizing {
                    source: Box::new(source.clone()),
                    scale,
                    zero_point,
                    min,
                    max,
                }))
            }
            _ => Err(node_error(
                node,
                "quantizes something that is already quantized",
            )),
        }
    }

    /// QONNX `Quant(x, scale, zero_point, bit_width)` (attributes `signed`, `narrow`,
    /// `rounding_mode`): a quantizer and its dequantizer in one node.
    fn qonnx_quant(&mut self, node: &NodeProto) -> Result<Value, ImportError> {
        let scale = self.scale(node)?;
        let integer = |index: usize, what: &str| -> Result<i64, ImportError> {
            self.constant(node, index)?
                .scalar()
                .filter(|v| v.fract() == 0.0)
                .map(|v| v as i64)
                .ok_or_else(|| node_error(node, format!("the {what} must be one integer")))
        };
        let zero_point = integer(2, "zero point")?;
        let bits = integer(3, "bit width")?;
        let flag = |name: &str, default: i64| attribute(node, name).map_or(default, |a| a.i);
        let (signed, narrow) = (flag("signed", 1) != 0, flag("narrow", 0) != 0);
        let rounding = attribute(node, "rounding_mode").map_or(&b"ROUND"[..], |a| &a.s[..]);
        if rounding != b"ROUND" {
            return Err(node_error(
                node,
                "only rounding_mode ROUND (half to even) is supported",
            ));
        }
        if !(2..=32).contains(&bits) {
            return Err(too_wide(
                node,
                "values",
                bits.max(0) as u32,
                MAX_ACTIVATION_BITS,
            ));
        }
        let (min, max) = if signed {
            (
                -(1i64 << (bits - 1)) + i64::from(narrow),
                (1i64 << (bits - 1)) - 1,
            )
        } else {
            (0, (1i64 << bits) - 1 - i64::from(narrow))
        };
        if !(min..=max).contains(&zero_point) {
            return Err(node_error(
                node,
                format!("zero point {zero_point} is outside [{min}, {max}]"),
            ));
        }
        match self.value(node, 0)?.clone() {
            Value::Const(tensor) => {
                let w = Weights::quantized(&tensor, &scale, zero_point, (min, max), node)?;
                let ints = w.ints.iter().map(|&q| q - zero_point).collect();
                Ok(Value::Weights(Weights {
                    ints,
                    dequantized: true,
                    ..w
                }))
            }
            source @ (Value::Raw { .. } | Value::Open(_) | Value::Activation(_)) => {
                let scale = scale
                    .scalar()
                    .ok_or_else(|| node_error(node, "activations need one scale per tensor"))?;
                let quantizing = Quantizing {
                    source: Box::new(source),
                    scale,
                    zero_point,
                    min,
                    max,
                };
                self.close_quantizer(node, quantizing)
                    .map(Value::Activation)
            }
            _ => Err(node_error(
                node,
                "quantizes something that is already quantized",
            )),
        }
    }

    fn clip(&self, node: &NodeProto) -> Result<Value, ImportError> {
        let bound = |index: usize| -> Result<Option<f64>, ImportError> {
            if Self::has_input(node, index) {
                let t = self.constant(node, index)?;
                t.scalar()
                    .map(Some)
                    .ok_or_else(|| node_error(node, "clip bounds must be scalars"))
            } else {
                Ok(None)
            }
        };
        let (low, high) = (bound(1)?, bound(2)?);
        if let (Some(l), Some(h)) = (low, high)
            && l > h
        {
            return Err(node_error(
                node,
                format!("clips to [{l}, {h}], an empty range"),
            ));
        }
        match self.value(node, 0)? {
            Value::Quantizing(q) => {
                let mut q = q.clone();
                q.min = q.min.max(low.map_or(i64::MIN, |l| l.ceil() as i64));
                q.max = q.max.min(high.map_or(i64::MAX, |h| h.floor() as i64));
                if q.min > q.max {
                    return Err(node_error(node, "clips every value away"));
                }
                Ok(Value::Quantizing(q))
            }
            Value::Weights(w) if !w.dequantized => {
                let (low, high) = (low.unwrap_or(f64::MIN), high.unwrap_or(f64::MAX));
                let mut w = w.clone();
                for v in &mut w.ints {
                    *v = (*v as f64).clamp(low, high) as i64;
                }
                Ok(Value::Weights(w))
            }
            Value::Const(t) => {
                let mut t = t.clone();
                for v in &mut t.values {
                    *v = v.clamp(low.unwrap_or(f64::MIN), high.unwrap_or(f64::MAX));
                }
                Ok(Value::Const(t))
            }
            _ => Err(node_error(
                node,
                "clips a real-valued tensor; only quantizers may clip (Quantize, Clip, \
                 Dequantize)",
            )),
        }
    }

    fn dequantize(&mut self, node: &NodeProto) -> Result<Value, ImportError> {
        let (scale, zero_point, _, _) = self.scale_zero_point(node)?;
        match self.value(node, 0)?.clone() {
            Value::Const(tensor) => {
                if !tensor.is_integer_typed() {
                    return Err(node_error(node, "dequantizes a float tensor"));
                }
                if zero_point != 0 {
                    return Err(node_error(node, "weights must have zero point 0"));
                }
                let ints = tensor.values.iter().map(|&v| v as i64).collect();
                Ok(Value::Weights(Weights::new(
                    tensor.dims,
                    ints,
                    &scale,
                    node,
                )?))
            }
            Value::Weights(w) if !w.dequantized => {
                let ints = w.ints.iter().map(|&q| q - zero_point).collect();
                Ok(Value::Weights(Weights::new(w.dims, ints, &scale, node)?))
            }
            Value::Quantizing(q) => {
                let same = scale.scalar() == Some(q.scale) && zero_point == q.zero_point;
                if !same {
                    return Err(node_error(
                        node,
                        "dequantizes with another scale or zero point than its quantizer",
                    ));
                }
                self.close_quantizer(node, q).map(Value::Activation)
            }
            _ => Err(node_error(
                node,
                "dequantizes a tensor that is not quantized",
            )),
        }
    }

    /// A whole quantizer (Quantize, Clip, Dequantize) over `q.source`.
    fn close_quantizer(
        &mut self,
        node: &NodeProto,
        q: Quantizing,
    ) -> Result<Activation8, ImportError> {
        let bits = signed_bits(q.min - q.zero_point, q.max - q.zero_point);
        if bits > MAX_ACTIVATION_BITS {
            return Err(too_wide(node, "activations", bits, MAX_ACTIVATION_BITS));
        }
        match *q.source {
            Value::Raw { ref dims } => {
                if self.input.is_some() {
                    return Err(node_error(node, "quantizes the raw input a second time"));
                }
                let shape = input_shape(dims).ok_or_else(|| {
                    node_error(
                        node,
                        format!(
                            "the graph input has shape {dims:?}; a circuit takes \
                             [1, C, H, W] or [1, N] with fixed sizes"
                        ),
                    )
                })?;
                let quantizer = InputQuantizer {
                    scale: q.scale,
                    zero_point: q.zero_point,
                    min: q.min,
                    max: q.max,
                };
                self.input = Some((quantizer, shape));
                Ok(Activation8 {
                    shape,
                    scale: q.scale,
                    zero_point: q.zero_point,
                    min: q.min,
                    max: q.max,
                    producer: None,
                })
            }
            Value::Open(open) => {
                self.check_open(node, &open)?;
                let requantizer = Requantizer {
                    gain: open.gain,
                    offset: open.offset,
                    relu: open.relu,
                    scale: q.scale,
                    zero_point: q.zero_point,
                    min: q.min,
                    max: q.max,
                    codes: None,
                };
                self.layers[open.layer].activation = Activation::Requantize(requantizer);
                Ok(Activation8 {
                    shape: open.shape,
                    scale: q.scale,
                    zero_point: q.zero_point,
                    min: q.min,
                    max: q.max,
                    producer: Some(open.layer),
                })
            }
            // Re-quantizing a quantized tensor onto a grid that holds it changes nothing
            // (Brevitas re-quantizes after a max pool).
            Value::Activation(a)
                if (a.scale - q.scale).abs() <= 1e-6 * a.scale
                    && a.zero_point == q.zero_point
                    && q.min <= a.min
                    && a.max <= q.max =>
            {
                Ok(a)
            }
            _ => Err(node_error(
                node,
                "re-quantizes a quantized tensor onto another grid without a layer between",
            )),
        }
    }

    /// An open layer may close only once, as the last layer so far, with a finite
    /// folded scale and offset.
    fn check_open(&self, node: &NodeProto, open: &Open) -> Result<(), ImportError> {
        let last = open.layer + 1 == self.layers.len();
        if !last || !matches!(self.layers[open.layer].activation, Activation::Logits) {
            return Err(node_error(
                node,
                "the graph branches: a layer's output feeds more than one path",
            ));
        }
        if !open.gain.iter().chain(&open.offset).all(|v| v.is_finite()) {
            return Err(node_error(node, "the folded scale or offset is not finite"));
        }
        Ok(())
    }

    fn transpose(&self, node: &NodeProto) -> Result<Value, ImportError> {
        let Value::Weights(w) = self.value(node, 0)? else {
            return Err(node_error(node, "only 2-D weights may be transposed"));
        };
        let perm = attribute(node, "perm").map(|a| a.ints.clone());
        if w.dims.len() != 2 || perm.is_some_and(|p| p != [1, 0]) {
            return Err(node_error(node, "only 2-D weights may be transposed"));
        }
        Ok(Value::Weights(w.transposed()))
    }

    /// The quantized activation operand 0 of a linear node.
    /// The quantized activation operand 0 of a linear node or pool: the output of the
    /// last layer so far (or the circuit input before any), as a circuit is a chain.
    fn linear_input(&self, node: &NodeProto) -> Result<Activation8, ImportError> {
        let Value::Activation(a) = self.value(node, 0)? else {
            return Err(ImportError::Unquantized {
                node: node.name.clone(),
                op: node.op_type.clone(),
                what: "its input".into(),
            });
        };
        if a.producer != self.layers.len().checked_sub(1) {
            return Err(node_error(
                node,
                "the graph branches: this node reads an activation other than the last \
                 layer's (a circuit is a chain of layers)",
            ));
        }
        Ok(a.clone())
    }

    /// The integer weights operand `index` of a linear node, checked for width.
    fn linear_weights(&self, node: &NodeProto, index: usize) -> Result<Weights, ImportError> {
        let weights = match self.value(node, index)? {
            Value::Weights(w) if w.dequantized => w.clone(),
            _ => {
                return Err(ImportError::Unquantized {
                    node: node.name.clone(),
                    op: node.op_type.clone(),
                    what: format!("its weight `{}`", node.input[index]),
                });
            }
        };
        let (min, max) = weights
            .ints
            .iter()
            .fold((0, 0), |(lo, hi), &v| (lo.min(v), hi.max(v)));
        let bits = signed_bits(min, max);
        if bits > MAX_WEIGHT_BITS {
            return Err(too_wide(node, "weights", bits, MAX_WEIGHT_BITS));
        }
        Ok(weights)
    }

    /// Bias operand `index`, if present: real values per output.
    fn bias(
        &self,
        node: &NodeProto,
        index: usize,
        outputs: usize,
    ) -> Result<Vec<f64>, ImportError> {
        if !Self::has_input(node, index) {
            return Ok(vec![0.0; outputs]);
        }
        let values = match self.value(node, index)? {
            Value::Const(t) => t.values.clone(),
            Value::Weights(w) => (0..w.ints.len())
                .map(|i| w.ints[i] as f64 * w.scale_of(i))
                .collect(),
            _ => return Err(node_error(node, "the bias must be a constant")),
        };
        broadcast(&values, outputs).ok_or_else(|| {
            node_error(
                node,
                format!("the bias has {} values for {outputs} outputs", values.len()),
            )
        })
    }

    fn open_layer(
        &mut self,
        node: &NodeProto,
        op: LinearOp,
        input: &Activation8,
        gain: Vec<f64>,
        offset: Vec<f64>,
    ) -> Result<Value, ImportError> {
        let shape = op.output_shape(input.shape).map_err(|problem| {
            node_error(
                node,
                format!("does not fit its input {:?}: {problem}", input.shape),
            )
        })?;
        self.layers.push(LayerSpec {
            name: layer_name(node, self.layers.len()),
            op,
            activation: Activation::Logits,
        });
        // ONNX sees a dense layer's output as [1, C], the others' as [1, C, H, W].
        let rank = if matches!(
            self.layers[self.layers.len() - 1].op,
            LinearOp::Dense { .. }
        ) {
            2
        } else {
            4
        };
        Ok(Value::Open(Open {
            layer: self.layers.len() - 1,
            shape,
            rank,
            gain,
            offset,
            relu: false,
        }))
    }

    fn conv(&mut self, node: &NodeProto) -> Result<Value, ImportError> {
        let input = self.linear_input(node)?;
        let weights = self.linear_weights(node, 1)?;
        let [out_channels, in_channels, kh, kw] = weights.dims[..] else {
            return Err(node_error(node, "weights must be [out, in, kh, kw]"));
        };
        let ints_attr = |name: &str| attribute(node, name).map(|a| a.ints.clone());
        let stride = ints_attr("strides").unwrap_or_else(|| vec![1, 1]);
        let pads = ints_attr("pads").unwrap_or_else(|| vec![0; 4]);
        let dilations = ints_attr("dilations").unwrap_or_else(|| vec![1, 1]);
        let group = attribute(node, "group").map_or(1, |a| a.i);
        let auto_pad = attribute(node, "auto_pad").map(|a| a.s.clone());
        let square = kh == kw
            && stride.len() == 2
            && stride[0] == stride[1]
            && stride[0] >= 1
            && pads.len() == 4
            && pads.iter().all(|&p| p == pads[0] && p >= 0)
            && dilations.iter().all(|&d| d == 1)
            && group == 1
            && auto_pad.is_none_or(|p| p.is_empty() || p == b"NOTSET");
        if !square {
            return Err(node_error(
                node,
                "supported convolutions have a square kernel, equal strides, the same \
                 padding on every side, no dilation and one group",
            ));
        }
        let gain = weights.output_gains(input.scale, out_channels, node)?;
        let offset = self.bias(node, 2, out_channels)?;
        let op = LinearOp::Conv2d {
            in_channels,
            out_channels,
            kernel: kh,
            stride: stride[0] as usize,
            padding: pads[0] as usize,
            weights: weights.ints.iter().map(|&v| v as i8).collect(),
        };
        self.open_layer(node, op, &input, gain, offset)
    }

    fn dense(&mut self, node: &NodeProto) -> Result<Value, ImportError> {
        let input = self.linear_input(node)?;
        let mut weights = self.linear_weights(node, 1)?;
        let flag = |name: &str| attribute(node, name).map_or(0, |a| a.i);
        let gemm = node.op_type == "Gemm";
        if gemm && (flag("transA") != 0 || float_attribute(node, "alpha", 1.0)? != 1.0) {
            return Err(node_error(node, "supports transA = 0 and alpha = 1 only"));
        }
        if weights.dims.len() != 2 {
            return Err(node_error(node, "weights must be a matrix"));
        }
        // Brainlock's dense weights are [out][in]: ONNX's B is [in][out] unless transB.
        if !(gemm && flag("transB") != 0) {
            weights = weights.transposed();
        }
        let (outputs, inputs) = (weights.dims[0], weights.dims[1]);
        if input.shape.height * input.shape.width != 1 {
            return Err(node_error(
                node,
                "its input must be flattened first (Flatten)",
            ));
        }
        let gain = weights.output_gains(input.scale, outputs, node)?;
        let mut offset = if gemm {
            self.bias(node, 2, outputs)?
        } else {
            vec![0.0; outputs]
        };
        let beta = float_attribute(node, "beta", 1.0)?;
        if gemm && beta != 1.0 {
            offset.iter_mut().for_each(|b| *b *= beta);
        }
        let op = LinearOp::Dense {
            inputs,
            outputs,
            weights: weights.ints.iter().map(|&v| v as i8).collect(),
        };
        self.open_layer(node, op, &input, gain, offset)
    }

    fn batch_norm(&self, node: &NodeProto) -> Result<Value, ImportError> {
        let Value::Open(open) = self.value(node, 0)? else {
            return Err(node_error(node, "a BatchNorm must follow a linear layer"));
        };
        if open.relu {
            return Err(node_error(
                node,
                "a BatchNorm after a ReLU cannot be folded",
            ));
        }
        let channels = open.shape.channels;
        let param = |index: usize| -> Result<Vec<f64>, ImportError> {
            broadcast(&self.constant(node, index)?.values, channels)
                .ok_or_else(|| node_error(node, format!("needs {channels} values per parameter")))
        };
        let (gamma, beta, mean, var) = (param(1)?, param(2)?, param(3)?, param(4)?);
        let epsilon = float_attribute(node, "epsilon", 1e-5)?;
        if var.iter().any(|&v| v + epsilon <= 0.0) {
            return Err(node_error(node, "a variance plus epsilon is not positive"));
        }
        let mut folded = open.clone();
        for c in 0..channels {
            let g = gamma[c] / (var[c] + epsilon).sqrt();
            folded.gain[c] *= g;
            folded.offset[c] = (folded.offset[c] - mean[c]) * g + beta[c];
        }
        Ok(Value::Open(folded))
    }

    /// Pow and Sqrt of constants (normalizations torch leaves unfolded).
    fn constant_math(&self, node: &NodeProto) -> Result<Tensor, ImportError> {
        let mut base = self.constant(node, 0)?.clone();
        let exponent = if node.op_type == "Sqrt" {
            0.5
        } else {
            self.constant(node, 1)?
                .scalar()
                .ok_or_else(|| node_error(node, "the exponent must be a scalar"))?
        };
        for v in &mut base.values {
            *v = v.powf(exponent);
        }
        if base.values.iter().any(|v| !v.is_finite()) {
            return Err(node_error(node, "the result is not finite"));
        }
        base.element = ElementType::Float;
        Ok(base)
    }

    /// Add, Sub, Mul, Div of a tensor and a constant: folded into an open layer,
    /// carried along the raw input (preprocessing before the input quantizer).
    fn arithmetic(&mut self, node: &NodeProto) -> Result<Value, ImportError> {
        let (subject, constant, constant_first) = match (self.value(node, 0)?, self.value(node, 1)?)
        {
            (Value::Const(a), Value::Const(b)) => {
                return fold_constants(node, a, b).map(Value::Const);
            }
            (Value::Const(c), other) => (other, c, true),
            (other, Value::Const(c)) => (other, c, false),
            _ => return Err(node_error(node, "one operand must be a constant")),
        };
        match subject {
            Value::Raw { .. } if constant.scalar().is_some() => {
                let note = format!(
                    "`{}` ({} by {}) runs before the input quantizer: it is the caller's \
                     preprocessing, not part of the circuit",
                    node.name, node.op_type, constant.values[0]
                );
                let raw = subject.clone();
                self.notes.push(note);
                Ok(raw)
            }
            Value::Open(open) if !open.relu => {
                let values = per_channel(constant, open).ok_or_else(|| {
                    node_error(
                        node,
                        "the constant must be a scalar or one value per channel (shape \
                         [C, 1, 1] against [1, C, H, W], [C] against [1, C])",
                    )
                })?;
                let mut folded = open.clone();
                let terms = folded.gain.iter_mut().zip(&mut folded.offset);
                for ((g, o), &k) in terms.zip(&values) {
                    match (node.op_type.as_str(), constant_first) {
                        ("Add", _) => *o += k,
                        ("Sub", false) => *o -= k,
                        ("Sub", true) => {
                            *g = -*g;
                            *o = k - *o;
                        }
                        ("Mul", _) => {
                            *g *= k;
                            *o *= k;
                        }
                        ("Div", false) if k != 0.0 => {
                            *g /= k;
                            *o /= k;
                        }
                        _ => return Err(node_error(node, "divides by a tensor or by zero")),
                    }
                }
                Ok(Value::Open(folded))
            }
            _ => Err(node_error(
                node,
                "arithmetic is supported on the raw input (by a scalar) and on a linear \
                 layer's output before its ReLU and quantizer",
            )),
        }
    }

    fn pool(&mut self, node: &NodeProto) -> Result<Value, ImportError> {
        let ints = |name: &str| attribute(node, name).map(|a| a.ints.clone());
        let two_by_two = ints("kernel_shape").is_some_and(|k| k == [2, 2])
            && ints("strides").is_some_and(|s| s == [2, 2])
            && ints("pads").is_none_or(|p| p.iter().all(|&v| v == 0))
            && ints("dilations").is_none_or(|d| d.iter().all(|&v| v == 1))
            && attribute(node, "auto_pad").is_none_or(|p| p.s.is_empty() || p.s == b"NOTSET")
            && attribute(node, "ceil_mode").is_none_or(|a| a.i == 0);
        if !two_by_two {
            return Err(node_error(
                node,
                "supported pools are 2x2 with stride 2 and no padding",
            ));
        }
        let input = self.linear_input(node)?;
        if node.op_type == "AveragePool" {
            // The pooled sum, a quarter of it as the real average.
            let gain = vec![input.scale / 4.0; input.shape.channels];
            let offset = vec![0.0; input.shape.channels];
            return self.open_layer(node, LinearOp::SumPool2x2, &input, gain, offset);
        }
        // Max pool: the layer before outputs codes whose sums tell the largest level.
        let producer = input.producer.ok_or_else(|| {
            node_error(
                node,
                "a max pool must follow a layer, not the circuit input",
            )
        })?;
        let single_use = node
            .input
            .first()
            .is_some_and(|name| self.consumers.get(name.as_str()) == Some(&1));
        let Activation::Requantize(requant) = &mut self.layers[producer].activation else {
            return Err(node_error(node, "a max pool must follow a quantized layer"));
        };
        if !single_use || requant.codes.is_some() {
            return Err(node_error(
                node,
                "the pooled activation must feed only this max pool",
            ));
        }
        let levels = (requant.max - requant.min + 1) as usize;
        if levels > MAX_POOLED_LEVELS {
            return Err(node_error(
                node,
                format!(
                    "max pools over {levels} activation levels are not supported (at most \
                     {MAX_POOLED_LEVELS}, 3-bit activations); use an AveragePool"
                ),
            ));
        }
        let codes = max_pool_codes(levels);
        let pool = MaxOfCodes {
            codes: codes.clone(),
            values: requant.level_values(),
        };
        requant.codes = Some(codes);
        let shape = LinearOp::SumPool2x2
            .output_shape(input.shape)
            .map_err(|problem| node_error(node, problem.to_string()))?;
        self.layers.push(LayerSpec {
            name: layer_name(node, self.layers.len()),
            op: LinearOp::SumPool2x2,
            activation: Activation::MaxOfCodes(pool),
        });
        Ok(Value::Activation(Activation8 {
            shape,
            producer: Some(self.layers.len() - 1),
            ..input
        }))
    }

    fn flatten(&self, node: &NodeProto) -> Result<Value, ImportError> {
        let Value::Activation(a) = self.value(node, 0)? else {
            return Err(node_error(
                node,
                "only quantized activations may be flattened",
            ));
        };
        if node.op_type == "Flatten" && attribute(node, "axis").is_some_and(|a| a.i != 1) {
            return Err(node_error(node, "flattens from axis 1 only"));
        }
        if node.op_type == "Reshape" {
            let shape = &self.constant(node, 1)?.values;
            let len = a.shape.len() as f64;
            let flat =
                matches!(shape[..], [b, n] if (b == 1.0 || b == -1.0) && (n == len || n == -1.0));
            if !flat {
                return Err(node_error(
                    node,
                    format!("reshapes to {shape:?}; only [1, -1] flattening is supported"),
                ));
            }
        }
        Ok(Value::Activation(Activation8 {
            shape: Shape::new(a.shape.len(), 1, 1),
            ..a.clone()
        }))
    }

    fn finish(mut self, output: &str, id: &str) -> Result<Lowered, ImportError> {
        let Some((input, input_shape)) = self.input.take() else {
            return Err(ImportError::Graph(
                "has no QuantizeLinear on its input: the circuit input must be quantized".into(),
            ));
        };
        let open = match self.values.get(output) {
            Some(Value::Open(open)) => open.clone(),
            _ => {
                return Err(ImportError::Graph(format!(
                    "output `{output}` is not a linear layer's accumulator; the last layer \
                     must be a Conv, Gemm or MatMul without a quantizer after it (logits)"
                )));
            }
        };
        if open.layer + 1 != self.layers.len() {
            return Err(ImportError::Graph(format!(
                "output `{output}` is not the last layer's accumulator (the graph branches)"
            )));
        }
        // The logits are the raw accumulators: only a common positive scale keeps their order.
        let gain = open.gain[0];
        let uniform = open
            .gain
            .iter()
            .all(|&g| (g - gain).abs() <= 1e-9 * gain.abs())
            && open.offset.iter().all(|&o| o == open.offset[0]);
        if !(uniform && gain > 0.0 && gain.is_finite()) || open.relu {
            let name = &self.layers[open.layer].name;
            return Err(ImportError::Graph(format!(
                "ends in layer `{name}`, whose outputs are scaled or shifted per class (or \
                 ReLU'd); Brainlock's logits are the layer's integer accumulators, so the \
                 last layer needs one weight scale per tensor, no bias and no per-class \
                 normalization"
            )));
        }
        self.notes.push(format!(
            "logits are accumulators of `{}`: real logit = {gain:e} * accumulator{}",
            self.layers[open.layer].name,
            if open.offset[0] != 0.0 {
                format!(" + {:e}", open.offset[0])
            } else {
                String::new()
            }
        ));
        let bits = signed_bits(input.min - input.zero_point, input.max - input.zero_point);
        Ok(Lowered {
            spec: NetworkSpec {
                id: id.to_owned(),
                input_shape,
                input_bits: bits,
                layers: self.layers,
            },
            input,
            notes: self.notes,
        })
    }
}

impl Value {
    /// Constant values this value holds (what [`MAX_HELD_VALUES`] counts).
    fn held_values(&self) -> usize {
        match self {
            Value::Const(t) => t.values.len(),
            Value::Weights(w) => w.ints.len(),
            _ => 0,
        }
    }
}

impl Weights {
    /// Dequantized integer weights of dimensions `dims`, scaled by `scale`: per tensor,
    /// or per slice along the node's `axis` attribute (ONNX's default 1, negative from
    /// the end); a QONNX `Quant` has no axis, its scale broadcasts by shape.
    fn new(
        dims: Vec<usize>,
        ints: Vec<i64>,
        scale: &Tensor,
        node: &NodeProto,
    ) -> Result<Self, ImportError> {
        let rank = dims.len() as i64;
        let axis = if scale.values.len() == 1 {
            Some(0)
        } else if node.op_type == "Quant" {
            // The one scale dimension above 1, aligned with `dims` from the right.
            let offset = rank - scale.dims.len() as i64;
            let mut varying = scale.dims.iter().enumerate().filter(|(_, d)| **d != 1);
            match (varying.next(), varying.next()) {
                (Some((i, _)), None) if offset >= 0 => Some(i as i64 + offset),
                _ => None,
            }
        } else {
            let axis = attribute(node, "axis").map_or(1, |a| a.i);
            Some(if axis < 0 { axis + rank } else { axis })
        };
        let axis = axis
            .and_then(|a| usize::try_from(a).ok())
            .filter(|&a| scale.values.len() == 1 || dims.get(a) == Some(&scale.values.len()))
            .ok_or_else(|| {
                node_error(
                    node,
                    format!(
                        "{} scales do not line up with an axis of {dims:?}",
                        scale.values.len()
                    ),
                )
            })?;
        Ok(Self {
            dims,
            ints,
            scale: scale.values.clone(),
            axis,
            dequantized: true,
        })
    }

    /// Real weights quantized onto `scale`: `clamp(round_half_even(w / s) + zero_point)`
    /// into `range` (the zero point stays in; the dequantizer removes it).
    fn quantized(
        tensor: &Tensor,
        scale: &Tensor,
        zero_point: i64,
        (min, max): (i64, i64),
        node: &NodeProto,
    ) -> Result<Self, ImportError> {
        let grid = Self::new(tensor.dims.clone(), Vec::new(), scale, node)?;
        let ints = tensor
            .values
            .iter()
            .enumerate()
            .map(|(i, &v)| {
                (round_half_even(v / grid.scale_of(i)) + zero_point as f64)
                    .clamp(min as f64, max as f64) as i64
            })
            .collect();
        Ok(Self {
            ints,
            dequantized: false,
            ..grid
        })
    }

    /// A matrix transposed (its per-row scales become per-column ones).
    fn transposed(&self) -> Self {
        let (rows, cols) = (self.dims[0], self.dims[1]);
        Self {
            dims: vec![cols, rows],
            ints: (0..rows * cols)
                .map(|i| self.ints[(i % rows) * cols + i / rows])
                .collect(),
            scale: self.scale.clone(),
            axis: 1 - self.axis.min(1),
            dequantized: self.dequantized,
        }
    }

    /// Per output (axis 0): the real value of one accumulator unit over inputs of
    /// scale `input_scale`.
    fn output_gains(
        &self,
        input_scale: f64,
        outputs: usize,
        node: &NodeProto,
    ) -> Result<Vec<f64>, ImportError> {
        if self.scale.len() > 1 && self.axis != 0 {
            return Err(node_error(
                node,
                "per-channel weight scales must be along the output axis",
            ));
        }
        Ok((0..outputs)
            .map(|c| input_scale * self.scale[c.min(self.scale.len() - 1)])
            .collect())
    }

    /// The scale of value `index` (flattened, row-major).
    fn scale_of(&self, index: usize) -> f64 {
        if self.scale.len() == 1 {
            return self.scale[0];
        }
        let inner: usize = self.dims[self.axis + 1..].iter().product();
        self.scale[(index / inner) % self.dims[self.axis]]
    }
}

/// `a op b` elementwise, one of them possibly a scalar (shapes such as the
/// normalization constants torch leaves unfolded).
fn fold_constants(node: &NodeProto, a: &Tensor, b: &Tensor) -> Result<Tensor, ImportError> {
    let len = a.values.len().max(b.values.len());
    let (Some(x), Some(y)) = (broadcast(&a.values, len), broadcast(&b.values, len)) else {
        return Err(node_error(node, "constant operands of different sizes"));
    };
    let values: Vec<f64> = x
        .iter()
        .zip(&y)
        .map(|(&x, &y)| match node.op_type.as_str() {
            "Add" => x + y,
            "Sub" => x - y,
            "Mul" => x * y,
            _ => x / y,
        })
        .collect();
    if values.iter().any(|v| !v.is_finite()) {
        return Err(node_error(
            node,
            "constant arithmetic overflows or divides by zero",
        ));
    }
    let dims = if a.values.len() >= b.values.len() {
        &a.dims
    } else {
        &b.dims
    };
    Ok(Tensor {
        dims: dims.clone(),
        values,
        element: ElementType::Float,
    })
}

/// A float attribute (`default` when absent), checked to be finite.
fn float_attribute(node: &NodeProto, name: &str, default: f64) -> Result<f64, ImportError> {
    let value = attribute(node, name).map_or(default, |a| f64::from(a.f));
    if !value.is_finite() {
        return Err(node_error(node, format!("attribute {name} is not finite")));
    }
    Ok(value)
}

fn attribute<'a>(node: &'a NodeProto, name: &str) -> Option<&'a AttributeProto> {
    node.attribute.iter().find(|a| a.name == name)
}

fn constant_node(node: &NodeProto) -> Result<Tensor, ImportError> {
    let name = node.output.first().map_or("", String::as_str);
    if let Some(t) = attribute(node, "value").and_then(|a| a.t.as_ref()) {
        return Tensor::decode(t, name);
    }
    if attribute(node, "value_float").is_some() {
        return Ok(scalar_tensor(
            float_attribute(node, "value_float", 0.0)?,
            false,
        ));
    }
    if let Some(a) = attribute(node, "value_int") {
        return Ok(scalar_tensor(a.i as f64, true));
    }
    Err(node_error(
        node,
        "only tensor, float and int constants are supported",
    ))
}

fn scalar_tensor(value: f64, integer: bool) -> Tensor {
    Tensor {
        dims: Vec::new(),
        values: vec![value],
        element: if integer {
            ElementType::Integer {
                bits: 64,
                signed: true,
            }
        } else {
            ElementType::Float
        },
    }
}

/// A constant broadcast against an open layer's output as ONNX broadcasts (dimensions
/// aligned from the right): one value per channel, or `None` when it varies along
/// another axis.
fn per_channel(constant: &Tensor, open: &Open) -> Option<Vec<f64>> {
    let channels = open.shape.channels;
    if constant.values.len() == 1 {
        return Some(vec![constant.values[0]; channels]);
    }
    let dims = &constant.dims;
    if dims.len() > open.rank {
        return None;
    }
    // The constant's axis under the output's channel axis (1), counted from the right.
    let channel_axis = (dims.len() + 1).checked_sub(open.rank)?;
    let lines_up = dims.iter().enumerate().all(|(axis, &d)| {
        if axis == channel_axis {
            d == channels
        } else {
            d == 1
        }
    });
    lines_up.then(|| constant.values.clone())
}

/// A scalar repeated, or exactly `len` values.
fn broadcast(values: &[f64], len: usize) -> Option<Vec<f64>> {
    match values.len() {
        1 => Some(vec![values[0]; len]),
        n if n == len => Some(values.to_vec()),
        _ => None,
    }
}

/// Largest input import accepts, in values (as circuit validation).
const MAX_INPUT_VALUES: usize = 1 << 22;

fn input_shape(dims: &[usize]) -> Option<Shape> {
    let (c, h, w) = match dims {
        [1, c, h, w] => (*c, *h, *w),
        [1, n] => (*n, 1, 1),
        _ => return None,
    };
    let len = c.checked_mul(h)?.checked_mul(w)?;
    (1..=MAX_INPUT_VALUES)
        .contains(&len)
        .then(|| Shape::new(c, h, w))
}

/// A layer's name from its node's: the module that owns the operator (`conv1` in
/// torch's `/model/conv1/Conv`), or the operator and position when unnamed.
fn layer_name(node: &NodeProto, index: usize) -> String {
    let segments: Vec<&str> = node.name.split('/').filter(|s| !s.is_empty()).collect();
    match segments[..] {
        [] => format!("{}{index}", node.op_type.to_lowercase()),
        [only] => only.to_owned(),
        [.., owner, _] => owner.to_owned(),
    }
}

fn too_wide(node: &NodeProto, what: &'static str, bits: u32, max: u32) -> ImportError {
    ImportError::TooWide {
        node: node.name.clone(),
        op: node.op_type.clone(),
        what,
        bits,
        max,
    }
}

fn node_error(node: &NodeProto, problem: impl Into<String>) -> ImportError {
    ImportError::Node {
        node: node.name.clone(),
        op: node.op_type.clone(),
        problem: problem.into(),
    }
}
