//! What a circuit name and a profile id mean, resolved the same way by the miner, the
//! validator and the `brainlock` tool: a shipped circuit (built from its seed) or a
//! circuit JSON file, checked by the clear simulator and the engine's planner; then the
//! named profile, or the circuit's default.

use std::path::Path;

use brainlock_circuit::{
    Circuit, CircuitFileError, SHIPPED_NAMES, Simulator, ValidationError, shipped_circuit,
};

use crate::plan::Plan;
use crate::{EngineError, Profile};

#[derive(Debug, thiserror::Error)]
pub enum WorkloadError {
    #[error("circuit {0:?} is neither a shipped circuit ({known}) nor a circuit JSON file", known = SHIPPED_NAMES.join(", "))]
    UnknownCircuit(String),
    #[error(transparent)]
    File(#[from] CircuitFileError),
    #[error("circuit {id} is invalid")]
    Invalid {
        id: String,
        #[source]
        source: ValidationError,
    },
    #[error("circuit {id} cannot run encrypted")]
    Unplannable {
        id: String,
        #[source]
        source: EngineError,
    },
    #[error("unknown FHE profile {id:?} (known: {known})", known = Profile::all().iter().map(|p| p.id).collect::<Vec<_>>().join(", "))]
    UnknownProfile { id: String },
}

/// A shipped circuit by name (seeded ones built from `seed`), or a circuit JSON file,
/// checked to simulate and to plan.
pub fn resolve_circuit(name: &str, seed: u64) -> Result<Circuit, WorkloadError> {
    let circuit = match shipped_circuit(name, seed) {
        Some(circuit) => circuit,
        None if Path::new(name).is_file() => Circuit::load(name)?,
        None => return Err(WorkloadError::UnknownCircuit(name.into())),
    };
    Simulator::new(&circuit).map_err(|source| WorkloadError::Invalid {
        id: circuit.id.clone(),
        source,
    })?;
    Plan::new(&circuit).map_err(|source| WorkloadError::Unplannable {
        id: circuit.id.clone(),
        source,
    })?;
    Ok(circuit)
}

/// The profile `id` names, or `circuit`'s default.
pub fn resolve_profile(
    circuit: &Circuit,
    id: Option<&str>,
) -> Result<&'static Profile, WorkloadError> {
    id.map_or(Ok(Profile::default_for(&circuit.id)), profile_by_id)
}

/// The profile `id` names.
pub fn profile_by_id(id: &str) -> Result<&'static Profile, WorkloadError> {
    Profile::by_id(id).ok_or_else(|| WorkloadError::UnknownProfile { id: id.into() })
}

#[cfg(test)]
mod tests {
    use brainlock_circuit::DEFAULT_CIRCUIT_SEED;

    use super::*;

    #[test]
    fn names_files_and_profiles() {
        let tiny = resolve_circuit("test-tiny", DEFAULT_CIRCUIT_SEED).unwrap();
        assert_eq!(
            resolve_profile(&tiny, None).unwrap().id,
            Profile::default_for("test-tiny").id
        );
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tiny.json");
        tiny.save(&path).unwrap();
        let loaded = resolve_circuit(path.to_str().unwrap(), 0).unwrap();
        assert_eq!(loaded.id, tiny.id);

        let unknown = resolve_circuit("resnet50", 0).unwrap_err().to_string();
        assert!(unknown.contains("conv3x3"), "{unknown}");
        let profile = resolve_profile(&tiny, Some("n1")).unwrap_err().to_string();
        assert!(profile.contains(Profile::all()[0].id), "{profile}");
    }
}
