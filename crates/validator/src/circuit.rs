//! The circuit the validator queries, built exactly as miners build it (same names,
//! same seed), with what checking needs: the exact simulator's input format and the
//! scoring rules.

use std::str::FromStr;

use brainlock_circuit::{Circuit, DEFAULT_CIRCUIT_SEED};
use brainlock_fhe::Profile;
use brainlock_fhe::workload::{WorkloadError, resolve_circuit, resolve_profile};
use brainlock_scoring::{CircuitKind, GatePolicy, Gates, ScoringParams, derive_gates};

use crate::config::ScoringTable;

/// Why the configured circuit could not be turned into a workload.
#[derive(Debug, thiserror::Error)]
pub enum CircuitError {
    /// The circuit name or JSON file does not resolve to a valid circuit and profile.
    #[error(transparent)]
    Workload(#[from] WorkloadError),
    /// The circuit's scoring parameters (or the `[scoring]` overrides) are out of range.
    #[error("scoring parameters: {0}")]
    Scoring(#[from] brainlock_scoring::ParamsError),
    /// The result-checking gates cannot be derived from the profile's noise for the batch size.
    #[error("deriving the gates: {0}")]
    Gates(#[from] brainlock_scoring::GateError),
}

/// Everything fixed about what this validator asks miners to compute.
#[derive(Clone, Debug)]
pub struct Workload {
    /// The circuit every miner is asked to evaluate.
    pub circuit: Circuit,
    /// The FHE parameter profile the client keys are generated for.
    pub profile: &'static Profile,
    /// Which speed parameters apply (VGG9's or conv3x3's).
    pub kind: CircuitKind,
    /// Speed-to-score parameters: reference and floor seconds per item, exponent.
    pub params: ScoringParams,
    /// How results are checked, derived from the profile's noise for the batch size.
    pub gates: Gates,
}

impl Workload {
    /// `name` is a shipped circuit id or a path to a circuit JSON file; queries carry
    /// `batch` items. Derives the gates: CPU-heavy for VGG9 (a few hundred noisy
    /// simulations), so call it from a blocking thread.
    pub fn resolve(
        name: &str,
        profile: Option<&str>,
        overrides: &ScoringTable,
        batch: usize,
    ) -> Result<Self, CircuitError> {
        let circuit = resolve_circuit(name, DEFAULT_CIRCUIT_SEED)?;
        let profile = resolve_profile(&circuit, profile)?;
        // Anything but VGG9 is timed like conv3x3.
        let kind = CircuitKind::from_str(&circuit.id).unwrap_or(CircuitKind::Conv3x3);
        let defaults = ScoringParams::for_circuit(kind);
        let params = ScoringParams {
            t_ref: overrides.t_ref.unwrap_or(defaults.t_ref),
            t_floor: overrides.t_floor.unwrap_or(defaults.t_floor),
            alpha: overrides.alpha.unwrap_or(defaults.alpha),
        };
        params.validate()?;
        let model = brainlock_circuit::NoiseModel::new(&profile.parameter_set());
        let gates = derive_gates(&circuit, &model, batch, &GatePolicy::default())?;
        tracing::info!(
            circuit = %circuit.id,
            profile = profile.id,
            batch,
            c_min = gates.c_min,
            rule = %gates.rule,
            "gates derived from the noise model"
        );
        Ok(Self {
            circuit,
            profile,
            kind,
            params,
            gates,
        })
    }

    /// Identifier of the circuit, as recorded with each query in the history database.
    pub fn id(&self) -> &str {
        &self.circuit.id
    }
}
