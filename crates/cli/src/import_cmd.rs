//! `brainlock circuit import` and `brainlock circuit check`: bring a quantized ONNX
//! model in as a circuit, and measure the circuit against the model's own answers
//! (and, encrypted, against its own simulation).

use std::path::Path;
use std::time::Instant;

use anyhow::{Context, bail};
use brainlock_circuit::{CalibrationConfig, Circuit, Simulator, argmax, sample_inputs_of};
use brainlock_fhe::{ClientKey, EvaluationKey, evaluate};
use indicatif::{ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};

use crate::workload::{load_input, resolve_circuit, resolve_profile};

/// Calibration inputs the affine-shortcut report runs on.
const AFFINITY_SAMPLE: usize = 32;

/// Seed of `--calibration synthetic` inputs.
const SYNTHETIC_CALIBRATION_SEED: u64 = 0xca11_0000_0000_0001;

/// A set of circuit inputs, optionally with what the original model answered.
#[derive(Debug, Default, Deserialize)]
pub struct Samples {
    /// Inputs as the circuit takes them (the model's input quantizer's integers).
    pub inputs: Vec<Vec<i64>>,
    /// True classes, when known.
    #[serde(default)]
    pub labels: Vec<usize>,
    /// The original model's predicted classes.
    #[serde(default)]
    pub predictions: Vec<usize>,
    /// The original model's integer logits (its logits divided by their scale).
    #[serde(default)]
    pub logits: Vec<Vec<i64>>,
}

impl Samples {
    /// Reads a samples JSON file.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        let samples: Self = serde_json::from_slice(&bytes).with_context(|| {
            format!("{}: expected {{\"inputs\": [[...]], ...}}", path.display())
        })?;
        if samples.inputs.is_empty() {
            bail!("{}: no inputs", path.display());
        }
        Ok(samples)
    }
}

/// The `circuit import` command.
pub fn import(
    model: &Path,
    calibration: &str,
    rounding_bits: u32,
    id: Option<&str>,
    output: &Path,
) -> anyhow::Result<()> {
    let id = match id {
        Some(id) => id.to_owned(),
        None => model
            .file_stem()
            .and_then(|s| s.to_str())
            .context("the model file name is not UTF-8: pass --id")?
            .to_owned(),
    };
    let bytes = brainlock_onnx::read_model(model)?;
    let lowered = brainlock_onnx::lower_model(&bytes, &id)
        .with_context(|| format!("importing {}", model.display()))?;
    let spec = &lowered.spec;
    let inputs = calibration_inputs(calibration, spec.input_shape, spec.input_bits)?;
    let config = CalibrationConfig {
        rounding_bits,
        ..CalibrationConfig::default()
    };
    let circuit = lowered
        .calibrate(&inputs, &config)
        .with_context(|| format!("calibrating {} on {calibration}", model.display()))?
        .with_content_id(&id)?;
    circuit
        .save(output)
        .with_context(|| format!("writing {}", output.display()))?;
    let q = &lowered.input;
    println!(
        "input: integers q - {} with q = clamp(round(x / {:e}) + {}, {}, {}) of the real input x",
        q.zero_point, q.scale, q.zero_point, q.min, q.max
    );
    for note in &lowered.notes {
        println!("note: {note}");
    }
    print!("{}", crate::circuit_cmd::describe(&circuit)?);
    // What a scoring validator should know: outputs a miner could skip bootstrapping.
    let sample = &inputs[..inputs.len().min(AFFINITY_SAMPLE)];
    println!(
        "affine shortcuts on {} calibration inputs (outputs a miner could compute without \
         bootstrapping; scored circuits keep these low):",
        sample.len()
    );
    print!("{}", crate::circuit_cmd::affinity_report(&circuit, sample)?);
    println!(
        "calibrated on {} inputs; wrote {} as circuit {} (the id names the content: serve \
         and query it with --circuit {})",
        inputs.len(),
        output.display(),
        circuit.id,
        output.display()
    );
    Ok(())
}

