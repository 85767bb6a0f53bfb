//! The committed digits model (scripts/onnx/train_digits.py: a Brevitas QAT CNN on
//! scikit-learn's handwritten digits) imports, and its circuit classifies the held-out
//! split within a point of PyTorch. No Python here: the ONNX file and the samples
//! (input integers, labels, PyTorch's classes) are committed beside it.

use std::path::PathBuf;

use brainlock_circuit::{CalibrationConfig, Simulator, argmax};
use serde::Deserialize;

#[derive(Deserialize)]
struct Samples {
    inputs: Vec<Vec<i64>>,
    #[serde(default)]
    labels: Vec<usize>,
    #[serde(default)]
    predictions: Vec<usize>,
}

fn models() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../models/digits")
}

fn samples(name: &str) -> Samples {
    serde_json::from_slice(&std::fs::read(models().join(name)).unwrap()).unwrap()
}

#[test]
fn the_digits_model_imports_and_classifies_held_out_digits_like_pytorch() {
    let bytes = brainlock_onnx::read_model(models().join("digits.onnx")).unwrap();
    let lowered = brainlock_onnx::lower_model(&bytes, "digits").unwrap();
    assert_eq!(lowered.input.scale, 1.0 / 128.0);
    let calibration = samples("calibration.json");
    let circuit = lowered
        .calibrate(&calibration.inputs, &CalibrationConfig::default())
        .unwrap();
    let names: Vec<&str> = circuit.layers.iter().map(|l| l.name.as_str()).collect();
    assert_eq!(names, ["conv1", "conv2", "pool", "fc1", "fc2"]);

    let heldout = samples("heldout.json");
    let n = heldout.inputs.len();
    assert_eq!((heldout.labels.len(), heldout.predictions.len()), (n, n));
    let simulated = Simulator::new(&circuit)
        .unwrap()
        .run_batch(&heldout.inputs)
        .unwrap();
    let classes: Vec<usize> = simulated.iter().map(|l| argmax(l)).collect();
    let accuracy = |predicted: &[usize]| {
        predicted
            .iter()
            .zip(&heldout.labels)
            .filter(|(p, l)| p == l)
            .count() as f64
            / n as f64
    };
    let (ours, pytorch) = (accuracy(&classes), accuracy(&heldout.predictions));
    assert!(pytorch > 0.95, "the committed model is trained: {pytorch}");
    assert!(
        (ours - pytorch).abs() <= 0.01,
        "simulation {ours} vs PyTorch {pytorch}"
    );
    let agreement = classes
        .iter()
        .zip(&heldout.predictions)
        .filter(|(a, b)| a == b)
        .count() as f64
        / n as f64;
    assert!(
        agreement >= 0.98,
        "simulation agrees with PyTorch on {agreement}"
    );
}
