//! The CUDA backend (feature `cuda`, DESIGN section 2): a whole layer at a time on one
//! NVIDIA GPU, ciphertexts staying on the device between layers.
//!
//! Per layer: the lists of [`LayerBatch`] are uploaded; then, [`CHUNK`] lookups at a
//! time, our gather-add kernel (`cuda/gather_add.cu`) computes the accumulators, and
//! tfhe-rs's CUDA backend runs one batched keyswitch and one batched programmable
//! bootstrap over them, each lookup reading its channel's table by index. The last
//! layer's accumulators come back to the host and are packed there, as on the CPU.
//!
//! Keys go to the device once per expanded key ([`EvaluationKey::expansion_id`]): the
//! keyswitching key as is, the standard bootstrapping key converted to the device's
//! Fourier layout there. The few most recent keys stay resident.
//!
//! We call tfhe-rs's `gpu::ffi` layer rather than its entity types because our kernel
//! needs the device pointers of the ciphertext lists it shares with tfhe-rs's kernels.

use crate::batch::LayerBatch;
use crate::ciphertext::{EncryptedInput, EncryptedOutput};
use crate::engine::check_request;
use crate::error::{EngineError, Result};
use crate::evaluator::{Backend, Evaluator};
use crate::keys::EvaluationKey;
use brainlock_circuit::Circuit;
use std::collections::VecDeque;
use std::ffi::c_void;
use std::sync::{Mutex, PoisonError};
use tfhe::core_crypto::gpu::lwe_bootstrap_key::CudaModulusSwitchNoiseReductionConfiguration;
use tfhe::core_crypto::gpu::vec::{CudaVec, GpuIndex};
use tfhe::core_crypto::gpu::{
    CudaStreams, convert_lwe_keyswitch_key_async, convert_lwe_programmable_bootstrap_key_async,
    get_number_of_gpus, keyswitch_gemm, programmable_bootstrap,
};

/// Lookups per batched keyswitch and bootstrap: enough to fill a data-centre GPU, few
/// enough that the bootstrap's scratch stays small; under the kernel grid's 65,535.
const CHUNK: usize = 8192;

/// Expanded keys kept on the device (a validator round uses one key per batch).
const RESIDENT_KEYS: usize = 4;

unsafe extern "C" {
    /// `cuda/gather_add.cu`; returns the CUDA error code of the launch (0: none).
    fn brainlock_gather_add_64(
        stream: *mut c_void,
        out: *mut u64,
        inputs: *const u64,
        term_starts: *const u32,
        term_inputs: *const u32,
        term_weights: *const u64,
        body_offsets: *const u64,
        first: u32,
        count: u32,
        lwe_size: u32,
    ) -> i32;
}

/// One NVIDIA GPU (the first), evaluating one batch item at a time.
pub(crate) struct CudaEvaluator {
    streams: CudaStreams,
    resident: Mutex<VecDeque<DeviceKey>>,
}

/// An evaluation key on the device.
struct DeviceKey {
    expansion_id: u64,
    ksk: CudaVec<u64>,
    bsk: CudaVec<f64>,
}

impl CudaEvaluator {
    /// The evaluator of GPU 0; an error where the machine shows no GPU.
    pub(crate) fn new() -> Result<Self> {
        if get_number_of_gpus() == 0 {
            return Err(EngineError::BackendUnavailable {
                backend: "cuda",
                reason: "no NVIDIA GPU is visible (check nvidia-smi and the container's \
                         --gpus flag)"
                    .into(),
            });
        }
        Ok(Self {
            streams: CudaStreams::new_single_gpu(GpuIndex::new(0)),
            resident: Mutex::new(VecDeque::new()),
        })
    }

