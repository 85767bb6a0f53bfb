//! The circuits and parameter profiles a miner serves.
//!
//! Names resolve as everywhere else (`brainlock_fhe::workload`): the shipped circuits
//! are built from the seed, so a miner and the validators agree on every weight as long
//! as they use the same seed; a circuit JSON file is served under the id it declares.

use std::collections::BTreeMap;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use brainlock_api::{CircuitId, IdError, ProfileId};
use brainlock_circuit::Circuit;
use brainlock_fhe::plan::Plan;
use brainlock_fhe::workload::{WorkloadError, profile_by_id, resolve_circuit};
use brainlock_fhe::{EngineError, Profile};
use brainlock_scoring::{CircuitKind, ScoringParams};

/// Why the served catalog could not be built at startup.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    /// A circuit or profile name is unknown, or a circuit file is unreadable or invalid.
    #[error(transparent)]
    Workload(#[from] WorkloadError),
    #[error("circuit {id:?} cannot be named on the wire")]
    /// A circuit's declared id is not a valid wire name (charset or length).
    BadId {
        /// The circuit's declared id.
        id: String,
        /// Why the id is not a valid wire name.
        #[source]
        source: IdError,
    },
    #[error("circuit {id} is not usable by the engine")]
    /// The engine cannot plan the circuit (unsupported layer or shape).
    Unusable {
        /// The circuit's id.
        id: String,
        /// Why the engine rejected it.
        #[source]
        source: EngineError,
    },
}

/// A circuit ready to serve, with what admission control needs to know about it.
#[derive(Debug)]
pub struct ServedCircuit {
    /// The circuit itself (layers and weights), as resolved from its name or file.
    pub circuit: Circuit,
    /// The engine's evaluation plan: layer shapes and bootstraps, checked at startup.
    pub plan: Plan,
    /// Programmable bootstraps per item (for the lookups-per-second metric).
    pub lookups: usize,
    /// The validators' reference time per item for this circuit (`None` for circuits
    /// the scoring rules do not name, such as test circuits).
    pub t_ref: Option<Duration>,
}

impl ServedCircuit {
    fn new(circuit: Circuit) -> Result<Self, CatalogError> {
        let plan = Plan::new(&circuit).map_err(|source| CatalogError::Unusable {
            id: circuit.id.clone(),
            source,
        })?;
        let lookups = plan.lookups(&circuit);
        let t_ref = CircuitKind::from_str(&circuit.id)
            .ok()
            .map(|kind| Duration::from_secs_f64(ScoringParams::for_circuit(kind).t_ref));
        Ok(Self {
            circuit,
            plan,
            lookups,
            t_ref,
        })
    }

    /// The deadline of a request of `items`: the configured one, but never less than
    /// twice the reference time per item, so an honest miner at reference speed always
    /// finishes (VGG9: 2,500 s per item).
    pub fn request_deadline(&self, configured: Duration, items: usize) -> Duration {
        let needed = self
            .t_ref
            .map_or(Duration::ZERO, |t| t.saturating_mul(2 * items as u32));
        configured.max(needed)
    }

    /// Memory one item holds while it is evaluated under `profile`: the expanded
    /// ciphertexts of the widest pair of adjacent layer boundaries (the engine keeps a
    /// layer's inputs and outputs alive together), or at the end its results beside the
    /// narrowing key expanded to pack them, whichever is more, plus the seeded input it
    /// came from.
    pub fn item_working_bytes(&self, profile: &Profile) -> usize {
        let lwe_bytes = (profile.big_lwe_dimension() + 1) * 8;
        let widest = self
            .plan
            .shapes
            .windows(2)
            .map(|w| w[0].len() + w[1].len())
            .max()
            .unwrap_or(0);
        let packing = self.plan.output_len() * lwe_bytes + profile.narrowing_key_bytes();
        (widest * lwe_bytes).max(packing) + self.seeded_input_bytes()
    }

    /// Memory of one parsed (still seeded) input: one body word per value.
    pub fn seeded_input_bytes(&self) -> usize {
        self.circuit.input_shape.len() * 8
    }
}

/// The circuits and profiles this miner accepts.
#[derive(Debug)]
pub struct Catalog {
    circuits: BTreeMap<CircuitId, Arc<ServedCircuit>>,
    profiles: Vec<&'static Profile>,
}

impl Catalog {
    /// Builds the named circuits (seeded ones from `seed`) and resolves the profiles
    /// (empty: every profile the engine knows).
    pub fn build(
        circuit_ids: &[String],
        seed: u64,
        profile_ids: &[String],
    ) -> Result<Self, CatalogError> {
        let mut circuits = BTreeMap::new();
        for name in circuit_ids {
            let circuit = resolve_circuit(name, seed)?;
            let id = CircuitId::new(circuit.id.clone()).map_err(|source| CatalogError::BadId {
                id: circuit.id.clone(),
                source,
            })?;
            circuits.insert(id, Arc::new(ServedCircuit::new(circuit)?));
        }
        let profiles = if profile_ids.is_empty() {
            Profile::all().iter().collect()
        } else {
            profile_ids
                .iter()
                .map(|id| profile_by_id(id))
                .collect::<Result<_, _>>()?
        };
        Ok(Self { circuits, profiles })
    }

