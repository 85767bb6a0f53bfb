//! Startup and shutdown: registration check, axon announcement, sender policy, worker
//! threads, the HTTP server, and a graceful stop that finishes admitted work.

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use brainlock_api::server::LingeringListener;
use brainlock_api::{Backend, MinerInfo, MinerLimits, PROTOCOL_VERSION};
use brainlock_chain::{AxonInfo, Chain, ChainError};
use brainlock_daemon::ChainSource;
use brainlock_epistula::{AccountId, Verifier};
use brainlock_fhe::{CpuEvaluator, Evaluator};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;

use crate::auth::{ValidatorPolicy, spawn_refresh};
use crate::budget::MemoryBudget;
use crate::circuits::{Catalog, CatalogError};
use crate::compute::{Job, run_job};
use crate::config::{ConfigError, MinerConfig};
use crate::key_cache::KeyCache;
use crate::metrics::Metrics;
use crate::queue::{WorkQueue, spawn_workers};
use crate::server::{AppState, router};

/// Why a miner could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The resolved configuration failed its checks.
    #[error("invalid configuration")]
    Config(#[from] ConfigError),
    #[error("{what}")]
    /// A chain call at startup failed (connecting, reading the metagraph, announcing the axon).
    Chain {
        /// The startup step that failed.
        what: &'static str,
        /// The chain's error.
        #[source]
        source: ChainError,
    },
    #[error("hotkey {hotkey} is not registered on subnet {netuid}: register it first")]
    /// The wallet's hotkey has no uid on the subnet.
    NotRegistered {
        /// The wallet's hotkey.
        hotkey: AccountId,
        /// The subnet it was looked up on.
        netuid: u16,
    },
    /// A configured circuit or profile could not be built or resolved.
    #[error("building the served circuits")]
    Catalog(#[from] CatalogError),
    #[error("the {0} task failed")]
    /// A blocking startup task (named, e.g. circuit building) panicked.
    Task(&'static str, #[source] tokio::task::JoinError),
    #[error("binding {addr}")]
    /// The API listener could not bind its address (in use, no permission).
    Bind {
        /// The address it tried to bind.
        addr: SocketAddr,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    #[error("bound to {0}: pass --external-ip, the address validators reach")]
    /// The bind address is a wildcard (0.0.0.0) on a real chain and no `--external-ip`
    /// was given, so there is no address to announce.
    NoExternalIp(IpAddr),
    #[error("allow-listed hotkey {hotkey:?} is not an SS58 address")]
    /// An `--auth.allow` entry is not a valid SS58 hotkey.
    AllowList {
        /// The entry as configured.
        hotkey: String,
        /// Why it does not decode.
        #[source]
        source: brainlock_account::Ss58Error,
    },
    #[error("starting the worker threads")]
    /// The OS refused to spawn the evaluation worker threads.
    Workers(#[source] std::io::Error),
    #[error("serving metrics on {addr}")]
    /// The `/metrics` listener could not bind its address.
    Metrics {
        /// The metrics address it tried to bind.
        addr: SocketAddr,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
}

/// A chain call's error, saying which step failed.
fn chain_step(what: &'static str) -> impl FnOnce(ChainError) -> StartError {
    move |source| StartError::Chain { what, source }
}

/// A miner bound to its port, announced, with its workers running; [`Miner::serve`]
/// answers requests until shutdown.
pub struct Miner {
    state: Arc<AppState>,
    listener: TcpListener,
    workers: Vec<std::thread::JoinHandle<()>>,
    refresher: JoinHandle<()>,
    /// The metrics server's address and task, when one is configured.
    metrics: Option<(SocketAddr, JoinHandle<std::io::Result<()>>)>,
}

impl Miner {
    /// Checks that `hotkey` is registered on the subnet, builds the served circuits,
    /// binds, announces the axon and loads the first metagraph; evaluates on the CPU.
    pub async fn start(
        config: &MinerConfig,
        hotkey: AccountId,
        chain: Arc<dyn Chain>,
    ) -> Result<Self, StartError> {
        Self::start_with(config, hotkey, chain, Arc::new(CpuEvaluator)).await
    }

    /// [`Miner::start`] with the evaluator that runs every batch item.
    pub async fn start_with(
        config: &MinerConfig,
        hotkey: AccountId,
        chain: Arc<dyn Chain>,
        evaluator: Arc<dyn Evaluator>,
    ) -> Result<Self, StartError> {
        config.check()?;
        crate::allocator::return_large_buffers_to_the_os();
        let netuid = config.neuron.netuid;
        let ss58 = hotkey.to_ss58();
        let uid = chain
            .uid_of(netuid, &hotkey)
            .await
            .map_err(chain_step("checking registration"))?
            .ok_or(StartError::NotRegistered { hotkey, netuid })?;

        let (circuits, seed, profiles) = (
            config.circuits.clone(),
            config.circuit_seed,
            config.profiles.clone(),
        );
        let catalog =
            tokio::task::spawn_blocking(move || Catalog::build(&circuits, seed, &profiles))
                .await
                .map_err(|e| StartError::Task("circuit building", e))??;

        let bind_error = |source| StartError::Bind {
            addr: config.bind,
            source,
        };
        let listener = TcpListener::bind(config.bind).await.map_err(bind_error)?;
        let local = listener.local_addr().map_err(bind_error)?;
        let announced = SocketAddr::new(announced_ip(config, local.ip())?, local.port());
        chain
            .serve_axon(netuid, AxonInfo::new(announced, version_as_int()))
            .await
            .map_err(chain_step("serving the axon"))?;

        let allow = config
            .auth
            .allow
            .iter()
            .map(|hotkey| {
                AccountId::from_ss58(hotkey).map_err(|source| StartError::AllowList {
                    hotkey: hotkey.clone(),
                    source,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let policy = Arc::new(ValidatorPolicy::new(config.auth.min_stake, allow));
        policy.update(
            &chain
                .metagraph(netuid)
                .await
                .map_err(chain_step("loading the metagraph"))?,
        );
        let refresher = spawn_refresh(policy.clone(), chain, netuid, config.auth.metagraph_refresh);

        let limits = config.limits.clone();
        let key_upload_slots = limits.key_upload_slots(catalog.largest_key_expansion_bytes());
        let info = MinerInfo {
            protocol_version: PROTOCOL_VERSION,
            software_version: env!("CARGO_PKG_VERSION").into(),
            hotkey: ss58.clone(),
            circuits: catalog.circuit_ids(),
            profiles: catalog.profile_ids(),
            backend: match evaluator.backend() {
                brainlock_fhe::Backend::Cpu => Backend::Cpu,
                brainlock_fhe::Backend::Cuda => Backend::Cuda,
            },
            limits: MinerLimits {
                max_key_bytes: limits.max_key_bytes as u64,
                max_batch: limits.max_batch as u32,
                max_body_bytes: limits.max_body_bytes as u64,
                max_inflight: limits.queue_items as u32,
            },
        };
        let queue = Arc::new(WorkQueue::new(limits.queue_items));
        let metrics = Arc::new(Metrics::default());
        let worker_metrics = metrics.clone();
        let workers = spawn_workers(
            config.workers,
            queue.clone(),
            Arc::new(move |job: Job| run_job(evaluator.as_ref(), &worker_metrics, job)),
        )
        .map_err(StartError::Workers)?;
        let state = Arc::new(AppState {
            info,
            verifier: Verifier::new(hotkey, policy),
            keys: KeyCache::new(limits.key_cache_bytes),
            key_uploads: Semaphore::new(key_upload_slots),
            inflight: MemoryBudget::new(limits.inflight_bytes),
            catalog,
            limits,
            queue,
            metrics,
        });
        let metrics = match config.metrics {
            Some(addr) => Some(
                brainlock_daemon::metrics::serve(
                    Metrics::registry(state.clone()),
                    addr,
                    std::future::pending(),
                )
                .await
                .map_err(|source| StartError::Metrics { addr, source })?,
            ),
            None => None,
        };
        tracing::info!(%ss58, uid, %local, %announced, circuits = ?state.info.circuits, key_upload_slots, "miner ready");
        Ok(Self {
            state,
            listener,
            workers,
            refresher,
            metrics,
        })
    }

    /// The address the API server is actually bound to (the real port when 0 was asked).
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// Where `/metrics` is served, if it is.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics.as_ref().map(|(addr, _)| *addr)
    }

    /// Shared state: metrics, caches and limits (for tests and embedding).
    pub fn state(&self) -> Arc<AppState> {
        self.state.clone()
    }

    /// Answers requests until `shutdown` completes, then stops accepting, lets admitted
    /// requests stream to their end, and stops the workers.
    pub async fn serve(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let app = router(self.state.clone());
        let served = axum::serve(LingeringListener::new(self.listener), app)
            .with_graceful_shutdown(shutdown)
            .await;
        self.refresher.abort();
        if let Some((_, metrics)) = self.metrics {
            metrics.abort();
        }
        self.state.queue.close();
        let workers = self.workers;
        // A worker that panicked has already logged why; stopping goes on.
        let _ = tokio::task::spawn_blocking(move || {
            for worker in workers {
                let _ = worker.join();
            }
        })
        .await;
        tracing::info!("miner stopped");
        served
    }
}

/// Loads the hotkey from the wallet, opens the chain, starts and serves until
/// `shutdown`, evaluating on the configured backend.
pub async fn run(
    config: MinerConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let evaluator = config.backend.evaluator()?;
    tracing::info!(backend = %config.backend, "evaluation backend ready");
    run_with(config, evaluator, shutdown).await
}

/// [`run`] with the evaluator that runs every batch item.
pub async fn run_with(
    config: MinerConfig,
    evaluator: Arc<dyn Evaluator>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let keypair = config.neuron.load_hotkey()?;
    let chain = config.neuron.open_chain(&keypair).await?;
    let miner = Miner::start_with(&config, keypair.account_id(), chain, evaluator).await?;
    Ok(miner.serve(shutdown).await?)
}

/// The address announced on chain: `--external-ip`, else the bound address; a wildcard
/// bind needs `--external-ip` on a real chain and means loopback in a local registry.
fn announced_ip(config: &MinerConfig, bound: IpAddr) -> Result<IpAddr, StartError> {
    if let Some(ip) = config.external_ip {
        return Ok(ip);
    }
    if !bound.is_unspecified() {
        return Ok(bound);
    }
    match config.neuron.chain {
        ChainSource::Registry(_) => Ok(IpAddr::V4(Ipv4Addr::LOCALHOST)),
        ChainSource::Subtensor(_) => Err(StartError::NoExternalIp(bound)),
    }
}

/// The Bittensor SDK's `version_as_int`: 100 * major + 10 * minor + patch.
fn version_as_int() -> u32 {
    let part = |s: &str| s.parse::<u32>().unwrap_or(0);
    100 * part(env!("CARGO_PKG_VERSION_MAJOR"))
        + 10 * part(env!("CARGO_PKG_VERSION_MINOR"))
        + part(env!("CARGO_PKG_VERSION_PATCH"))
}
