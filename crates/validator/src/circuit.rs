//! The circuit the validator queries, built exactly as miners build it (same names,
//! same seed), with what checking needs: the exact simulator's input format and the
//! scoring rules.

use std::str::FromStr;

use brainlock_circuit::{Circuit, DEFAULT_CIRCUIT_SEED};
use brainlock_fhe::Profile;
use brainlock_fhe::workload::{WorkloadError, resolve_circuit, resolve_profile};
use brainlock_scoring::{CircuitKind, GatePolicy, Gates, ScoringParams, derive_gates};

use crate::config::ScoringTable;

#[derive(Debug, thiserror::Error)]
pub enum CircuitError {
    #[error(transparent)]
    Workload(#[from] WorkloadError),
    #[error("scoring parameters: {0}")]
    Scoring(#[from] brainlock_scoring::ParamsError),
    #[error("deriving the gates: {0}")]
    Gates(#[from] brainlock_scoring::GateError),
}

/// Everything fixed about what this validator asks miners to compute.
#[derive(Clone, Debug)]
pub struct Workload {
    pub circuit: Circuit,
    pub profile: &'static Profile,
    /// Which speed parameters apply (VGG9's or conv3x3's).
    pub kind: CircuitKind,
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

    pub fn id(&self) -> &str {
        &self.circuit.id
    }
}
