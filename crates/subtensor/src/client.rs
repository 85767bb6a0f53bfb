//! [`Chain`] over subxt: reads storage and runtime APIs, signs and submits SubtensorModule
//! extrinsics. Metadata comes from the node at run time (nothing is generated at build
//! time), so a runtime upgrade that keeps the call shapes needs no rebuild.

use std::sync::Arc;

use async_trait::async_trait;
use brainlock_account::AccountId;
use brainlock_chain::{
    AxonInfo, BoxError, Chain, ChainError, CommitReveal, Metagraph, Submission, WeightRules,
    WeightsReceipt, convert_weights, prepare_weights,
};
use brainlock_epistula::{CryptoType, Keypair};
use subxt::client::OnlineClientAtBlock;
use subxt::dynamic;
use subxt::{OnlineClient, SubstrateConfig};
use tokio::sync::RwLock;
use tracing::info;

use crate::calls::{self, SubtensorCall};
use crate::commit::{self, EpochSchedule};
use crate::network::Network;
use crate::neurons::{NeuronInfoLite, to_metagraph};
use crate::refusal;
use crate::retry::RetryPolicy;
use crate::signer::HotkeySigner;

type Client = OnlineClient<SubstrateConfig>;
type AtBlock = OnlineClientAtBlock<SubstrateConfig>;

/// Options of a [`SubtensorChain`].
#[derive(Debug, Clone)]
pub struct SubtensorOptions {
    /// Subtensor network (or node URL) to connect to.
    pub network: Network,
    /// Mechanism (sub-subnet) the weights are for; 0 is the subnet's main mechanism.
    pub mechanism_id: u8,
    /// Retries for reads and submissions whose connection failed.
    pub retry: RetryPolicy,
}

impl SubtensorOptions {
    /// Options for `network`: mechanism 0 and the default [`RetryPolicy`].
    pub fn new(network: Network) -> Self {
        Self {
            network,
            mechanism_id: 0,
            retry: RetryPolicy::default(),
        }
    }
}

/// Subtensor access for one hotkey.
pub struct SubtensorChain {
    client: RwLock<Client>,
    signer: Arc<HotkeySigner>,
    options: SubtensorOptions,
}

fn connection(e: impl Into<BoxError>) -> ChainError {
    ChainError::Connection(e.into())
}

fn decode(e: impl Into<BoxError>) -> ChainError {
    ChainError::Decode(e.into())
}

async fn connect(network: &Network) -> Result<Client, ChainError> {
    info!(url = network.url(), "connecting to subtensor");
    // `from_insecure_url` accepts ws:// (a local node) as well as wss://.
    Client::from_insecure_url(network.url())
        .await
        .map_err(connection)
}

impl SubtensorChain {
    /// Connects (retrying with backoff) and reads the runtime metadata from the node.
    pub async fn connect(
        options: SubtensorOptions,
        signer: HotkeySigner,
    ) -> Result<Self, ChainError> {
        let network = options.network.clone();
        let client = options
            .retry
            .run("connect", || connect(&network), || async {})
            .await?;
        Ok(Self {
            client: RwLock::new(client),
            signer: Arc::new(signer),
            options,
        })
    }

    /// Connects to `network` (`finney`, `test`, `local` or a `ws(s)://` URL) with the
    /// default options, signing as `hotkey` (a wallet's sr25519 hotkey): what the
    /// daemons' `--subtensor.network` does.
    pub async fn connect_as(network: &str, hotkey: &Keypair) -> Result<Self, ChainError> {
        let network: Network = network
            .parse()
            .map_err(|e: crate::network::UnknownNetwork| ChainError::Config(e.into()))?;
        if hotkey.crypto_type() != CryptoType::Sr25519 {
            return Err(ChainError::config(format!(
                "hotkey {} is {:?}: extrinsics are signed with sr25519 hotkeys only",
                hotkey.account_id().to_ss58(),
                hotkey.crypto_type()
            )));
        }
        let signer = HotkeySigner::from_seed(*hotkey.secret_seed())
            .map_err(|e| ChainError::Config(e.into()))?;
        Self::connect(SubtensorOptions::new(network), signer).await
    }

