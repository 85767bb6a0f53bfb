//! What a circuit name and a profile id mean, resolved the same way by the miner, the
//! validator and the `brainlock` tool: a shipped circuit (built from its seed) or a
//! circuit JSON file, checked by the clear simulator and the engine's planner; then the
//! named profile, or the circuit's default.

use std::path::Path;

use brainlock_circuit::{
    Circuit, CircuitFileError, ContentIdError, SHIPPED_NAMES, Simulator, ValidationError,
    shipped_circuit,
};

use crate::plan::Plan;
use crate::{EngineError, Profile};

/// Why a circuit name or profile id could not be resolved to a runnable workload.
#[derive(Debug, thiserror::Error)]
pub enum WorkloadError {
    /// The name is neither a shipped circuit nor an existing file.
    #[error("circuit {0:?} is neither a shipped circuit ({known}) nor a circuit JSON file", known = SHIPPED_NAMES.join(", "))]
    UnknownCircuit(String),
    /// The circuit JSON file could not be read or parsed.
    #[error(transparent)]
    File(#[from] CircuitFileError),
    /// A circuit file whose id does not name its content.
    #[error("circuit file {path}")]
    ContentId {
        /// The file.
        path: String,
        /// How the id fails to name the content.
        #[source]
        source: ContentIdError,
    },
    /// A circuit file that declares a shipped circuit's name but holds other weights
    /// or tables (another seed, or an edit).
    #[error("circuit file {path} is named {id} but differs from the shipped {id}")]
    NotTheShipped {
        /// The file.
        path: String,
        /// The shipped name it declares.
        id: String,
    },
    /// The circuit failed the clear simulator's validation.
    #[error("circuit {id} is invalid")]
    Invalid {
        /// Circuit id.
        id: String,
        /// What validation rejected.
        #[source]
        source: ValidationError,
    },
    /// The circuit is valid in the clear but the engine's planner rejects it.
    #[error("circuit {id} cannot run encrypted")]
    Unplannable {
        /// Circuit id.
        id: String,
        /// What the planner rejected.
        #[source]
        source: EngineError,
    },
    /// The requested profile id is not one of [`Profile::all`].
    #[error("unknown FHE profile {id:?} (known: {known})", known = Profile::all().iter().map(|p| p.id).collect::<Vec<_>>().join(", "))]
    UnknownProfile {
        /// The requested profile id.
        id: String,
    },
}

/// A shipped circuit by name (seeded ones built from `seed`), or a circuit JSON file,
/// checked to simulate and to plan. A file is accepted under a content id that names
/// it (`LABEL.HASH`, see `brainlock_circuit`), or under a shipped name when it holds
/// exactly that shipped circuit: every party that accepts an id holds the same circuit.
pub fn resolve_circuit(name: &str, seed: u64) -> Result<Circuit, WorkloadError> {
    let circuit = match shipped_circuit(name, seed) {
        Some(circuit) => circuit,
        None if Path::new(name).is_file() => {
            let circuit = Circuit::load(name)?;
            match shipped_circuit(&circuit.id, seed) {
                Some(shipped) if shipped != circuit => {
                    return Err(WorkloadError::NotTheShipped {
                        path: name.into(),
                        id: circuit.id,
                    });
                }
                Some(_) => {}
                None => circuit
                    .verify_content_id()
                    .map_err(|source| WorkloadError::ContentId {
                        path: name.into(),
                        source,
                    })?,
            }
            circuit
        }
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

        // A file under a content id resolves; edited, or under a plain or shipped name
        // with other content, it does not.
        let named = tiny.clone().with_content_id("tiny").unwrap();
        named.save(&path).unwrap();
        let loaded = resolve_circuit(path.to_str().unwrap(), 0).unwrap();
        assert_eq!(loaded, named);
        let mut edited = named.clone();
        edited.layers[0].name = "renamed".into();
        edited.save(&path).unwrap();
        let err = resolve_circuit(path.to_str().unwrap(), 0).unwrap_err();
        assert!(matches!(err, WorkloadError::ContentId { .. }), "{err}");
        let plain = Circuit {
            id: "tiny".into(),
            ..tiny.clone()
        };
        plain.save(&path).unwrap();
        let err = resolve_circuit(path.to_str().unwrap(), 0).unwrap_err();
        assert!(matches!(err, WorkloadError::ContentId { .. }), "{err}");
        let impostor = Circuit {
            id: "conv3x3".into(),
            ..tiny.clone()
        };
        impostor.save(&path).unwrap();
        let err = resolve_circuit(path.to_str().unwrap(), 0).unwrap_err();
        assert!(matches!(err, WorkloadError::NotTheShipped { .. }), "{err}");

        let unknown = resolve_circuit("resnet50", 0).unwrap_err().to_string();
        assert!(unknown.contains("conv3x3"), "{unknown}");
        let profile = resolve_profile(&tiny, Some("n1")).unwrap_err().to_string();
        assert!(profile.contains(Profile::all()[0].id), "{profile}");
    }
}
