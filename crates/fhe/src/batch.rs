//! A layer's lookups as flat lists, for backends that run a whole layer as a few batched
//! kernels instead of one lookup at a time (the CUDA backend, DESIGN section 2).
//!
//! The CPU engine walks each output's receptive field as it goes ([`for_each_term`]).
//! A device wants the same facts uploaded once per layer: for every output, its terms
//! (input index, clear weight) in one compressed-row list, the phase its lookup adds
//! before the keyswitch, and which of the layer's tables it reads. [`LayerBatch`] builds
//! them; [`LayerBatch::gather_add`] is the host mirror of the device's gather-add kernel
//! and is checked bit for bit against the CPU engine's accumulators.
//!
//! [`DeviceFootprint`] is the key layout and memory a device needs: keys uploaded once
//! per key, and the largest layer's buffers.

use crate::engine::{channel_lut, lookup_offsets};
use crate::error::{EngineError, Result};
use crate::plan::{Plan, channel_of, for_each_term};
use crate::profile::Profile;
use brainlock_circuit::{Circuit, LayerOutput};

/// The flat lists of one layer, output by output.
#[derive(Clone, Debug, PartialEq)]
pub struct LayerBatch {
    /// Output `o`'s terms are `term_inputs[s..e]` and `term_weights[s..e]` with
    /// `s = term_starts[o]`, `e = term_starts[o + 1]`.
    pub term_starts: Vec<u32>,
    /// The input ciphertext index of every term.
    pub term_inputs: Vec<u32>,
    /// The clear weight of every term, two's complement (multiplication wraps mod 2^64).
    pub term_weights: Vec<u64>,
    /// Per output: the phase added to its body before the keyswitch (0 on the last,
    /// accumulator layer).
    pub body_offsets: Vec<u64>,
    /// Per output: the index of its table in `tables` (empty on the accumulator layer).
    pub table_indexes: Vec<u64>,
    /// The layer's tables as trivial GLWE accumulators back to back, one per output
    /// channel (empty on the accumulator layer).
    pub tables: Vec<u64>,
}

impl LayerBatch {
    /// The lists of `circuit`'s layer `index` under `profile`. Index lists are 32-bit on
    /// the device: a layer with more terms or inputs is refused, not truncated.
    pub fn new(circuit: &Circuit, plan: &Plan, profile: &Profile, index: usize) -> Result<Self> {
        let layer = &circuit.layers[index];
        let (input, output) = (plan.shapes[index], plan.shapes[index + 1]);
        let too_large = || EngineError::LayerTooLarge {
            layer: layer.name.clone(),
        };
        u32::try_from(input.len()).map_err(|_| too_large())?;
        let mut term_starts = Vec::with_capacity(output.len() + 1);
        let mut term_inputs = Vec::new();
        let mut term_weights = Vec::new();
        term_starts.push(0);
        for o in 0..output.len() {
            for_each_term(&layer.op, input, output, o, |j, w| {
                term_inputs.push(j as u32);
                term_weights.push(w as u64);
            });
            term_starts.push(u32::try_from(term_inputs.len()).map_err(|_| too_large())?);
        }
        let (body_offsets, table_indexes, tables) = match &layer.output {
            LayerOutput::Lookup(lookup) => {
                let offsets = lookup_offsets(profile, lookup, circuit.rounding_bits);
                let delta_out_log2 = plan.deltas_log2[index + 1];
                let channels = (0..output.len()).map(|o| channel_of(output, o));
                let tables = lookup
                    .tables
                    .iter()
                    .flat_map(|t| {
                        channel_lut(profile, t, circuit.rounding_bits, delta_out_log2)
                            .into_container()
                    })
                    .collect();
                (
                    channels.clone().map(|c| offsets[c]).collect(),
                    channels.map(|c| c as u64).collect(),
                    tables,
                )
            }
            LayerOutput::Accumulator { .. } => (vec![0; output.len()], Vec::new(), Vec::new()),
        };
        Ok(Self {
            term_starts,
            term_inputs,
            term_weights,
            body_offsets,
            table_indexes,
            tables,
        })
    }

