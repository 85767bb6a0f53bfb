//! End-to-end encrypted runs on small circuits against the circuit crate's exact and
//! noise-aware simulations, wire round trips, and hostile inputs.

mod common;

use brainlock_circuit::{
    Circuit, LayerOutput, NoiseModel, NoisySimulator, Simulator, argmax, cosine,
};
use brainlock_fhe::{
    ClientKey, CompressedEvaluationKey, EncryptedInput, EncryptedOutput, EngineError,
    EvaluationKey, Limits, OutputForm, Profile, plan::Plan,
};
use common::{conv_pool_fc, evaluator, keys, profile, random_images, rounding_conv, spread_pools};
use std::sync::atomic::{AtomicUsize, Ordering};

/// Encrypts, evaluates (through the wire formats) and decrypts one image.
fn run_encrypted(circuit: &Circuit, image: &[i64]) -> Vec<i64> {
    let k = keys();
    let input = k.client.encrypt_input(circuit, image).expect("encrypts");
    let input =
        EncryptedInput::from_bytes(&input.to_bytes(), circuit, profile(), &Limits::default())
            .expect("input round trip");
    let calls = AtomicUsize::new(0);
    let output = evaluator()
        .evaluate(circuit, &k.eval, &input, &|done, total| {
            assert!(done <= total);
            calls.fetch_add(1, Ordering::Relaxed);
        })
        .expect("evaluates");
    assert!(calls.load(Ordering::Relaxed) > 0, "progress was reported");
    assert!(!output.has_trivial_ciphertext());
    let output =
        EncryptedOutput::from_bytes(&output.to_bytes(), circuit, profile(), &Limits::default())
            .expect("output round trip");
    k.client.decrypt_output(circuit, &output).expect("decrypts")
}

/// Largest change of a table value between neighbouring boxes.
fn largest_table_step(circuit: &Circuit) -> i64 {
    let LayerOutput::Lookup(l) = &circuit.layers[0].output else {
        panic!("lookup layer")
    };
    l.tables
        .iter()
        .flat_map(|t| t.windows(2).map(|w| (w[1] - w[0]).abs()))
        .max()
        .unwrap()
}

fn mismatches(a: &[i64], b: &[i64]) -> usize {
    a.iter().zip(b).filter(|(x, y)| x != y).count()
}

/// Mean fraction of outputs the noise-aware simulation predicts to differ from the
/// exact run, averaged over many noise draws.
fn predicted_differ_fraction(circuit: &Circuit, images: &[Vec<i64>]) -> f64 {
    let model = NoiseModel::new(&profile().parameter_set());
    let noisy = NoisySimulator::new(circuit, &model).expect("valid circuit");
    let exact = Simulator::new(circuit).expect("valid circuit");
    let draws = 200u64;
    let mut differ = 0usize;
    let mut total = 0usize;
    for seed in 0..draws {
        for image in images {
            let want = exact.run(image).expect("runs");
            let got = noisy.run(image, seed).expect("runs").trace.output;
            differ += mismatches(&got, &want);
            total += want.len();
        }
    }
    differ as f64 / total as f64
}

#[test]
fn rounding_layer_slips_at_the_rate_the_noise_model_predicts() {
    let circuit = rounding_conv();
    let images = random_images(11, 1, circuit.input_shape.len(), circuit.input_bits);
    let exact = Simulator::new(&circuit).unwrap();
    let mut observed = 0;
    let mut total = 0;
    for image in &images {
        let got = run_encrypted(&circuit, image);
        let want = exact.run(image).unwrap();
        observed += mismatches(&got, &want);
        total += want.len();
        // A slip moves the output by one box, never more.
        let deviation = got
            .iter()
            .zip(&want)
            .map(|(a, b)| (a - b).abs())
            .max()
            .unwrap();
        assert!(
            deviation <= largest_table_step(&circuit),
            "largest deviation {deviation}"
        );
    }
    let expected = predicted_differ_fraction(&circuit, &images) * total as f64;
    eprintln!("rounding conv: {observed} of {total} outputs differ, model predicts {expected:.1}");
    assert!(expected > 5.0, "the test needs a visible slip rate");
    let tolerance = 4.0 * expected.sqrt() + 2.0;
    assert!(
        (observed as f64 - expected).abs() <= tolerance,
        "observed {observed} slips, model predicts {expected:.1} +- {tolerance:.1}"
    );
}

