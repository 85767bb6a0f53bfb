//! The seeded default circuits: shape, counts, class spread, chaining, noise model.

use std::sync::OnceLock;

use brainlock_circuit::encoding::lookup_output_delta_log2;
use brainlock_circuit::{
    Circuit, LayerOutput, NoiseModel, NoisySimulator, ParameterSet, Simulator, argmax, conv3x3,
    synthetic_images, vgg9,
};

fn vgg() -> &'static Circuit {
    static VGG: OnceLock<Circuit> = OnceLock::new();
    VGG.get_or_init(|| vgg9(1))
}

#[test]
fn vgg9_counts() {
    let stats = vgg().stats().unwrap();
    assert_eq!(stats.lookups, 158_336);
    assert_eq!(stats.macs, 59_461_376);
    let names: Vec<&str> = vgg().layers.iter().map(|l| l.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "c1", "c2", "p1", "c3", "c4", "p2", "c5", "c6", "f1", "f2", "f3"
        ]
    );
    assert!(matches!(
        vgg().layers[10].output,
        LayerOutput::Accumulator { .. }
    ));
    assert_eq!(vgg().rounding_bits, 6);
}

#[test]
fn conv3x3_counts_and_chains() {
    let circuit = conv3x3(1);
    assert_eq!(circuit.stats().unwrap().lookups, 3_072);
    // Image out: values of the input's width, one padding bit above them.
    assert_eq!(circuit.output_delta_log2(), 63 - circuit.input_bits);
    assert_eq!(
        lookup_output_delta_log2(&circuit, 0),
        circuit.output_delta_log2()
    );
    let sim = Simulator::new(&circuit).unwrap();
    let image = &synthetic_images(5, 1)[0];
    let once = sim.run(image).unwrap();
    assert!(once.iter().all(|v| (-127..=127).contains(v)));
    let distinct: std::collections::BTreeSet<i64> = once.iter().copied().collect();
    assert!(
        distinct.len() > 16,
        "the output uses many levels, got {}",
        distinct.len()
    );
    sim.run(&once).expect("the output is a valid input");
}

#[test]
fn seeded_builds_are_deterministic() {
    assert_eq!(conv3x3(3), conv3x3(3));
    assert_ne!(conv3x3(3), conv3x3(4));
}

#[test]
fn vgg9_argmax_spreads_over_classes() {
    let images = synthetic_images(1000, 100);
    let logits = Simulator::new(vgg()).unwrap().run_batch(&images).unwrap();
    let mut histogram = [0usize; 10];
    for l in &logits {
        histogram[argmax(l)] += 1;
    }
    let used = histogram.iter().filter(|&&n| n > 0).count();
    assert!(used >= 6, "class histogram {histogram:?}");
    assert!(
        histogram.iter().all(|&n| n <= 50),
        "one class dominates: {histogram:?}"
    );
}

#[test]
fn zero_noise_equals_exact() {
    let images = synthetic_images(2000, 3);
    for circuit in [vgg(), &conv3x3(2)] {
        let exact = Simulator::new(circuit).unwrap();
        let noisy = NoisySimulator::uniform(circuit, 0.0).unwrap();
        for (i, image) in images.iter().enumerate() {
            let run = noisy.run(image, i as u64).unwrap();
            assert_eq!(run.trace, exact.run_traced(image).unwrap());
            assert!(run.slips.iter().all(|&s| s == 0));
        }
        let report = noisy.agreement(&images, 0).unwrap();
        assert_eq!(report.cosine_min, 1.0);
        assert!(report.layers.iter().all(|l| l.differ_fraction == 0.0));
    }
}

#[test]
fn large_noise_is_detected() {
    let images = synthetic_images(3000, 4);
    let circuit = vgg();
    let report = NoisySimulator::uniform(circuit, 2.0)
        .unwrap()
        .agreement(&images, 0)
        .unwrap();
    assert!(report.layers[0].slip_fraction > 0.01, "{report:?}");
    assert!(report.cosine_mean < 0.999);
    // The predicted model is well-formed for the default circuit.
    let model = NoiseModel::new(&ParameterSet::tfhe_rs_n2048());
    NoisySimulator::new(circuit, &model).unwrap();
}

#[test]
fn vgg9_file_round_trip() {
    let path = std::env::temp_dir().join(format!("brainlock-vgg9-{}.json", std::process::id()));
    vgg().save(&path).unwrap();
    let loaded = Circuit::load(&path).unwrap();
    std::fs::remove_file(&path).ok();
    assert_eq!(&loaded, vgg());
}