    /// Number of outputs (= accumulators, = lookups on a lookup layer).
    pub fn outputs(&self) -> usize {
        self.term_starts.len() - 1
    }

    /// True if the layer's outputs go through tables (false: the circuit's logits).
    pub fn is_lookup(&self) -> bool {
        !self.tables.is_empty()
    }

    /// Bytes the lists take on a device.
    pub fn device_bytes(&self) -> usize {
        4 * (self.term_starts.len() + self.term_inputs.len())
            + 8 * (self.term_weights.len()
                + self.body_offsets.len()
                + self.table_indexes.len()
                + self.tables.len())
    }

    /// The device kernel's arithmetic on the host: accumulators of outputs
    /// `first..first + count` (each `lwe_size` words, back to back in `out`) from the
    /// layer's input ciphertexts, their bodies shifted by the lookup offsets.
    pub fn gather_add(&self, inputs: &[u64], lwe_size: usize, first: usize, out: &mut [u64]) {
        for (i, acc) in out.chunks_exact_mut(lwe_size).enumerate() {
            let o = first + i;
            let terms = self.term_starts[o] as usize..self.term_starts[o + 1] as usize;
            for (k, word) in acc.iter_mut().enumerate() {
                let mut sum = 0u64;
                for t in terms.clone() {
                    let input = self.term_inputs[t] as usize;
                    sum = sum.wrapping_add(
                        inputs[input * lwe_size + k].wrapping_mul(self.term_weights[t]),
                    );
                }
                *word = sum;
            }
            acc[lwe_size - 1] = acc[lwe_size - 1].wrapping_add(self.body_offsets[o]);
        }
    }
}

/// What a device holds for one key and one evaluation of a circuit, in bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeviceFootprint {
    /// The keyswitching key, in tfhe-rs's layout (uploaded as is).
    pub keyswitching_key: usize,
    /// The bootstrapping key after the device's conversion to its Fourier domain
    /// (N/2 complex f64 per polynomial, as on the CPU).
    pub bootstrapping_key: usize,
    /// The largest layer's working set: its input and output ciphertexts, one chunk's
    /// accumulators and keyswitched ciphertexts, and its lists.
    pub largest_layer: usize,
}

impl DeviceFootprint {
    /// The footprint of evaluating `circuit` under `profile`, `chunk` lookups at a time.
    pub fn of(circuit: &Circuit, plan: &Plan, profile: &Profile, chunk: usize) -> Result<Self> {
        let big = 8 * profile.big_dim().to_lwe_size().0;
        let small = 8 * profile.small_dim().to_lwe_size().0;
        let mut largest_layer = 0;
        for index in 0..circuit.layers.len() {
            let batch = LayerBatch::new(circuit, plan, profile, index)?;
            let outputs = batch.outputs();
            let working = plan.shapes[index].len() * big
                + outputs * big
                + chunk.min(outputs) * (big + small)
                + batch.device_bytes();
            largest_layer = largest_layer.max(working);
        }
        Ok(Self {
            keyswitching_key: profile.keyswitching_key_bytes(),
            bootstrapping_key: profile.fourier_bootstrapping_key_bytes(),
            largest_layer,
        })
    }

    /// Keys plus the largest layer.
    pub fn total(&self) -> usize {
        self.keyswitching_key + self.bootstrapping_key + self.largest_layer
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::torus_words;
    use crate::engine::accumulate_layer;
    use brainlock_circuit::shipped_circuit;

    fn profile() -> &'static Profile {
        &Profile::all()[0]
    }

