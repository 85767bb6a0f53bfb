//! The local registry: a JSON file of neurons and a weights ledger that stand in for a
//! chain, so a whole subnet runs on one machine. Block numbers advance every 12 seconds
//! from the registry's genesis time.

mod ledger;
mod store;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use brainlock_account::AccountId;
use tracing::{debug, info};

pub use ledger::{LedgerEntry, read_ledger};
pub use store::{RegisteredNeuron, RegistryFile, Role};

use crate::api::Chain;
use crate::error::ChainError;
use crate::prepare::prepare_weights;
use crate::refusal::PalletError;
use crate::rules::WeightRules;
use crate::types::{AxonInfo, Metagraph, Neuron, Submission, WeightsReceipt};

/// Seconds per block, as on subtensor.
pub const BLOCK_SECONDS: u64 = 12;

type Clock = Arc<dyn Fn() -> SystemTime + Send + Sync>;

/// A neuron to add to the registry.
#[derive(Debug, Clone, PartialEq)]
pub struct Registration {
    /// Hotkey to register (SS58 in the registry file).
    pub hotkey: AccountId,
    /// Owning coldkey; `None` leaves the registry showing the hotkey as its own coldkey.
    pub coldkey: Option<AccountId>,
    /// Whether it validates or mines; decides the default validator permit.
    pub role: Role,
    /// Stake in TAO.
    pub stake: f64,
}

/// [`Chain`] backed by a registry file and a weights ledger, acting as one hotkey.
#[derive(Clone)]
pub struct LocalRegistry {
    inner: Arc<Inner>,
}

struct Inner {
    registry: PathBuf,
    ledger: PathBuf,
    netuid: u16,
    hotkey: AccountId,
    clock: Clock,
}

