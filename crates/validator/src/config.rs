//! Validator configuration: Bittensor-style flags, each also settable in a TOML file
//! given by `--config` (flags override the file, the file overrides the defaults).
//!
//! The file mirrors the dotted flag names as tables:
//! ```toml
//! netuid = 55
//! database = "validator.sqlite"
//! [subtensor]
//! network = "finney"
//! [wallet]
//! name = "default"
//! hotkey = "default"
//! ```

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use brainlock_circuit::CONV3X3;
use brainlock_daemon::neuron::{LoggingTable, SubtensorTable, WalletTable};
use brainlock_daemon::{NeuronArgs, NeuronConfig, NeuronFile};
use brainlock_gateway::{
    CustomerConfig, GatewayConfig, GatewayLimits, QuotaConfig, ReportConfig, SessionPolicy,
};
use brainlock_scoring::{BountyPolicy, ParetoPolicy, RewardPolicy, TierPrize};
use clap::Parser;
use serde::Deserialize;

use crate::images::SourceSpec;
use crate::images::huggingface::{DEFAULT_DATASET, DEFAULT_ENDPOINT};
pub use crate::scheduler::OrganicPolicy;

/// Why the configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The `--config` file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The config file that failed.
        path: PathBuf,
        /// The I/O error reading it.
        source: std::io::Error,
    },
    /// The `--config` file is not valid TOML or has an unknown or mistyped key.
    #[error("config file {path}: {source}")]
    Parse {
        /// The config file that failed.
        path: PathBuf,
        /// The TOML error, with its position.
        source: Box<toml::de::Error>,
    },
    /// A value is out of range or inconsistent (the message names it).
    #[error("{0}")]
    Invalid(String),
}

