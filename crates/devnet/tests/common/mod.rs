//! What the whole-subnet tests share: hotkeys, the local registry acting as one of them,
//! real miners on loopback, and a validator configured over them. Each test binary uses
//! part of it.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use brainlock_chain::{AxonInfo, Chain, LocalRegistry, Registration, Role};
use brainlock_daemon::{ChainSource, NeuronConfig, WalletConfig};
use brainlock_epistula::{AccountId, CryptoType, Keypair};
use brainlock_miner::{Miner, MinerConfig};
use brainlock_validator::ValidatorConfig;
use brainlock_validator::images::SourceSpec;

pub(crate) const NETUID: u16 = 55;
/// The 32-lookup demo circuit: a query takes well under a second.
pub(crate) const CIRCUIT: &str = "test-tiny";

/// A fresh subnet for one test: a temporary directory holding the local registry,
/// with the validator's hotkey ([`keypair`]`(1)`) registered on it.
pub(crate) struct TestSubnet {
    /// Removed when the test ends.
    pub(crate) dir: tempfile::TempDir,
    /// The local registry file.
    pub(crate) registry: PathBuf,
    /// The validator's hotkey.
    pub(crate) validator: Keypair,
}

/// Logs to the test's output (miners quiet unless they warn) and registers the
/// validator of a fresh [`TestSubnet`].
pub(crate) async fn test_subnet() -> TestSubnet {
    let _ = tracing_subscriber::fmt()
        .with_env_filter("info,brainlock_miner=warn")
        .with_test_writer()
        .try_init();
    let dir = tempfile::tempdir().unwrap();
    let registry = dir.path().join("registry.json");
    let validator = keypair(1);
    register(&registry, &validator, Role::Validator, 0.0).await;
    TestSubnet {
        dir,
        registry,
        validator,
    }
}

/// A deterministic sr25519 hotkey.
pub(crate) fn keypair(seed: u8) -> Keypair {
    Keypair::from_seed(CryptoType::Sr25519, &[seed; 32])
}

/// The local registry at `registry`, acting as `kp`.
pub(crate) fn chain_as(registry: &Path, kp: &Keypair) -> LocalRegistry {
    LocalRegistry::open(registry, NETUID, kp.account_id()).unwrap()
}

/// Registers `kp` with `role` and `stake`; returns the registry acting as `kp`.
pub(crate) async fn register(
    registry: &Path,
    kp: &Keypair,
    role: Role,
    stake: f64,
) -> LocalRegistry {
    let chain = chain_as(registry, kp);
    chain
        .register(Registration {
            hotkey: kp.account_id(),
            coldkey: None,
            role,
            stake,
        })
        .await
        .unwrap();
    chain
}

/// Announces `addr` as `kp`'s axon.
pub(crate) async fn announce(registry: &Path, kp: &Keypair, addr: SocketAddr) {
    chain_as(registry, kp)
        .serve_axon(NETUID, AxonInfo::new(addr, 1))
        .await
        .unwrap();
}

/// A miner of [`CIRCUIT`] on a loopback port, on the registry, accepting `validator`.
pub(crate) fn miner_config(registry: &Path, validator: AccountId) -> MinerConfig {
    let mut config = MinerConfig {
        neuron: NeuronConfig {
            netuid: NETUID,
            chain: ChainSource::Registry(registry.to_path_buf()),
            ..NeuronConfig::default()
        },
        bind: "127.0.0.1:0".parse().unwrap(),
        circuits: vec![CIRCUIT.into()],
        ..MinerConfig::default()
    };
    config.auth.allow = vec![validator.to_string()];
    config
}

/// Starts a real miner for `kp` with `config` and serves it until the test ends;
/// returns its address.
pub(crate) async fn start_miner(config: &MinerConfig, registry: &Path, kp: &Keypair) -> SocketAddr {
    let chain: Arc<dyn Chain> = Arc::new(chain_as(registry, kp));
    let miner = Miner::start(config, kp.account_id(), chain).await.unwrap();
    let addr = miner.local_addr();
    tokio::spawn(miner.serve(std::future::pending()));
    addr
}

/// A validator of [`CIRCUIT`] on the registry, with its database in `dir`, synthetic
/// images, and weights set after every round; tests adjust deadlines and limits.
pub(crate) fn validator_config(dir: &Path, registry: &Path) -> ValidatorConfig {
    ValidatorConfig {
        neuron: NeuronConfig {
            netuid: NETUID,
            chain: ChainSource::Registry(registry.to_path_buf()),
            wallet: WalletConfig {
                name: "unused".into(),
                hotkey: "unused".into(),
                path: dir.join("wallets"),
            },
            debug: false,
        },
        database: dir.join("validator.sqlite").to_string_lossy().into_owned(),
        dataset: SourceSpec::Synthetic,
        circuit: CIRCUIT.into(),
        weights_interval: Some(0),
        ..ValidatorConfig::default()
    }
}

/// Serves `router` on a loopback port until the test ends; returns its address.
pub(crate) async fn serve(router: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    addr
}

/// What the miner behind a test front answered.
pub(crate) struct Forwarded {
    pub(crate) status: StatusCode,
    pub(crate) content_type: Option<HeaderValue>,
    pub(crate) body: Bytes,
}

impl Forwarded {
    /// The answer passed on unchanged.
    pub(crate) fn into_response(self) -> Response {
        let mut response = (self.status, self.body).into_response();
        if let Some(content_type) = self.content_type {
            response.headers_mut().insert("content-type", content_type);
        }
        response
    }
}

/// Forwards a request a test front received to the miner at `upstream`, with its
/// headers (the Epistula signature covers the body and the receiver, not the host).
pub(crate) async fn forward(
    http: &reqwest::Client,
    upstream: SocketAddr,
    parts: &Parts,
    body: Bytes,
) -> Forwarded {
    let mut request = http
        .request(
            parts.method.clone(),
            format!("http://{upstream}{}", parts.uri.path()),
        )
        .body(body);
    for (name, value) in &parts.headers {
        if name != "host" && name != "content-length" {
            request = request.header(name, value);
        }
    }
    let answer = request.send().await.unwrap();
    Forwarded {
        status: answer.status(),
        content_type: answer.headers().get("content-type").cloned(),
        body: answer.bytes().await.unwrap(),
    }
}
