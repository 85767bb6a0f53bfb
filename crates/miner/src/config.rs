//! Miner configuration: Bittensor-style flags, each also settable in a TOML file given by
//! `--config` (flags override the file), resolved into one [`MinerConfig`].

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Parser;
use serde::Deserialize;

use brainlock_circuit::{CONV3X3, DEFAULT_CIRCUIT_SEED, VGG9};
use brainlock_daemon::neuron::{LoggingTable, SubtensorTable, WalletTable};
use brainlock_daemon::{NeuronArgs, NeuronConfig, NeuronFile};
use brainlock_fhe::Backend;

/// What the miner accepts. Memory limits count expanded (in-memory) sizes, not wire bytes.
#[derive(Clone, Debug, PartialEq)]
pub struct Limits {
    /// Largest evaluation-key upload, wire bytes.
    pub max_key_bytes: usize,
    /// Expanded evaluation keys kept in the cache; the least recently used go first.
    pub key_cache_bytes: usize,
    /// Key uploads parsed and expanded at once; more are answered `busy`. `None`:
    /// derived from the memory budget ([`Limits::key_upload_slots`]).
    pub concurrent_key_uploads: Option<usize>,
    /// Largest infer request body, wire bytes.
    pub max_body_bytes: usize,
    /// Most inputs in one infer request.
    pub max_batch: usize,
    /// Memory that queued and running inference may hold (request bodies, parsed
    /// inputs, each item's expanded working set).
    pub inflight_bytes: usize,
    /// Items waiting or running in the work queue; a request that does not fit whole is
    /// answered `busy` (429).
    pub queue_items: usize,
    /// Time a request may take from admission to its last frame; never less than
    /// twice the circuit's reference time per item (VGG9: 2,500 s, conv3x3: 50 s).
    pub request_deadline: Duration,
    /// Time a request body may take to arrive; a slower sender is answered 408
    /// `body_timeout` and its slot released.
    pub body_read_timeout: Duration,
    /// `Retry-After` sent with `busy` answers.
    pub retry_after: Duration,
}

/// Most key-upload slots derived from the memory budget.
pub const MAX_DERIVED_KEY_UPLOADS: usize = 4;

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_key_bytes: 320 << 20,
            key_cache_bytes: 1 << 30,
            concurrent_key_uploads: None,
            max_body_bytes: 16 << 20,
            max_batch: 16,
            inflight_bytes: 4 << 30,
            queue_items: 64,
            request_deadline: Duration::from_secs(600),
            body_read_timeout: Duration::from_secs(30),
            retry_after: Duration::from_secs(5),
        }
    }
}

impl Limits {
    /// Memory the miner may hold for client data at most: cached keys, keys being
    /// expanded, in-flight inference. The process adds its own baseline on top.
    pub fn memory_cap_bytes(&self, largest_key_expansion_bytes: usize) -> usize {
        self.key_cache_bytes
            + self.key_upload_slots(largest_key_expansion_bytes) * largest_key_expansion_bytes
            + self.inflight_bytes
    }

    /// Key uploads processed at once: the configured number, else as many expanded keys
    /// as the key cache holds (more would only evict each other), between 1 and
    /// [`MAX_DERIVED_KEY_UPLOADS`].
    pub fn key_upload_slots(&self, largest_key_expansion_bytes: usize) -> usize {
        self.concurrent_key_uploads.unwrap_or_else(|| {
            (self.key_cache_bytes / largest_key_expansion_bytes.max(1))
                .clamp(1, MAX_DERIVED_KEY_UPLOADS)
        })
    }
}

/// Who may call the inference routes.
#[derive(Clone, Debug, PartialEq)]
pub struct AuthConfig {
    /// Registered senders with at least this stake pass even without a validator permit.
    pub min_stake: f64,
    /// SS58 hotkeys always accepted (local use, a validator's gateway under test).
    pub allow: Vec<String>,
    /// How often the metagraph behind the sender policy is refreshed.
    pub metagraph_refresh: Duration,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            min_stake: 10_000.0,
            allow: Vec::new(),
            metagraph_refresh: Duration::from_secs(120),
        }
    }
}