    /// Every layer of both shipped circuits: the lists give the CPU engine's
    /// accumulators bit for bit, offsets included, on random ciphertext words.
    #[test]
    fn gather_add_matches_the_engine_on_every_shipped_layer() {
        // Small LWEs keep VGG9's layers quick: the arithmetic is per coefficient.
        let lwe_size = 3;
        for name in ["conv3x3", "vgg9"] {
            let circuit = shipped_circuit(name, 1).expect("shipped");
            let plan = Plan::new(&circuit).expect("valid");
            for index in 0..circuit.layers.len() {
                let batch = LayerBatch::new(&circuit, &plan, profile(), index).expect("fits");
                let inputs = torus_words(plan.shapes[index].len() * lwe_size);
                let expected =
                    accumulate_layer(&circuit, &plan, profile(), index, &inputs, lwe_size);
                // Two chunks, the second one ragged: as the device runs them.
                let split = batch.outputs() / 2 + 1;
                let mut ours = vec![0u64; batch.outputs() * lwe_size];
                let (head, tail) = ours.split_at_mut(split.min(batch.outputs()) * lwe_size);
                batch.gather_add(&inputs, lwe_size, 0, head);
                batch.gather_add(&inputs, lwe_size, split, tail);
                assert!(
                    ours == expected,
                    "{name} layer {index}: gather-add differs from the engine"
                );
            }
        }
    }

    #[test]
    fn lookup_lists_name_each_outputs_channel_and_table() {
        let circuit = shipped_circuit("conv3x3", 1).expect("shipped");
        let plan = Plan::new(&circuit).expect("valid");
        let batch = LayerBatch::new(&circuit, &plan, profile(), 0).expect("fits");
        let output = plan.shapes[1];
        let LayerOutput::Lookup(lookup) = &circuit.layers[0].output else {
            panic!("conv3x3 starts with a lookup layer");
        };
        assert!(batch.is_lookup());
        let glwe_words = (profile().glwe_dimension + 1) * profile().polynomial_size;
        assert_eq!(batch.tables.len(), lookup.tables.len() * glwe_words);
        for o in [0, output.len() / 2, output.len() - 1] {
            let c = channel_of(output, o);
            assert_eq!(batch.table_indexes[o], c as u64);
            let table = &batch.tables[c * glwe_words..(c + 1) * glwe_words];
            let lut = channel_lut(
                profile(),
                &lookup.tables[c],
                circuit.rounding_bits,
                plan.deltas_log2[1],
            );
            assert_eq!(table, lut.as_ref());
        }
        let vgg9 = shipped_circuit("vgg9", 1).expect("shipped");
        let vgg9_plan = Plan::new(&vgg9).expect("valid");
        let logits =
            LayerBatch::new(&vgg9, &vgg9_plan, profile(), vgg9.layers.len() - 1).expect("fits");
        assert!(!logits.is_lookup());
        assert!(logits.table_indexes.is_empty());
        assert!(logits.body_offsets.iter().all(|&b| b == 0));
    }

    /// The device holds the keys the CPU expands (not the narrowing and packing keys:
    /// results are packed on the host), and VGG9 at every profile fits an 80 GB device.
    #[test]
    fn footprint_counts_the_expanded_keys_and_fits_a_data_centre_gpu() {
        let (_, compressed) = crate::ClientKey::generate(profile(), Some(3));
        let key = crate::EvaluationKey::expand(&compressed);
        let circuit = shipped_circuit("conv3x3", 1).expect("shipped");
        let plan = Plan::new(&circuit).expect("valid");
        let footprint = DeviceFootprint::of(&circuit, &plan, profile(), 8192).expect("fits");
        assert_eq!(footprint.keyswitching_key, 8 * key.ksk.as_ref().len());
        assert_eq!(
            footprint.bootstrapping_key,
            16 * key.fourier_bsk.as_view().data().len()
        );
        let circuit = shipped_circuit("vgg9", 1).expect("shipped");
        let plan = Plan::new(&circuit).expect("valid");
        for profile in Profile::all() {
            let footprint = DeviceFootprint::of(&circuit, &plan, profile, 8192).expect("fits");
            assert!(
                footprint.total() < 80 << 30,
                "{}: {footprint:?}",
                profile.id
            );
        }
    }
}
