//! Hand-built QCDQ graphs: what imports (and computes what the graph computes), and
//! the errors for what does not.

use brainlock_circuit::{CalibrationConfig, LinearOp, Simulator, sample_inputs_of};
use brainlock_onnx::proto::{
    AttributeProto, Dimension, GraphProto, ModelProto, NodeProto, TensorProto, TensorShapeProto,
    TensorTypeProto, TypeProto, ValueInfoProto, data_type,
};
use brainlock_onnx::{ImportError, lower_model};
use prost::Message;

fn tensor(name: &str, dims: &[i64], data_type: i32, values: &[f64]) -> TensorProto {
    let mut t = TensorProto {
        name: name.into(),
        dims: dims.to_vec(),
        data_type,
        ..Default::default()
    };
    match data_type {
        data_type::FLOAT => t.float_data = values.iter().map(|&v| v as f32).collect(),
        data_type::INT64 => t.int64_data = values.iter().map(|&v| v as i64).collect(),
        _ => t.int32_data = values.iter().map(|&v| v as i32).collect(),
    }
    t
}

fn node(
    op: &str,
    name: &str,
    inputs: &[&str],
    output: &str,
    attrs: Vec<AttributeProto>,
) -> NodeProto {
    NodeProto {
        op_type: op.into(),
        name: name.into(),
        input: inputs.iter().map(|s| s.to_string()).collect(),
        output: vec![output.into()],
        attribute: attrs,
        ..Default::default()
    }
}

fn ints(name: &str, values: &[i64]) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        ints: values.to_vec(),
        ..Default::default()
    }
}

fn value_info(name: &str, dims: &[i64]) -> ValueInfoProto {
    ValueInfoProto {
        name: name.into(),
        r#type: Some(TypeProto {
            tensor_type: Some(TensorTypeProto {
                elem_type: data_type::FLOAT,
                shape: Some(TensorShapeProto {
                    dim: dims
                        .iter()
                        .map(|&d| Dimension {
                            dim_value: d,
                            ..Default::default()
                        })
                        .collect(),
                }),
            }),
        }),
    }
}

/// A quantizer (Quantize, Clip, Dequantize) from `input` to `output`.
fn quantizer(
    prefix: &str,
    input: &str,
    output: &str,
    scale: &str,
    zp: &str,
    clip: (&str, &str),
) -> Vec<NodeProto> {
    let q = format!("{prefix}_q");
    let c = format!("{prefix}_c");
    vec![
        node("QuantizeLinear", &q, &[input, scale, zp], &q, vec![]),
        node("Clip", &c, &[&q, clip.0, clip.1], &c, vec![]),
        node(
            "DequantizeLinear",
            &format!("{prefix}_dq"),
            &[&c, scale, zp],
            output,
            vec![],
        ),
    ]
}