/// Everything the miner needs to start.
#[derive(Clone, Debug, PartialEq)]
pub struct MinerConfig {
    /// Subnet, chain, wallet and log level.
    pub neuron: NeuronConfig,
    /// Address the HTTP server binds.
    pub bind: SocketAddr,
    /// Address announced on chain; the bind address when unset.
    pub external_ip: Option<IpAddr>,
    /// Circuits served, by id (`conv3x3`, `vgg9`, test circuits).
    pub circuits: Vec<String>,
    /// Seed of the shipped circuits' weights; must equal the validators'.
    pub circuit_seed: u64,
    /// FHE parameter profiles accepted; empty means all that the engine knows.
    pub profiles: Vec<String>,
    /// Threads that run evaluations (each evaluation is itself parallel).
    pub workers: usize,
    /// Where evaluations run: the CPU, or an NVIDIA GPU in a `cuda`-featured build.
    pub backend: Backend,
    /// Request, memory and time limits (`[limits]`).
    pub limits: Limits,
    /// Sender policy of the inference routes (`[auth]`).
    pub auth: AuthConfig,
    /// Where Prometheus reads `/metrics`; `None`: not served. The binary's default is
    /// loopback port 9100; a library default of `None` lets tests run many miners.
    pub metrics: Option<SocketAddr>,
}

/// The miner binary's metrics port unless `--metrics-port` says otherwise.
const DEFAULT_METRICS_PORT: u16 = 9100;

impl Default for MinerConfig {
    fn default() -> Self {
        Self {
            neuron: NeuronConfig::default(),
            bind: SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 8091),
            external_ip: None,
            circuits: vec![CONV3X3.into(), VGG9.into()],
            circuit_seed: DEFAULT_CIRCUIT_SEED,
            profiles: Vec::new(),
            workers: 1,
            backend: Backend::Cpu,
            limits: Limits::default(),
            auth: AuthConfig::default(),
            metrics: None,
        }
    }
}

/// Command-line flags. Every flag is optional so that the file and defaults fill gaps.
#[derive(Parser, Debug, Default)]
#[command(
    name = "brainlock-miner",
    version,
    about = "Brainlock miner: encrypted inference over signed HTTP"
)]
pub struct Cli {
    /// TOML configuration file; flags override it.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Shared neuron flags: `--netuid`, `--registry`, `--subtensor.*`, `--wallet.*`, `--logging.*`.
    #[command(flatten)]
    pub neuron: NeuronArgs,
    /// Port to listen on (and announce).
    #[arg(long)]
    pub port: Option<u16>,
    /// IP announced on chain.
    #[arg(long = "external-ip")]
    pub external_ip: Option<IpAddr>,
    /// IP to bind (default 0.0.0.0).
    #[arg(long = "axon.ip")]
    pub bind_ip: Option<IpAddr>,
    /// Circuits to serve (repeat or comma-separate): conv3x3, vgg9, test-tiny, or circuit
    /// files named by their content (`brainlock circuit import` writes them).
    #[arg(long = "circuit", value_delimiter = ',')]
    pub circuits: Vec<String>,
    /// Seed of the shipped circuits' weights (must match the validators').
    #[arg(long = "circuit-seed")]
    pub circuit_seed: Option<u64>,
    /// FHE parameter profiles to accept (default: all).
    #[arg(long = "profile", value_delimiter = ',')]
    pub profiles: Vec<String>,
    /// Threads that run evaluations [default: 1].
    #[arg(long)]
    pub workers: Option<usize>,
    /// Where evaluations run: `cpu`, or `cuda` (one NVIDIA GPU; needs a binary built
    /// by scripts/cuda-build.sh) [default: cpu].
    #[arg(long)]
    pub backend: Option<Backend>,
    /// Expanded evaluation keys kept in memory, MiB.
    #[arg(long = "limits.key-cache-mib")]
    pub key_cache_mib: Option<usize>,
    /// Memory for in-flight inference, MiB (expanded sizes).
    #[arg(long = "limits.inflight-mib")]
    pub inflight_mib: Option<usize>,
    /// Items queued or running at once; a request that does not fit whole gets 429 [default: 64].
    #[arg(long = "limits.queue-items")]
    pub queue_items: Option<usize>,
    /// Most inputs in one infer request [default: 16].
    #[arg(long = "limits.max-batch")]
    pub max_batch: Option<usize>,
    /// Request deadline, seconds; raised to twice the circuit's reference time per item [default: 600].
    #[arg(long = "limits.deadline-secs")]
    pub deadline_secs: Option<u64>,
    /// Key uploads processed at once [default: as many keys as the cache holds, 1..=4].
    #[arg(long = "limits.concurrent-key-uploads")]
    pub concurrent_key_uploads: Option<usize>,
    /// Seconds a request body may take to arrive before 408 `body_timeout` [default: 30].
    #[arg(long = "limits.body-read-timeout-secs")]
    pub body_read_timeout_secs: Option<u64>,
    /// Minimum stake of a sender without a validator permit.
    #[arg(long = "auth.min-stake")]
    pub min_stake: Option<f64>,
    /// Hotkeys (SS58) always allowed (repeat or comma-separate).
    #[arg(long = "auth.allow", value_delimiter = ',')]
    pub allow: Vec<String>,
    /// Prometheus `/metrics` port, apart from the API; 0 disables [default: 9100].
    #[arg(long = "metrics-port")]
    pub metrics_port: Option<u16>,
    /// Metrics listen address: loopback unless the scraper is elsewhere
    /// [default: 127.0.0.1].
    #[arg(long = "metrics-ip")]
    pub metrics_ip: Option<IpAddr>,
}