    /// Replaces the connection after a transport failure.
    async fn reconnect(&self) {
        match connect(&self.options.network).await {
            Ok(client) => *self.client.write().await = client,
            Err(e) => tracing::warn!(error = %e, "reconnecting to subtensor failed"),
        }
    }

    async fn at_current_block(&self) -> Result<AtBlock, ChainError> {
        let client = self.client.read().await.clone();
        client.at_current_block().await.map_err(connection)
    }

    /// Runs a read with retries, reconnecting between attempts.
    async fn read<T, F, Fut>(&self, what: &str, f: F) -> Result<T, ChainError>
    where
        F: Fn(AtBlock) -> Fut,
        Fut: std::future::Future<Output = Result<T, ChainError>>,
    {
        self.options
            .retry
            .run(
                what,
                || async { f(self.at_current_block().await?).await },
                || self.reconnect(),
            )
            .await
    }

    /// Signs, submits and waits until the extrinsic is in a finalized block without a
    /// dispatch error. Returns its hash (`0x` hex). A refusal for one of the pallet's
    /// rules, in the pool or in the block, is [`ChainError::Refused`].
    async fn submit(&self, at: &AtBlock, call: &SubtensorCall) -> Result<String, ChainError> {
        let mut tx = at.transactions();
        let progress = tx
            .sign_and_submit_then_watch_default(call, self.signer.keypair())
            .await
            .map_err(|e| refusal::from_submission(e, call.call_name()))?;
        let hash = format!("0x{}", hex::encode(progress.extrinsic_hash().as_ref()));
        progress
            .wait_for_finalized_success()
            .await
            .map_err(|e| refusal::from_dispatch(e, call.call_name()))?;
        Ok(hash)
    }

    /// Signs and submits any `SubtensorModule` call as this hotkey, without the checks
    /// [`Chain::set_weights`] makes first: for tools, and for tests of the chain's rules.
    /// Returns the extrinsic's hash once it is finalized.
    pub async fn submit_call(&self, call: &SubtensorCall) -> Result<String, ChainError> {
        let at = self.at_current_block().await?;
        self.submit(&at, call).await
    }
}

/// One `SubtensorModule` storage value, decoded as `V`.
async fn storage<K, V>(at: &AtBlock, entry: &str, keys: K) -> Result<V, ChainError>
where
    K: subxt::ext::frame_decode::storage::IntoEncodableValues
        + subxt::ext::frame_decode::storage::IntoDecodableValues,
    V: subxt::ext::scale_decode::DecodeAsType,
{
    let addr = dynamic::storage::<K, V>(calls::PALLET, entry);
    at.storage()
        .fetch(addr, keys)
        .await
        .map_err(connection)?
        .decode()
        .map_err(decode)
}

/// One `SubtensorModule` storage value that may be absent (a map without a default).
async fn optional_storage<K, V>(at: &AtBlock, entry: &str, keys: K) -> Result<Option<V>, ChainError>
where
    K: subxt::ext::frame_decode::storage::IntoEncodableValues
        + subxt::ext::frame_decode::storage::IntoDecodableValues,
    V: subxt::ext::scale_decode::DecodeAsType,
{
    let addr = dynamic::storage::<K, V>(calls::PALLET, entry);
    match at
        .storage()
        .try_fetch(addr, keys)
        .await
        .map_err(connection)?
    {
        Some(value) => Ok(Some(value.decode().map_err(decode)?)),
        None => Ok(None),
    }
}

async fn storage_u64(at: &AtBlock, entry: &str, netuid: u16) -> Result<u64, ChainError> {
    storage(at, entry, (netuid,)).await
}

async fn storage_bool(at: &AtBlock, entry: &str, netuid: u16) -> Result<bool, ChainError> {
    storage(at, entry, (netuid,)).await
}