#[test]
fn conv_pool_fc_circuit_agrees_with_the_exact_simulation() {
    let circuit = conv_pool_fc();
    assert!(matches!(
        circuit.layers.last().unwrap().output,
        LayerOutput::Accumulator { .. }
    ));
    let images = random_images(12, 1, circuit.input_shape.len(), circuit.input_bits);
    let (got, want) = encrypted_and_exact(&circuit, &images[0]);
    let predicted = predicted_differ_fraction(&circuit, &images) * want.len() as f64;
    let observed = mismatches(&got, &want);
    eprintln!(
        "conv-pool-fc logits {got:?} exact {want:?}, model predicts {predicted:.2} differing"
    );
    assert!(
        observed as f64 <= predicted + 4.0 * predicted.sqrt() + 1.0,
        "{observed} differing logits, model predicts {predicted:.2}"
    );
    assert_eq!(argmax(&got), argmax(&want));
    assert!(cosine(&got, &want) > 0.99);
}

#[test]
fn layers_spread_over_several_boxes_are_exact() {
    let circuit = spread_pools();
    for layer in &circuit.layers {
        let LayerOutput::Lookup(l) = &layer.output else {
            panic!("lookup layers only")
        };
        assert!(
            l.shift < 0,
            "{} calibrated to shift {}",
            layer.name,
            l.shift
        );
    }
    let exact = Simulator::new(&circuit).unwrap();
    for image in random_images(13, 2, circuit.input_shape.len(), circuit.input_bits) {
        assert_eq!(run_encrypted(&circuit, &image), exact.run(&image).unwrap());
    }
}

/// Encrypted and exact outputs of one image.
fn encrypted_and_exact(circuit: &Circuit, image: &[i64]) -> (Vec<i64>, Vec<i64>) {
    (
        run_encrypted(circuit, image),
        Simulator::new(circuit).unwrap().run(image).unwrap(),
    )
}

#[test]
#[ignore = "one full VGG9 encrypted inference at its default profile (N = 8192): 158,336 lookups, hours on 2 cores"]
fn vgg9_encrypted_inference_agrees_with_exact() {
    let circuit = brainlock_circuit::vgg9(0);
    let image = brainlock_circuit::synthetic_images(1, 1).remove(0);
    let profile = Profile::default_for(&circuit.id);
    let (client, compressed) = ClientKey::generate(profile, None);
    let eval = EvaluationKey::expand(&compressed);
    let start = std::time::Instant::now();
    let input = client.encrypt_input(&circuit, &image).expect("encrypts");
    let output = evaluator()
        .evaluate(&circuit, &eval, &input, &|_, _| {})
        .expect("evaluates");
    let got = client.decrypt_output(&circuit, &output).expect("decrypts");
    let want = Simulator::new(&circuit).unwrap().run(&image).unwrap();
    let (top1, cos) = (argmax(&got) == argmax(&want), cosine(&got, &want));
    eprintln!(
        "vgg9: {:.0} s, top1 agrees {top1}, logit cosine {cos:.4}",
        start.elapsed().as_secs_f64()
    );
    assert!(top1 && cos > 0.99, "top1 {top1}, cosine {cos}");
}

#[test]
fn evaluation_key_round_trips_and_reports_sizes() {
    let k = keys();
    let bytes = k.compressed.to_bytes();
    assert_eq!(bytes.len(), k.compressed.compressed_size_bytes());
    assert!(bytes.len() < 64_000_000, "{} bytes", bytes.len());
    let parsed =
        CompressedEvaluationKey::from_bytes(&bytes, profile(), &Limits::default()).unwrap();
    assert_eq!(parsed.to_bytes(), bytes);
    assert!(parsed.expanded_size_bytes() > bytes.len());
}

mod hostile {
    use super::*;

    /// `circuit`'s first layer alone on a 2x4x4 input.
    fn smaller_input(circuit: &Circuit) -> Circuit {
        let mut c = circuit.clone();
        c.input_shape = brainlock_circuit::Shape::new(2, 4, 4);
        c.layers.truncate(1);
        c.output_delta_log2 = Some(brainlock_circuit::encoding::lookup_output_delta_log2(
            circuit, 0,
        ));
        c
    }

    fn key_error(bytes: &[u8], p: &'static Profile, limits: &Limits) -> EngineError {
        match CompressedEvaluationKey::from_bytes(bytes, p, limits) {
            Ok(_) => panic!("accepted a bad key"),
            Err(e) => e,
        }
    }