/// The TOML file: sections mirror the dotted flag names (`[wallet] name = ...`).
#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// `netuid`: the subnet (as `--netuid`).
    pub netuid: Option<u16>,
    /// `registry`: local registry file to run without a chain (as `--registry`).
    pub registry: Option<PathBuf>,
    /// `[subtensor]`: chain endpoint (as `--subtensor.*`).
    #[serde(default)]
    pub subtensor: SubtensorTable,
    /// `[wallet]`: wallet name, hotkey and path (as `--wallet.*`).
    #[serde(default)]
    pub wallet: WalletTable,
    /// `[logging]`: log level (as `--logging.*`).
    #[serde(default)]
    pub logging: LoggingTable,
    /// `[axon]`: listen port and addresses.
    #[serde(default)]
    pub axon: AxonSection,
    /// `circuits`: circuit ids or JSON files to serve (as `--circuit`).
    pub circuits: Option<Vec<String>>,
    /// `circuit_seed`: seed of the shipped circuits' weights (as `--circuit-seed`).
    pub circuit_seed: Option<u64>,
    /// `profiles`: FHE profiles accepted (as `--profile`); absent: all.
    pub profiles: Option<Vec<String>>,
    /// `workers`: evaluation threads (as `--workers`).
    pub workers: Option<usize>,
    /// `backend`: `"cpu"` or `"cuda"` (as `--backend`).
    pub backend: Option<Backend>,
    /// `[limits]`: request, memory and time limits.
    #[serde(default)]
    pub limits: LimitsSection,
    /// `[auth]`: sender policy.
    #[serde(default)]
    pub auth: AuthSection,
    /// `metrics_port`: Prometheus port (as `--metrics-port`); 0 disables.
    pub metrics_port: Option<u16>,
    /// `metrics_ip`: metrics listen address (as `--metrics-ip`).
    pub metrics_ip: Option<IpAddr>,
}

/// The `[axon]` table: where the API listens and what is announced on chain.
#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct AxonSection {
    /// `port`: listen and announced port (as `--port`) [default: 8091].
    pub port: Option<u16>,
    /// `ip`: bind address (as `--axon.ip`) [default: 0.0.0.0].
    pub ip: Option<IpAddr>,
    /// `external_ip`: address announced on chain (as `--external-ip`).
    pub external_ip: Option<IpAddr>,
}

/// The `[limits]` table; sizes in MiB, times in seconds (see [`Limits`]).
#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct LimitsSection {
    /// `max_key_mib`: largest evaluation-key upload, wire MiB [default: 320].
    pub max_key_mib: Option<usize>,
    /// `key_cache_mib`: expanded keys kept in memory, MiB (as `--limits.key-cache-mib`) [default: 1024].
    pub key_cache_mib: Option<usize>,
    /// `concurrent_key_uploads`: key uploads processed at once [default: derived, 1..=4].
    pub concurrent_key_uploads: Option<usize>,
    /// `max_body_mib`: largest infer request body, wire MiB [default: 16].
    pub max_body_mib: Option<usize>,
    /// `max_batch`: most inputs in one infer request [default: 16].
    pub max_batch: Option<usize>,
    /// `inflight_mib`: memory for queued and running inference, expanded MiB [default: 4096].
    pub inflight_mib: Option<usize>,
    /// `queue_items`: items queued or running at once [default: 64].
    pub queue_items: Option<usize>,
    /// `deadline_secs`: request deadline, seconds [default: 600].
    pub deadline_secs: Option<u64>,
    /// `retry_after_secs`: `Retry-After` sent with `busy` (429) answers, seconds [default: 5].
    pub retry_after_secs: Option<u64>,
    /// `body_read_timeout_secs`: time a request body may take to arrive, seconds [default: 30].
    pub body_read_timeout_secs: Option<u64>,
}