/// x [1,1,4,4] -> int8 input quantizer (scale 1/8) -> conv 3x3 pad 1 (1 -> 2, ternary
/// weights, scale 0.5) -> BatchNorm -> Relu -> 2-bit unsigned quantizer (scale 0.75)
/// -> `pool` (MaxPool or AveragePool 2x2, then for AveragePool a 4-bit quantizer) ->
/// Flatten -> Gemm (8 -> 3, transB, per-tensor scale 0.25) = logits.
fn small_graph(pool: &str) -> (GraphProto, Vec<f64>) {
    let weights: Vec<f64> = vec![
        1., 0., -1., 1., 0., -1., 1., 0., -1., // vertical edges
        0., 1., 0., 1., 1., 1., 0., 1., 0., // a blur
    ];
    let fc: Vec<f64> = (0..24).map(|i| ((i * 7 % 5) as f64) - 2.0).collect();
    let mut initializer = vec![
        tensor("s_in", &[], data_type::FLOAT, &[0.125]),
        tensor("zp_i8", &[], data_type::INT8, &[0.0]),
        tensor("zp_u8", &[], data_type::UINT8, &[0.0]),
        tensor("lo_in", &[], data_type::INT8, &[-128.0]),
        tensor("hi_in", &[], data_type::INT8, &[127.0]),
        tensor("w", &[2, 1, 3, 3], data_type::INT8, &weights),
        tensor("s_w", &[], data_type::FLOAT, &[0.5]),
        tensor("bn_g", &[2], data_type::FLOAT, &[1.5, 0.8]),
        tensor("bn_b", &[2], data_type::FLOAT, &[0.1, -0.3]),
        tensor("bn_m", &[2], data_type::FLOAT, &[0.2, 1.0]),
        tensor("bn_v", &[2], data_type::FLOAT, &[2.0, 4.0]),
        tensor("s_a", &[], data_type::FLOAT, &[0.75]),
        tensor("lo_a", &[], data_type::UINT8, &[0.0]),
        tensor("hi_a", &[], data_type::UINT8, &[3.0]),
        tensor("s_p", &[], data_type::FLOAT, &[0.2]),
        tensor("lo_p", &[], data_type::INT8, &[-8.0]),
        tensor("hi_p", &[], data_type::INT8, &[7.0]),
        tensor("fc", &[3, 8], data_type::INT8, &fc),
        tensor("s_fc", &[], data_type::FLOAT, &[0.25]),
    ];
    initializer.push(tensor("two", &[], data_type::FLOAT, &[2.0]));
    let mut nodes = vec![node("Mul", "pre", &["x", "two"], "x2", vec![])];
    nodes.extend(quantizer(
        "in",
        "x2",
        "xq",
        "s_in",
        "zp_i8",
        ("lo_in", "hi_in"),
    ));
    nodes.push(node(
        "DequantizeLinear",
        "w_dq",
        &["w", "s_w", "zp_i8"],
        "wq",
        vec![],
    ));
    nodes.push(node(
        "Conv",
        "/conv/Conv",
        &["xq", "wq"],
        "acc",
        vec![
            ints("kernel_shape", &[3, 3]),
            ints("pads", &[1, 1, 1, 1]),
            ints("strides", &[1, 1]),
        ],
    ));
    nodes.push(node(
        "BatchNormalization",
        "bn",
        &["acc", "bn_g", "bn_b", "bn_m", "bn_v"],
        "bn",
        vec![],
    ));
    nodes.push(node("Relu", "relu", &["bn"], "relu", vec![]));
    nodes.extend(quantizer(
        "act",
        "relu",
        "a",
        "s_a",
        "zp_u8",
        ("lo_a", "hi_a"),
    ));
    let window = vec![ints("kernel_shape", &[2, 2]), ints("strides", &[2, 2])];
    if pool == "MaxPool" {
        nodes.push(node("MaxPool", "/pool/MaxPool", &["a"], "p", window));
    } else {
        nodes.push(node(
            "AveragePool",
            "/pool/AveragePool",
            &["a"],
            "avg",
            window,
        ));
        nodes.extend(quantizer(
            "pq",
            "avg",
            "p",
            "s_p",
            "zp_i8",
            ("lo_p", "hi_p"),
        ));
    }
    nodes.push(node(
        "Flatten",
        "flat",
        &["p"],
        "f",
        vec![AttributeProto {
            name: "axis".into(),
            i: 1,
            ..Default::default()
        }],
    ));
    nodes.push(node(
        "DequantizeLinear",
        "fc_dq",
        &["fc", "s_fc", "zp_i8"],
        "fcq",
        vec![],
    ));
    nodes.push(node(
        "Gemm",
        "/fc/Gemm",
        &["f", "fcq"],
        "logits",
        vec![AttributeProto {
            name: "transB".into(),
            i: 1,
            ..Default::default()
        }],
    ));
    let graph = GraphProto {
        node: nodes,
        initializer,
        input: vec![value_info("x", &[1, 1, 4, 4])],
        output: vec![value_info("logits", &[1, 3])],
        ..Default::default()
    };
    (graph, fc)
}

fn encode(graph: GraphProto) -> Vec<u8> {
    ModelProto {
        ir_version: 7,
        graph: Some(graph),
        ..Default::default()
    }
    .encode_to_vec()
}

fn round_even(x: f64) -> f64 {
    brainlock_circuit::requant::round_half_even(x)
}