/// Command-line flags. Every field is optional so that "not given" falls through to
/// the config file and then to the default.
#[derive(Debug, Default, Parser)]
#[command(
    name = "brainlock-validator",
    version,
    about = "Brainlock validator: times and checks encrypted inference of miners, sets weights"
)]
pub struct Cli {
    /// TOML config file; flags override its values.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Subnet, chain endpoint, wallet and log flags shared with the miner.
    #[command(flatten)]
    pub neuron: NeuronArgs,
    /// History database: a SQLite file path or a postgres:// URL [default: ~/.brainlock/validator.sqlite].
    /// The environment keeps a password out of the process list.
    #[arg(long, env = "BRAINLOCK_DATABASE", hide_env_values = true)]
    pub database: Option<String>,
    /// Image source: a HuggingFace dataset `NAME[:CONFIG[:SPLIT]]` (or `hf:NAME..`),
    /// `dir:PATH` (PNG/JPEG folder), `cifar:PATH` (CIFAR-10 binary batches) or
    /// `synthetic` [default: uoft-cs/cifar10].
    #[arg(long)]
    pub dataset: Option<String>,
    /// Dataset viewer API base URL [default: https://datasets-server.huggingface.co].
    #[arg(long = "dataset.endpoint")]
    pub dataset_endpoint: Option<String>,
    /// Circuit to query: conv3x3 | vgg9, or a circuit JSON file [default: conv3x3].
    #[arg(long)]
    pub circuit: Option<String>,
    /// Parameter profile id [default: the circuit's default].
    #[arg(long)]
    pub profile: Option<String>,
    /// Images per infer request [default: 1].
    #[arg(long = "batch-size")]
    pub batch_size: Option<usize>,
    /// Deadline of the evaluation-key upload, seconds [default: 120].
    #[arg(long = "timeout.key-upload")]
    pub key_upload_timeout: Option<f64>,
    /// Deadline of one infer request (to the last frame), seconds [default: 10 x t_ref x batch].
    #[arg(long = "timeout.infer")]
    pub infer_timeout: Option<f64>,
    /// Deadline of one round, seconds; sessions still running then are abandoned and
    /// recorded as timeouts; longer than `sessions.round_fill` [default: the round fill
    /// + the longest session (key upload, every request, every pause) + 30 s].
    #[arg(long = "timeout.round")]
    pub round_timeout: Option<f64>,
    /// Blocks between two weight settings [default: the tempo, 360].
    #[arg(long = "weights.interval")]
    pub weights_interval: Option<u64>,
    /// Seconds between two checks of the weight timer (which sets weights when the
    /// interval and the chain's rate limit allow) [default: 12].
    #[arg(long = "weights.poll")]
    pub weights_poll: Option<f64>,
    /// Queries to different miners in flight at once [default: 4].
    #[arg(long = "neuron.max_concurrent_queries")]
    pub max_concurrent_queries: Option<usize>,
    /// Memory the queries in flight may hold, MiB: each reserves its evaluation key,
    /// encrypted inputs and the largest answer it accepts, and waits until that fits
    /// [default: 4096].
    #[arg(long = "neuron.query_memory_mib")]
    pub query_memory_mib: Option<usize>,
    /// Prometheus `/metrics` listen port; 0 disables [default: 9101].
    #[arg(long = "metrics-port")]
    pub metrics_port: Option<u16>,
    /// Metrics listen address: loopback unless the scraper is elsewhere
    /// [default: 127.0.0.1].
    #[arg(long = "metrics-ip")]
    pub metrics_ip: Option<String>,
    /// Customer gateway listen port; the gateway is off unless a port is set here or in
    /// the `[gateway]` table (which also lists the customers) [default: off].
    #[arg(long = "gateway.port")]
    pub gateway_port: Option<u16>,
    /// Customer gateway listen address [default: 0.0.0.0].
    #[arg(long = "gateway.ip")]
    pub gateway_ip: Option<String>,
    /// Tier width: standings within this fraction of each other share a tier and its
    /// prizes [default: 0.05].
    #[arg(long = "rewards.tolerance")]
    pub rewards_tolerance: Option<f64>,
    /// Fraction of the ranked miners, from the top, whose share is set by
    /// --rewards.top_share [default: 0.2].
    #[arg(long = "rewards.top_fraction")]
    pub rewards_top_fraction: Option<f64>,
    /// Share of the weights the top --rewards.top_fraction of ranks receive; the power
    /// law over ranks is solved for it [default: 0.8].
    #[arg(long = "rewards.top_share")]
    pub rewards_top_share: Option<f64>,
    /// What a tier of indistinguishable standings receives: `pooled`, the prizes of the
    /// ranks it occupies (every improvement pays; extra hotkeys of one machine each
    /// bring a rank's prize), or `shared`, one prize split among its members (extra
    /// hotkeys gain nothing; catching up with a crowded tier can cost) [default: pooled].
    #[arg(long = "rewards.tier_prize", value_name = "RULE")]
    pub rewards_tier_prize: Option<TierPrize>,
    /// How much faster than the speed record a miner's sustained latency must be to set
    /// a new one and earn a bounty, as a fraction [default: 0.1].
    #[arg(long = "bounty.step")]
    pub bounty_step: Option<f64>,
    /// Share of the weights that running bounties receive; 0 keeps records without
    /// paying bounties [default: 0].
    #[arg(long = "bounty.share")]
    pub bounty_share: Option<f64>,
    /// Tempos a bounty runs, decaying linearly to nothing [default: 20].
    #[arg(long = "bounty.tempos")]
    pub bounty_tempos: Option<u32>,
    /// Consecutive passed queries a sustained latency is the median of, and that
    /// confirm a record before its bounty is awarded, 10 to 40 [default: 40].
    #[arg(long = "bounty.queries")]
    pub bounty_queries: Option<usize>,
    /// Most infer requests one client key serves, ours and customers' alike (the
    /// gateway refuses a customer's key after that many) [default: 4].
    #[arg(long = "sessions.max_requests")]
    pub sessions_max_requests: Option<u32>,
    /// Mean requests of a synthetic session until customers' sessions are observed
    /// [default: 2].
    #[arg(long = "sessions.mean_requests")]
    pub sessions_mean_requests: Option<f64>,
    /// Shortest pause between a synthetic session's requests, seconds [default: 0.5].
    #[arg(long = "sessions.min_gap")]
    pub sessions_min_gap: Option<f64>,
    /// Longest pause between a synthetic session's requests, seconds [default: 5].
    #[arg(long = "sessions.max_gap")]
    pub sessions_max_gap: Option<f64>,
    /// Seconds a client key is usable after its upload, ours and customers'
    /// [default: 900].
    #[arg(long = "sessions.key_ttl")]
    pub sessions_key_ttl: Option<u64>,
    /// A synthetic session starts after a random pause of up to this many seconds, so
    /// that one round's sessions do not reach every miner at once [default: 10].
    #[arg(long = "sessions.start_spread")]
    pub sessions_start_spread: Option<f64>,
    /// For this many seconds from a round's start, a miner whose session passed gets
    /// its next one, on the miner's own clock, so that colluding miners see rounds only
    /// at the fill's edges; costs a key per session, worth it with a gateway. 0: one
    /// session per miner per round [default: 0].
    #[arg(long = "sessions.round_fill")]
    pub sessions_round_fill: Option<f64>,
    /// Customers' sessions go to a miner drawn by weight among the K heaviest; 0: all
    /// [default: 8].
    #[arg(long = "organic.top_k")]
    pub organic_top_k: Option<usize>,
    /// Our requests, scored or relayed, in flight to one miner at once [default: 2].
    #[arg(long = "organic.requests_per_miner")]
    pub organic_requests_per_miner: Option<usize>,
    /// Of those, relayed customers' requests; must be lower [default: 1].
    #[arg(long = "organic.relays_per_miner")]
    pub organic_relays_per_miner: Option<usize>,
    /// Extra scored sessions of a miner a customer's canaries caught [default: 2].
    #[arg(long = "organic.extra_checks")]
    pub organic_extra_checks: Option<u32>,
}