    #[test]
    fn malformed_keys_are_rejected() {
        let good = keys().compressed.to_bytes();
        let p = profile();
        let limits = Limits::default();
        assert!(matches!(
            key_error(&[], p, &limits),
            EngineError::BadHeader { .. }
        ));
        assert!(matches!(
            key_error(b"BLEK", p, &limits),
            EngineError::BadHeader { .. }
        ));
        let mut bad_magic = good.clone();
        bad_magic[0] ^= 1;
        assert!(matches!(
            key_error(&bad_magic, p, &limits),
            EngineError::BadHeader { .. }
        ));
        let mut bad_version = good.clone();
        bad_version[4] = 99;
        assert!(matches!(
            key_error(&bad_version, p, &limits),
            EngineError::BadHeader { .. }
        ));
        let mut bad_id_len = good.clone();
        bad_id_len[5] = 255;
        assert!(matches!(
            key_error(&bad_id_len, p, &limits),
            EngineError::BadHeader { .. }
        ));
        assert!(matches!(
            key_error(&good[..good.len() - 1], p, &limits),
            EngineError::WrongSize { .. }
        ));
        assert!(matches!(
            key_error(&good[..100], p, &limits),
            EngineError::WrongSize { .. }
        ));
        let mut longer = good.clone();
        longer.push(0);
        assert!(matches!(
            key_error(&longer, p, &limits),
            EngineError::WrongSize { .. }
        ));
        let small = Limits {
            max_key_bytes: 1 << 20,
            ..Limits::default()
        };
        assert!(matches!(
            key_error(&good, p, &small),
            EngineError::TooLarge { .. }
        ));
    }

    #[test]
    fn keys_for_another_profile_are_rejected() {
        let good = keys().compressed.to_bytes();
        let other = Profile::by_id("n2048-tuniform").unwrap();
        assert!(matches!(
            key_error(&good, other, &Limits::default()),
            EngineError::WrongProfile { .. }
        ));
        // Relabelled as the other profile: the sizes no longer match its parameters.
        let mut relabelled = b"BLEK".to_vec();
        relabelled.push(brainlock_fhe::WIRE_VERSION);
        relabelled.push(other.id.len() as u8);
        relabelled.extend_from_slice(other.id.as_bytes());
        relabelled.extend_from_slice(&good[6 + profile().id.len()..]);
        assert!(matches!(
            key_error(&relabelled, other, &Limits::default()),
            EngineError::WrongSize { .. }
        ));
    }

    #[test]
    fn malformed_and_wrong_shape_inputs_are_rejected() {
        let k = keys();
        let circuit = spread_pools();
        let limits = Limits::default();
        let image = random_images(1, 1, circuit.input_shape.len(), circuit.input_bits).remove(0);
        let bytes = k.client.encrypt_input(&circuit, &image).unwrap().to_bytes();
        let parse = |b: &[u8], c: &Circuit| EncryptedInput::from_bytes(b, c, profile(), &limits);
        assert!(parse(&bytes, &circuit).is_ok());
        assert!(matches!(
            parse(&bytes[..bytes.len() - 3], &circuit),
            Err(EngineError::WrongSize { .. })
        ));
        assert!(matches!(
            parse(&bytes[..10], &circuit),
            Err(EngineError::BadHeader { .. })
        ));
        assert!(matches!(
            parse(&bytes[..20], &circuit),
            Err(EngineError::WrongSize { .. })
        ));
        assert!(matches!(
            parse(b"nonsense", &circuit),
            Err(EngineError::BadHeader { .. })
        ));
        // An input for a circuit of another input shape.
        assert!(matches!(
            parse(&bytes, &smaller_input(&circuit)),
            Err(EngineError::WrongShape { .. })
        ));
        // A huge claimed count does not allocate: the exact size check fails first.
        let mut huge = bytes.clone();
        let count_at = 6 + profile().id.len();
        huge[count_at..count_at + 8].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(matches!(
            parse(&huge, &circuit),
            Err(EngineError::WrongShape { .. })
        ));
        let tight = Limits {
            max_ciphertext_bytes: 16,
            ..limits
        };
        assert!(matches!(
            EncryptedInput::from_bytes(&bytes, &circuit, profile(), &tight),
            Err(EngineError::TooLarge { .. })
        ));
        let wrong_profile = Profile::by_id("n4096-gauss").unwrap();
        assert!(matches!(
            EncryptedInput::from_bytes(&bytes, &circuit, wrong_profile, &limits),
            Err(EngineError::WrongProfile { .. })
        ));
        // Client side: wrong length and out-of-range values.
        assert!(matches!(
            k.client.encrypt_input(&circuit, &image[1..]),
            Err(EngineError::WrongShape { .. })
        ));
        let mut loud = image.clone();
        loud[3] = 100;
        assert!(matches!(
            k.client.encrypt_input(&circuit, &loud),
            Err(EngineError::InputOutOfRange { .. })
        ));
    }

    /// A serialized output of `circuit` under `p` with `form`'s tag and bits, `count`
    /// results and the coefficient stream `stream`, laid out by hand as a hostile peer
    /// would.
    fn output_frame(p: &Profile, tag: u8, bits: u8, count: u64, stream: &[u8]) -> Vec<u8> {
        let mut frame = b"BLEO".to_vec();
        frame.push(brainlock_fhe::WIRE_VERSION);
        frame.push(p.id.len() as u8);
        frame.extend_from_slice(p.id.as_bytes());
        frame.extend_from_slice(&[tag, bits]);
        frame.extend_from_slice(&count.to_le_bytes());
        frame.extend_from_slice(stream);
        frame
    }