    /// Uploads `key` unless it is resident; the least recently uploaded key leaves
    /// first.
    fn upload<'a>(
        &self,
        resident: &'a mut VecDeque<DeviceKey>,
        key: &EvaluationKey,
    ) -> &'a DeviceKey {
        if let Some(at) = resident
            .iter()
            .position(|k| k.expansion_id == key.expansion_id)
        {
            return &resident[at];
        }
        if resident.len() == RESIDENT_KEYS {
            resident.pop_front();
        }
        let streams = &self.streams;
        let bsk = &key.standard_bsk;
        let mut device = DeviceKey {
            expansion_id: key.expansion_id,
            ksk: CudaVec::new_multi_gpu(key.ksk.as_ref().len(), streams),
            bsk: CudaVec::new_multi_gpu(bsk.as_ref().len(), streams),
        };
        // SAFETY: the host keys outlive the synchronisation below.
        unsafe {
            convert_lwe_keyswitch_key_async(streams, &mut device.ksk, key.ksk.as_ref());
            convert_lwe_programmable_bootstrap_key_async(
                streams,
                &mut device.bsk,
                bsk.as_ref(),
                bsk.input_lwe_dimension(),
                bsk.glwe_size().to_glwe_dimension(),
                bsk.decomposition_level_count(),
                bsk.polynomial_size(),
            );
        }
        streams.synchronize();
        resident.push_back(device);
        resident.back().expect("just pushed")
    }
}

/// A [`LayerBatch`]'s lists on the device.
struct DeviceLists {
    term_starts: CudaVec<u32>,
    term_inputs: CudaVec<u32>,
    term_weights: CudaVec<u64>,
    body_offsets: CudaVec<u64>,
    tables: Option<CudaVec<u64>>,
}

impl DeviceLists {
    /// Uploads `batch` (synchronised before returning: the host lists may go).
    fn upload(batch: &LayerBatch, streams: &CudaStreams) -> Self {
        // SAFETY: `batch` outlives the synchronisation below.
        let lists = unsafe {
            Self {
                term_starts: CudaVec::from_cpu_async(&batch.term_starts, streams, 0),
                term_inputs: CudaVec::from_cpu_async(&batch.term_inputs, streams, 0),
                term_weights: CudaVec::from_cpu_async(&batch.term_weights, streams, 0),
                body_offsets: CudaVec::from_cpu_async(&batch.body_offsets, streams, 0),
                tables: batch
                    .is_lookup()
                    .then(|| CudaVec::from_cpu_async(&batch.tables, streams, 0)),
            }
        };
        streams.synchronize();
        lists
    }

    /// Launches the gather-add of outputs `first..first + count` into `out`.
    ///
    /// # Safety
    /// `inputs` holds the layer's input ciphertexts and `out` at least `count`
    /// ciphertexts of `lwe_size` words, both on the stream's device.
    unsafe fn gather_add(
        &self,
        streams: &CudaStreams,
        inputs: &CudaVec<u64>,
        out: *mut u64,
        first: usize,
        count: usize,
        lwe_size: usize,
    ) -> Result<()> {
        let code = unsafe {
            brainlock_gather_add_64(
                streams.ptr[0],
                out,
                inputs.ptr[0].cast(),
                self.term_starts.ptr[0].cast(),
                self.term_inputs.ptr[0].cast(),
                self.term_weights.ptr[0].cast(),
                self.body_offsets.ptr[0].cast(),
                first as u32,
                count as u32,
                lwe_size as u32,
            )
        };
        if code != 0 {
            return Err(EngineError::BackendUnavailable {
                backend: "cuda",
                reason: format!("the gather-add kernel failed to launch (CUDA error {code})"),
            });
        }
        Ok(())
    }
}

impl Evaluator for CudaEvaluator {
    fn backend(&self) -> Backend {
        Backend::Cuda
    }