fn unix_seconds(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// The block number at a time, for a registry whose block 0 was at `genesis_unix`.
pub fn block_at(genesis_unix: u64, now_unix: u64) -> u64 {
    now_unix.saturating_sub(genesis_unix) / BLOCK_SECONDS
}

/// The default ledger path next to a registry: `<registry>.weights.jsonl`.
pub fn default_ledger_path(registry: &Path) -> PathBuf {
    let mut name = registry.as_os_str().to_owned();
    name.push(".weights.jsonl");
    PathBuf::from(name)
}

impl LocalRegistry {
    /// Opens the registry at `path` for subnet `netuid`, acting as `hotkey`,
    /// creating the file (genesis = now) when it does not exist yet. The ledger goes to
    /// [`default_ledger_path`] unless [`LocalRegistry::with_ledger`] says otherwise.
    pub fn open(
        path: impl Into<PathBuf>,
        netuid: u16,
        hotkey: AccountId,
    ) -> Result<Self, ChainError> {
        Self::open_with_clock(path, netuid, hotkey, Arc::new(SystemTime::now))
    }

    /// Like [`LocalRegistry::open`] with a clock other than the system's (for tests and
    /// replays).
    pub fn open_with_clock(
        path: impl Into<PathBuf>,
        netuid: u16,
        hotkey: AccountId,
        clock: Arc<dyn Fn() -> SystemTime + Send + Sync>,
    ) -> Result<Self, ChainError> {
        let registry = path.into();
        let now = unix_seconds(clock());
        let file_netuid = store::update(
            &registry,
            || {
                info!(path = %registry.display(), netuid, "creating local registry");
                RegistryFile::new(netuid, now)
            },
            |file| Ok(file.netuid),
        )?;
        if file_netuid != netuid {
            return Err(ChainError::config(format!(
                "local registry {} is for subnet {file_netuid}, not {netuid}",
                registry.display()
            )));
        }
        Ok(Self {
            inner: Arc::new(Inner {
                ledger: default_ledger_path(&registry),
                registry,
                netuid,
                hotkey,
                clock,
            }),
        })
    }

    /// Writes the weights ledger to another path.
    pub fn with_ledger(self, ledger: impl Into<PathBuf>) -> Self {
        let inner = &self.inner;
        Self {
            inner: Arc::new(Inner {
                registry: inner.registry.clone(),
                ledger: ledger.into(),
                netuid: inner.netuid,
                hotkey: inner.hotkey,
                clock: inner.clock.clone(),
            }),
        }
    }

    /// Path of the registry JSON file.
    pub fn registry_path(&self) -> &Path {
        &self.inner.registry
    }

    /// Path of the weights ledger (JSON lines).
    pub fn ledger_path(&self) -> &Path {
        &self.inner.ledger
    }

    /// Registers a neuron (or updates the role, stake and coldkey of one already there)
    /// and returns its uid. Uids are handed out in order, as the chain does.
    pub async fn register(&self, registration: Registration) -> Result<u16, ChainError> {
        if !(registration.stake.is_finite() && registration.stake >= 0.0) {
            return Err(ChainError::config(format!(
                "stake {} must be a non-negative number",
                registration.stake
            )));
        }
        self.blocking(move |inner| {
            let now = inner.now();
            store::update(&inner.registry, || inner.fresh_file(now), |file| {
                let block = block_at(file.genesis_unix, now);
                if let Some(neuron) = file
                    .neurons
                    .iter_mut()
                    .find(|n| n.hotkey == registration.hotkey)
                {
                    neuron.role = registration.role;
                    neuron.stake = registration.stake;
                    neuron.coldkey = registration.coldkey;
                    return Ok(neuron.uid);
                }
                let uid = next_uid(file)?;
                info!(uid, hotkey = %registration.hotkey, role = ?registration.role, "registered in local registry");
                file.neurons.push(RegisteredNeuron {
                    uid,
                    hotkey: registration.hotkey,
                    coldkey: registration.coldkey,
                    role: registration.role,
                    stake: registration.stake,
                    validator_permit: None,
                    axon: None,
                    axon_version: 0,
                    last_update: block,
                });
                Ok(uid)
            })
        })
        .await
    }

    /// Replaces the weight rules stored in the registry (operator tooling and tests).
    pub async fn set_weight_rules(&self, rules: WeightRules) -> Result<(), ChainError> {
        self.blocking(move |inner| {
            let now = inner.now();
            store::update(
                &inner.registry,
                || inner.fresh_file(now),
                |file| {
                    file.rules = rules;
                    Ok(())
                },
            )
        })
        .await
    }

    /// Runs blocking file work off the async runtime.
    async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Inner) -> Result<T, ChainError> + Send + 'static,
    ) -> Result<T, ChainError> {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || work(&inner))
            .await
            .map_err(|e| ChainError::Config(Box::new(e)))?
    }
}

impl Inner {
    fn now(&self) -> u64 {
        unix_seconds((self.clock)())
    }

    fn fresh_file(&self, now: u64) -> RegistryFile {
        RegistryFile::new(self.netuid, now)
    }

    fn read(&self, netuid: u16) -> Result<RegistryFile, ChainError> {
        if netuid != self.netuid {
            return Err(ChainError::UnknownSubnet(netuid));
        }
        store::read(&self.registry)
    }
}

fn next_uid(file: &RegistryFile) -> Result<u16, ChainError> {
    let next = file
        .neurons
        .iter()
        .map(|n| u32::from(n.uid) + 1)
        .max()
        .unwrap_or(0);
    u16::try_from(next).map_err(|_| ChainError::config("the registry is full (65536 uids)"))
}

fn to_metagraph(file: &RegistryFile, block: u64) -> Metagraph {
    let mut neurons: Vec<Neuron> = file
        .neurons
        .iter()
        .map(|n| Neuron {
            uid: n.uid,
            hotkey: n.hotkey,
            coldkey: n.coldkey.unwrap_or(n.hotkey),
            axon: n.axon,
            validator_permit: n.has_permit(),
            stake: n.stake,
            last_update: n.last_update,
        })
        .collect();
    neurons.sort_by_key(|n| n.uid);
    Metagraph {
        netuid: file.netuid,
        block,
        neurons,
    }
}

#[async_trait]
impl Chain for LocalRegistry {
    fn hotkey(&self) -> &AccountId {
        &self.inner.hotkey
    }