/// The `[auth]` table: who may call the inference routes.
#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct AuthSection {
    /// `min_stake`: stake that admits a registered sender without a validator permit (as `--auth.min-stake`) [default: 10000].
    pub min_stake: Option<f64>,
    /// `allow`: SS58 hotkeys always accepted (as `--auth.allow`).
    pub allow: Option<Vec<String>>,
    /// `metagraph_refresh_secs`: how often the sender policy's metagraph is re-read, seconds [default: 120].
    pub metagraph_refresh_secs: Option<u64>,
}

/// Why the configuration could not be resolved.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The `--config` file could not be read.
    #[error("reading {path}: {source}")]
    Read {
        /// The file named by `--config`.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The `--config` file is not valid TOML or has an unknown key or wrong type.
    #[error("parsing {path}: {source}")]
    Parse {
        /// The file named by `--config`.
        path: PathBuf,
        /// The TOML error, with its line and column.
        source: Box<toml::de::Error>,
    },
    /// A resolved setting is out of range (zero workers, no circuits, zero limits,
    /// negative stake); the message says which.
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

const MIB: usize = 1 << 20;

impl FileConfig {
    /// Reads and parses a TOML configuration file; unknown keys are errors.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.into(),
            source,
        })?;
        toml::from_str(&text).map_err(|source| ConfigError::Parse {
            path: path.into(),
            source: Box::new(source),
        })
    }
}

impl MinerConfig {
    /// Flags over the file (if `--config` names one) over the defaults.
    pub fn from_cli(cli: &Cli) -> Result<Self, ConfigError> {
        let file = match &cli.config {
            Some(path) => FileConfig::load(path)?,
            None => FileConfig::default(),
        };
        Self::resolve(cli, file)
    }

    /// Merges flags and a parsed file over the defaults, then checks the result.
    pub fn resolve(cli: &Cli, file: FileConfig) -> Result<Self, ConfigError> {
        let defaults = MinerConfig::default();
        let neuron = NeuronConfig::resolve(
            &cli.neuron,
            NeuronFile {
                netuid: file.netuid,
                registry: file.registry,
                subtensor: file.subtensor,
                wallet: file.wallet,
                logging: file.logging,
            },
        );
        let port = cli.port.or(file.axon.port).unwrap_or(defaults.bind.port());
        let bind_ip = cli.bind_ip.or(file.axon.ip).unwrap_or(defaults.bind.ip());
        let fl = file.limits;
        let dl = defaults.limits;
        let mib = |v: Option<usize>, default: usize| v.map_or(default, |m| m * MIB);
        let limits = Limits {
            max_key_bytes: mib(fl.max_key_mib, dl.max_key_bytes),
            key_cache_bytes: mib(cli.key_cache_mib.or(fl.key_cache_mib), dl.key_cache_bytes),
            concurrent_key_uploads: cli
                .concurrent_key_uploads
                .or(fl.concurrent_key_uploads)
                .or(dl.concurrent_key_uploads),
            max_body_bytes: mib(fl.max_body_mib, dl.max_body_bytes),
            max_batch: cli.max_batch.or(fl.max_batch).unwrap_or(dl.max_batch),
            inflight_bytes: mib(cli.inflight_mib.or(fl.inflight_mib), dl.inflight_bytes),
            queue_items: cli.queue_items.or(fl.queue_items).unwrap_or(dl.queue_items),
            request_deadline: cli
                .deadline_secs
                .or(fl.deadline_secs)
                .map_or(dl.request_deadline, Duration::from_secs),
            retry_after: fl
                .retry_after_secs
                .map_or(dl.retry_after, Duration::from_secs),
            body_read_timeout: cli
                .body_read_timeout_secs
                .or(fl.body_read_timeout_secs)
                .map_or(dl.body_read_timeout, Duration::from_secs),
        };
        let auth = AuthConfig {
            min_stake: cli
                .min_stake
                .or(file.auth.min_stake)
                .unwrap_or(defaults.auth.min_stake),
            allow: if cli.allow.is_empty() {
                file.auth.allow.unwrap_or_default()
            } else {
                cli.allow.clone()
            },
            metagraph_refresh: file
                .auth
                .metagraph_refresh_secs
                .map_or(defaults.auth.metagraph_refresh, Duration::from_secs),
        };
        let config = MinerConfig {
            neuron,
            bind: SocketAddr::new(bind_ip, port),
            external_ip: cli.external_ip.or(file.axon.external_ip),
            circuits: pick_list(&cli.circuits, file.circuits, defaults.circuits),
            circuit_seed: cli
                .circuit_seed
                .or(file.circuit_seed)
                .unwrap_or(defaults.circuit_seed),
            profiles: pick_list(&cli.profiles, file.profiles, defaults.profiles),
            workers: cli.workers.or(file.workers).unwrap_or(defaults.workers),
            backend: cli.backend.or(file.backend).unwrap_or(defaults.backend),
            limits,
            auth,
            metrics: match cli.metrics_port.or(file.metrics_port) {
                Some(0) => None,
                port => Some(SocketAddr::new(
                    cli.metrics_ip
                        .or(file.metrics_ip)
                        .unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST)),
                    port.unwrap_or(DEFAULT_METRICS_PORT),
                )),
            },
        };
        config.check()?;
        Ok(config)
    }

    /// Rejects settings that would make the miner refuse everything or never bound memory.
    pub fn check(&self) -> Result<(), ConfigError> {
        let bad = |m: &str| Err(ConfigError::Invalid(m.into()));
        let l = &self.limits;
        if self.workers == 0 {
            return bad("workers must be at least 1");
        }
        if self.circuits.is_empty() {
            return bad("serve at least one circuit");
        }
        if l.max_batch == 0 || l.queue_items < l.max_batch {
            return bad("limits: max_batch must be at least 1 and queue_items at least max_batch");
        }
        if l.concurrent_key_uploads == Some(0) || l.key_cache_bytes == 0 || l.inflight_bytes == 0 {
            return bad("limits: key cache, key uploads and in-flight memory must be positive");
        }
        if l.max_body_bytes == 0
            || l.max_key_bytes == 0
            || l.request_deadline.is_zero()
            || l.body_read_timeout.is_zero()
        {
            return bad("limits: body sizes and the deadline must be positive");
        }
        if self.auth.min_stake.is_nan() || self.auth.min_stake < 0.0 {
            return bad("auth: min_stake must be a non-negative number");
        }
        Ok(())
    }
}