/// The same settings as the file holds them.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// `netuid`: the subnet's id.
    pub netuid: Option<u16>,
    /// `registry`: local registry directory used instead of a chain (devnet).
    pub registry: Option<PathBuf>,
    /// `database`: SQLite file path or `postgres://` URL of the history database.
    pub database: Option<String>,
    /// `[dataset]`: where images come from.
    pub dataset: Option<DatasetTable>,
    /// `circuit`: `conv3x3`, `vgg9` or a circuit JSON file.
    pub circuit: Option<String>,
    /// `profile`: FHE parameter profile id.
    pub profile: Option<String>,
    /// `batch_size`: images per infer request.
    pub batch_size: Option<usize>,
    /// `metrics_port`: Prometheus listen port; 0 disables.
    pub metrics_port: Option<u16>,
    /// `metrics_ip`: Prometheus listen address.
    pub metrics_ip: Option<String>,
    /// `[subtensor]`: chain endpoint and network.
    #[serde(default)]
    pub subtensor: SubtensorTable,
    /// `[wallet]`: wallet name, hotkey and path.
    #[serde(default)]
    pub wallet: WalletTable,
    /// `[timeout]`: query and round deadlines, seconds.
    pub timeout: Option<TimeoutTable>,
    /// `[weights]`: weight-setting interval (blocks) and timer poll (seconds).
    pub weights: Option<WeightsTable>,
    /// Query scheduling (`--neuron.*` flags).
    pub neuron: Option<NeuronTable>,
    /// `[logging]`: log level / filter directives.
    #[serde(default)]
    pub logging: LoggingTable,
    /// Scoring overrides for the chosen circuit.
    pub scoring: Option<ScoringTable>,
    /// The customer gateway (organic queries).
    pub gateway: Option<GatewayTable>,
    /// `[rewards]`: the Pareto allocation (`--rewards.*`).
    pub rewards: Option<RewardsTable>,
    /// `[bounty]`: speed records and bounties (`--bounty.*`).
    pub bounty: Option<BountyTable>,
    /// `[sessions]`: how client keys are used (`--sessions.*`; fields as in
    /// `brainlock_gateway::SessionPolicy`).
    pub sessions: Option<SessionPolicy>,
    /// `[organic]`: routing and per-miner lanes (`--organic.*`; fields as in
    /// [`OrganicPolicy`]).
    pub organic: Option<OrganicPolicy>,
}

/// `[rewards]`: how standings become weights.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RewardsTable {
    /// `tolerance`: tier width, a fraction (`--rewards.tolerance`).
    pub tolerance: Option<f64>,
    /// `top_fraction`: fraction of ranks whose share is set (`--rewards.top_fraction`).
    pub top_fraction: Option<f64>,
    /// `top_share`: the share those ranks receive (`--rewards.top_share`).
    pub top_share: Option<f64>,
    /// `tier_prize`: `pooled` or `shared` (`--rewards.tier_prize`).
    pub tier_prize: Option<TierPrize>,
}

/// `[bounty]`: speed records and their bounties.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BountyTable {
    /// `step`: improvement over the record that sets a new one (`--bounty.step`).
    pub step: Option<f64>,
    /// `share`: share of the weights running bounties receive (`--bounty.share`).
    pub share: Option<f64>,
    /// `tempos`: how long a bounty runs (`--bounty.tempos`).
    pub tempos: Option<u32>,
    /// `queries`: queries a sustained latency is measured over, and that confirm a
    /// record before its bounty is awarded (`--bounty.queries`).
    pub queries: Option<usize>,
}

/// `[gateway]`: where it listens, and the gateway's own settings (`[gateway.limits]`,
/// `[gateway.quota]`, `[[gateway.customers]]`, see `brainlock_gateway::GatewayConfig`).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatewayTable {
    /// `port`: gateway listen port (`--gateway.port`); the gateway is off without one.
    pub port: Option<u16>,
    /// `ip`: gateway listen address (`--gateway.ip`).
    pub ip: Option<String>,
    /// `[gateway.limits]`: request size and concurrency limits.
    #[serde(default)]
    pub limits: GatewayLimits,
    /// `[gateway.quota]`: per-customer request quota.
    #[serde(default)]
    pub quota: QuotaConfig,
    /// `[[gateway.customers]]`: the customers allowed to send organic queries.
    #[serde(default)]
    pub customers: Vec<CustomerConfig>,
    /// `[gateway.reports]`: what a customer's canary report does.
    #[serde(default)]
    pub reports: ReportConfig,
}

/// The resolved gateway settings.
#[derive(Clone, Debug)]
pub struct GatewaySettings {
    /// Address the gateway listens on.
    pub addr: SocketAddr,
    /// The gateway's limits, quota and customers.
    pub config: GatewayConfig,
}

/// `[dataset]`: the image source.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatasetTable {
    /// `source`: same syntax as `--dataset` (`NAME[:CONFIG[:SPLIT]]`, `dir:PATH`, `cifar:PATH`, `synthetic`).
    pub source: Option<String>,
    /// `endpoint`: dataset viewer API base URL (`--dataset.endpoint`).
    pub endpoint: Option<String>,
}