/// The graph's own arithmetic on input integers `q` (reals, as ONNX would run it),
/// as integer logits (logits / (0.75 or 0.2 times 0.25)).
fn reference(q: &[i64], pool: &str, fc: &[f64]) -> Vec<i64> {
    let w = [
        [1., 0., -1., 1., 0., -1., 1., 0., -1.],
        [0., 1., 0., 1., 1., 1., 0., 1., 0.],
    ];
    let (g, b, m, v) = ([1.5, 0.8], [0.1, -0.3], [0.2, 1.0], [2.0, 4.0]);
    let mut act = vec![0.0; 2 * 16];
    for c in 0..2 {
        for y in 0..4i64 {
            for x in 0..4i64 {
                let mut acc = 0.0;
                for ky in 0..3 {
                    for kx in 0..3 {
                        let (iy, ix) = (y + ky - 1, x + kx - 1);
                        if (0..4).contains(&iy) && (0..4).contains(&ix) {
                            acc += q[(iy * 4 + ix) as usize] as f64
                                * 0.125
                                * w[c][(ky * 3 + kx) as usize]
                                * 0.5;
                        }
                    }
                }
                let bn = (acc - m[c]) / (v[c] + 1e-5f64).sqrt() * g[c] + b[c];
                act[c * 16 + (y * 4 + x) as usize] = round_even(bn.max(0.0) / 0.75).clamp(0.0, 3.0);
            }
        }
    }
    let mut pooled = [0.0; 8];
    for c in 0..2 {
        for py in 0..2 {
            for px in 0..2 {
                let at = |dy: usize, dx: usize| act[c * 16 + (2 * py + dy) * 4 + 2 * px + dx];
                let window = [at(0, 0), at(0, 1), at(1, 0), at(1, 1)];
                pooled[c * 4 + py * 2 + px] = if pool == "MaxPool" {
                    window.iter().cloned().fold(f64::MIN, f64::max)
                } else {
                    let avg = window.iter().sum::<f64>() * 0.75 / 4.0;
                    round_even(avg / 0.2).clamp(-8.0, 7.0)
                };
            }
        }
    }
    (0..3)
        .map(|o| (0..8).map(|i| pooled[i] * fc[o * 8 + i]).sum::<f64>() as i64)
        .collect()
}

#[test]
fn small_graphs_import_and_compute_what_the_graph_computes() {
    for pool in ["MaxPool", "AveragePool"] {
        let (graph, fc) = small_graph(pool);
        let lowered = lower_model(&encode(graph), "small").unwrap();
        assert_eq!(lowered.input.scale, 0.125);
        assert!(
            lowered
                .notes
                .iter()
                .any(|n| n.contains("before the input quantizer")),
            "{:?}",
            lowered.notes
        );
        let inputs = sample_inputs_of(lowered.spec.input_shape, lowered.spec.input_bits, 7, 300);
        let config = CalibrationConfig {
            rounding_bits: 12,
            ..CalibrationConfig::default()
        };
        let circuit = lowered.calibrate(&inputs, &config).unwrap();
        // At this R every table holds one accumulator value per entry: exact.
        for layer in &circuit.layers {
            if let brainlock_circuit::LayerOutput::Lookup(lookup) = &layer.output {
                assert!(
                    lookup.shift <= 0,
                    "{pool}: {} shift {}",
                    layer.name,
                    lookup.shift
                );
            }
        }
        let names: Vec<&str> = circuit.layers.iter().map(|l| l.name.as_str()).collect();
        assert_eq!(names, ["conv", "pool", "fc"], "{pool}");
        let simulator = Simulator::new(&circuit).unwrap();
        for q in &inputs {
            assert_eq!(
                simulator.run(q).unwrap(),
                reference(q, pool, &fc),
                "{pool} on {q:?}"
            );
        }
    }
}

fn expect_error(graph: GraphProto) -> ImportError {
    lower_model(&encode(graph), "bad").unwrap_err()
}

#[test]
fn an_unsupported_operator_is_named() {
    let (mut graph, _) = small_graph("MaxPool");
    let relu = graph.node.iter().position(|n| n.op_type == "Relu").unwrap();
    graph.node[relu].op_type = "Sigmoid".into();
    graph.node[relu].name = "/act/Sigmoid".into();
    let message = expect_error(graph).to_string();
    assert!(message.contains("`/act/Sigmoid`"), "{message}");
    assert!(
        message.contains("operator `Sigmoid` is not supported"),
        "{message}"
    );
    assert!(message.contains("Conv, Gemm"), "{message}");
}

