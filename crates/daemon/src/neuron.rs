//! The settings every neuron (miner or validator) has, under Bittensor's flag names: which
//! subnet, which chain, which wallet hotkey, how verbose.
//!
//! Each daemon flattens [`NeuronArgs`] into its own flags and keeps the matching tables
//! in its TOML file (`netuid`, `registry`, `[subtensor]`, `[wallet]`, `[logging]`);
//! [`NeuronConfig::resolve`] applies "flag over file over default" to them. The tables
//! are listed in each daemon's file struct rather than flattened because serde cannot
//! flatten into a struct that refuses unknown keys, and a typo in a config file must be an
//! error, not a silently ignored setting.

use std::path::PathBuf;
use std::sync::Arc;

use brainlock_chain::{Chain, ChainError, LocalRegistry};
use brainlock_epistula::Keypair;
use brainlock_epistula::wallet::{self, WalletError};
use brainlock_subtensor::SubtensorChain;
use clap::Args;
use serde::Deserialize;

/// The subnet Brainlock runs on mainnet.
pub const DEFAULT_NETUID: u16 = 55;
/// The network a daemon joins when neither `--subtensor.network` nor `--registry` is given.
pub const DEFAULT_NETWORK: &str = "finney";

/// The neuron flags, flattened into each daemon's command line. Every field is optional
/// so that "not given" falls through to the config file and then to the default.
#[derive(Args, Clone, Debug, Default)]
pub struct NeuronArgs {
    /// Subnet uid [default: 55].
    #[arg(long)]
    pub netuid: Option<u16>,
    /// finney | test | local | ws(s)://URL [default: finney]. Ignored with --registry.
    #[arg(long = "subtensor.network", value_name = "NETWORK")]
    pub subtensor_network: Option<String>,
    /// Local registry file: run without a chain (metagraph from the file, weights to a
    /// ledger beside it).
    #[arg(long, value_name = "FILE")]
    pub registry: Option<PathBuf>,
    /// Wallet name [default: default].
    #[arg(long = "wallet.name", value_name = "NAME")]
    pub wallet_name: Option<String>,
    /// Hotkey name inside the wallet [default: default].
    #[arg(long = "wallet.hotkey", value_name = "NAME")]
    pub wallet_hotkey: Option<String>,
    /// Wallets folder [default: ~/.bittensor/wallets].
    #[arg(long = "wallet.path", value_name = "DIR")]
    pub wallet_path: Option<PathBuf>,
    /// Debug logs (RUST_LOG overrides).
    #[arg(long = "logging.debug")]
    pub logging_debug: bool,
}

/// `[subtensor]` in a config file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubtensorTable {
    /// `network` (`finney`, `test`, `local` or a `ws(s)://` URL); `--subtensor.network`
    /// wins over it.
    pub network: Option<String>,
}

/// `[wallet]` in a config file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WalletTable {
    /// `name`: the wallet (folder under `path`); `--wallet.name` wins over it.
    pub name: Option<String>,
    /// `hotkey`: the hotkey file inside the wallet; `--wallet.hotkey` wins over it.
    pub hotkey: Option<String>,
    /// `path`: the wallets folder; `--wallet.path` wins over it.
    pub path: Option<PathBuf>,
}

/// `[logging]` in a config file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoggingTable {
    /// `debug`: debug logs; `--logging.debug` turns them on whatever this says.
    pub debug: Option<bool>,
}

/// The neuron's keys and tables as a daemon's config file held them.
#[derive(Debug, Default)]
pub struct NeuronFile {
    /// Top-level `netuid`: the subnet uid.
    pub netuid: Option<u16>,
    /// Top-level `registry`: a local registry file, to run without a chain.
    pub registry: Option<PathBuf>,
    /// The `[subtensor]` table.
    pub subtensor: SubtensorTable,
    /// The `[wallet]` table.
    pub wallet: WalletTable,
    /// The `[logging]` table.
    pub logging: LoggingTable,
}

/// Where the metagraph comes from and where the axon and weights go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChainSource {
    /// A local registry file (the embedded no-chain mode).
    Registry(PathBuf),
    /// A subtensor network: `finney`, `test`, `local` or a `ws(s)://` URL.
    Subtensor(String),
}

/// The hotkey a neuron signs with, in the Bittensor wallet layout.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WalletConfig {
    /// The wallet: a folder under `path` (Bittensor's `--wallet.name`).
    pub name: String,
    /// The hotkey file inside the wallet (Bittensor's `--wallet.hotkey`).
    pub hotkey: String,
    /// Root of the wallets (`~/.bittensor/wallets`).
    pub path: PathBuf,
}