    #[test]
    fn malformed_outputs_are_rejected_and_trivial_ones_detected() {
        let k = keys();
        let circuit = spread_pools();
        let p = profile();
        let limits = Limits::default();
        let plan = Plan::new(&circuit).unwrap();
        let outputs = plan.output_len();
        let form = OutputForm::derive(p, &circuit, &plan);
        let (tag, bits) = (form.tag(), form.bits() as u8);
        let stream_len = form.wire_bytes(p, outputs);
        // A forged output: all-zero coefficients, so all-zero masks.
        let forged = output_frame(p, tag, bits, outputs as u64, &vec![0u8; stream_len]);
        let parsed = EncryptedOutput::from_bytes(&forged, &circuit, p, &limits).unwrap();
        assert_eq!(parsed.len(), outputs);
        assert!(parsed.has_trivial_ciphertext());
        assert_eq!(
            forged.len(),
            EncryptedOutput::wire_len(&circuit, p).unwrap()
        );
        let hostile = [
            ("truncated", forged[..forged.len() - 1].to_vec()),
            ("one byte long", [&forged[..], &[0]].concat()),
            (
                "header only",
                forged[..forged.len() - stream_len - 8].to_vec(),
            ),
            (
                "other form",
                output_frame(p, tag ^ 1, bits, outputs as u64, &vec![0u8; stream_len]),
            ),
            (
                "more bits",
                output_frame(p, tag, bits + 1, outputs as u64, &vec![0u8; stream_len]),
            ),
            (
                "64 bits",
                output_frame(p, tag, 64, outputs as u64, &vec![0u8; stream_len]),
            ),
            (
                "255 bits",
                output_frame(p, tag, 255, outputs as u64, &vec![0u8; stream_len]),
            ),
            (
                "huge count",
                output_frame(p, tag, bits, u64::MAX, &vec![0u8; stream_len]),
            ),
            (
                "one result short",
                output_frame(p, tag, bits, outputs as u64 - 1, &vec![0u8; stream_len]),
            ),
        ];
        for (what, frame) in hostile {
            let err = EncryptedOutput::from_bytes(&frame, &circuit, p, &limits);
            assert!(
                matches!(
                    err,
                    Err(EngineError::WrongSize { .. }
                        | EngineError::WrongForm { .. }
                        | EngineError::WrongShape { .. })
                ),
                "{what}: {:?}",
                err.err()
            );
        }
        let mut other_profile = forged.clone();
        other_profile[6] ^= 1;
        assert!(matches!(
            EncryptedOutput::from_bytes(&other_profile, &circuit, p, &limits),
            Err(EngineError::WrongProfile { .. })
        ));
        let mut old_version = forged.clone();
        old_version[4] = 1;
        assert!(matches!(
            EncryptedOutput::from_bytes(&old_version, &circuit, p, &limits),
            Err(EngineError::BadHeader { .. })
        ));
        assert!(EncryptedOutput::from_bytes(&forged, &conv_pool_fc(), p, &limits).is_err());
        // Decrypting against the wrong circuit is an error, not garbage.
        assert!(matches!(
            k.client.decrypt_output(&conv_pool_fc(), &parsed),
            Err(EngineError::WrongShape { .. })
        ));
    }

    #[test]
    fn invalid_circuits_are_rejected_before_evaluation() {
        let k = keys();
        let circuit = spread_pools();
        let image = random_images(2, 1, circuit.input_shape.len(), circuit.input_bits).remove(0);
        let input = k.client.encrypt_input(&circuit, &image).unwrap();
        let mut broken = circuit.clone();
        if let LayerOutput::Lookup(l) = &mut broken.layers[0].output {
            l.tables[0].pop();
        }
        assert!(matches!(
            evaluator().evaluate(&broken, &k.eval, &input, &|_, _| {}),
            Err(EngineError::InvalidCircuit(_))
        ));
        let mut shifted = circuit.clone();
        if let LayerOutput::Lookup(l) = &mut shifted.layers[0].output {
            l.shift = 1000;
        }
        assert!(matches!(
            evaluator().evaluate(&shifted, &k.eval, &input, &|_, _| {}),
            Err(EngineError::InvalidCircuit(_))
        ));
        // An input encrypted for another circuit shape.
        assert!(matches!(
            evaluator().evaluate(&smaller_input(&circuit), &k.eval, &input, &|_, _| {}),
            Err(EngineError::WrongShape { .. })
        ));
    }
}