async fn storage_plain_u64(at: &AtBlock, entry: &str) -> Result<u64, ChainError> {
    storage(at, entry, ()).await
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn narrow<T: TryFrom<u64>>(entry: &str, value: u64) -> Result<T, ChainError> {
    T::try_from(value).map_err(|_| decode(format!("{entry} = {value} is out of range")))
}

async fn read_rules(at: &AtBlock, netuid: u16) -> Result<WeightRules, ChainError> {
    let commit_reveal = if storage_bool(at, "CommitRevealWeightsEnabled", netuid).await? {
        Some(CommitReveal {
            version: narrow(
                "CommitRevealWeightsVersion",
                storage_plain_u64(at, "CommitRevealWeightsVersion").await?,
            )?,
            reveal_period_epochs: storage_u64(at, "RevealPeriodEpochs", netuid).await?,
        })
    } else {
        None
    };
    Ok(WeightRules {
        rate_limit_blocks: storage_u64(at, "WeightsSetRateLimit", netuid).await?,
        version_key: storage_u64(at, "WeightsVersionKey", netuid).await?,
        min_allowed_weights: narrow(
            "MinAllowedWeights",
            storage_u64(at, "MinAllowedWeights", netuid).await?,
        )?,
        // The runtime keeps `MaxWeightsLimit` in storage but no longer applies it: its
        // metadata says `MaxWeightExceeded` is for "the configured max weight limit
        // (currently `u16::MAX`)". A stale stored value must not stop a commit here.
        max_weight_limit: u16::MAX,
        tempo: narrow("Tempo", storage_u64(at, "Tempo", netuid).await?)?,
        commit_reveal,
        // A value with a default: an unset owner reads as the all-zero account.
        owner_hotkey: optional_storage::<_, [u8; 32]>(at, "SubnetOwnerHotkey", (netuid,))
            .await?
            .filter(|key| *key != [0; 32])
            .map(AccountId),
    })
}

/// The drand round a commit made now is locked to: from the subnet's epoch schedule on
/// runtimes that keep one (`LastEpochBlock` in their metadata), from the epoch grid
/// otherwise.
async fn reveal_round(
    at: &AtBlock,
    netuid: u16,
    tempo: u16,
    reveal_period_epochs: u64,
) -> Result<u64, ChainError> {
    let head = at.block_number();
    let now = unix_now();
    let has_schedule = at
        .metadata_ref()
        .pallet_by_name(calls::PALLET)
        .and_then(|p| p.storage())
        .is_some_and(|s| s.entry_by_name("LastEpochBlock").is_some());
    if !has_schedule {
        return Ok(commit::reveal_round(
            head,
            netuid,
            tempo,
            reveal_period_epochs,
            now,
        ));
    }
    let schedule = EpochSchedule {
        tempo,
        last_epoch_block: storage_u64(at, "LastEpochBlock", netuid).await?,
        pending_epoch_at: storage_u64(at, "PendingEpochAt", netuid).await?,
        epoch_index: storage_u64(at, "SubnetEpochIndex", netuid).await?,
        blocks_since_last_step: storage_u64(at, "BlocksSinceLastStep", netuid).await?,
    };
    let block = schedule
        .first_reveal_block(head, reveal_period_epochs)
        .ok_or_else(|| ChainError::config(format!("subnet {netuid} runs no epochs (tempo 0)")))?;
    Ok(commit::round_for_block(block, head, now))
}

async fn read_metagraph(at: &AtBlock, netuid: u16) -> Result<Metagraph, ChainError> {
    let payload = dynamic::runtime_api_call::<_, Vec<NeuronInfoLite>>(
        "NeuronInfoRuntimeApi",
        "get_neurons_lite",
        (netuid,),
    );
    let neurons = at.runtime_apis().call(payload).await.map_err(connection)?;
    // The runtime answers an empty list for a subnet that does not exist.
    if neurons.is_empty() && !storage_bool(at, "NetworksAdded", netuid).await? {
        return Err(ChainError::UnknownSubnet(netuid));
    }
    Ok(to_metagraph(netuid, at.block_number(), neurons))
}

#[async_trait]
impl Chain for SubtensorChain {
    fn hotkey(&self) -> &AccountId {
        self.signer.account_id()
    }

    async fn current_block(&self) -> Result<u64, ChainError> {
        self.read("current_block", |at| async move { Ok(at.block_number()) })
            .await
    }

    async fn metagraph(&self, netuid: u16) -> Result<Metagraph, ChainError> {
        self.read("metagraph", |at| async move {
            read_metagraph(&at, netuid).await
        })
        .await
    }

    async fn uid_of(&self, netuid: u16, hotkey: &AccountId) -> Result<Option<u16>, ChainError> {
        let key = hotkey.0;
        self.read("uid_of", |at| async move {
            optional_storage(&at, "Uids", (netuid, key)).await
        })
        .await
    }

    async fn serve_axon(&self, netuid: u16, axon: AxonInfo) -> Result<(), ChainError> {
        let at = self.at_current_block().await?;
        let hash = self.submit(&at, &calls::serve_axon(netuid, &axon)).await?;
        info!(netuid, addr = %axon.addr, extrinsic = hash, "axon served");
        Ok(())
    }

    async fn weight_rules(&self, netuid: u16) -> Result<WeightRules, ChainError> {
        self.read(
            "weight_rules",
            |at| async move { read_rules(&at, netuid).await },
        )
        .await
    }

    async fn set_weights(
        &self,
        netuid: u16,
        weights: &[(u16, f32)],
        version_key: u64,
    ) -> Result<WeightsReceipt, ChainError> {
        let at = self.at_current_block().await?;
        let rules = read_rules(&at, netuid).await?;
        let metagraph = read_metagraph(&at, netuid).await?;
        let mecid = self.options.mechanism_id;
        if let Some(commit_reveal) = rules.commit_reveal {
            // Commit-reveal subnets take only timelocked commits, and judge the weights
            // only when they reveal them, where a refusal reaches nobody: check them
            // here as the reveal will.
            let prepared = prepare_weights(
                self.hotkey(),
                &metagraph,
                &rules,
                weights,
                version_key,
                self.applied_at(at.block_number()),
            )?;
            let payload = commit::payload(
                &self.signer.public_key(),
                &prepared.uids,
                &prepared.weights,
                version_key,
            );
            let reveal_round =
                reveal_round(&at, netuid, rules.tempo, commit_reveal.reveal_period_epochs).await?;
            let encrypted = commit::encrypt_commit(&payload, reveal_round)
                .map_err(|e| ChainError::Timelock(Box::new(e)))?;
            let call = calls::commit_timelocked_mechanism_weights(
                netuid,
                mecid,
                &encrypted,
                reveal_round,
                commit_reveal.version,
            );
            let extrinsic_hash = self.submit(&at, &call).await?;
            info!(
                netuid,
                count = prepared.uids.len(),
                reveal_round,
                extrinsic = extrinsic_hash,
                "timelocked weights committed"
            );
            return Ok(WeightsReceipt {
                netuid,
                block: metagraph.block,
                uids: prepared.uids,
                weights: prepared.weights,
                version_key,
                submission: Submission::TimelockedCommit {
                    extrinsic_hash,
                    reveal_round,
                },
            });
        }
        // A direct setting: the chain applies its rules and names the one broken.
        let prepared = convert_weights(self.hotkey(), &metagraph, &rules, weights)?;
        let call = if mecid == 0 {
            calls::set_weights(netuid, &prepared.uids, &prepared.weights, version_key)
        } else {
            calls::set_mechanism_weights(
                netuid,
                mecid,
                &prepared.uids,
                &prepared.weights,
                version_key,
            )
        };
        let extrinsic_hash = self.submit(&at, &call).await?;
        info!(
            netuid,
            count = prepared.uids.len(),
            extrinsic = extrinsic_hash,
            "weights set"
        );
        Ok(WeightsReceipt {
            netuid,
            block: metagraph.block,
            uids: prepared.uids,
            weights: prepared.weights,
            version_key,
            submission: Submission::Direct { extrinsic_hash },
        })
    }
}