impl Default for WalletConfig {
    fn default() -> Self {
        Self {
            name: "default".into(),
            hotkey: "default".into(),
            path: wallet::default_wallets_dir()
                .unwrap_or_else(|| PathBuf::from(".bittensor/wallets")),
        }
    }
}

/// The resolved neuron settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NeuronConfig {
    /// The subnet uid the neuron serves and sets weights on.
    pub netuid: u16,
    /// Where the metagraph comes from and the weights go.
    pub chain: ChainSource,
    /// The hotkey the neuron signs with.
    pub wallet: WalletConfig,
    /// Whether debug logs are on (`RUST_LOG` still overrides).
    pub debug: bool,
}

impl Default for NeuronConfig {
    fn default() -> Self {
        Self {
            netuid: DEFAULT_NETUID,
            chain: ChainSource::Subtensor(DEFAULT_NETWORK.into()),
            wallet: WalletConfig::default(),
            debug: false,
        }
    }
}

/// Why a neuron could not load its hotkey or open its chain.
#[derive(Debug, thiserror::Error)]
pub enum NeuronError {
    /// The wallet's hotkey file is missing, unreadable or malformed.
    #[error("cannot load hotkey {name}/{hotkey} from {}", dir.display())]
    Hotkey {
        /// The wallets folder searched.
        dir: PathBuf,
        /// The wallet name.
        name: String,
        /// The hotkey name inside the wallet.
        hotkey: String,
        /// What the wallet loader reported.
        #[source]
        source: WalletError,
    },
    /// The local registry file could not be opened or parsed.
    #[error("cannot open the local registry {}", path.display())]
    Registry {
        /// The registry file.
        path: PathBuf,
        /// What the registry reported.
        #[source]
        source: ChainError,
    },
    /// No connection to the subtensor network could be made.
    #[error("cannot connect to subtensor {network:?}")]
    Subtensor {
        /// The network asked for: a name or a `ws(s)://` URL.
        network: String,
        /// What the chain client reported.
        #[source]
        source: ChainError,
    },
}

impl NeuronConfig {
    /// Flags over the file over the defaults. A registry (flag or file) wins over any
    /// network: it is the explicit "no chain" choice.
    pub fn resolve(args: &NeuronArgs, file: NeuronFile) -> Self {
        let defaults = Self::default();
        let chain = match (
            args.registry.clone().or(file.registry),
            args.subtensor_network.clone().or(file.subtensor.network),
        ) {
            (Some(registry), _) => ChainSource::Registry(registry),
            (None, Some(network)) => ChainSource::Subtensor(network),
            (None, None) => defaults.chain,
        };
        Self {
            netuid: args.netuid.or(file.netuid).unwrap_or(defaults.netuid),
            chain,
            wallet: WalletConfig {
                name: (args.wallet_name.clone().or(file.wallet.name))
                    .unwrap_or(defaults.wallet.name),
                hotkey: (args.wallet_hotkey.clone().or(file.wallet.hotkey))
                    .unwrap_or(defaults.wallet.hotkey),
                path: (args.wallet_path.clone().or(file.wallet.path))
                    .unwrap_or(defaults.wallet.path),
            },
            debug: args.logging_debug || file.logging.debug.unwrap_or(false),
        }
    }

