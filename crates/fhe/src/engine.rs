//! Server-side evaluation: per layer, for every output in parallel, the clear-weight
//! linear part on big-key PBS outputs, then one keyswitch, a centered modulus switch and
//! one blind rotation with the output channel's table ("KS-PBS" order, design section 2).
//!
//! Memory: only the current layer's inputs and outputs are alive (VGG9 c1 -> c2 peaks at
//! ~1.8 GB). The hot loop allocates nothing: each rayon worker owns the accumulators,
//! keyswitch outputs and rotated tables of a chunk of lookups and FFT scratch, and the
//! tables are built once per (layer, channel). A chunk's keyswitches share one pass over
//! the keyswitching key ([`crate::keyswitch`]), and its blind rotations share passes
//! over the bootstrapping key ([`crate::blind_rotation`]).

use crate::blind_rotation::BlindRotations;
use crate::ciphertext::{EncryptedInput, EncryptedOutput};
use crate::error::{EngineError, Result};
use crate::keys::EvaluationKey;
use crate::keyswitch::{digits_len, keyswitch_batch};
use crate::plan::{Plan, channel_of, for_each_term};
use crate::profile::Profile;
use brainlock_circuit::encoding::lookup_phase_offset;
use brainlock_circuit::{Circuit, Layer, LayerOutput, LookupLayer, Shape};
use rayon::prelude::*;
use std::sync::atomic::{AtomicUsize, Ordering};
use tfhe::core_crypto::algorithms::slice_algorithms::{
    slice_wrapping_add_assign, slice_wrapping_add_scalar_mul_assign,
    slice_wrapping_scalar_mul_assign, slice_wrapping_sub_assign,
};
use tfhe::core_crypto::prelude::*;

/// Lookups handed to a worker at a time: large enough to amortize scheduling, small
/// enough to balance two cores and report progress often.
const CHUNK: usize = 32;

/// Evaluates `circuit` on `input`. `progress(done, total)` is called (from worker
/// threads) as lookups complete.
pub fn evaluate(
    circuit: &Circuit,
    key: &EvaluationKey,
    input: &EncryptedInput,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Result<EncryptedOutput> {
    evaluate_with(circuit, key, input, progress, &|_, _| LookupWork::Bootstrap)
}

/// What the engine does for one lookup.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum LookupWork {
    /// Keyswitch and bootstrap through the channel's table: the honest work.
    Bootstrap,
    /// No bootstrap: the accumulator times `scale`, plus the plaintext `intercept`
    /// (wrapping on the torus). Only the adversary module asks for this: it is what a
    /// miner holding the evaluation key computes for free.
    #[cfg_attr(not(feature = "adversary"), allow(dead_code))]
    Affine { scale: u64, intercept: u64 },
}

/// [`evaluate`], with `work(layer, output)` choosing each lookup's treatment.
pub(crate) fn evaluate_with(
    circuit: &Circuit,
    key: &EvaluationKey,
    input: &EncryptedInput,
    progress: &(dyn Fn(usize, usize) + Sync),
    work: &(dyn Fn(usize, usize) -> LookupWork + Sync),
) -> Result<EncryptedOutput> {
    let lwes = evaluate_to_lwes(circuit, key, input, progress, work)?;
    Ok(EncryptedOutput::compress(
        key,
        circuit,
        &Plan::new(circuit)?,
        &lwes,
    ))
}

/// The circuit's outputs as big-key LWEs (back to back), before compression.
pub(crate) fn evaluate_to_lwes(
    circuit: &Circuit,
    key: &EvaluationKey,
    input: &EncryptedInput,
    progress: &(dyn Fn(usize, usize) + Sync),
    work: &(dyn Fn(usize, usize) -> LookupWork + Sync),
) -> Result<Vec<u64>> {
    let plan = check_request(circuit, key, input)?;
    let profile = key.profile;
    let total = plan.lookups(circuit);
    let done = AtomicUsize::new(0);
    let mut current = input.expand();
    for (i, layer) in circuit.layers.iter().enumerate() {
        let span =
            tracing::info_span!("layer", name = %layer.name, outputs = plan.shapes[i + 1].len());
        let _guard = span.enter();
        let ctx = LayerContext {
            index: i,
            layer,
            input: plan.shapes[i],
            output: plan.shapes[i + 1],
            output_delta_log2: plan.deltas_log2[i + 1],
            rounding_bits: circuit.rounding_bits,
        };
        current = match &layer.output {
            LayerOutput::Lookup(lookup) => {
                let progress = Progress {
                    done: &done,
                    total,
                    report: progress,
                };
                run_lookup_layer(&ctx, lookup, key, &current, &progress, work)
            }
            LayerOutput::Accumulator { .. } => run_accumulator_layer(&ctx, profile, &current),
        };
    }
    Ok(current)
}

