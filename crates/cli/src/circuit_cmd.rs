//! `brainlock circuit export | inspect | gates`.

use std::path::Path;

use anyhow::Context;
use brainlock_circuit::{
    Circuit, LayerOutput, LinearOp, NoiseModel, Simulator, layer_affinities, sample_inputs,
};
use brainlock_fhe::plan::Plan;
use brainlock_scoring::{GatePolicy, derive_gates};

use crate::workload::{resolve_circuit, resolve_profile};

/// Synthetic inputs the affinity report runs on.
const AFFINITY_INPUTS: usize = 32;

/// The `circuit export` command: writes a shipped circuit to a JSON file.
pub fn export(name: &str, output: &Path) -> anyhow::Result<()> {
    let circuit = resolve_circuit(name)?;
    // The error names the file.
    circuit.save(output)?;
    println!("wrote {} to {}", circuit.id, output.display());
    Ok(())
}

/// One line per layer: name, op, output shape, lookups.
pub fn describe(circuit: &Circuit) -> anyhow::Result<String> {
    let shapes = circuit.shapes()?;
    let plan = Plan::new(circuit)?;
    let mut out = format!(
        "circuit {}: input {}x{}x{} ({}-bit), R = {} rounding bits, {} lookups\n",
        circuit.id,
        circuit.input_shape.channels,
        circuit.input_shape.height,
        circuit.input_shape.width,
        circuit.input_bits,
        circuit.rounding_bits,
        plan.lookups(circuit)
    );
    let name_width = circuit
        .layers
        .iter()
        .map(|l| l.name.len())
        .max()
        .unwrap_or(0)
        .max(4);
    for (index, layer) in circuit.layers.iter().enumerate() {
        let shape = shapes.layer_output(index);
        let op = match &layer.op {
            LinearOp::Conv2d {
                in_channels,
                out_channels,
                kernel,
                stride,
                padding,
                ..
            } => {
                format!(
                    "conv {kernel}x{kernel} {in_channels}->{out_channels} stride {stride} pad {padding}"
                )
            }
            LinearOp::SumPool2x2 => "sum-pool 2x2".to_string(),
            LinearOp::Dense {
                inputs, outputs, ..
            } => format!("dense {inputs}->{outputs}"),
        };
        let output = match &layer.output {
            LayerOutput::Lookup(lookup) => format!("lookup (shift {})", lookup.shift),
            LayerOutput::Accumulator { delta_log2 } => {
                format!("accumulator (delta 2^{delta_log2})")
            }
        };
        out.push_str(&format!(
            "  {:<name_width$} {:<40} -> {:<12} {}\n",
            layer.name,
            op,
            format!("{}x{}x{}", shape.channels, shape.height, shape.width),
            output
        ));
    }
    Ok(out)
}

/// One line per lookup layer: how much of it the best affine function of its
/// accumulator reproduces on `inputs` (a miner computes that part without a bootstrap).
pub fn affinity_report(circuit: &Circuit, inputs: &[Vec<i64>]) -> anyhow::Result<String> {
    let simulator = Simulator::new(circuit)?;
    let mut out = String::new();
    for layer in layer_affinities(&simulator, inputs)? {
        out.push_str(&format!(
            "  layer {:<4} best affine shortcut reproduces {:5.1}% of {} lookups\n",
            layer.name,
            100.0 * layer.best_affine_fraction,
            layer.lookups
        ));
    }
    Ok(out)
}

/// The `circuit inspect` command: validates a circuit and prints its layers.
pub fn inspect(name: &str) -> anyhow::Result<()> {
    let circuit = resolve_circuit(name)?;
    print!("{}", describe(&circuit)?);
    Ok(())
}

/// The `circuit gates` command: prints the gates a validator derives and the affine
/// shortcut report, its last line JSON.
pub fn gates(name: &str, profile: Option<&str>, batch: usize) -> anyhow::Result<()> {
    let circuit = resolve_circuit(name)?;
    let profile = resolve_profile(&circuit, profile)?;
    let model = NoiseModel::new(&profile.parameter_set());
    let gates = derive_gates(&circuit, &model, batch, &GatePolicy::default())
        .with_context(|| format!("deriving the gates of {}", circuit.id))?;
    println!(
        "circuit {} under {} for queries of {batch} item(s):",
        circuit.id, profile.id
    );
    println!("  rule: {}", gates.rule);
    println!(
        "  c_min {:.6}{}, honest failure budget {:.2e} per item",
        gates.c_min,
        if gates.simulated_e_min_mean.is_some() {
            " (mean of the per-item bounds)"
        } else {
            ""
        },
        gates.item_failure
    );
    if let Some(e_min) = gates.simulated_e_min_mean {
        println!("  exact-match floor e_min: {e_min:.4} on average over the simulated items");
    }
    println!(
        "  noise-aware simulation: {} items, mean cosine {:.6}",
        gates.simulated_items, gates.simulated_cosine_mean
    );
    let inputs = sample_inputs(&circuit, 0xaff1, AFFINITY_INPUTS);
    print!("{}", affinity_report(&circuit, &inputs)?);
    println!(
        "{}",
        serde_json::json!({
            "circuit": circuit.id,
            "profile": profile.id,
            "gates": gates,
        })
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use brainlock_circuit::test_tiny;

    #[test]
    fn describes_layers_and_lookups() {
        let text = describe(&test_tiny()).unwrap();
        assert!(text.contains("32 lookups"), "{text}");
        assert!(text.contains("conv 3x3 1->2 stride 1 pad 1"), "{text}");
        assert!(text.contains("-> 2x4x4"), "{text}");
    }

    #[test]
    fn gates_are_derived_for_a_shipped_circuit_and_refused_for_an_empty_batch() {
        gates("test-tiny", None, 4).unwrap();
        assert!(gates("test-tiny", None, 0).is_err());
        assert!(gates("test-tiny", Some("n1024-made-up"), 1).is_err());
    }

    #[test]
    fn export_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tiny.json");
        export("test-tiny", &path).unwrap();
        assert_eq!(Circuit::load(&path).unwrap(), test_tiny());
    }
}
