//! Where a circuit is evaluated. The miner holds one [`Evaluator`] and hands it every
//! batch item; the CPU engine is the one that ships. The seam is where other backends
//! (a GPU one, DESIGN section 2) and, in tests, cheating ones
//! ([`crate::adversary`], feature `adversary`) plug in.

use crate::ciphertext::{EncryptedInput, EncryptedOutput};
use crate::error::Result;
use crate::keys::EvaluationKey;
use brainlock_circuit::Circuit;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

/// Where a binary runs its bootstraps (`--backend`, `backend =` in config files).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// The CPU engine, on every core (rayon).
    #[default]
    Cpu,
    /// One NVIDIA GPU (binaries built with the `cuda` feature).
    Cuda,
}

impl Backend {
    /// The evaluator of this backend; the CUDA one needs a binary built with the
    /// `cuda` feature and a visible GPU.
    pub fn evaluator(self) -> Result<Arc<dyn Evaluator>> {
        match self {
            Backend::Cpu => Ok(Arc::new(CpuEvaluator)),
            Backend::Cuda => cuda_evaluator(),
        }
    }
}

#[cfg(feature = "cuda")]
fn cuda_evaluator() -> Result<Arc<dyn Evaluator>> {
    Ok(Arc::new(crate::cuda::CudaEvaluator::new()?))
}

#[cfg(not(feature = "cuda"))]
fn cuda_evaluator() -> Result<Arc<dyn Evaluator>> {
    Err(crate::EngineError::BackendUnavailable {
        backend: "cuda",
        reason: "this binary was built without the `cuda` feature \
                 (scripts/cuda-build.sh builds one)"
            .into(),
    })
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Backend::Cpu => "cpu",
            Backend::Cuda => "cuda",
        })
    }
}

impl FromStr for Backend {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        match s {
            "cpu" => Ok(Backend::Cpu),
            "cuda" => Ok(Backend::Cuda),
            other => Err(format!("unknown backend `{other}` (expected cpu or cuda)")),
        }
    }
}

/// A backend that runs a circuit's keyswitch + programmable-bootstrap lookups on an
/// encrypted input under a client's evaluation key.
pub trait Evaluator: Send + Sync {
    /// What `/v1/info` reports as the backend.
    fn backend(&self) -> Backend;

    /// Evaluates `circuit` on `input` under `key`; `progress(done, total)` as lookups
    /// complete.
    fn evaluate(
        &self,
        circuit: &Circuit,
        key: &EvaluationKey,
        input: &EncryptedInput,
        progress: &(dyn Fn(usize, usize) + Sync),
    ) -> Result<EncryptedOutput>;
}

/// The CPU engine ([`crate::evaluate`]): rayon over the lookups of each layer.
#[derive(Clone, Copy, Debug, Default)]
pub struct CpuEvaluator;

impl Evaluator for CpuEvaluator {
    fn backend(&self) -> Backend {
        Backend::Cpu
    }

    fn evaluate(
        &self,
        circuit: &Circuit,
        key: &EvaluationKey,
        input: &EncryptedInput,
        progress: &(dyn Fn(usize, usize) + Sync),
    ) -> Result<EncryptedOutput> {
        crate::engine::evaluate(circuit, key, input, progress)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backends_parse_as_they_print() {
        for backend in [Backend::Cpu, Backend::Cuda] {
            assert_eq!(backend.to_string().parse::<Backend>(), Ok(backend));
        }
        let err = "gpu".parse::<Backend>().unwrap_err();
        assert!(err.contains("cpu or cuda"), "{err}");
    }

    #[test]
    fn the_cpu_backend_is_always_there() {
        assert_eq!(
            Backend::Cpu.evaluator().expect("cpu").backend(),
            Backend::Cpu
        );
    }

    /// A CPU build asked for CUDA says how to get it instead of failing later.
    #[cfg(not(feature = "cuda"))]
    #[test]
    fn cuda_in_a_cpu_build_is_a_clear_error() {
        let Err(err) = Backend::Cuda.evaluator() else {
            panic!("a CPU build has no CUDA backend");
        };
        assert!(matches!(
            err,
            crate::EngineError::BackendUnavailable {
                backend: "cuda",
                ..
            }
        ));
        assert!(err.to_string().contains("scripts/cuda-build.sh"), "{err}");
    }
}