/// Checks that `input` and `key` belong together and fit `circuit` under the key's
/// profile, and validates the circuit: what every backend does before any work.
pub(crate) fn check_request(
    circuit: &Circuit,
    key: &EvaluationKey,
    input: &EncryptedInput,
) -> Result<Plan> {
    let profile = key.profile;
    if input.profile.id != profile.id {
        return Err(EngineError::WrongProfile {
            what: "encrypted input",
            expected: profile.id.to_string(),
            found: input.profile.id.to_string(),
        });
    }
    let plan = Plan::new(circuit)?;
    if circuit.rounding_bits + 1 >= profile.polynomial_size.ilog2() {
        return Err(EngineError::BoxesTooSmall {
            rounding_bits: circuit.rounding_bits,
            polynomial_size: profile.polynomial_size,
        });
    }
    if input.len() != circuit.input_shape.len() {
        return Err(EngineError::WrongShape {
            what: "encrypted input",
            expected: circuit.input_shape.len() as u64,
            found: input.len() as u64,
        });
    }
    Ok(plan)
}

struct LayerContext<'a> {
    index: usize,
    layer: &'a Layer,
    input: Shape,
    output: Shape,
    output_delta_log2: u32,
    rounding_bits: u32,
}

impl LayerContext<'_> {
    /// Writes output `o`'s accumulator (clear weights times input ciphertexts) into `acc`.
    fn accumulate(&self, inputs: &[u64], lwe_size: usize, o: usize, acc: &mut [u64]) {
        acc.fill(0);
        for_each_term(&self.layer.op, self.input, self.output, o, |j, w| {
            let ct = &inputs[j * lwe_size..(j + 1) * lwe_size];
            match w {
                1 => slice_wrapping_add_assign(acc, ct),
                -1 => slice_wrapping_sub_assign(acc, ct),
                w => slice_wrapping_add_scalar_mul_assign(acc, ct, w as u64),
            }
        });
    }
}

/// The table of one output channel as a trivial GLWE accumulator: box k holds
/// `T[k] * delta_out` (wrapping), boxes centred by tfhe-rs's builder.
pub(crate) fn channel_lut(
    profile: &Profile,
    table: &[i64],
    rounding_bits: u32,
    delta_out_log2: u32,
) -> GlweCiphertextOwned<u64> {
    generate_programmable_bootstrap_glwe_lut(
        profile.poly_size(),
        profile.glwe_dim().to_glwe_size(),
        1usize << rounding_bits,
        CiphertextModulus::new_native(),
        1u64,
        |k: u64| (table[k as usize] as u64).wrapping_shl(delta_out_log2),
    )
}

/// Lookups done so far, reported as they complete.
struct Progress<'a> {
    done: &'a AtomicUsize,
    total: usize,
    report: &'a (dyn Fn(usize, usize) + Sync),
}

/// Per-thread buffers of the lookup hot loop, for a chunk of up to [`CHUNK`] lookups.
struct Worker {
    /// The accumulators of the chunk's bootstrapped lookups (big key), then their
    /// keyswitched forms (small key), and where each one's output goes in the chunk.
    acc: Vec<u64>,
    targets: Vec<usize>,
    small: Vec<u64>,
    digits: Vec<u64>,
    rotations: BlindRotations,
}

impl Worker {
    fn new(profile: &Profile) -> Self {
        Self {
            acc: vec![0; CHUNK * profile.big_dim().to_lwe_size().0],
            targets: Vec::with_capacity(CHUNK),
            small: vec![0; CHUNK * profile.small_dim().to_lwe_size().0],
            digits: vec![0; digits_len(CHUNK, profile.ks_level)],
            rotations: BlindRotations::new(profile, CHUNK),
        }
    }

    /// Keyswitches the first `count` accumulators to the small key, in one pass over
    /// the keyswitching key.
    fn keyswitch(&mut self, key: &EvaluationKey, count: usize) {
        let big = key.profile.big_dim().to_lwe_size().0;
        let small = key.profile.small_dim().to_lwe_size().0;
        keyswitch_batch(
            &key.ksk,
            &self.acc[..count * big],
            &mut self.small[..count * small],
            &mut self.digits,
        );
    }

    /// Blind-rotates the chunk's keyswitched accumulators, each through its output's
    /// table: output `j` of the chunk reads `luts[table_of(j)]`. The results are then
    /// in `rotations`, slot by slot in the order of `targets`.
    fn bootstrap(
        &mut self,
        key: &EvaluationKey,
        luts: &[GlweCiphertextOwned<u64>],
        table_of: impl Fn(usize) -> usize,
    ) {
        let small = key.profile.small_dim().to_lwe_size().0;
        for (slot, (keyswitched, &j)) in self
            .small
            .chunks_exact(small)
            .zip(&self.targets)
            .enumerate()
        {
            self.rotations.load(slot, keyswitched, &luts[table_of(j)]);
        }
        self.rotations.rotate(&key.fourier_bsk, self.targets.len());
    }
}