fn pick_list(flags: &[String], file: Option<Vec<String>>, default: Vec<String>) -> Vec<String> {
    if !flags.is_empty() {
        flags.to_vec()
    } else {
        file.unwrap_or(default)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use brainlock_daemon::ChainSource;

    fn parse(args: &[&str]) -> Cli {
        Cli::try_parse_from(std::iter::once("brainlock-miner").chain(args.iter().copied())).unwrap()
    }

    #[test]
    fn shipped_config_files_load() {
        let configs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs");
        let example = FileConfig::load(&configs.join("miner.toml")).unwrap();
        let example = MinerConfig::resolve(&parse(&[]), example).unwrap();
        assert_eq!(
            example.neuron.chain,
            ChainSource::Subtensor("finney".into())
        );
        // As docker/docker-compose.yml runs it: on a network, then on a local registry
        // (MINER_ARGS), with metrics on the port they have outside compose.
        let compose_flags = [
            "--subtensor.network",
            "test",
            "--netuid",
            "55",
            "--wallet.path",
            "/wallets",
            "--port",
            "8091",
            "--external-ip",
            "203.0.113.7",
        ];
        let compose = |extra: &[&str]| {
            let file = FileConfig::load(&configs.join("compose/miner.toml")).unwrap();
            let flags: Vec<&str> = compose_flags.iter().chain(extra).copied().collect();
            MinerConfig::resolve(&parse(&flags), file).unwrap()
        };
        let network = compose(&[]);
        assert_eq!(network.neuron.chain, ChainSource::Subtensor("test".into()));
        assert_eq!(network.metrics, Some("0.0.0.0:9100".parse().unwrap()));
        assert_eq!(network.external_ip, Some("203.0.113.7".parse().unwrap()));
        let local = compose(&["--registry", "/data/registry.json", "--circuit", "conv3x3"]);
        assert_eq!(
            local.neuron.chain,
            ChainSource::Registry("/data/registry.json".into())
        );
        assert_eq!(local.circuits, ["conv3x3"]);
    }

    #[test]
    fn defaults_are_bittensor_like() {
        let config = MinerConfig::resolve(&parse(&[]), FileConfig::default()).unwrap();
        assert_eq!(config.neuron, NeuronConfig::default());
        assert_eq!(config.circuits, ["conv3x3", "vgg9"]);
        assert_eq!(config.circuit_seed, DEFAULT_CIRCUIT_SEED);
        assert_eq!(config.limits.concurrent_key_uploads, None);
        assert_eq!(config.limits.body_read_timeout, Duration::from_secs(30));
        assert_eq!(config.backend, Backend::Cpu);
    }

    #[test]
    fn backend_comes_from_the_flag_over_the_file() {
        let file = || toml::from_str::<FileConfig>("backend = \"cuda\"").unwrap();
        let config = MinerConfig::resolve(&parse(&[]), file()).unwrap();
        assert_eq!(config.backend, Backend::Cuda);
        let config = MinerConfig::resolve(&parse(&["--backend", "cpu"]), file()).unwrap();
        assert_eq!(config.backend, Backend::Cpu);
        assert!(toml::from_str::<FileConfig>("backend = \"gpu\"").is_err());
        let flag = Cli::try_parse_from(["brainlock-miner", "--backend", "gpu"]).unwrap_err();
        assert!(flag.to_string().contains("cpu or cuda"), "{flag}");
    }

    #[test]
    fn key_upload_slots_follow_the_key_cache() {
        let expansion = 300 << 20;
        let mut limits = Limits::default(); // 1 GiB of key cache
        assert_eq!(limits.key_upload_slots(expansion), 3);
        limits.key_cache_bytes = 100 << 20;
        assert_eq!(limits.key_upload_slots(expansion), 1);
        limits.key_cache_bytes = 64 << 30;
        assert_eq!(limits.key_upload_slots(expansion), MAX_DERIVED_KEY_UPLOADS);
        limits.concurrent_key_uploads = Some(7);
        assert_eq!(limits.key_upload_slots(expansion), 7);
        let cli = parse(&[
            "--limits.concurrent-key-uploads",
            "2",
            "--limits.body-read-timeout-secs",
            "5",
        ]);
        let config = MinerConfig::resolve(&cli, FileConfig::default()).unwrap();
        assert_eq!(config.limits.concurrent_key_uploads, Some(2));
        assert_eq!(config.limits.body_read_timeout, Duration::from_secs(5));
        let file: FileConfig = toml::from_str("[limits]\nbody_read_timeout_secs = 0").unwrap();
        assert!(MinerConfig::resolve(&parse(&[]), file).is_err());
    }

    #[test]
    fn dotted_flags_parse_and_override_the_file() {
        let file: FileConfig = toml::from_str(
            r#"
            netuid = 7
            circuits = ["conv3x3"]
            [subtensor]
            network = "test"
            [wallet]
            name = "from-file"
            hotkey = "file-hot"
            [axon]
            port = 9000
            [limits]
            key_cache_mib = 256
            max_batch = 4
            [auth]
            allow = ["5file"]
            "#,
        )
        .unwrap();
        let cli = parse(&[
            "--netuid",
            "99",
            "--wallet.name",
            "flag-wallet",
            "--port",
            "8123",
            "--external-ip",
            "203.0.113.9",
            "--subtensor.network",
            "local",
            "--auth.allow",
            "5a,5b",
        ]);
        let config = MinerConfig::resolve(&cli, file).unwrap();
        assert_eq!(config.neuron.netuid, 99);
        assert_eq!(config.neuron.wallet.name, "flag-wallet");
        assert_eq!(config.neuron.wallet.hotkey, "file-hot");
        assert_eq!(config.bind.port(), 8123);
        assert_eq!(config.external_ip, Some("203.0.113.9".parse().unwrap()));
        assert_eq!(config.neuron.chain, ChainSource::Subtensor("local".into()));
        assert_eq!(config.circuits, ["conv3x3"]);
        assert_eq!(config.limits.key_cache_bytes, 256 * MIB);
        assert_eq!(config.limits.max_batch, 4);
        assert_eq!(config.auth.allow, ["5a", "5b"]);
    }

    #[test]
    fn unknown_file_keys_and_bad_limits_are_errors() {
        assert!(toml::from_str::<FileConfig>("[wallet]\nnmae = \"x\"").is_err());
        let file: FileConfig = toml::from_str("[limits]\nmax_batch = 0").unwrap();
        assert!(matches!(
            MinerConfig::resolve(&parse(&[]), file),
            Err(ConfigError::Invalid(_))
        ));
        assert!(matches!(
            MinerConfig::resolve(&parse(&["--workers", "0"]), FileConfig::default()),
            Err(ConfigError::Invalid(_))
        ));
    }
}
