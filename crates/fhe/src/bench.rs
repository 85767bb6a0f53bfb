//! The encrypted benchmark behind `brainlock bench`: key generation, key sizes, one
//! encrypted inference per image, and agreement with the exact simulation.

use crate::blind_rotation::BlindRotations;
use crate::engine::channel_lut;
use crate::error::Result;
use crate::keys::{ClientKey, EvaluationKey};
use crate::plan::Plan;
use crate::profile::Profile;
use crate::{Backend, EncryptedInput, Evaluator, Limits, OutputForm};
use brainlock_circuit::{Circuit, Simulator, argmax, cosine};
use serde::Serialize;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;
use tfhe::core_crypto::prelude::*;

/// Result of one `brainlock bench` run, serialized as its JSON report.
#[derive(Clone, Debug, Serialize)]
pub struct BenchReport {
    /// Circuit id benchmarked.
    pub circuit: String,
    /// Parameter profile id used.
    pub profile: String,
    /// Where the bootstraps ran.
    pub backend: Backend,
    /// Rayon worker threads the evaluation ran on.
    pub threads: usize,
    /// Number of images evaluated.
    pub images: usize,
    /// Programmable bootstraps per image (one per lookup output).
    pub lookups_per_image: usize,
    /// Client key plus compressed evaluation key generation time, in seconds.
    pub keygen_seconds: f64,
    /// Time to decompress the seeded evaluation key and convert the bootstrapping key to
    /// the Fourier domain, in seconds.
    pub key_expand_seconds: f64,
    /// Serialized (seeded) evaluation key size, in bytes.
    pub eval_key_compressed_bytes: usize,
    /// Expanded evaluation key (keyswitching + Fourier bootstrapping key) memory, in bytes.
    pub eval_key_expanded_bytes: usize,
    /// Serialized encrypted input of one image, in bytes.
    pub input_bytes: usize,
    /// Serialized (compressed) encrypted output of one image, in bytes.
    pub output_bytes: usize,
    /// How the results travel (packed GLWEs or LWEs, and the bits kept per coefficient).
    pub output_form: OutputForm,
    /// What one image's results would take as full big-key LWEs, in bytes.
    pub output_uncompressed_bytes: usize,
    /// Server-side evaluation time per image (seconds), in order.
    pub latencies_seconds: Vec<f64>,
    /// Median of `latencies_seconds`, in seconds.
    pub median_latency_seconds: f64,
    /// Bootstrap throughput: lookups per image over the median latency, per second.
    pub lookups_per_second: f64,
    /// Mean over images of the cosine between encrypted and exact outputs.
    pub cosine: f64,
    /// Fraction of images whose argmax (lowest index on ties) agrees.
    pub top1_agreement: f64,
    /// Fraction of output values that are exactly equal.
    pub exact_match_fraction: f64,
}

/// Runs the full client/server round trip on every image and reports timings, sizes and
/// agreement with the exact simulation.
pub fn run_bench(
    circuit: &Circuit,
    profile: &'static Profile,
    images: &[Vec<i64>],
    evaluator: &dyn Evaluator,
) -> Result<BenchReport> {
    let plan = Plan::new(circuit)?;
    let start = Instant::now();
    let (client, compressed) = ClientKey::generate(profile, None);
    let keygen_seconds = start.elapsed().as_secs_f64();
    // Go through the wire format as a miner would.
    let key_bytes = compressed.to_bytes();
    let compressed =
        crate::CompressedEvaluationKey::from_bytes(&key_bytes, profile, &Limits::default())?;
    let start = Instant::now();
    let key = EvaluationKey::expand(&compressed);
    let key_expand_seconds = start.elapsed().as_secs_f64();

    let simulator = Simulator::new(circuit)?;
    let lookups = plan.lookups(circuit);
    let (mut latencies, mut cosines) = (Vec::new(), Vec::new());
    let (mut top1, mut equal, mut values) = (0usize, 0usize, 0usize);
    let (mut input_bytes, mut output_bytes) = (0, 0);
    for (n, image) in images.iter().enumerate() {
        let input = client.encrypt_input(circuit, image)?;
        let wire_in = input.to_bytes();
        input_bytes = wire_in.len();
        let input = EncryptedInput::from_bytes(&wire_in, circuit, profile, &Limits::default())?;
        let start = Instant::now();
        let output = evaluator.evaluate(circuit, &key, &input, &progress_logger(n, start))?;
        let seconds = start.elapsed().as_secs_f64();
        tracing::info!(image = n, seconds, "encrypted inference");
        latencies.push(seconds);
        output_bytes = output.to_bytes().len();
        let got = client.decrypt_output(circuit, &output)?;
        let want = simulator.run(image)?;
        cosines.push(cosine(&got, &want));
        top1 += usize::from(argmax(&got) == argmax(&want));
        equal += got.iter().zip(&want).filter(|(a, b)| a == b).count();
        values += want.len();
    }
    let images_n = images.len().max(1) as f64;
    let median = median(&latencies);
    Ok(BenchReport {
        circuit: circuit.id.clone(),
        profile: profile.id.to_string(),
        backend: evaluator.backend(),
        threads: rayon::current_num_threads(),
        images: images.len(),
        lookups_per_image: lookups,
        keygen_seconds,
        key_expand_seconds,
        eval_key_compressed_bytes: compressed.compressed_size_bytes(),
        eval_key_expanded_bytes: compressed.expanded_size_bytes(),
        input_bytes,
        output_bytes,
        output_form: OutputForm::derive(profile, circuit, &plan),
        output_uncompressed_bytes: plan.output_len() * profile.big_dim().to_lwe_size().0 * 8,
        median_latency_seconds: median,
        lookups_per_second: if median > 0.0 {
            lookups as f64 / median
        } else {
            0.0
        },
        latencies_seconds: latencies,
        cosine: cosines.iter().sum::<f64>() / images_n,
        top1_agreement: top1 as f64 / images_n,
        exact_match_fraction: equal as f64 / values.max(1) as f64,
    })
}

