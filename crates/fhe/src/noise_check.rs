//! Checks the circuit crate's noise model (`brainlock_circuit::NoiseModel`, the formulas
//! of design section 2) against real ciphertexts: the phases the blind rotation sees
//! (after keyswitch and centered modulus switch) for a dense layer of fan-in 2304 whose
//! inputs are PBS outputs.

use crate::EncryptedOutput;
use crate::engine::{LookupWork, evaluate_to_lwes, modulus_switch_compensation};
use crate::keys::{ClientKey, EvaluationKey};
use crate::plan::Plan;
use crate::profile::Profile;
use brainlock_circuit::{Circuit, Layer, LayerOutput, LinearOp, LookupLayer, NoiseModel, Shape};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tfhe::core_crypto::algorithms::slice_algorithms::{
    slice_wrapping_add_assign, slice_wrapping_sub_assign,
};
use tfhe::core_crypto::prelude::*;

const FAN_IN: usize = 2304;
const OUTPUTS: usize = 256;
const R: u32 = 6;
/// The wide layer's shift and range start: boxes of 4 accumulator units from -128.
const WIDE_SHIFT: i32 = 2;
const WIDE_LO: i64 = -128;

/// 2304 PBS outputs carrying the ternary inputs, scaled for the wide layer.
fn identity_circuit() -> Circuit {
    // Inputs in {-1, 0, 1} land on boxes 4, 8, 12 (shift -2, lo -2): exact.
    let table = (0..1i64 << R)
        .map(|k| ((k - 6).div_euclid(4)).clamp(-1, 1))
        .collect();
    Circuit {
        id: "noise-identity".into(),
        input_shape: Shape::new(1, 48, 48),
        input_bits: 2,
        rounding_bits: R,
        layers: vec![Layer {
            name: "identity".into(),
            op: LinearOp::Conv2d {
                in_channels: 1,
                out_channels: 1,
                kernel: 1,
                stride: 1,
                padding: 0,
                weights: vec![1],
            },
            output: LayerOutput::Lookup(LookupLayer {
                shift: -2,
                lo: vec![-2],
                tables: vec![table],
            }),
        }],
        output_delta_log2: Some(brainlock_circuit::encoding::lookup_input_delta_log2(
            R, WIDE_SHIFT,
        )),
    }
}