fn run_lookup_layer(
    ctx: &LayerContext,
    lookup: &LookupLayer,
    key: &EvaluationKey,
    inputs: &[u64],
    progress: &Progress,
    work: &(dyn Fn(usize, usize) -> LookupWork + Sync),
) -> Vec<u64> {
    let profile = key.profile;
    let lwe_size = profile.big_dim().to_lwe_size().0;
    let body = lwe_size - 1;
    let luts: Vec<_> = lookup
        .tables
        .iter()
        .map(|t| channel_lut(profile, t, ctx.rounding_bits, ctx.output_delta_log2))
        .collect();
    let offsets = lookup_offsets(profile, lookup, ctx.rounding_bits);
    let mut outputs = vec![0u64; ctx.output.len() * lwe_size];
    outputs
        .par_chunks_mut(CHUNK * lwe_size)
        .enumerate()
        .for_each_init(
            || Worker::new(profile),
            |worker, (chunk_index, chunk)| {
                let first = chunk_index * CHUNK;
                let count = chunk.len() / lwe_size;
                worker.targets.clear();
                for (j, out) in chunk.chunks_exact_mut(lwe_size).enumerate() {
                    let o = first + j;
                    match work(ctx.index, o) {
                        LookupWork::Bootstrap => {
                            let slot = worker.targets.len();
                            let acc = &mut worker.acc[slot * lwe_size..(slot + 1) * lwe_size];
                            ctx.accumulate(inputs, lwe_size, o, acc);
                            acc[body] = acc[body].wrapping_add(offsets[channel_of(ctx.output, o)]);
                            worker.targets.push(j);
                        }
                        LookupWork::Affine { scale, intercept } => {
                            ctx.accumulate(inputs, lwe_size, o, out);
                            slice_wrapping_scalar_mul_assign(out, scale);
                            out[body] = out[body].wrapping_add(intercept);
                        }
                    }
                }
                worker.keyswitch(key, worker.targets.len());
                worker.bootstrap(key, &luts, |j| channel_of(ctx.output, first + j));
                for (slot, &j) in worker.targets.iter().enumerate() {
                    let out = &mut chunk[j * lwe_size..(j + 1) * lwe_size];
                    worker.rotations.extract(slot, out);
                }
                let now = progress.done.fetch_add(count, Ordering::Relaxed) + count;
                (progress.report)(now, progress.total);
            },
        );
    outputs
}

/// Per output channel: the phase added to a lookup's accumulator before the keyswitch.
/// The circuit's offset (not a bare `-lo * delta`: with a positive shift it adds half an
/// accumulator unit so that no value sits on a box boundary), plus the modulus-switch
/// compensation.
pub(crate) fn lookup_offsets(
    profile: &Profile,
    lookup: &LookupLayer,
    rounding_bits: u32,
) -> Vec<u64> {
    lookup
        .lo
        .iter()
        .map(|&lo| {
            lookup_phase_offset(lo, lookup.shift, rounding_bits)
                .wrapping_add(modulus_switch_compensation(profile))
        })
        .collect()
}

/// Half of one of the 2N slots of the blind rotation's input, as a phase. tfhe-rs 1.8's
/// centered modulus switch (`lwe_ciphertext_centered_binary_modulus_switch`) removes the
/// mask rounding's mean but leaves every switched phase half a slot low on average
/// (`noise_check` measures it); adding half a slot before the keyswitch centres the
/// phase in its slot again, as the noise model assumes.
pub(crate) fn modulus_switch_compensation(profile: &Profile) -> u64 {
    1u64 << (63 - profile.poly_size().to_blind_rotation_input_modulus_log().0)
}

/// The final accumulator leaves as is (logits): no keyswitch, no bootstrap.
fn run_accumulator_layer(ctx: &LayerContext, profile: &Profile, inputs: &[u64]) -> Vec<u64> {
    let lwe_size = profile.big_dim().to_lwe_size().0;
    let mut outputs = vec![0u64; ctx.output.len() * lwe_size];
    outputs
        .par_chunks_mut(lwe_size)
        .enumerate()
        .for_each(|(o, out)| ctx.accumulate(inputs, lwe_size, o, out));
    outputs
}

/// Layer `index`'s accumulators as the engine computes them (`lwe_size`-word
/// ciphertexts back to back), lookup offsets added: the reference device backends'
/// batched lists are checked against.
#[cfg(test)]
pub(crate) fn accumulate_layer(
    circuit: &Circuit,
    plan: &Plan,
    profile: &Profile,
    index: usize,
    inputs: &[u64],
    lwe_size: usize,
) -> Vec<u64> {
    let layer = &circuit.layers[index];
    let ctx = LayerContext {
        index,
        layer,
        input: plan.shapes[index],
        output: plan.shapes[index + 1],
        output_delta_log2: plan.deltas_log2[index + 1],
        rounding_bits: circuit.rounding_bits,
    };
    let offsets = match &layer.output {
        LayerOutput::Lookup(lookup) => lookup_offsets(profile, lookup, circuit.rounding_bits),
        LayerOutput::Accumulator { .. } => Vec::new(),
    };
    let mut outputs = vec![0u64; ctx.output.len() * lwe_size];
    for (o, out) in outputs.chunks_exact_mut(lwe_size).enumerate() {
        ctx.accumulate(inputs, lwe_size, o, out);
        if let Some(offset) = offsets.get(channel_of(ctx.output, o)) {
            out[lwe_size - 1] = out[lwe_size - 1].wrapping_add(*offset);
        }
    }
    outputs
}