#[test]
fn a_float_layer_is_refused() {
    let (mut graph, _) = small_graph("MaxPool");
    // The convolution reads float weights directly: no quantizer.
    let conv = graph.node.iter().position(|n| n.op_type == "Conv").unwrap();
    graph.node[conv].input[1] = "w_float".into();
    graph.initializer.push(tensor(
        "w_float",
        &[2, 1, 3, 3],
        data_type::FLOAT,
        &[0.3; 18],
    ));
    let err = expect_error(graph);
    assert!(matches!(err, ImportError::Unquantized { .. }), "{err}");
    let message = err.to_string();
    assert!(
        message.contains("`/conv/Conv` (Conv): its weight `w_float` is not quantized"),
        "{message}"
    );
}

#[test]
fn too_wide_bit_widths_are_refused() {
    // 12-bit weights.
    let (mut graph, _) = small_graph("MaxPool");
    let w = graph
        .initializer
        .iter_mut()
        .find(|t| t.name == "w")
        .unwrap();
    *w = tensor("w", &[2, 1, 3, 3], data_type::INT32, &[1500.0; 18]);
    let message = expect_error(graph).to_string();
    assert!(
        message.contains("weights need 12 bits, at most 8"),
        "{message}"
    );
    // A 32-bit activation quantizer.
    let (mut graph, _) = small_graph("MaxPool");
    graph
        .initializer
        .push(tensor("zp_i32", &[], data_type::INT32, &[0.0]));
    for n in graph.node.iter_mut().filter(|n| n.name.starts_with("act_")) {
        if n.op_type != "Clip" {
            n.input[2] = "zp_i32".into();
        }
        if n.op_type == "Clip" {
            n.input.truncate(1);
        }
    }
    let message = expect_error(graph).to_string();
    assert!(
        message.contains("activations need 32 bits, at most 16"),
        "{message}"
    );
}

#[test]
fn logits_scaled_per_class_are_refused() {
    let (mut graph, _) = small_graph("MaxPool");
    graph.initializer.push(tensor(
        "class_scale",
        &[3],
        data_type::FLOAT,
        &[1.0, 2.0, 3.0],
    ));
    graph.node.push(node(
        "Mul",
        "per_class",
        &["logits", "class_scale"],
        "scaled",
        vec![],
    ));
    graph.output[0].name = "scaled".into();
    let message = expect_error(graph).to_string();
    assert!(message.contains("one weight scale per tensor"), "{message}");
}

#[test]
fn reversed_clip_bounds_are_an_error() {
    // Found by fuzzing (onnx_model): a weight clip to [-3, -4] panicked in f64::clamp.
    let (mut graph, _) = small_graph("MaxPool");
    graph
        .initializer
        .push(tensor("minus3", &[], data_type::INT8, &[-3.0]));
    graph
        .initializer
        .push(tensor("minus4", &[], data_type::INT8, &[-4.0]));
    let w = graph.node.iter().position(|n| n.name == "w_dq").unwrap();
    graph.node.insert(
        w,
        node(
            "Clip",
            "w_clip",
            &["w", "minus3", "minus4"],
            "w_clipped",
            vec![],
        ),
    );
    graph.node[w + 1].input[0] = "w_clipped".into();
    let message = expect_error(graph).to_string();
    assert!(
        message.contains("`w_clip` (Clip): clips to [-3, -4], an empty range"),
        "{message}"
    );
}

#[test]
fn garbage_is_not_a_model() {
    assert!(matches!(
        lower_model(b"\xff\xff\xff", "x"),
        Err(ImportError::Decode(_))
    ));
    assert!(matches!(lower_model(&[], "x"), Err(ImportError::Graph(_))));
}

