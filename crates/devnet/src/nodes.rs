//! Starting and stopping the devnet's neurons: the registry with every hotkey
//! registered, the miners on free loopback ports, and the validator (driven round by
//! round by the devnet itself).

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use brainlock_chain::{Chain, LocalRegistry, Registration, Role};
use brainlock_daemon::{ChainSource, NeuronArgs, NeuronConfig, WalletConfig};
use brainlock_miner::Miner;
use brainlock_miner::config::{AuthConfig, MinerConfig};
use brainlock_validator::config::{Cli as ValidatorCli, FileConfig};
use brainlock_validator::{Validator, ValidatorConfig};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::DevnetOptions;
use super::layout::{HOTKEY, Layout, VALIDATOR_WALLET, miner_wallet};

/// The devnet's subnet uid (any value works with a local registry; this is the live
/// subnet's).
pub const NETUID: u16 = 55;
/// Stake given to the devnet validator, in TAO.
const VALIDATOR_STAKE: f64 = 100_000.0;
/// How long a stopping miner may take to finish what it admitted.
const STOP_GRACE: Duration = Duration::from_secs(60);

/// The running miners.
pub(crate) struct Miners {
    pub addrs: Vec<SocketAddr>,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<std::io::Result<()>>>,
}

async fn stop_signal(mut stop: watch::Receiver<bool>) {
    // A dropped sender also means stop.
    let _ = stop.wait_for(|stopped| *stopped).await;
}

impl Miners {
    /// Signals every miner to stop and waits for each (bounded).
    pub(crate) async fn stop(self) -> anyhow::Result<()> {
        let _ = self.stop.send(true);
        let mut first_error = None;
        for (index, task) in self.tasks.into_iter().enumerate() {
            let result = match tokio::time::timeout(STOP_GRACE, task).await {
                Err(_) => Err(anyhow::anyhow!(
                    "miner {index} did not stop within {} s",
                    STOP_GRACE.as_secs()
                )),
                Ok(Err(join)) => Err(anyhow::anyhow!("miner {index} panicked: {join}")),
                Ok(Ok(result)) => result.with_context(|| format!("miner {index} failed")),
            };
            if let Err(e) = result {
                tracing::error!("{}", brainlock_daemon::logging::error_chain(e.as_ref()));
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}

/// Registers the validator's hotkey (it must be registered before anyone starts).
pub(crate) async fn register_validator(layout: &Layout) -> anyhow::Result<LocalRegistry> {
    let hotkey = layout.hotkey(VALIDATOR_WALLET)?.account_id();
    let registry = LocalRegistry::open(layout.registry(), NETUID, hotkey)?;
    registry
        .register(Registration {
            hotkey,
            coldkey: None,
            role: Role::Validator,
            stake: VALIDATOR_STAKE,
        })
        .await?;
    Ok(registry)
}

/// Registers and starts `options.miners` miners, each on a free loopback port
/// announced in the registry, accepting the devnet validator.
pub(crate) async fn start_miners(
    layout: &Layout,
    options: &DevnetOptions,
    registry: &LocalRegistry,
) -> anyhow::Result<Miners> {
    let validator = registry.hotkey().to_string();
    let (stop, stop_rx) = watch::channel(false);
    let mut miners = Miners {
        addrs: Vec::new(),
        stop,
        tasks: Vec::new(),
    };
    for index in 0..options.miners {
        match start_miner(layout, options, registry, &validator, index).await {
            Ok(miner) => {
                miners.addrs.push(miner.local_addr());
                miners
                    .tasks
                    .push(tokio::spawn(miner.serve(stop_signal(stop_rx.clone()))));
            }
            Err(e) => {
                // Stop the ones already started before reporting.
                let _ = miners.stop().await;
                return Err(e.context(format!("starting miner {index}")));
            }
        }
    }
    Ok(miners)
}

async fn start_miner(
    layout: &Layout,
    options: &DevnetOptions,
    registry: &LocalRegistry,
    validator: &str,
    index: u32,
) -> anyhow::Result<Miner> {
    let wallet = miner_wallet(index);
    let hotkey = layout.hotkey(&wallet)?.account_id();
    let uid = registry
        .register(Registration {
            hotkey,
            coldkey: None,
            role: Role::Miner,
            stake: 0.0,
        })
        .await?;
    let config = MinerConfig {
        neuron: NeuronConfig {
            netuid: NETUID,
            chain: ChainSource::Registry(layout.registry()),
            wallet: WalletConfig {
                name: wallet,
                hotkey: HOTKEY.into(),
                path: layout.wallets(),
            },
            debug: false,
        },
        bind: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
        external_ip: None,
        circuits: vec![options.circuit.clone()],
        auth: AuthConfig {
            allow: vec![validator.to_string()],
            ..AuthConfig::default()
        },
        ..MinerConfig::default()
    };
    let chain = Arc::new(LocalRegistry::open(layout.registry(), NETUID, hotkey)?);
    let miner = Miner::start(&config, hotkey, chain).await?;
    tracing::info!(uid, addr = %miner.local_addr(), "devnet miner started");
    Ok(miner)
}

/// The validator's settings: this devnet's registry, wallet and database, synthetic
/// images (no network), no metrics port, weights every block.
pub(crate) fn validator_config(
    layout: &Layout,
    options: &DevnetOptions,
) -> anyhow::Result<ValidatorConfig> {
    let cli = ValidatorCli {
        neuron: NeuronArgs {
            netuid: Some(NETUID),
            registry: Some(layout.registry()),
            wallet_name: Some(VALIDATOR_WALLET.into()),
            wallet_hotkey: Some(HOTKEY.into()),
            wallet_path: Some(layout.wallets()),
            ..NeuronArgs::default()
        },
        database: Some(layout.database().to_string_lossy().into_owned()),
        dataset: Some("synthetic".into()),
        circuit: Some(options.circuit.clone()),
        weights_interval: Some(1),
        metrics_port: Some(0),
        ..ValidatorCli::default()
    };
    Ok(ValidatorConfig::merge(cli, FileConfig::default())?)
}

/// The devnet validator, acting through the registry as its own hotkey.
pub(crate) async fn start_validator(
    layout: &Layout,
    options: &DevnetOptions,
    registry: LocalRegistry,
) -> anyhow::Result<Validator> {
    let keypair = layout.hotkey(VALIDATOR_WALLET)?;
    let config = validator_config(layout, options)?;
    Validator::new(config, Arc::new(registry), Arc::new(keypair))
        .await
        .context("starting the validator")
}