/// `[timeout]`: deadlines, seconds.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimeoutTable {
    /// `key_upload`: deadline of the evaluation-key upload, seconds (`--timeout.key-upload`).
    pub key_upload: Option<f64>,
    /// `infer`: deadline of one infer request to the last frame, seconds (`--timeout.infer`).
    pub infer: Option<f64>,
    /// `round`: deadline of one round, seconds (`--timeout.round`).
    pub round: Option<f64>,
}

/// `[weights]`: when weights are set.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WeightsTable {
    /// `interval`: blocks between two weight settings (`--weights.interval`).
    pub interval: Option<u64>,
    /// Seconds between two checks of the weight timer.
    pub poll: Option<f64>,
}

/// `[neuron]`: how queries are scheduled.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NeuronTable {
    /// `max_concurrent_queries`: queries to different miners in flight at once (`--neuron.max_concurrent_queries`).
    pub max_concurrent_queries: Option<usize>,
    /// `query_memory_mib`: memory the queries in flight may hold, MiB (`--neuron.query_memory_mib`).
    pub query_memory_mib: Option<usize>,
}

/// `[scoring]`: overrides of the circuit's speed-to-score parameters.
#[derive(Debug, Default, Deserialize, Clone, Copy)]
#[serde(deny_unknown_fields)]
pub struct ScoringTable {
    /// `t_ref`: reference seconds per item; a miner this fast with perfect quality scores 1.
    pub t_ref: Option<f64>,
    /// `t_floor`: seconds per item below which timings are not trusted (a timer-jitter
    /// guard, not a speed cap).
    pub t_floor: Option<f64>,
    /// `alpha`: exponent turning speed ratios into score ratios.
    pub alpha: Option<f64>,
}

/// The resolved configuration.
#[derive(Clone, Debug)]
pub struct ValidatorConfig {
    /// Subnet, chain, wallet and log level.
    pub neuron: NeuronConfig,
    /// History database: SQLite file path or `postgres://` URL (`--database`).
    pub database: String,
    /// Where images are drawn from (`--dataset`).
    pub dataset: SourceSpec,
    /// Dataset viewer API base URL for HuggingFace sources (`--dataset.endpoint`).
    pub dataset_endpoint: String,
    /// Circuit name or JSON file path (`--circuit`).
    pub circuit: String,
    /// FHE parameter profile id; `None`: the circuit's default (`--profile`).
    pub profile: Option<String>,
    /// Images per infer request (`--batch-size`).
    pub batch_size: usize,
    /// Deadline of the evaluation-key upload (`--timeout.key-upload`).
    pub key_upload_timeout: Duration,
    /// `None`: derived from the circuit's scoring parameters.
    pub infer_timeout: Option<Duration>,
    /// `None`: the key-upload and infer deadlines plus a margin.
    pub round_timeout: Option<Duration>,
    /// `None`: the subnet's tempo.
    pub weights_interval: Option<u64>,
    /// How often the weight timer checks whether weights are due.
    pub weights_poll: Duration,
    /// Queries in flight at once, each to a different miner.
    pub max_concurrent_queries: usize,
    /// Memory the queries in flight may hold, bytes.
    pub query_memory_bytes: usize,
    /// `None`: no metrics server.
    pub metrics_addr: Option<SocketAddr>,
    /// Overrides of the circuit's scoring parameters (`[scoring]`).
    pub scoring: ScoringTable,
    /// `None`: no customer gateway.
    pub gateway: Option<GatewaySettings>,
    /// Pareto allocation, speed records and bounties (`[rewards]`, `[bounty]`).
    pub rewards: RewardPolicy,
    /// How client keys are used (`[sessions]`).
    pub sessions: SessionPolicy,
    /// Routing of customers' sessions and per-miner lanes (`[organic]`).
    pub organic: OrganicPolicy,
}

/// Default `--neuron.max_concurrent_queries`.
pub const DEFAULT_MAX_CONCURRENT_QUERIES: usize = 4;
/// Default `--neuron.query_memory_mib`, MiB.
pub const DEFAULT_QUERY_MEMORY_MIB: usize = 4096;
/// One block: weights are due at most once per block anyway.
pub const DEFAULT_WEIGHTS_POLL_SECS: f64 = 12.0;
/// The binary's metrics port unless `--metrics-port` says otherwise.
const DEFAULT_METRICS_PORT: u16 = 9101;

/// The defaults every setting falls back to. Like the miner's, the library default
/// serves neither metrics nor a gateway, so tests can run many validators; the binary's
/// flags turn metrics on at 127.0.0.1:9101.
impl Default for ValidatorConfig {
    fn default() -> Self {
        Self {
            neuron: NeuronConfig::default(),
            database: home()
                .join(".brainlock/validator.sqlite")
                .to_string_lossy()
                .into_owned(),
            dataset: SourceSpec::parse(DEFAULT_DATASET).expect("the default dataset parses"),
            dataset_endpoint: DEFAULT_ENDPOINT.into(),
            circuit: CONV3X3.into(),
            profile: None,
            batch_size: 1,
            key_upload_timeout: Duration::from_secs(120),
            infer_timeout: None,
            round_timeout: None,
            weights_interval: None,
            weights_poll: Duration::from_secs_f64(DEFAULT_WEIGHTS_POLL_SECS),
            max_concurrent_queries: DEFAULT_MAX_CONCURRENT_QUERIES,
            query_memory_bytes: DEFAULT_QUERY_MEMORY_MIB << 20,
            metrics_addr: None,
            scoring: ScoringTable::default(),
            gateway: None,
            rewards: RewardPolicy::default(),
            sessions: SessionPolicy::default(),
            organic: OrganicPolicy::default(),
        }
    }
}