/// Brevitas's CNV 2w2a as its QCDQ export lays it out: an 8-bit input quantizer, six
/// unpadded 3x3 convolutions (64, 64, pool, 128, 128, pool, 256, 256) and two hidden
/// dense layers, each with ternary weights, BatchNorm and a ternary quantizer; a max
/// pool after the second and fourth; a last dense layer to 10 logits.
fn cnv_graph() -> GraphProto {
    let mut seed = 0x5eedu64;
    let mut next = move || {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (seed >> 33) as f64 / (1u64 << 31) as f64
    };
    let mut initializer = vec![
        tensor("s_in", &[], data_type::FLOAT, &[1.0 / 128.0]),
        tensor("zp", &[], data_type::INT8, &[0.0]),
        tensor("one", &[], data_type::FLOAT, &[1.0]),
        tensor("lo", &[], data_type::INT8, &[-1.0]),
        tensor("hi", &[], data_type::INT8, &[1.0]),
        tensor("lo8", &[], data_type::INT8, &[-128.0]),
        tensor("hi8", &[], data_type::INT8, &[127.0]),
    ];
    let mut nodes = quantizer("in", "x", "a0", "s_in", "zp", ("lo8", "hi8"));
    let mut current = "a0".to_string();
    let mut layer = 0;
    let mut linear = |nodes: &mut Vec<NodeProto>,
                      init: &mut Vec<TensorProto>,
                      current: &mut String,
                      dims: Vec<i64>,
                      conv: bool,
                      last: bool| {
        layer += 1;
        let count: i64 = dims.iter().product();
        let w: Vec<f64> = (0..count).map(|_| (next() * 3.0).floor() - 1.0).collect();
        let name = format!("l{layer}");
        init.push(tensor(&format!("{name}_w"), &dims, data_type::INT8, &w));
        nodes.push(node(
            "DequantizeLinear",
            &format!("/{name}/wq"),
            &[&format!("{name}_w"), "one", "zp"],
            &format!("{name}_wq"),
            vec![],
        ));
        let acc = format!("{name}_acc");
        if conv {
            nodes.push(node(
                "Conv",
                &format!("/{name}/Conv"),
                &[current, &format!("{name}_wq")],
                &acc,
                vec![ints("kernel_shape", &[3, 3])],
            ));
        } else {
            nodes.push(node(
                "Transpose",
                &format!("/{name}/T"),
                &[&format!("{name}_wq")],
                &format!("{name}_wt"),
                vec![ints("perm", &[1, 0])],
            ));
            nodes.push(node(
                "MatMul",
                &format!("/{name}/MatMul"),
                &[current, &format!("{name}_wt")],
                &acc,
                vec![],
            ));
        }
        if last {
            *current = acc;
            return;
        }
        let c = dims[0] as usize;
        let fan_in = (count / dims[0]) as f64;
        let params: Vec<Vec<f64>> = vec![
            (0..c).map(|_| 0.5 + next()).collect(),
            (0..c).map(|_| next() - 0.5).collect(),
            (0..c).map(|_| (next() - 0.5) * fan_in.sqrt()).collect(),
            (0..c).map(|_| fan_in * (0.2 + next())).collect(),
        ];
        let names: Vec<String> = ["g", "b", "m", "v"]
            .iter()
            .map(|p| format!("{name}_{p}"))
            .collect();
        for (p, values) in names.iter().zip(&params) {
            init.push(tensor(p, &[c as i64], data_type::FLOAT, values));
        }
        let bn = format!("{name}_bn");
        nodes.push(node(
            "BatchNormalization",
            &format!("/{name}/BN"),
            &[&acc, &names[0], &names[1], &names[2], &names[3]],
            &bn,
            vec![],
        ));
        let out = format!("{name}_a");
        nodes.extend(quantizer(&name, &bn, &out, "one", "zp", ("lo", "hi")));
        *current = out;
    };
    let window = || vec![ints("kernel_shape", &[2, 2]), ints("strides", &[2, 2])];
    let mut cin = 3;
    for (i, cout) in [64, 64, 128, 128, 256, 256].into_iter().enumerate() {
        linear(
            &mut nodes,
            &mut initializer,
            &mut current,
            vec![cout, cin, 3, 3],
            true,
            false,
        );
        cin = cout;
        if i == 1 || i == 3 {
            let pooled = format!("pool{i}");
            nodes.push(node(
                "MaxPool",
                &format!("/pool{i}/MaxPool"),
                &[&current],
                &pooled,
                window(),
            ));
            current = pooled;
        }
    }
    nodes.push(node(
        "Flatten",
        "/flatten/Flatten",
        &[&current],
        "flat",
        vec![],
    ));
    current = "flat".into();
    for (inputs, outputs, last) in [(256, 512, false), (512, 512, false), (512, 10, true)] {
        linear(
            &mut nodes,
            &mut initializer,
            &mut current,
            vec![outputs, inputs],
            false,
            last,
        );
    }
    GraphProto {
        node: nodes,
        initializer,
        input: vec![value_info("x", &[1, 3, 32, 32])],
        output: vec![value_info(&current, &[1, 10])],
        ..Default::default()
    }
}

