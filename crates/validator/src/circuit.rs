//! The circuit the validator queries, built exactly as miners build it (same names,
//! same seed), with what checking needs: the exact simulator's input format and the
//! scoring rules.

use std::path::Path;
use std::str::FromStr;

use brainlock_circuit::Circuit;
use brainlock_circuit::{DEFAULT_CIRCUIT_SEED, SHIPPED_NAMES, shipped_circuit};
use brainlock_fhe::Profile;
use brainlock_scoring::{CircuitKind, GatePolicy, Gates, ScoringParams, derive_gates};

use crate::config::ScoringTable;

#[derive(Debug, thiserror::Error)]
pub enum CircuitError {
    #[error("circuit file: {0}")]
    File(#[from] brainlock_circuit::CircuitFileError),
    #[error("circuit {0:?} is neither a shipped circuit ({known}) nor a circuit JSON file", known = SHIPPED_NAMES.join(", "))]
    Unknown(String),
    #[error("circuit {id}: {message}")]
    Invalid { id: String, message: String },
    #[error("unknown FHE profile {0:?}")]
    UnknownProfile(String),
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
        let circuit = match shipped_circuit(name, DEFAULT_CIRCUIT_SEED) {
            Some(circuit) => circuit,
            None if Path::new(name).is_file() => Circuit::load(name)?,
            None => return Err(CircuitError::Unknown(name.into())),
        };
        Self::new(circuit, profile, overrides, batch)
    }

    pub fn new(
        circuit: Circuit,
        profile: Option<&str>,
        overrides: &ScoringTable,
        batch: usize,
    ) -> Result<Self, CircuitError> {
        let invalid = |message: String| CircuitError::Invalid {
            id: circuit.id.clone(),
            message,
        };
        brainlock_circuit::Simulator::new(&circuit).map_err(|e| invalid(e.to_string()))?;
        brainlock_fhe::plan::Plan::new(&circuit).map_err(|e| invalid(e.to_string()))?;
        let profile = match profile {
            Some(id) => {
                Profile::by_id(id).ok_or_else(|| CircuitError::UnknownProfile(id.into()))?
            }
            None => Profile::default_for(&circuit.id),
        };
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