/// The lookup loop's keyswitch on its own (`benches/lookup.rs`): one batch of
/// big-key ciphertexts keyswitched as a worker does it, and the same batch through
/// tfhe-rs's `keyswitch_lwe_ciphertext` one ciphertext at a time, the baseline measured
/// beside it.
pub struct KeyswitchBench {
    key: EvaluationKey,
    inputs: Vec<u64>,
    outputs: Vec<u64>,
    digits: Vec<u64>,
}

impl KeyswitchBench {
    /// A fresh key of `profile` and `batch` ciphertexts of well-spread words.
    pub fn new(profile: &'static Profile, batch: usize) -> Self {
        let (_, compressed) = ClientKey::generate(profile, Some(11));
        let key = EvaluationKey::expand(&compressed);
        let (big, small) = (
            profile.big_dim().to_lwe_size().0,
            profile.small_dim().to_lwe_size().0,
        );
        Self {
            key,
            inputs: torus_words(batch * big),
            outputs: vec![0; batch * small],
            digits: vec![0; crate::keyswitch::digits_len(batch, profile.ks_level)],
        }
    }

    /// The batch through the engine's keyswitch; returns the outputs.
    pub fn batched(&mut self) -> &[u64] {
        crate::keyswitch::keyswitch_batch(
            &self.key.ksk,
            &self.inputs,
            &mut self.outputs,
            &mut self.digits,
        );
        &self.outputs
    }

    /// The batch through tfhe-rs, one ciphertext at a time; returns the outputs.
    pub fn one_at_a_time(&mut self) -> &[u64] {
        let big = self.key.ksk.input_key_lwe_dimension().to_lwe_size().0;
        let small = self.key.ksk.output_lwe_size().0;
        for (input, output) in self
            .inputs
            .chunks_exact(big)
            .zip(self.outputs.chunks_exact_mut(small))
        {
            let input = LweCiphertext::from_container(input, CiphertextModulus::new_native());
            let mut output = LweCiphertext::from_container(output, CiphertextModulus::new_native());
            keyswitch_lwe_ciphertext(&self.key.ksk, &input, &mut output);
        }
        &self.outputs
    }
}

/// The lookup loop's blind rotations on their own (`benches/lookup.rs`): a
/// batch of keyswitched ciphertexts, each modulus-switched and bootstrapped through one
/// table, as a worker does it, and the same batch through tfhe-rs's
/// `blind_rotate_assign_mem_optimized` one ciphertext at a time, the baseline measured
/// beside it.
pub struct BlindRotationBench {
    key: EvaluationKey,
    keyswitched: Vec<u64>,
    /// Two tables, used by alternate lookups as neighbouring channels would.
    luts: [GlweCiphertextOwned<u64>; 2],
    rotations: BlindRotations,
    outputs: Vec<u64>,
}

impl BlindRotationBench {
    /// A fresh key of `profile` and `batch` small-key ciphertexts of well-spread words.
    pub fn new(profile: &'static Profile, batch: usize) -> Self {
        let (_, compressed) = ClientKey::generate(profile, Some(11));
        let key = EvaluationKey::expand(&compressed);
        let table = |slope: i64| -> Vec<i64> { (0..64).map(|t| t * slope - 100).collect() };
        Self {
            key,
            keyswitched: torus_words(batch * profile.small_dim().to_lwe_size().0),
            luts: [3, -2].map(|slope| channel_lut(profile, &table(slope), 6, 55)),
            rotations: BlindRotations::new(profile, batch),
            outputs: vec![0; batch * profile.big_dim().to_lwe_size().0],
        }
    }