#[test]
fn brevitas_cnv_imports_to_the_shipped_vgg9_structure() {
    let lowered = lower_model(&encode(cnv_graph()), "cnv").unwrap();
    let inputs = sample_inputs_of(lowered.spec.input_shape, lowered.spec.input_bits, 1, 8);
    let imported = lowered
        .calibrate(&inputs, &CalibrationConfig::default())
        .unwrap();
    let shipped = brainlock_circuit::vgg9(brainlock_circuit::DEFAULT_CIRCUIT_SEED);
    // Everything but the weights and tables: ops, shapes, where the lookups are.
    let structure = |c: &brainlock_circuit::Circuit| {
        let shapes = c.shapes().unwrap();
        c.layers
            .iter()
            .enumerate()
            .map(|(i, l)| {
                let mut op = l.op.clone();
                if let LinearOp::Conv2d { weights, .. } | LinearOp::Dense { weights, .. } = &mut op
                {
                    weights.clear();
                }
                let lookup = matches!(l.output, brainlock_circuit::LayerOutput::Lookup(_));
                (op, shapes.layer_output(i), lookup)
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(structure(&imported), structure(&shipped));
    assert_eq!(
        (imported.input_shape, imported.input_bits),
        (shipped.input_shape, shipped.input_bits)
    );
}

/// `graph` as QONNX exports it: each QuantizeLinear-Clip-DequantizeLinear becomes one
/// `Quant`, each dequantized integer weight a float weight and a `Quant`.
fn to_qonnx(graph: GraphProto) -> GraphProto {
    let find = |name: &str| graph.initializer.iter().find(|t| t.name == name).unwrap();
    let values = |t: &TensorProto| -> Vec<f64> {
        if t.data_type == data_type::FLOAT {
            t.float_data.iter().map(|&v| f64::from(v)).collect()
        } else {
            t.int32_data.iter().map(|&v| f64::from(v)).collect()
        }
    };
    let mut initializer = graph.initializer.clone();
    initializer.push(tensor("q_zp", &[], data_type::FLOAT, &[0.0]));
    let mut quant =
        |input: &str, output: &str, scale: &str, bits: f64, signed: bool, narrow: bool| {
            let bits_name = format!("q_bits_{output}");
            initializer.push(tensor(&bits_name, &[], data_type::FLOAT, &[bits]));
            let flag = |name: &str, on: bool| AttributeProto {
                name: name.into(),
                i: i64::from(on),
                ..Default::default()
            };
            NodeProto {
                domain: "qonnx.custom_op.general".into(),
                ..node(
                    "Quant",
                    &format!("/{output}/Quant"),
                    &[input, scale, "q_zp", &bits_name],
                    output,
                    vec![flag("signed", signed), flag("narrow", narrow)],
                )
            }
        };
    let (mut nodes, mut reals) = (Vec::new(), Vec::new());
    let mut i = 0;
    while i < graph.node.len() {
        let n = &graph.node[i];
        if n.op_type == "QuantizeLinear" {
            let (clip, dq) = (&graph.node[i + 1], &graph.node[i + 2]);
            let (lo, hi) = (
                values(find(&clip.input[1]))[0],
                values(find(&clip.input[2]))[0],
            );
            let signed = lo < 0.0;
            let bits = (hi + 1.0).log2().ceil() + f64::from(u8::from(signed));
            nodes.push(quant(
                &n.input[0],
                &dq.output[0],
                &n.input[1],
                bits,
                signed,
                signed && lo == -hi,
            ));
            i += 3;
        } else if n.op_type == "DequantizeLinear" {
            let w = find(&n.input[0]);
            let scale = values(find(&n.input[1]))[0];
            let ints = values(w);
            let real: Vec<f64> = ints.iter().map(|v| v * scale).collect();
            let name = format!("{}_real", w.name);
            let max = ints.iter().fold(0.0f64, |m, v| m.max(v.abs()));
            reals.push(tensor(&name, &w.dims, data_type::FLOAT, &real));
            nodes.push(quant(
                &name,
                &n.output[0],
                &n.input[1],
                (max + 1.0).log2().ceil() + 1.0,
                true,
                true,
            ));
            i += 1;
        } else {
            nodes.push(n.clone());
            i += 1;
        }
    }
    initializer.extend(reals);
    GraphProto {
        node: nodes,
        initializer,
        ..graph
    }
}

#[test]
fn qonnx_quant_nodes_import_to_the_same_circuit_as_qcdq() {
    for pool in ["MaxPool", "AveragePool"] {
        let (qcdq, _) = small_graph(pool);
        let qonnx = to_qonnx(qcdq.clone());
        assert!(qonnx.node.iter().any(|n| n.op_type == "Quant"));
        assert!(
            !qonnx
                .node
                .iter()
                .any(|n| n.op_type.ends_with("QuantizeLinear"))
        );
        let circuits: Vec<_> = [qcdq, qonnx]
            .into_iter()
            .map(|graph| {
                let lowered = lower_model(&encode(graph), "small").unwrap();
                let inputs =
                    sample_inputs_of(lowered.spec.input_shape, lowered.spec.input_bits, 3, 64);
                // A max pool over 4 levels needs R >= 7.
                let config = CalibrationConfig {
                    rounding_bits: 8,
                    ..CalibrationConfig::default()
                };
                lowered.calibrate(&inputs, &config).unwrap()
            })
            .collect();
        assert_eq!(circuits[0], circuits[1], "{pool}");
    }
}

#[test]
fn malformed_graphs_are_errors_not_panics() {
    let contains = |graph: GraphProto, expected: &str| {
        let message = expect_error(graph).to_string();
        assert!(message.contains(expected), "{expected:?} not in {message}");
    };
    // A non-finite clip bound from a Constant node.
    let (mut graph, _) = small_graph("MaxPool");
    let w = graph.node.iter().position(|n| n.name == "w_dq").unwrap();
    let infinite = NodeProto {
        attribute: vec![AttributeProto {
            name: "value_float".into(),
            f: f32::INFINITY,
            ..Default::default()
        }],
        ..node("Constant", "inf", &[], "inf", vec![])
    };
    graph.node.insert(w, infinite);
    graph.node.insert(
        w + 1,
        node("Clip", "w_clip", &["w", "inf"], "w_clipped", vec![]),
    );
    graph.node[w + 2].input[0] = "w_clipped".into();
    contains(graph, "attribute value_float is not finite");

    // A per-channel constant that ONNX would broadcast along the width, not the channels.
    let (mut graph, _) = small_graph("MaxPool");
    graph
        .initializer
        .push(tensor("along_w", &[2], data_type::FLOAT, &[1.0, 2.0]));
    let bn = graph
        .node
        .iter()
        .position(|n| n.op_type == "BatchNormalization")
        .unwrap();
    graph.node.insert(
        bn,
        node("Mul", "scale", &["acc", "along_w"], "acc2", vec![]),
    );
    graph.node[bn + 1].input[0] = "acc2".into();
    contains(graph.clone(), "one value per channel");
    // The same values shaped [C, 1, 1] are per channel.
    let along_c = graph
        .initializer
        .iter_mut()
        .find(|t| t.name == "along_w")
        .unwrap();
    along_c.dims = vec![2, 1, 1];
    lower_model(&encode(graph), "ok").unwrap();

    // A name assigned twice.
    let (mut graph, _) = small_graph("MaxPool");
    let relu = graph.node.iter().position(|n| n.op_type == "Relu").unwrap();
    graph.node[relu].output[0] = "acc".into();
    graph.node[relu + 1].input[0] = "acc".into();
    contains(graph, "already produced");

    // A QONNX zero point outside its quantizer's range.
    let (graph, _) = small_graph("MaxPool");
    let mut graph = to_qonnx(graph);
    let zp = graph
        .initializer
        .iter_mut()
        .find(|t| t.name == "q_zp")
        .unwrap();
    *zp = tensor("q_zp", &[], data_type::FLOAT, &[-1e19]);
    contains(graph, "zero point");
}
