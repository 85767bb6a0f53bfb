//! A miner on loopback with a local registry, plus signed clients and key material,
//! shared by the integration tests.
#![allow(dead_code)] // each test binary uses a different part of this harness

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use brainlock_api::MinerClient;
use brainlock_api::{CircuitId, InferRequest, KeyId, ProfileId};
use brainlock_chain::{LocalRegistry, Registration, Role};
use brainlock_circuit::Circuit;
use brainlock_circuit::{TEST_TINY, test_tiny};
use brainlock_daemon::ChainSource;
use brainlock_epistula::{AccountId, CryptoType, Keypair};
use brainlock_fhe::{ClientKey, EncryptedOutput, Profile};
use brainlock_miner::config::Limits;
use brainlock_miner::server::AppState;
use brainlock_miner::{Miner, MinerConfig};
use bytes::Bytes;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub(crate) const PROFILE: &str = "n2048-gauss";

pub(crate) fn keypair(seed: u8) -> Arc<Keypair> {
    Arc::new(Keypair::from_seed(CryptoType::Sr25519, &[seed; 32]))
}

/// The validator (with a permit) that the tests sign with.
pub(crate) fn validator() -> Arc<Keypair> {
    keypair(1)
}

/// Registered without a permit and with little stake: must be refused.
pub(crate) fn outsider() -> Arc<Keypair> {
    keypair(2)
}

pub(crate) fn miner_key() -> Arc<Keypair> {
    keypair(3)
}

/// A client key and its serialized evaluation key, generated once per test binary.
pub(crate) struct KeyMaterial {
    pub client: ClientKey,
    pub eval_bytes: Bytes,
}

pub(crate) fn keys() -> &'static KeyMaterial {
    static KEYS: OnceLock<KeyMaterial> = OnceLock::new();
    KEYS.get_or_init(|| {
        let (client, eval) = ClientKey::generate(Profile::by_id(PROFILE).unwrap(), Some(7));
        KeyMaterial {
            client,
            eval_bytes: Bytes::from(eval.to_bytes()),
        }
    })
}

pub(crate) fn profile() -> &'static Profile {
    Profile::by_id(PROFILE).unwrap()
}

pub(crate) fn test_config() -> MinerConfig {
    MinerConfig {
        bind: "127.0.0.1:0".parse().unwrap(),
        metrics: Some("127.0.0.1:0".parse().unwrap()),
        circuits: vec![TEST_TINY.into()],
        profiles: vec![PROFILE.into()],
        workers: 1,
        limits: Limits {
            max_key_bytes: 64 << 20,
            key_cache_bytes: 300 << 20,
            max_body_bytes: 1 << 20,
            max_batch: 8,
            inflight_bytes: 64 << 20,
            queue_items: 16,
            request_deadline: Duration::from_secs(60),
            retry_after: Duration::from_secs(2),
            ..Limits::default()
        },
        ..MinerConfig::default()
    }
}

/// A miner serving on loopback until dropped or shut down.
pub(crate) struct TestMiner {
    pub addr: std::net::SocketAddr,
    /// Where `/metrics` is served (apart from the API).
    pub metrics_addr: Option<std::net::SocketAddr>,
    pub state: Arc<AppState>,
    pub hotkey: AccountId,
    pub registry: LocalRegistry,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
    _dir: tempfile::TempDir,
}

impl TestMiner {
    pub(crate) async fn start(mut config: MinerConfig) -> TestMiner {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("registry.json");
        config.neuron.chain = ChainSource::Registry(path.clone());
        let hotkey = miner_key().account_id();
        let registry = LocalRegistry::open(&path, config.neuron.netuid, hotkey).unwrap();
        for (who, role, stake) in [
            (hotkey, Role::Miner, 0.0),
            (validator().account_id(), Role::Validator, 0.0),
            (outsider().account_id(), Role::Miner, 5.0),
        ] {
            registry
                .register(Registration {
                    hotkey: who,
                    coldkey: None,
                    role,
                    stake,
                })
                .await
                .unwrap();
        }
        let miner = Miner::start(&config, hotkey, Arc::new(registry.clone()))
            .await
            .unwrap();
        let (addr, state) = (miner.local_addr(), miner.state());
        let metrics_addr = miner.metrics_addr();
        let (tx, rx) = oneshot::channel();
        let task = tokio::spawn(miner.serve(async move {
            let _ = rx.await;
        }));
        TestMiner {
            addr,
            metrics_addr,
            state,
            hotkey,
            registry,
            shutdown: Some(tx),
            task: Some(task),
            _dir: dir,
        }
    }

    pub(crate) fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub(crate) fn client(&self, keypair: Arc<Keypair>) -> MinerClient {
        MinerClient::new(self.url(), self.hotkey, keypair, reqwest::Client::new())
    }

    /// Graceful shutdown; returns what `serve` returned.
    pub(crate) async fn stop(mut self) -> std::io::Result<()> {
        let _ = self.shutdown.take().unwrap().send(());
        self.task.take().unwrap().await.unwrap()
    }
}

/// `count` deterministic inputs of the tiny circuit, each in its [-2, 1] range.
pub(crate) fn tiny_inputs(count: usize) -> Vec<Vec<i64>> {
    (0..count)
        .map(|i| (0..16).map(|j| ((i * 7 + j * 5) % 4) as i64 - 2).collect())
        .collect()
}

pub(crate) fn tiny_circuit() -> Circuit {
    test_tiny()
}

pub(crate) fn infer_request(key_id: KeyId, inputs: &[Vec<i64>]) -> InferRequest {
    let circuit = tiny_circuit();
    let keys = keys();
    InferRequest {
        key_id,
        circuit: CircuitId::new(TEST_TINY).unwrap(),
        profile: ProfileId::new(PROFILE).unwrap(),
        inputs: inputs
            .iter()
            .map(|values| {
                Bytes::from(
                    keys.client
                        .encrypt_input(&circuit, values)
                        .unwrap()
                        .to_bytes(),
                )
            })
            .collect(),
    }
}

pub(crate) fn decrypt(payload: &[u8]) -> Vec<i64> {
    let circuit = tiny_circuit();
    let output = EncryptedOutput::from_bytes(
        payload,
        &circuit,
        profile(),
        &brainlock_fhe::Limits::default(),
    )
    .unwrap();
    assert!(!output.has_trivial_ciphertext());
    keys().client.decrypt_output(&circuit, &output).unwrap()
}
