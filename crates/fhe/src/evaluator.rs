//! Where a circuit is evaluated. The miner holds one [`Evaluator`] and hands it every
//! batch item; the CPU engine is the one that ships. The seam is where other backends
//! (a GPU one, DESIGN section 2) and, in tests, cheating ones
//! ([`crate::adversary`], feature `adversary`) plug in.

use crate::ciphertext::{EncryptedInput, EncryptedOutput};
use crate::error::Result;
use crate::keys::EvaluationKey;
use brainlock_circuit::Circuit;

/// A backend that runs a circuit's keyswitch + programmable-bootstrap lookups on an
/// encrypted input under a client's evaluation key.
pub trait Evaluator: Send + Sync {
    /// What `/v1/info` reports as the backend.
    fn backend(&self) -> &'static str;

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
    fn backend(&self) -> &'static str {
        "cpu"
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
