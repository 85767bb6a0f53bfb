//! `brainlock circuit export | inspect`.

use std::path::Path;

use anyhow::Context;
use brainlock_circuit::{Circuit, LayerOutput, LinearOp};
use brainlock_fhe::plan::Plan;

use crate::workload::resolve_circuit;

pub fn export(name: &str, output: &Path) -> anyhow::Result<()> {
    let circuit = resolve_circuit(name)?;
    circuit
        .save(output)
        .with_context(|| format!("writing {}", output.display()))?;
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
            "  {:<4} {:<40} -> {}x{}x{}  {}\n",
            layer.name, op, shape.channels, shape.height, shape.width, output
        ));
    }
    Ok(out)
}

pub fn inspect(name: &str) -> anyhow::Result<()> {
    let circuit = resolve_circuit(name)?;
    print!("{}", describe(&circuit)?);
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
    fn export_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tiny.json");
        export("test-tiny", &path).unwrap();
        assert_eq!(Circuit::load(&path).unwrap(), test_tiny());
    }
}