    async fn current_block(&self) -> Result<u64, ChainError> {
        self.blocking(|inner| {
            let file = inner.read(inner.netuid)?;
            Ok(block_at(file.genesis_unix, inner.now()))
        })
        .await
    }

    async fn metagraph(&self, netuid: u16) -> Result<Metagraph, ChainError> {
        self.blocking(move |inner| {
            let file = inner.read(netuid)?;
            Ok(to_metagraph(
                &file,
                block_at(file.genesis_unix, inner.now()),
            ))
        })
        .await
    }

    async fn uid_of(&self, netuid: u16, hotkey: &AccountId) -> Result<Option<u16>, ChainError> {
        let hotkey = *hotkey;
        self.blocking(move |inner| {
            let file = inner.read(netuid)?;
            Ok(file
                .neurons
                .iter()
                .find(|n| n.hotkey == hotkey)
                .map(|n| n.uid))
        })
        .await
    }

    async fn serve_axon(&self, netuid: u16, axon: AxonInfo) -> Result<(), ChainError> {
        self.blocking(move |inner| {
            if netuid != inner.netuid {
                return Err(ChainError::UnknownSubnet(netuid));
            }
            if axon.addr.port() == 0 {
                return Err(ChainError::Refused(PalletError::InvalidPort));
            }
            // The chain accepts 0.0.0.0 (and refuses loopback, which a one-machine
            // registry is for): an address nobody can reach is refused here instead.
            if axon.addr.ip().is_unspecified() {
                return Err(ChainError::config(format!(
                    "axon address {} is not reachable",
                    axon.addr
                )));
            }
            let now = inner.now();
            store::update(
                &inner.registry,
                || inner.fresh_file(now),
                |file| {
                    let neuron = file
                        .neurons
                        .iter_mut()
                        .find(|n| n.hotkey == inner.hotkey)
                        .ok_or(ChainError::NotRegistered {
                            hotkey: inner.hotkey,
                            netuid,
                        })?;
                    neuron.axon = Some(axon.addr);
                    neuron.axon_version = axon.version;
                    info!(uid = neuron.uid, addr = %axon.addr, "axon served in local registry");
                    Ok(())
                },
            )
        })
        .await
    }

    /// Writes apply at once, at the block of the clock.
    fn applied_at(&self, current_block: u64) -> u64 {
        current_block
    }

    async fn weight_rules(&self, netuid: u16) -> Result<WeightRules, ChainError> {
        self.blocking(move |inner| Ok(inner.read(netuid)?.rules))
            .await
    }

    async fn set_weights(
        &self,
        netuid: u16,
        weights: &[(u16, f32)],
        version_key: u64,
    ) -> Result<WeightsReceipt, ChainError> {
        let scores = weights.to_vec();
        self.blocking(move |inner| {
            if netuid != inner.netuid {
                return Err(ChainError::UnknownSubnet(netuid));
            }
            let now_ms = (inner.clock)()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64);
            let now = now_ms / 1000;
            store::update(
                &inner.registry,
                || inner.fresh_file(now),
                |file| {
                    let block = block_at(file.genesis_unix, now);
                    let metagraph = to_metagraph(file, block);
                    let prepared = prepare_weights(
                        &inner.hotkey,
                        &metagraph,
                        &file.rules,
                        &scores,
                        version_key,
                        block,
                    )?;
                    let entry = LedgerEntry {
                        block,
                        unix_ms: now_ms,
                        netuid,
                        validator: inner.hotkey,
                        uids: prepared.uids.clone(),
                        weights: prepared.weights.clone(),
                        version_key,
                    };
                    ledger::append(&inner.ledger, &entry)?;
                    if let Some(own) = file.neurons.iter_mut().find(|n| n.uid == prepared.own_uid) {
                        own.last_update = block;
                    }
                    debug!(
                        block,
                        count = entry.uids.len(),
                        "weights written to the local ledger"
                    );
                    Ok(WeightsReceipt {
                        netuid,
                        block,
                        uids: prepared.uids,
                        weights: prepared.weights,
                        version_key,
                        submission: Submission::Ledger,
                    })
                },
            )
        })
        .await
    }
}