#[test]
fn pre_bootstrap_phase_noise_matches_the_model() {
    let profile = Profile::by_id("n2048-gauss").unwrap();
    let (client, compressed) = ClientKey::generate(profile, Some(42));
    let key = EvaluationKey::expand(&compressed);
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    let inputs: Vec<i64> = (0..FAN_IN).map(|_| rng.random_range(-1..=1)).collect();
    let weights: Vec<Vec<i64>> = (0..OUTPUTS)
        .map(|_| (0..FAN_IN).map(|_| rng.random_range(-1..=1)).collect())
        .collect();

    let circuit = identity_circuit();
    let encrypted = client.encrypt_input(&circuit, &inputs).unwrap();
    let pbs_outputs = evaluate_to_lwes(&circuit, &key, &encrypted, &|_, _| {}, &|_, _| {
        LookupWork::Bootstrap
    })
    .unwrap();
    let compressed =
        EncryptedOutput::compress(&key, &circuit, &Plan::new(&circuit).unwrap(), &pbs_outputs);
    assert_eq!(
        client.decrypt_output(&circuit, &compressed).unwrap(),
        inputs
    );

    let lwe_size = profile.big_dim().to_lwe_size().0;
    let delta_log2 = brainlock_circuit::encoding::lookup_input_delta_log2(R, WIDE_SHIFT);
    let two_n = 2 * profile.polynomial_size;
    let box_slots = (profile.polynomial_size >> R) as f64;
    let log_modulus = profile.poly_size().to_blind_rotation_input_modulus_log();
    let model = NoiseModel::new(&profile.parameter_set());

    let mut acc = vec![0u64; lwe_size];
    let mut small = LweCiphertext::new(
        0u64,
        profile.small_dim().to_lwe_size(),
        CiphertextModulus::new_native(),
    );
    // Phase errors in boxes without and with the engine's modulus-switch compensation.
    let (mut raw_errors, mut errors, mut sigmas) = (Vec::new(), Vec::new(), Vec::new());
    for row in &weights {
        acc.fill(0);
        for (j, &w) in row.iter().enumerate() {
            let ct = &pbs_outputs[j * lwe_size..(j + 1) * lwe_size];
            match w {
                1 => slice_wrapping_add_assign(&mut acc, ct),
                -1 => slice_wrapping_sub_assign(&mut acc, ct),
                _ => {}
            }
        }
        acc[lwe_size - 1] =
            acc[lwe_size - 1].wrapping_add((WIDE_LO.wrapping_neg() as u64) << delta_log2);
        let exact: i64 = row.iter().zip(&inputs).map(|(w, x)| w * x).sum();
        let ideal = (exact - WIDE_LO) as f64 / 2f64.powi(WIDE_SHIFT) * box_slots;
        for (compensation, out) in [
            (0, &mut raw_errors),
            (modulus_switch_compensation(profile), &mut errors),
        ] {
            let mut shifted = acc.clone();
            shifted[lwe_size - 1] = shifted[lwe_size - 1].wrapping_add(compensation);
            keyswitch_lwe_ciphertext(
                &key.ksk,
                &LweCiphertext::from_container(shifted.as_slice(), CiphertextModulus::new_native()),
                &mut small,
            );
            let switched = lwe_ciphertext_centered_binary_modulus_switch::<u64, usize, _>(
                small.as_view(),
                log_modulus,
            );
            let mask_dot: usize = switched
                .mask()
                .zip(client.small.as_ref())
                .fold(0usize, |s, (a, &bit)| s.wrapping_add(a * bit as usize));
            let phase = switched.body().wrapping_sub(mask_dot) % two_n;
            let diff = (phase as f64 - ideal).rem_euclid(two_n as f64);
            let centered = if diff >= profile.polynomial_size as f64 {
                diff - two_n as f64
            } else {
                diff
            };
            out.push(centered / box_slots);
        }
        let norm2 = row.iter().map(|w| (w * w) as f64).sum();
        sigmas.push(model.lookup_sigma_boxes(R, norm2, model.pbs_output_variance));
    }

    let mean = errors.iter().sum::<f64>() / OUTPUTS as f64;
    let z_var = errors
        .iter()
        .zip(&sigmas)
        .map(|(e, s)| ((e - mean) / s).powi(2))
        .sum::<f64>()
        / (OUTPUTS - 1) as f64;
    let measured = z_var.sqrt();
    let typical_sigma = sigmas.iter().sum::<f64>() / OUTPUTS as f64;
    eprintln!(
        "pre-PBS noise: measured/predicted std {measured:.3}, predicted ~{typical_sigma:.3} box, mean {mean:.4} box"
    );
    assert!(
        (0.8..=1.2).contains(&measured),
        "measured std is {measured:.3} x the prediction"
    );
    // The centered switch removes the mean mask error but leaves a half-slot shift,
    // which the engine's compensation cancels.
    let raw_mean = raw_errors.iter().sum::<f64>() / OUTPUTS as f64;
    eprintln!(
        "mean phase error: {raw_mean:.4} box uncompensated (half a slot is {:.4}), {mean:.4} compensated",
        0.5 / box_slots
    );
    let tolerance = 4.0 * typical_sigma / (OUTPUTS as f64).sqrt();
    assert!(
        (raw_mean + 0.5 / box_slots).abs() < tolerance,
        "raw mean {raw_mean}"
    );
    assert!(mean.abs() < tolerance, "compensated mean {mean}");
}