    fn evaluate(
        &self,
        circuit: &Circuit,
        key: &EvaluationKey,
        input: &EncryptedInput,
        progress: &(dyn Fn(usize, usize) + Sync),
    ) -> Result<EncryptedOutput> {
        let plan = check_request(circuit, key, input)?;
        let profile = key.profile;
        let streams = &self.streams;
        let big = profile.big_dim().to_lwe_size().0;
        let small = profile.small_dim().to_lwe_size().0;
        let (pbs_base, pbs_level) = profile.pbs_decomposition();
        let (ks_base, ks_level) = profile.ks_decomposition();
        let total = plan.lookups(circuit);
        let mut done = 0;

        let mut resident = self.resident.lock().unwrap_or_else(PoisonError::into_inner);
        let device_key = self.upload(&mut resident, key);
        let host_input = input.expand();
        // SAFETY: `host_input` outlives the synchronisation below.
        let mut current = unsafe { CudaVec::from_cpu_async(&host_input, streams, 0) };
        streams.synchronize();
        let identity: Vec<u64> = (0..CHUNK as u64).collect();
        // SAFETY: `identity` lives to the end of the evaluation.
        let identity = unsafe { CudaVec::from_cpu_async(&identity, streams, 0) };
        let accumulators = CudaVec::<u64>::new(CHUNK * big, streams, 0);
        let mut keyswitched = CudaVec::<u64>::new(CHUNK * small, streams, 0);
        for index in 0..circuit.layers.len() {
            let batch = LayerBatch::new(circuit, &plan, profile, index)?;
            let lists = DeviceLists::upload(&batch, streams);
            let outputs = batch.outputs();
            let mut next = CudaVec::<u64>::new(outputs * big, streams, 0);
            for first in (0..outputs).step_by(CHUNK) {
                let count = CHUNK.min(outputs - first);
                let Some(tables) = &lists.tables else {
                    // The logits: accumulators straight into the layer's output.
                    // SAFETY: `next` holds `outputs` ciphertexts; the offset stays inside.
                    unsafe {
                        let out = next.ptr[0].cast::<u64>().add(first * big);
                        lists.gather_add(streams, &current, out, first, count, big)?;
                    }
                    continue;
                };
                let (out_indexes, lut_indexes): (Vec<u64>, &[u64]) = (
                    (first as u64..(first + count) as u64).collect(),
                    &batch.table_indexes[first..first + count],
                );
                // SAFETY: every buffer is on GPU 0 and sized for `count` ciphertexts; the
                // host index lists outlive the synchronisation that ends the chunk.
                unsafe {
                    lists.gather_add(
                        streams,
                        &current,
                        accumulators.ptr[0].cast(),
                        first,
                        count,
                        big,
                    )?;
                    let out_indexes = CudaVec::from_cpu_async(&out_indexes, streams, 0);
                    let lut_indexes = CudaVec::from_cpu_async(lut_indexes, streams, 0);
                    keyswitch_gemm(
                        streams,
                        &mut keyswitched,
                        &identity,
                        &accumulators,
                        &identity,
                        profile.big_dim(),
                        profile.small_dim(),
                        &device_key.ksk,
                        ks_base,
                        ks_level,
                        count as u32,
                        true,
                    );
                    programmable_bootstrap(
                        streams,
                        &mut next,
                        &out_indexes,
                        tables,
                        &lut_indexes,
                        &keyswitched,
                        &identity,
                        &device_key.bsk,
                        profile.small_dim(),
                        profile.glwe_dim(),
                        profile.poly_size(),
                        pbs_base,
                        pbs_level,
                        count as u32,
                        Some(&CudaModulusSwitchNoiseReductionConfiguration::Centered),
                    );
                    streams.synchronize();
                }
                done += count;
                progress(done, total);
            }
            current = next;
        }
        let mut lwes = vec![0u64; plan.output_len() * big];
        // SAFETY: `lwes` is as long as the last layer's output and outlives the sync.
        unsafe { current.copy_to_cpu_async(&mut lwes, streams, 0) };
        streams.synchronize();
        Ok(EncryptedOutput::compress(key, circuit, &plan, &lwes))
    }
}