    /// The default log filter for these settings (`RUST_LOG` overrides it). PostgreSQL's
    /// notices ("relation already exists, skipping" on every start) are for debugging.
    pub fn log_directives(&self) -> &'static str {
        if self.debug {
            "debug"
        } else {
            "info,sqlx::postgres::notice=warn"
        }
    }

    /// The wallet's hotkey: what the neuron signs requests and extrinsics with.
    pub fn load_hotkey(&self) -> Result<Keypair, NeuronError> {
        let w = &self.wallet;
        wallet::load_hotkey(&w.path, &w.name, &w.hotkey).map_err(|source| NeuronError::Hotkey {
            dir: w.path.clone(),
            name: w.name.clone(),
            hotkey: w.hotkey.clone(),
            source,
        })
    }

    /// The chain the settings name, acting as `hotkey`: the local registry or a subtensor
    /// network.
    pub async fn open_chain(&self, hotkey: &Keypair) -> Result<Arc<dyn Chain>, NeuronError> {
        Ok(match &self.chain {
            ChainSource::Registry(path) => Arc::new(
                LocalRegistry::open(path, self.netuid, hotkey.account_id()).map_err(|source| {
                    NeuronError::Registry {
                        path: path.clone(),
                        source,
                    }
                })?,
            ),
            ChainSource::Subtensor(network) => Arc::new(
                SubtensorChain::connect_as(network, hotkey)
                    .await
                    .map_err(|source| NeuronError::Subtensor {
                        network: network.clone(),
                        source,
                    })?,
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use brainlock_epistula::CryptoType;
    use clap::Parser;

    #[derive(Parser)]
    struct TestCli {
        #[command(flatten)]
        neuron: NeuronArgs,
    }

    fn args(flags: &[&str]) -> NeuronArgs {
        TestCli::parse_from(std::iter::once("neuron").chain(flags.iter().copied())).neuron
    }

    fn file(text: &str) -> NeuronFile {
        #[derive(Deserialize)]
        struct File {
            netuid: Option<u16>,
            registry: Option<PathBuf>,
            #[serde(default)]
            subtensor: SubtensorTable,
            #[serde(default)]
            wallet: WalletTable,
            #[serde(default)]
            logging: LoggingTable,
        }
        let f: File = toml::from_str(text).unwrap();
        NeuronFile {
            netuid: f.netuid,
            registry: f.registry,
            subtensor: f.subtensor,
            wallet: f.wallet,
            logging: f.logging,
        }
    }

    #[test]
    fn defaults_are_finney_netuid_55_and_the_default_hotkey() {
        let config = NeuronConfig::resolve(&args(&[]), NeuronFile::default());
        assert_eq!(config.netuid, 55);
        assert_eq!(config.chain, ChainSource::Subtensor("finney".into()));
        assert_eq!(
            (&*config.wallet.name, &*config.wallet.hotkey),
            ("default", "default")
        );
        assert!(config.wallet.path.ends_with(".bittensor/wallets"));
        assert_eq!(config.log_directives(), "info,sqlx::postgres::notice=warn");
    }

    #[test]
    fn flags_override_the_file_and_a_registry_overrides_any_network() {
        let from_file = file(
            r#"
            netuid = 7
            [subtensor]
            network = "test"
            [wallet]
            name = "file-wallet"
            hotkey = "file-hotkey"
            [logging]
            debug = true
            "#,
        );
        let config = NeuronConfig::resolve(
            &args(&["--netuid", "9", "--wallet.hotkey", "flag-hotkey"]),
            from_file,
        );
        assert_eq!(config.netuid, 9);
        assert_eq!(config.chain, ChainSource::Subtensor("test".into()));
        assert_eq!(config.wallet.name, "file-wallet");
        assert_eq!(config.wallet.hotkey, "flag-hotkey");
        assert!(config.debug);

        let config = NeuronConfig::resolve(
            &args(&["--subtensor.network", "local", "--registry", "/tmp/r.json"]),
            file("[subtensor]\nnetwork = \"finney\""),
        );
        assert_eq!(config.chain, ChainSource::Registry("/tmp/r.json".into()));
    }

    #[test]
    fn unknown_keys_in_the_tables_are_errors() {
        assert!(toml::from_str::<WalletTable>("nmae = \"typo\"").is_err());
        assert!(toml::from_str::<SubtensorTable>("netwrok = \"finney\"").is_err());
    }

    #[tokio::test]
    async fn a_missing_hotkey_and_a_bad_network_are_clear_errors() {
        let dir = tempfile::tempdir().unwrap();
        let config = NeuronConfig::resolve(
            &args(&["--wallet.path", dir.path().to_str().unwrap()]),
            NeuronFile::default(),
        );
        let err = config.load_hotkey().unwrap_err();
        assert!(matches!(err, NeuronError::Hotkey { .. }), "{err:?}");
        assert!(err.to_string().contains("default/default"), "{err}");

        let keypair = Keypair::from_seed(CryptoType::Sr25519, &[7; 32]);
        let bad = NeuronConfig {
            chain: ChainSource::Subtensor("moonbase".into()),
            ..config
        };
        let err = bad.open_chain(&keypair).await.err().unwrap();
        assert!(matches!(err, NeuronError::Subtensor { .. }), "{err:?}");
        assert!(err.to_string().contains("moonbase"), "{err}");
    }

    #[tokio::test]
    async fn a_registry_opens_as_the_local_chain() {
        let dir = tempfile::tempdir().unwrap();
        let config = NeuronConfig {
            chain: ChainSource::Registry(dir.path().join("registry.json")),
            ..NeuronConfig::default()
        };
        let keypair = Keypair::from_seed(CryptoType::Sr25519, &[7; 32]);
        let chain = config.open_chain(&keypair).await.unwrap();
        assert_eq!(chain.uid_of(55, &keypair.account_id()).await.unwrap(), None);
    }
}