fn home() -> PathBuf {
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// `ip:port` (IPv4 or IPv6) as a listen address.
fn listen_addr(ip: &str, port: u16, what: &str) -> Result<SocketAddr, ConfigError> {
    format!("{ip}:{port}")
        .parse()
        .or_else(|_| format!("[{ip}]:{port}").parse())
        .map_err(|_| ConfigError::Invalid(format!("{what} address {ip:?}")))
}

fn seconds(name: &str, value: f64) -> Result<Duration, ConfigError> {
    Duration::try_from_secs_f64(value)
        .ok()
        .filter(|d| !d.is_zero())
        .ok_or_else(|| {
            ConfigError::Invalid(format!(
                "{name} = {value} is not a positive number of seconds"
            ))
        })
}

impl FileConfig {
    /// Reads and parses a TOML config file.
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

impl ValidatorConfig {
    /// Flags, then the `--config` file, then defaults.
    pub fn from_cli(cli: Cli) -> Result<Self, ConfigError> {
        let file = match &cli.config {
            Some(path) => FileConfig::load(path)?,
            None => FileConfig::default(),
        };
        Self::merge(cli, file)
    }

    /// Combines flags and file values (flags win), fills defaults and validates the result.
    pub fn merge(cli: Cli, file: FileConfig) -> Result<Self, ConfigError> {
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
        let rewards = rewards_policy(&cli, file.rewards, file.bounty)?;
        let sessions = session_policy(&cli, file.sessions.unwrap_or_default())?;
        let organic = organic_policy(&cli, file.organic.unwrap_or_default())?;
        let timeout = file.timeout.unwrap_or_default();
        let weights = file.weights.unwrap_or_default();
        let scheduling = file.neuron.unwrap_or_default();
        let max_concurrent_queries = cli
            .max_concurrent_queries
            .or(scheduling.max_concurrent_queries)
            .unwrap_or(DEFAULT_MAX_CONCURRENT_QUERIES);
        if !(1..=1024).contains(&max_concurrent_queries) {
            return Err(ConfigError::Invalid(format!(
                "max_concurrent_queries = {max_concurrent_queries} must be in 1..=1024"
            )));
        }
        let query_memory_mib = cli
            .query_memory_mib
            .or(scheduling.query_memory_mib)
            .unwrap_or(DEFAULT_QUERY_MEMORY_MIB);
        if query_memory_mib == 0 {
            return Err(ConfigError::Invalid(
                "query_memory_mib must be positive".into(),
            ));
        }
        let dataset = file.dataset.unwrap_or_default();
        let dataset_spec = cli
            .dataset
            .or(dataset.source)
            .unwrap_or_else(|| DEFAULT_DATASET.into());
        let defaults = Self::default();
        let batch_size = cli
            .batch_size
            .or(file.batch_size)
            .unwrap_or(defaults.batch_size);
        if batch_size == 0 || batch_size > 64 {
            return Err(ConfigError::Invalid(format!(
                "batch size {batch_size} must be in 1..=64"
            )));
        }
        let metrics_port = cli
            .metrics_port
            .or(file.metrics_port)
            .unwrap_or(DEFAULT_METRICS_PORT);
        let metrics_ip = cli
            .metrics_ip
            .or(file.metrics_ip)
            .unwrap_or_else(|| brainlock_daemon::metrics::DEFAULT_IP.into());
        let metrics_addr = if metrics_port == 0 {
            None
        } else {
            Some(listen_addr(&metrics_ip, metrics_port, "metrics")?)
        };
        let round_timeout = cli
            .round_timeout
            .or(timeout.round)
            .map(|s| seconds("round timeout", s))
            .transpose()?;
        if let Some(round) = round_timeout
            && round <= sessions.round_fill()
        {
            return Err(ConfigError::Invalid(format!(
                "the round timeout ({} s) must be longer than sessions.round_fill ({} s)",
                round.as_secs_f64(),
                sessions.round_fill_seconds
            )));
        }
        let gateway_table = file.gateway.unwrap_or_default();
        let gateway = match cli.gateway_port.or(gateway_table.port) {
            None | Some(0) => None,
            Some(port) => {
                let ip = cli
                    .gateway_ip
                    .or(gateway_table.ip)
                    .unwrap_or_else(|| "0.0.0.0".into());
                Some(GatewaySettings {
                    addr: listen_addr(&ip, port, "gateway")?,
                    config: GatewayConfig {
                        // Customers send batches of exactly the size of our own queries.
                        limits: GatewayLimits {
                            max_batch: batch_size as u32,
                            ..gateway_table.limits
                        },
                        quota: gateway_table.quota,
                        customers: gateway_table.customers,
                        reports: gateway_table.reports,
                    },
                })
            }
        };
        Ok(Self {
            neuron,
            database: cli.database.or(file.database).unwrap_or(defaults.database),
            dataset: SourceSpec::parse(&dataset_spec).map_err(ConfigError::Invalid)?,
            dataset_endpoint: cli
                .dataset_endpoint
                .or(dataset.endpoint)
                .unwrap_or(defaults.dataset_endpoint),
            circuit: cli.circuit.or(file.circuit).unwrap_or(defaults.circuit),
            profile: cli.profile.or(file.profile),
            batch_size,
            key_upload_timeout: match cli.key_upload_timeout.or(timeout.key_upload) {
                Some(s) => seconds("key upload timeout", s)?,
                None => defaults.key_upload_timeout,
            },
            infer_timeout: cli
                .infer_timeout
                .or(timeout.infer)
                .map(|s| seconds("infer timeout", s))
                .transpose()?,
            round_timeout,
            weights_interval: cli.weights_interval.or(weights.interval),
            weights_poll: seconds(
                "weights poll",
                cli.weights_poll
                    .or(weights.poll)
                    .unwrap_or(DEFAULT_WEIGHTS_POLL_SECS),
            )?,
            max_concurrent_queries,
            query_memory_bytes: query_memory_mib.saturating_mul(1 << 20),
            metrics_addr,
            scoring: file.scoring.unwrap_or_default(),
            gateway,
            rewards,
            sessions,
            organic,
        })
    }
}

/// Flags over `[sessions]` (which serde filled with defaults), validated.
fn session_policy(cli: &Cli, file: SessionPolicy) -> Result<SessionPolicy, ConfigError> {
    let policy = SessionPolicy {
        max_requests: cli.sessions_max_requests.unwrap_or(file.max_requests),
        mean_requests: cli.sessions_mean_requests.unwrap_or(file.mean_requests),
        min_gap_seconds: cli.sessions_min_gap.unwrap_or(file.min_gap_seconds),
        max_gap_seconds: cli.sessions_max_gap.unwrap_or(file.max_gap_seconds),
        key_ttl_seconds: cli.sessions_key_ttl.unwrap_or(file.key_ttl_seconds),
        start_spread_seconds: cli
            .sessions_start_spread
            .unwrap_or(file.start_spread_seconds),
        round_fill_seconds: cli.sessions_round_fill.unwrap_or(file.round_fill_seconds),
    };
    policy
        .validate()
        .map_err(|e| ConfigError::Invalid(e.to_string()))?;
    Ok(policy)
}

/// Flags over `[organic]` (which serde filled with defaults), validated.
fn organic_policy(cli: &Cli, file: OrganicPolicy) -> Result<OrganicPolicy, ConfigError> {
    let policy = OrganicPolicy {
        top_k: cli.organic_top_k.unwrap_or(file.top_k),
        requests_per_miner: cli
            .organic_requests_per_miner
            .unwrap_or(file.requests_per_miner),
        relays_per_miner: cli
            .organic_relays_per_miner
            .unwrap_or(file.relays_per_miner),
        extra_checks: cli.organic_extra_checks.unwrap_or(file.extra_checks),
    };
    policy.validate().map_err(ConfigError::Invalid)?;
    Ok(policy)
}

/// Flags over `[rewards]` and `[bounty]` over the defaults, validated.
fn rewards_policy(
    cli: &Cli,
    rewards: Option<RewardsTable>,
    bounty: Option<BountyTable>,
) -> Result<RewardPolicy, ConfigError> {
    let (rewards, bounty) = (rewards.unwrap_or_default(), bounty.unwrap_or_default());
    let defaults = RewardPolicy::default();
    let policy = RewardPolicy {
        pareto: ParetoPolicy {
            tolerance: cli
                .rewards_tolerance
                .or(rewards.tolerance)
                .unwrap_or(defaults.pareto.tolerance),
            top_fraction: cli
                .rewards_top_fraction
                .or(rewards.top_fraction)
                .unwrap_or(defaults.pareto.top_fraction),
            top_share: cli
                .rewards_top_share
                .or(rewards.top_share)
                .unwrap_or(defaults.pareto.top_share),
            tier_prize: cli
                .rewards_tier_prize
                .or(rewards.tier_prize)
                .unwrap_or(defaults.pareto.tier_prize),
        },
        bounty: BountyPolicy {
            step: cli
                .bounty_step
                .or(bounty.step)
                .unwrap_or(defaults.bounty.step),
            share: cli
                .bounty_share
                .or(bounty.share)
                .unwrap_or(defaults.bounty.share),
            tempos: cli
                .bounty_tempos
                .or(bounty.tempos)
                .unwrap_or(defaults.bounty.tempos),
            queries: cli
                .bounty_queries
                .or(bounty.queries)
                .unwrap_or(defaults.bounty.queries),
        },
    };
    policy
        .validate()
        .map_err(|e| ConfigError::Invalid(e.to_string()))?;
    Ok(policy)
}

#[cfg(test)]
mod tests {
    use super::*;
    use brainlock_daemon::ChainSource;

    #[test]
    fn gateway_is_off_by_default_and_takes_the_query_batch_size() {
        let off = ValidatorConfig::merge(Cli::default(), FileConfig::default()).unwrap();
        assert!(off.gateway.is_none());
        let file: FileConfig = toml::from_str(
            r#"
            batch_size = 2
            [gateway]
            port = 8093
            ip = "127.0.0.1"
            [gateway.quota]
            items_per_hour = 5
            [[gateway.customers]]
            name = "acme"
            api_key_sha256 = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
            "#,
        )
        .unwrap();
        let on = ValidatorConfig::merge(Cli::default(), file).unwrap();
        let gateway = on.gateway.unwrap();
        assert_eq!(gateway.addr, "127.0.0.1:8093".parse().unwrap());
        assert_eq!(gateway.config.limits.max_batch, 2);
        assert_eq!(gateway.config.quota.items_per_hour, 5);
        assert_eq!(gateway.config.customers[0].name, "acme");
        let bad: Result<FileConfig, _> = toml::from_str("[gateway]\nprot = 1\n");
        assert!(bad.is_err(), "unknown gateway keys are refused");
    }

    #[test]
    fn shipped_config_files_load() {
        let configs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs");
        let example = FileConfig::load(&configs.join("validator.toml")).unwrap();
        let example = ValidatorConfig::merge(Cli::default(), example).unwrap();
        assert_eq!(
            example.neuron.chain,
            ChainSource::Subtensor("finney".into())
        );
        // As docker/docker-compose.yml runs it: on a network, then on a local registry
        // (VALIDATOR_ARGS), with metrics and gateway on the ports they have outside compose.
        let compose = |extra: &[&str]| {
            let file = FileConfig::load(&configs.join("compose/validator.toml")).unwrap();
            let flags = ["--subtensor.network", "test", "--netuid", "55"];
            let args =
                std::iter::once("brainlock-validator").chain(flags.iter().chain(extra).copied());
            ValidatorConfig::merge(Cli::try_parse_from(args).unwrap(), file).unwrap()
        };
        let network = compose(&["--database", "/data/validator.sqlite"]);
        assert_eq!(network.neuron.chain, ChainSource::Subtensor("test".into()));
        assert_eq!(network.metrics_addr, Some("0.0.0.0:9101".parse().unwrap()));
        let gateway = network.gateway.expect("compose serves the gateway");
        assert_eq!(gateway.addr, "0.0.0.0:8092".parse().unwrap());
        assert_eq!(network.database, "/data/validator.sqlite");
        let local = compose(&[
            "--registry",
            "/data/registry.json",
            "--dataset",
            "synthetic",
        ]);
        assert_eq!(
            local.neuron.chain,
            ChainSource::Registry("/data/registry.json".into())
        );
        assert_eq!(local.dataset, SourceSpec::Synthetic);
    }

    #[test]
    fn flags_override_file_which_overrides_defaults() {
        let file: FileConfig = toml::from_str(
            r#"
            netuid = 7
            database = "file.sqlite"
            [subtensor]
            network = "test"
            [wallet]
            name = "w"
            hotkey = "h"
            [timeout]
            key_upload = 5.0
            [dataset]
            source = "synthetic"
            [scoring]
            t_floor = 0.01
            "#,
        )
        .unwrap();
        let cli = Cli::parse_from([
            "brainlock-validator",
            "--netuid",
            "9",
            "--wallet.hotkey",
            "flag-hotkey",
            "--metrics-port",
            "0",
        ]);
        let config = ValidatorConfig::merge(cli, file).unwrap();
        assert_eq!(config.neuron.netuid, 9);
        assert_eq!(config.neuron.wallet.name, "w");
        assert_eq!(config.neuron.wallet.hotkey, "flag-hotkey");
        assert_eq!(config.neuron.chain, ChainSource::Subtensor("test".into()));
        assert_eq!(config.database, "file.sqlite");
        assert_eq!(config.dataset, SourceSpec::Synthetic);
        assert_eq!(config.key_upload_timeout, Duration::from_secs(5));
        assert_eq!(config.metrics_addr, None);
        assert_eq!(config.scoring.t_floor, Some(0.01));
        assert_eq!(config.circuit, "conv3x3");
    }

    #[test]
    fn defaults_and_registry_mode() {
        let cli = Cli::parse_from([
            "v",
            "--registry",
            "/tmp/reg.json",
            "--subtensor.network",
            "local",
        ]);
        let config = ValidatorConfig::merge(cli, FileConfig::default()).unwrap();
        assert_eq!(config.neuron.netuid, 55);
        assert_eq!(
            config.neuron.chain,
            ChainSource::Registry("/tmp/reg.json".into())
        );
        assert!(matches!(config.dataset, SourceSpec::HuggingFace(_)));
        assert_eq!(config.metrics_addr, Some("127.0.0.1:9101".parse().unwrap()));
        assert_eq!(config.batch_size, 1);
        assert_eq!(config.max_concurrent_queries, 4);
        assert_eq!(config.query_memory_bytes, 4096 << 20);
        assert_eq!(config.round_timeout, None);
        assert_eq!(config.weights_poll, Duration::from_secs(12));
    }

    #[test]
    fn scheduling_from_flags_and_file() {
        let file: FileConfig = toml::from_str(
            r#"
            [neuron]
            max_concurrent_queries = 8
            query_memory_mib = 512
            [timeout]
            round = 90.0
            [weights]
            poll = 2.5
            "#,
        )
        .unwrap();
        let cli = Cli::parse_from(["v", "--neuron.max_concurrent_queries", "2"]);
        let config = ValidatorConfig::merge(cli, file).unwrap();
        assert_eq!(config.max_concurrent_queries, 2);
        assert_eq!(config.query_memory_bytes, 512 << 20);
        assert_eq!(config.round_timeout, Some(Duration::from_secs(90)));
        assert_eq!(config.weights_poll, Duration::from_millis(2500));
        let cli = Cli::parse_from([
            "v",
            "--neuron.query_memory_mib",
            "64",
            "--timeout.round",
            "5",
        ]);
        let config = ValidatorConfig::merge(cli, FileConfig::default()).unwrap();
        assert_eq!(config.query_memory_bytes, 64 << 20);
        assert_eq!(config.round_timeout, Some(Duration::from_secs(5)));
        for bad in [
            &["v", "--neuron.max_concurrent_queries", "0"][..],
            &["v", "--neuron.query_memory_mib", "0"],
            &["v", "--timeout.round", "0"],
            &["v", "--timeout.round", "60", "--sessions.round_fill", "60"],
            &["v", "--sessions.round_fill", "1e9"],
        ] {
            assert!(ValidatorConfig::merge(Cli::parse_from(bad), FileConfig::default()).is_err());
        }
        let filled = Cli::parse_from(["v", "--timeout.round", "90", "--sessions.round_fill", "60"]);
        let config = ValidatorConfig::merge(filled, FileConfig::default()).unwrap();
        assert_eq!(config.sessions.round_fill(), Duration::from_secs(60));
    }

    #[test]
    fn sessions_and_organic_routing_from_flags_and_file() {
        let file: FileConfig = toml::from_str(
            "[sessions]\nmax_requests = 6\nkey_ttl_seconds = 60\n[organic]\ntop_k = 3\n",
        )
        .unwrap();
        let cli = Cli {
            sessions_max_requests: Some(5),
            organic_extra_checks: Some(4),
            ..Cli::default()
        };
        let config = ValidatorConfig::merge(cli, file).unwrap();
        assert_eq!(
            (
                config.sessions.max_requests,
                config.sessions.key_ttl_seconds
            ),
            (5, 60)
        );
        assert_eq!((config.organic.top_k, config.organic.extra_checks), (3, 4));
        let too_many_relays = Cli {
            organic_relays_per_miner: Some(2),
            ..Cli::default()
        };
        let error = ValidatorConfig::merge(too_many_relays, FileConfig::default()).unwrap_err();
        assert!(error.to_string().contains("room for scored"), "{error}");
        let bad_mean = Cli {
            sessions_mean_requests: Some(9.0),
            ..Cli::default()
        };
        assert!(ValidatorConfig::merge(bad_mean, FileConfig::default()).is_err());
        assert!(toml::from_str::<FileConfig>("[sessions]\nmax_request = 1\n").is_err());
    }

    #[test]
    fn rewards_from_flags_and_file() {
        let file: FileConfig = toml::from_str(
            r#"
            [rewards]
            top_share = 0.7
            tier_prize = "shared"
            [bounty]
            share = 0.1
            tempos = 5
            "#,
        )
        .unwrap();
        let cli = Cli::parse_from(["v", "--bounty.share", "0.25", "--rewards.tolerance", "0.1"]);
        let policy = ValidatorConfig::merge(cli, file).unwrap().rewards;
        assert_eq!(policy.pareto.top_share, 0.7);
        assert_eq!(policy.pareto.tolerance, 0.1);
        assert_eq!(policy.pareto.top_fraction, 0.2);
        assert_eq!(policy.pareto.tier_prize, TierPrize::Shared);
        assert_eq!(policy.bounty.share, 0.25);
        assert_eq!(policy.bounty.tempos, 5);
        assert_eq!(policy.bounty.step, 0.1);
        let cli = Cli::parse_from(["v", "--bounty.queries", "3"]);
        let error = ValidatorConfig::merge(cli, FileConfig::default()).unwrap_err();
        assert!(error.to_string().contains("bounty.queries"), "{error}");
    }

    #[test]
    fn bad_values_are_errors() {
        assert!(toml::from_str::<FileConfig>("unknown_key = 1").is_err());
        let cli = Cli::parse_from(["v", "--batch-size", "0"]);
        assert!(ValidatorConfig::merge(cli, FileConfig::default()).is_err());
        let cli = Cli::parse_from(["v", "--timeout.infer=-1"]);
        assert!(ValidatorConfig::merge(cli, FileConfig::default()).is_err());
    }
}