    fn sizes(&self) -> (usize, usize) {
        let profile = self.key.profile;
        (
            profile.small_dim().to_lwe_size().0,
            profile.big_dim().to_lwe_size().0,
        )
    }

    /// The batch through the engine's blind rotations; returns the bootstrapped outputs.
    pub fn batched(&mut self) -> &[u64] {
        let (small, big) = self.sizes();
        let count = self.keyswitched.len() / small;
        for (slot, keyswitched) in self.keyswitched.chunks_exact(small).enumerate() {
            self.rotations.load(slot, keyswitched, &self.luts[slot % 2]);
        }
        self.rotations.rotate(&self.key.fourier_bsk, count);
        for (slot, out) in self.outputs.chunks_exact_mut(big).enumerate() {
            self.rotations.extract(slot, out);
        }
        &self.outputs
    }

    /// The batch through tfhe-rs, one ciphertext at a time; returns the outputs.
    pub fn one_at_a_time(&mut self) -> &[u64] {
        let (small, big) = self.sizes();
        let profile = self.key.profile;
        let fft = Fft::new(profile.poly_size());
        let mut scratch = ComputationBuffers::new();
        scratch.resize(
            blind_rotate_assign_mem_optimized_requirement::<u64>(
                profile.glwe_dim().to_glwe_size(),
                profile.poly_size(),
                fft.as_view(),
            )
            .unaligned_bytes_required(),
        );
        let mut rotated = self.luts[0].clone();
        for (slot, (keyswitched, out)) in self
            .keyswitched
            .chunks_exact(small)
            .zip(self.outputs.chunks_exact_mut(big))
            .enumerate()
        {
            let switched = lwe_ciphertext_centered_binary_modulus_switch::<u64, usize, _>(
                LweCiphertext::from_container(keyswitched, CiphertextModulus::new_native()),
                profile.poly_size().to_blind_rotation_input_modulus_log(),
            );
            rotated
                .as_mut()
                .copy_from_slice(self.luts[slot % 2].as_ref());
            blind_rotate_assign_mem_optimized(
                &switched,
                &mut rotated,
                &self.key.fourier_bsk,
                fft.as_view(),
                scratch.stack(),
            );
            let mut out = LweCiphertext::from_container(out, CiphertextModulus::new_native());
            extract_lwe_sample_from_glwe_ciphertext(&rotated, &mut out, MonomialDegree(0));
        }
        &self.outputs
    }
}

/// `count` words spread over the whole torus, stand-ins for ciphertext coefficients in
/// benchmarks and tests (a fixed LCG: runs are repeatable).
pub fn torus_words(count: usize) -> Vec<u64> {
    let mut state = 0x243f_6a88_85a3_08d3u64;
    (0..count)
        .map(|_| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            state
        })
        .collect()
}

/// Logs every 5% of an image's lookups with the rate so far: a VGG9 image takes hours on a
/// small CPU, and a silent benchmark cannot be told from a hung one.
fn progress_logger(image: usize, start: Instant) -> impl Fn(usize, usize) + Sync {
    let last_step = AtomicUsize::new(0);
    move |done, total| {
        let step = done * 20 / total.max(1);
        if last_step.fetch_max(step, Ordering::Relaxed) < step {
            let seconds = start.elapsed().as_secs_f64();
            tracing::info!(
                image,
                done,
                total,
                seconds = seconds.round(),
                lookups_per_second = (done as f64 / seconds).round(),
                "progress {}%",
                step * 5
            );
        }
    }
}

/// Median of `v` (mean of the middle two for an even count; 0 when empty).
pub fn median(v: &[f64]) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let m = s.len() / 2;
    if s.len() % 2 == 1 {
        s[m]
    } else {
        (s[m - 1] + s[m]) / 2.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The engine's batched blind rotations give tfhe-rs's one-at-a-time results bit for
    /// bit, with two tables in turn, in a full chunk and in a partial one (11 lookups in
    /// room for 16, as a chunk with affine lookups or the last chunk of a layer), at one
    /// decomposition level (n2048-gauss) and two (n4096-gauss).
    #[test]
    fn batched_blind_rotations_match_tfhe_rs_bit_for_bit() {
        for id in ["n2048-gauss", "n4096-gauss"] {
            let profile = Profile::by_id(id).expect("a shipped profile");
            let mut bench = BlindRotationBench::new(profile, 11);
            let reference = bench.one_at_a_time().to_vec();
            assert!(reference.iter().any(|&w| w != 0));
            for capacity in [11, 16] {
                bench.rotations = BlindRotations::new(profile, capacity);
                let batched = bench.batched();
                assert!(
                    batched == reference,
                    "{id}: batched rotations in room for {capacity} differ from tfhe-rs"
                );
            }
        }
    }

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(median(&[4.0, 1.0]), 2.5);
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
    }
}