    /// The served circuit with this id; `None`: not served here (`unknown_circuit`).
    pub fn circuit(&self, id: &CircuitId) -> Option<&Arc<ServedCircuit>> {
        self.circuits.get(id)
    }

    /// The accepted profile with this id; `None`: not accepted here.
    pub fn profile(&self, id: &str) -> Option<&'static Profile> {
        self.profiles.iter().copied().find(|p| p.id == id)
    }

    /// Every accepted profile, in configuration order.
    pub fn profiles(&self) -> &[&'static Profile] {
        &self.profiles
    }

    /// Ids of the served circuits, as advertised in `GET /v1/info`.
    pub fn circuit_ids(&self) -> Vec<CircuitId> {
        self.circuits.keys().cloned().collect()
    }

    /// Ids of the accepted profiles, as advertised in `GET /v1/info`.
    pub fn profile_ids(&self) -> Vec<ProfileId> {
        self.profiles
            .iter()
            .map(|p| ProfileId::new(p.id).expect("engine profile ids are valid names"))
            .collect()
    }

    /// The most memory expanding one key of a served profile takes: the expanded key
    /// plus the standard-domain bootstrapping key alive during the Fourier conversion.
    pub fn largest_key_expansion_bytes(&self) -> usize {
        self.profiles
            .iter()
            .map(|p| key_expansion_bytes(p))
            .max()
            .unwrap_or(0)
    }
}

/// Peak memory of expanding one key of `profile`
/// ([`Profile::key_expansion_peak_bytes`]).
pub fn key_expansion_bytes(profile: &Profile) -> usize {
    profile.key_expansion_peak_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use brainlock_circuit::{TEST_TINY, test_tiny};

    #[test]
    fn catalog_rejects_unknown_names() {
        assert!(matches!(
            Catalog::build(&["resnet".into()], 1, &[]),
            Err(CatalogError::Workload(WorkloadError::UnknownCircuit(_)))
        ));
        assert!(matches!(
            Catalog::build(&[TEST_TINY.into()], 1, &["n1-made-up".into()]),
            Err(CatalogError::Workload(WorkloadError::UnknownProfile { .. }))
        ));
        let catalog = Catalog::build(&[TEST_TINY.into()], 1, &[]).unwrap();
        assert_eq!(catalog.circuit_ids(), [CircuitId::new(TEST_TINY).unwrap()]);
        assert_eq!(catalog.profiles().len(), Profile::all().len());
        assert!(catalog.largest_key_expansion_bytes() > Profile::all()[0].expanded_key_bytes());
    }

    #[test]
    fn circuit_files_are_served_under_their_content_id_and_refused_when_edited() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tiny.json");
        let named = test_tiny().with_content_id("tiny").unwrap();
        named.save(&path).unwrap();
        let file = path.display().to_string();
        let catalog = Catalog::build(std::slice::from_ref(&file), 1, &[]).unwrap();
        assert_eq!(
            catalog.circuit_ids(),
            [CircuitId::new(named.id.clone()).unwrap()]
        );
        let mut edited = named;
        edited.layers[0].name = "edited".into();
        edited.save(&path).unwrap();
        assert!(matches!(
            Catalog::build(&[file], 1, &[]),
            Err(CatalogError::Workload(WorkloadError::ContentId { .. }))
        ));
    }

    #[test]
    fn working_set_counts_expanded_ciphertexts() {
        let served = ServedCircuit::new(test_tiny()).unwrap();
        let profile = &Profile::all()[0];
        // 16 inputs + 32 outputs, each a (kN + 1)-word LWE ciphertext.
        let expected = 48 * (profile.big_lwe_dimension() + 1) * 8 + 16 * 8;
        assert_eq!(served.item_working_bytes(profile), expected);
        // At N = 8192 the results are narrowed before they are packed, and the narrowing
        // key, expanded for it, outweighs test-tiny's layers.
        let wide = Profile::by_id("n8192-tuniform").unwrap();
        let expected =
            32 * (wide.big_lwe_dimension() + 1) * 8 + wide.narrowing_key_bytes() + 16 * 8;
        assert_eq!(served.item_working_bytes(wide), expected);
    }

    #[test]
    fn request_deadlines_never_undercut_the_reference_time() {
        let configured = Duration::from_secs(600);
        let tiny = ServedCircuit::new(test_tiny()).unwrap();
        assert_eq!(tiny.t_ref, None);
        assert_eq!(tiny.request_deadline(configured, 4), configured);
        // The scoring rules' circuits, by id: twice t_ref per item at least.
        let mut vgg9 = test_tiny();
        vgg9.id = "vgg9".into();
        let vgg9 = ServedCircuit::new(vgg9).unwrap();
        assert_eq!(
            vgg9.request_deadline(configured, 1),
            Duration::from_secs(5000)
        );
        assert_eq!(
            vgg9.request_deadline(configured, 3),
            Duration::from_secs(15000)
        );
        let mut conv = test_tiny();
        conv.id = "conv3x3".into();
        let conv = ServedCircuit::new(conv).unwrap();
        assert_eq!(conv.request_deadline(configured, 2), configured);
        assert_eq!(
            conv.request_deadline(configured, 16),
            Duration::from_secs(1600)
        );
    }
}
