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
        // Sessions of one request: one query per miner per round, as tests count them.
        sessions: brainlock_gateway::SessionPolicy {
            max_requests: 1,
            mean_requests: 1.0,
            start_spread_seconds: 0.0,
            ..Default::default()
        },
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

/// How a shaping front (test-only) changes the answers of the real miner behind it,
/// by answer number (from 0).
pub(crate) struct Shaping {
    /// How long after its request the answer is held back: a shaped answer takes
    /// exactly that long whenever the real work took less, however loaded the machine.
    pub(crate) hold: Box<dyn Fn(usize) -> std::time::Duration + Send + Sync>,
    /// Whether the answer's ciphertext coefficients are replaced by random bits.
    pub(crate) corrupt: Box<dyn Fn(usize) -> bool + Send + Sync>,
}

impl Shaping {
    /// Answers as they come.
    pub(crate) fn honest() -> Self {
        Self {
            hold: Box::new(|_| std::time::Duration::ZERO),
            corrupt: Box::new(|_| false),
        }
    }
}

#[derive(Clone)]
struct ShapingFront {
    upstream: SocketAddr,
    http: reqwest::Client,
    answered: Arc<std::sync::atomic::AtomicUsize>,
    shaping: Arc<Shaping>,
    /// Bytes of the ciphertexts' coefficient stream at the end of each result payload.
    output_bytes: usize,
}

async fn shaping_handler(
    axum::extract::State(front): axum::extract::State<ShapingFront>,
    request: axum::extract::Request,
) -> Response {
    let received = tokio::time::Instant::now();
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, 64 << 20).await.unwrap();
    let answer = forward(&front.http, front.upstream, &parts, body).await;
    if parts.uri.path() != brainlock_api::routes::INFER || !answer.status.is_success() {
        return answer.into_response();
    }
    let n = front
        .answered
        .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    tokio::time::sleep_until(received + (front.shaping.hold)(n)).await;
    let corrupt = (front.shaping.corrupt)(n);
    let mut decoder = brainlock_api::FrameDecoder::new(64 << 20);
    decoder.push(&answer.body);
    let mut out = Vec::new();
    while let Some(frame) = decoder.next_frame().unwrap() {
        let brainlock_api::FramePayload::Result(payload) = frame.payload else {
            panic!("the real miner sent an error frame")
        };
        let mut payload = payload.to_vec();
        if corrupt {
            let start = payload.len() - front.output_bytes;
            rand::RngCore::fill_bytes(&mut rand::rng(), &mut payload[start..]);
        }
        let frame = brainlock_api::Frame {
            index: frame.index,
            payload: brainlock_api::FramePayload::Result(payload.into()),
        };
        out.extend_from_slice(&brainlock_api::encode_frame(&frame).unwrap());
    }
    (
        [(
            "content-type",
            brainlock_api::routes::FRAME_STREAM_CONTENT_TYPE,
        )],
        out,
    )
        .into_response()
}

/// A test front for the real miner at `upstream` that shapes its infer answers
/// ([`Shaping`]); everything else passes unchanged. Returns its address.
pub(crate) async fn shaping_front(upstream: SocketAddr, shaping: Shaping) -> SocketAddr {
    let circuit = brainlock_circuit::test_tiny();
    let profile = brainlock_fhe::Profile::default_for(CIRCUIT);
    let plan = brainlock_fhe::plan::Plan::new(&circuit).unwrap();
    let outputs = plan.shapes.last().unwrap().len();
    let front = ShapingFront {
        upstream,
        http: reqwest::Client::new(),
        answered: Arc::default(),
        shaping: Arc::new(shaping),
        output_bytes: brainlock_fhe::OutputForm::derive(profile, &circuit, &plan)
            .wire_bytes(profile, outputs),
    };
    serve(Router::new().fallback(shaping_handler).with_state(front)).await
}

/// A gateway on a loopback port admitting one customer, `name`, by `api_key`, with its
/// own `quota` (else the gateway's default) and `limits`.
pub(crate) fn one_customer_gateway(
    name: &str,
    api_key: &str,
    quota: Option<brainlock_gateway::QuotaConfig>,
    limits: brainlock_gateway::GatewayLimits,
) -> brainlock_validator::config::GatewaySettings {
    brainlock_validator::config::GatewaySettings {
        addr: SocketAddr::from((std::net::Ipv4Addr::LOCALHOST, 0)),
        config: brainlock_gateway::GatewayConfig {
            limits,
            customers: vec![brainlock_gateway::CustomerConfig {
                name: name.into(),
                api_key_sha256: Some(brainlock_gateway::hash_api_key(api_key)),
                hotkey: None,
                quota,
            }],
            ..Default::default()
        },
    }
}

/// Serves `validator`'s gateway with `settings` until the returned sender says stop;
/// returns its address, the stop switch and the server task.
pub(crate) async fn serve_gateway(
    validator: &brainlock_validator::Validator,
    settings: brainlock_validator::config::GatewaySettings,
    hotkey: AccountId,
) -> (
    SocketAddr,
    tokio::sync::watch::Sender<bool>,
    tokio::task::JoinHandle<std::io::Result<()>>,
) {
    let (stop, mut stopped) = tokio::sync::watch::channel(false);
    let (addr, task) = brainlock_validator::serve_gateway(
        settings,
        hotkey,
        validator.workload(),
        validator.sessions().clone(),
        validator.relay(),
        async move {
            let _ = stopped.wait_for(|s| *s).await;
        },
    )
    .await
    .unwrap();
    (addr, stop, task)
}