/// `synthetic[:N]`, a samples JSON file, or a directory of images.
fn calibration_inputs(
    spec: &str,
    shape: brainlock_circuit::Shape,
    bits: u32,
) -> anyhow::Result<Vec<Vec<i64>>> {
    if let Some(rest) = spec.strip_prefix("synthetic") {
        let count = match rest.strip_prefix(':') {
            Some(n) => n
                .parse()
                .with_context(|| format!("{spec:?}: N must be a number"))?,
            None if rest.is_empty() => 64,
            None => bail!("{spec:?}: expected synthetic or synthetic:N"),
        };
        return Ok(sample_inputs_of(
            shape,
            bits,
            SYNTHETIC_CALIBRATION_SEED,
            count,
        ));
    }
    let path = Path::new(spec);
    if path.is_dir() {
        // Images, decoded as `brainlock classify` decodes them.
        let probe = Circuit {
            id: String::new(),
            input_shape: shape,
            input_bits: bits,
            rounding_bits: 1,
            layers: Vec::new(),
            output_delta_log2: None,
        };
        let mut files: Vec<_> = std::fs::read_dir(path)
            .with_context(|| format!("reading {}", path.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file())
            .collect();
        files.sort();
        let inputs = files
            .iter()
            .map(|f| load_input(&f.display().to_string(), &probe))
            .collect::<anyhow::Result<Vec<_>>>()?;
        if inputs.is_empty() {
            bail!("{}: no images", path.display());
        }
        return Ok(inputs);
    }
    Ok(Samples::load(path)?.inputs)
}

/// What `circuit check` measured; printed as its last line.
#[derive(Debug, Serialize)]
pub struct CheckReport {
    /// The circuit's id.
    pub circuit: String,
    /// Inputs simulated.
    pub inputs: usize,
    /// Simulation accuracy against the labels (when given).
    pub simulation_accuracy: Option<f64>,
    /// The original model's accuracy against the labels (when both are given).
    pub reference_accuracy: Option<f64>,
    /// Fraction of inputs where the simulation's class equals the model's.
    pub prediction_agreement: Option<f64>,
    /// Fraction of inputs where every simulated logit equals the model's integer logit.
    pub logits_equal: Option<f64>,
    /// Inputs also run encrypted.
    pub encrypted: usize,
    /// Fraction of those whose decrypted class equals the simulation's.
    pub encrypted_prediction_agreement: Option<f64>,
    /// Fraction of those whose decrypted output equals the simulation's exactly.
    pub encrypted_outputs_equal: Option<f64>,
    /// Mean seconds per encrypted inference (this machine, all cores).
    pub encrypted_seconds_per_input: Option<f64>,
}

fn fraction(hits: usize, total: usize) -> Option<f64> {
    (total > 0).then(|| hits as f64 / total as f64)
}

/// The `circuit check` command.
pub fn check(
    circuit: &str,
    against: &Path,
    encrypted: usize,
    profile: Option<&str>,
) -> anyhow::Result<CheckReport> {
    let circuit = resolve_circuit(circuit)?;
    let samples = Samples::load(against)?;
    let simulated = Simulator::new(&circuit)?
        .run_batch(&samples.inputs)
        .context("the samples do not fit the circuit")?;
    let classes: Vec<usize> = simulated.iter().map(|l| argmax(l)).collect();
    let n = samples.inputs.len();
    let count = |hit: &dyn Fn(usize) -> bool| (0..n).filter(|&i| hit(i)).count();
    let labelled = samples.labels.len() == n;
    let predicted = samples.predictions.len() == n;
    let with_logits = samples.logits.len() == n;
    let mut report = CheckReport {
        circuit: circuit.id.clone(),
        inputs: n,
        simulation_accuracy: labelled
            .then(|| fraction(count(&|i| classes[i] == samples.labels[i]), n))
            .flatten(),
        reference_accuracy: (labelled && predicted)
            .then(|| fraction(count(&|i| samples.predictions[i] == samples.labels[i]), n))
            .flatten(),
        prediction_agreement: predicted
            .then(|| fraction(count(&|i| classes[i] == samples.predictions[i]), n))
            .flatten(),
        logits_equal: with_logits
            .then(|| fraction(count(&|i| simulated[i] == samples.logits[i]), n))
            .flatten(),
        encrypted: encrypted.min(n),
        encrypted_prediction_agreement: None,
        encrypted_outputs_equal: None,
        encrypted_seconds_per_input: None,
    };
    let show = |name: &str, value: Option<f64>| {
        if let Some(v) = value {
            println!("  {name:<34} {:.2}%", 100.0 * v);
        }
    };
    println!(
        "circuit {} on {n} inputs from {}:",
        circuit.id,
        against.display()
    );
    show("model accuracy (labels)", report.reference_accuracy);
    show("simulation accuracy (labels)", report.simulation_accuracy);
    show("simulation = model class", report.prediction_agreement);
    show("simulation = model integer logits", report.logits_equal);
    if report.encrypted > 0 {
        let profile = resolve_profile(&circuit, profile)?;
        let (client, compressed) = ClientKey::generate(profile, None);
        let key = EvaluationKey::expand(&compressed);
        let bar = ProgressBar::new(report.encrypted as u64).with_style(
            ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} ({eta} left)")
                .expect("static template"),
        );
        bar.set_message(format!("encrypted inference under {}", profile.id));
        let (mut same_class, mut same_output) = (0, 0);
        let started = Instant::now();
        for (input, expected) in samples.inputs.iter().zip(&simulated).take(report.encrypted) {
            let ciphertext = client.encrypt_input(&circuit, input)?;
            let output = evaluate(&circuit, &key, &ciphertext, &|_, _| {})?;
            let decrypted = client.decrypt_output(&circuit, &output)?;
            same_class += usize::from(argmax(&decrypted) == argmax(expected));
            same_output += usize::from(&decrypted == expected);
            bar.inc(1);
        }
        bar.finish_and_clear();
        report.encrypted_seconds_per_input =
            Some(started.elapsed().as_secs_f64() / report.encrypted as f64);
        report.encrypted_prediction_agreement = fraction(same_class, report.encrypted);
        report.encrypted_outputs_equal = fraction(same_output, report.encrypted);
        println!(
            "  {} inputs encrypted under {}:",
            report.encrypted, profile.id
        );
        show(
            "decrypted class = simulation",
            report.encrypted_prediction_agreement,
        );
        show(
            "decrypted output = simulation",
            report.encrypted_outputs_equal,
        );
    }
    println!("{}", serde_json::to_string(&report)?);
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use brainlock_circuit::Shape;

    #[test]
    fn calibration_comes_from_synthetic_inputs_a_samples_file_or_images() {
        let shape = Shape::new(1, 8, 8);
        let synthetic = calibration_inputs("synthetic:5", shape, 8).unwrap();
        assert_eq!((synthetic.len(), synthetic[0].len()), (5, 64));
        assert_eq!(calibration_inputs("synthetic", shape, 8).unwrap().len(), 64);
        assert!(calibration_inputs("synthetic:many", shape, 8).is_err());
        assert!(calibration_inputs("synthetically", shape, 8).is_err());

        let dir = tempfile::tempdir().unwrap();
        for (i, level) in [0u8, 255].into_iter().enumerate() {
            image::GrayImage::from_pixel(8, 8, image::Luma([level]))
                .save(dir.path().join(format!("{i}.png")))
                .unwrap();
        }
        let images = calibration_inputs(dir.path().to_str().unwrap(), shape, 8).unwrap();
        assert_eq!(images, vec![vec![-128; 64], vec![127; 64]]);

        let file = dir.path().join("samples.json");
        std::fs::write(&file, r#"{"inputs": [[1, 2, 3]]}"#).unwrap();
        assert_eq!(
            calibration_inputs(file.to_str().unwrap(), shape, 8).unwrap(),
            vec![vec![1, 2, 3]]
        );
        std::fs::write(&file, r#"{"inputs": []}"#).unwrap();
        assert!(calibration_inputs(file.to_str().unwrap(), shape, 8).is_err());
    }
}
