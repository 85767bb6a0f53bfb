//! # Test node: a test double for a live subtensor node
//!
//! [`TestNode`] listens on `127.0.0.1` and speaks the Substrate JSON-RPC protocol over
//! WebSocket, so [`brainlock_subtensor::SubtensorChain`] connects to it exactly as it would
//! to a real subtensor node: the same client code, pointed at a real node's URL, runs
//! unchanged. Everything it serves comes from the real finney runtime metadata (the
//! fixture at [`metadata_path`]):
//!
//! - the metadata itself (`Metadata_metadata_versions`, `Metadata_metadata_at_version`),
//! - storage values (`state_getStorage`), under the keys the metadata's hashers give and
//!   SCALE-encoded as the metadata's value types,
//! - runtime API answers (`state_call`), e.g. `NeuronInfoRuntimeApi_get_neurons_lite`,
//!   encoded as the metadata's output types,
//! - blocks (`chain_getBlockHash`, `chain_getHeader`, `chain_getBlock`,
//!   `chain_getFinalizedHead`).
//!
//! Submitted extrinsics (`author_submitAndWatchExtrinsic`) are decoded against the
//! metadata; the node checks the declared transaction extensions, the nonce, the mortality,
//! and the sr25519 signature over the signer payload it rebuilds itself (call data, the
//! extensions' explicit values, then their implicit data: spec and transaction versions,
//! genesis hash, mortality checkpoint, metadata hash). An invalid one is answered with the
//! error a Substrate node gives (code 1010, "Invalid Transaction"). A valid
//! `SubtensorModule` call then meets the pallet's rules (module `pallet`): the pool's
//! checks refuse it the same way with subtensor's custom validity code (`"Custom error:
//! 6"`), and the call itself either fails in its block with `System.ExtrinsicFailed` and
//! the pallet's error, indexed as the metadata's error enum, or succeeds and changes the
//! subnet's state (`LastUpdate`, axons, commits), which the node serves from then on. Each
//! included extrinsic is recorded as an [`IncludedCall`] and reported `ready`, `inBlock`
//! and `finalized`.
//!
//! The node advertises only the legacy RPC methods in `rpc_methods`, so subxt's combined
//! backend talks to it through its legacy backend (a real node also offers `chainHead_v1_*`
//! and subxt picks those there; the client code is the same either way).
//!
//! Simplifications, as a test double: storage is one global map, the latest state (only
//! `System.Events` differs per block); only the rules of the calls Brainlock makes are
//! applied; blocks come when a call is included, when the test asks
//! ([`TestNode::advance`]) or on a timer ([`TestNode::produce_blocks`]), and each is
//! finalized as soon as it exists. Block hashes are the blake2-256 of the SCALE-encoded
//! header, as on a Substrate chain, but the state and extrinsics roots are placeholders.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

use scale_info::{PortableRegistry, TypeDef, TypeDefPrimitive};
use serde_json::{Value as Json, json};
use soketto::handshake::Server;
use soketto::handshake::server::Response;
use subxt::Metadata;
use subxt::config::Hasher;
use subxt::config::substrate::{BlakeTwo256, Digest, SubstrateHeader};
use subxt::dynamic::Value;
use subxt::ext::codec::{Compact, Decode, Encode};
use subxt::ext::frame_decode;
use subxt::ext::scale_encode::EncodeAsType;
use subxt::ext::scale_value::{Composite, ValueDef};
use subxt::utils::{Era, H256};
use subxt_signer::sr25519;
use tokio::net::{TcpListener, TcpStream};

mod pallet;

use pallet::Pallet;
pub use pallet::{MAX_UNREVEALED_COMMITS, TestNeuron, TestSubnet};
use tokio_util::compat::TokioAsyncReadCompatExt;

/// Path of the finney metadata fixture: `BRAINLOCK_CHAIN_METADATA`, else the shared copy
/// beside the repository (`<repo>/../shared/chain/`).
pub fn metadata_path() -> PathBuf {
    std::env::var_os("BRAINLOCK_CHAIN_METADATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../../../shared/chain/finney-spec393.metadata.scale")
        })
}

/// The runtime version the node reports (that of the metadata fixture).
pub const SPEC_VERSION: u32 = 393;
/// The transaction version the node reports.
pub const TRANSACTION_VERSION: u32 = 1;

/// The pallet whose rules the node applies.
const PALLET: &str = "SubtensorModule";

/// JSON-RPC error code of a Substrate node for an invalid transaction.
const INVALID_TRANSACTION: i64 = 1010;

/// The RPC methods the node serves (all of them legacy methods).
const METHODS: &[&str] = &[
    "rpc_methods",
    "chain_getBlockHash",
    "chain_getHeader",
    "chain_getBlock",
    "chain_getFinalizedHead",
    "state_getStorage",
    "state_call",
    "author_submitAndWatchExtrinsic",
    "author_unwatchExtrinsic",
];

/// A call the node accepted: decoded against the metadata, signature checked.
#[derive(Debug, Clone)]
pub struct IncludedCall {
    /// The pallet's name.
    pub pallet: String,
    /// The call's name.
    pub call: String,
    /// Arguments by name, decoded as the metadata describes them.
    pub args: Vec<(String, Value)>,
    /// The signer's public key.
    pub signer: [u8; 32],
    /// The nonce it was signed with.
    pub nonce: u32,
    /// Number of the block the extrinsic was included (and finalized) in.
    pub block: u64,
    /// The pallet error it failed with in that block (`System.ExtrinsicFailed`), if any.
    pub error: Option<String>,
}

impl IncludedCall {
    /// The argument `name`, decoded (panics when the call has none).
    pub fn arg(&self, name: &str) -> &Value {
        self.args
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v)
            .unwrap_or_else(|| panic!("{}.{} has no argument {name}", self.pallet, self.call))
    }

    /// A number argument.
    pub fn arg_u128(&self, name: &str) -> u128 {
        self.arg(name)
            .as_u128()
            .unwrap_or_else(|| panic!("argument {name} is not a number"))
    }

    /// A sequence argument of numbers (e.g. `dests`, `weights`).
    pub fn arg_u128_list(&self, name: &str) -> Vec<u128> {
        let ValueDef::Composite(items) = &self.arg(name).value else {
            panic!("argument {name} is not a sequence");
        };
        items
            .values()
            .map(|v| v.as_u128().expect("a number"))
            .collect()
    }
}

struct Block {
    header: SubstrateHeader<H256>,
    hash: H256,
    extrinsics: Vec<Vec<u8>>,
    /// The SCALE-encoded `System.Events` of this block.
    events: Vec<u8>,
}

/// The node's chain: metadata, blocks, storage and what was submitted.
struct Chain {
    /// The fixture bytes: a `RuntimeMetadataPrefixed`.
    metadata_bytes: Vec<u8>,
    metadata_version: u32,
    metadata: Arc<Metadata>,
    /// Every block from genesis, by number; the last one is the finalized head.
    blocks: Vec<Block>,
    storage: HashMap<Vec<u8>, Vec<u8>>,
    /// Runtime API answers by (`Trait_method`, encoded arguments).
    runtime_calls: HashMap<(String, Vec<u8>), Vec<u8>>,
    nonces: HashMap<[u8; 32], u32>,
    included: Vec<IncludedCall>,
    rejections: Vec<String>,
    /// Flip a byte of every submitted signature before checking it.
    corrupt_signatures: bool,
    next_subscription: u64,
    /// The SubtensorModule state its rules read and change.
    pallet: Pallet,
}

/// A running test node. Dropping it stops accepting connections.
pub struct TestNode {
    addr: SocketAddr,
    chain: Arc<Mutex<Chain>>,
    accept: tokio::task::JoinHandle<()>,
    producer: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl Drop for TestNode {
    fn drop(&mut self) {
        self.accept.abort();
        if let Some(producer) = self.producer.lock().expect("producer").take() {
            producer.abort();
        }
    }
}

impl TestNode {
    /// Starts a node whose finalized head is block `head`, serving `metadata_bytes` (a
    /// `RuntimeMetadataPrefixed`, as the fixture file holds).
    pub async fn start(metadata_bytes: Vec<u8>, head: u64) -> TestNode {
        let metadata = Arc::new(Metadata::decode_from(&metadata_bytes).expect("metadata decodes"));
        let metadata_version = u32::from(metadata_bytes[4]);
        let mut chain = Chain {
            metadata_bytes,
            metadata_version,
            metadata,
            blocks: Vec::new(),
            storage: HashMap::new(),
            runtime_calls: HashMap::new(),
            nonces: HashMap::new(),
            included: Vec::new(),
            rejections: Vec::new(),
            corrupt_signatures: false,
            next_subscription: 0,
            pallet: Pallet::default(),
        };
        chain.pallet.commit_reveal_version = 4;
        for _ in 0..=head {
            chain.push_empty_block();
        }
        let chain = Arc::new(Mutex::new(chain));
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("local addr");
        let accept = tokio::spawn({
            let chain = chain.clone();
            async move {
                while let Ok((stream, _)) = listener.accept().await {
                    let chain = chain.clone();
                    tokio::spawn(async move {
                        if let Err(e) = serve_connection(stream, chain).await {
                            eprintln!("test node: connection ended: {e}");
                        }
                    });
                }
            }
        });
        TestNode {
            addr,
            chain,
            accept,
            producer: Mutex::new(None),
        }
    }

    /// The node's `ws://` URL.
    pub fn url(&self) -> String {
        format!("ws://{}", self.addr)
    }

    fn chain(&self) -> MutexGuard<'_, Chain> {
        self.chain.lock().expect("test node state")
    }

    /// The runtime metadata it serves.
    pub fn metadata(&self) -> Arc<Metadata> {
        self.chain().metadata.clone()
    }

    /// Number of the finalized head.
    pub fn head(&self) -> u64 {
        self.chain().head().header.number
    }

    /// Calls accepted so far, in order.
    pub fn included(&self) -> Vec<IncludedCall> {
        self.chain().included.clone()
    }

    /// Why submitted extrinsics were rejected, in order.
    pub fn rejections(&self) -> Vec<String> {
        self.chain().rejections.clone()
    }

    /// Makes the node flip a byte of each submitted signature before checking it, as a
    /// transport that corrupts extrinsics would.
    pub fn corrupt_signatures(&self, on: bool) {
        self.chain().corrupt_signatures = on;
    }

    /// Sets a storage value: `keys` are the entry's keys (none for a plain value) and
    /// `value` is encoded as the metadata's value type of the entry.
    pub fn set_storage(&self, pallet: &str, entry: &str, keys: Vec<Value>, value: Value) {
        self.chain().put_storage(pallet, entry, keys, value);
    }

    /// Creates or replaces a subnet: its hyperparameters and neurons become the storage
    /// values and `get_neurons_lite` answer the node serves, and what its rules apply.
    pub fn set_subnet(&self, subnet: TestSubnet) {
        let mut chain = self.chain();
        let netuid = subnet.netuid;
        chain.pallet.subnets.insert(netuid, subnet);
        chain.publish(netuid);
    }

    /// A subnet as the calls so far left it (`last_update`, axons).
    pub fn subnet(&self, netuid: u16) -> TestSubnet {
        self.chain().pallet.subnets[&netuid].clone()
    }

    /// The weights uid `uid` last set on `netuid`, as the chain stores them.
    pub fn weights(&self, netuid: u16, uid: u16) -> Option<Vec<(u16, u16)>> {
        self.chain().pallet.weights.get(&(netuid, uid)).cloned()
    }

    /// Adds `blocks` empty blocks.
    pub fn advance(&self, blocks: u64) {
        let mut chain = self.chain();
        for _ in 0..blocks {
            chain.push_empty_block();
        }
    }

    /// Adds an empty block every `period` from now on, as a live chain does.
    pub fn produce_blocks(&self, period: std::time::Duration) {
        let chain = self.chain.clone();
        let task = tokio::spawn(async move {
            let mut timer = tokio::time::interval(period);
            timer.tick().await;
            loop {
                timer.tick().await;
                chain.lock().expect("test node state").push_empty_block();
            }
        });
        if let Some(old) = self.producer.lock().expect("producer").replace(task) {
            old.abort();
        }
    }
}

impl Chain {
    fn put_storage(&mut self, pallet: &str, entry: &str, keys: Vec<Value>, value: Value) {
        let metadata = self.metadata.clone();
        let key = frame_decode::storage::encode_storage_key(
            pallet,
            entry,
            keys,
            &*metadata,
            metadata.types(),
        )
        .unwrap_or_else(|e| panic!("storage key of {pallet}.{entry}: {e}"));
        let value_ty = metadata
            .pallet_by_name(pallet)
            .and_then(|p| p.storage())
            .and_then(|s| s.entry_by_name(entry))
            .unwrap_or_else(|| panic!("no storage entry {pallet}.{entry}"))
            .value_ty();
        let value = encode(&value, value_ty, metadata.types());
        self.storage.insert(key, value);
    }

    /// Serves a subnet's state: its hyperparameters, `Uids`, `NetworksAdded` and the
    /// `get_neurons_lite` answer.
    fn publish(&mut self, netuid: u16) {
        let subnet = self.pallet.subnets[&netuid].clone();
        let key = || vec![Value::u128(netuid.into())];
        for (entry, value) in [
            ("Tempo", u64::from(subnet.tempo)),
            ("WeightsSetRateLimit", subnet.weights_rate_limit),
            ("WeightsVersionKey", subnet.weights_version_key),
            ("MinAllowedWeights", subnet.min_allowed_weights.into()),
            ("MaxWeightsLimit", subnet.max_weights_limit.into()),
            ("RevealPeriodEpochs", subnet.reveal_period_epochs),
            ("ServingRateLimit", subnet.serving_rate_limit),
        ] {
            self.put_storage(PALLET, entry, key(), Value::u128(value.into()));
        }
        self.put_storage(
            PALLET,
            "CommitRevealWeightsEnabled",
            key(),
            Value::bool(subnet.commit_reveal),
        );
        self.put_storage(PALLET, "NetworksAdded", key(), Value::bool(true));
        let version = self.pallet.commit_reveal_version;
        self.put_storage(
            PALLET,
            "CommitRevealWeightsVersion",
            vec![],
            Value::u128(version.into()),
        );
        if let Some(owner) = subnet.owner_hotkey {
            self.put_storage(PALLET, "SubnetOwnerHotkey", key(), account(owner));
        }
        for neuron in &subnet.neurons {
            self.put_storage(
                PALLET,
                "Uids",
                vec![Value::u128(netuid.into()), account(neuron.hotkey)],
                Value::u128(neuron.uid.into()),
            );
        }
        self.put_neurons(netuid, &subnet.neurons);
    }

    /// Sets the answer of `NeuronInfoRuntimeApi::get_neurons_lite(netuid)`.
    fn put_neurons(&mut self, netuid: u16, neurons: &[TestNeuron]) {
        let metadata = self.metadata.clone();
        let types = metadata.types();
        let output_ty = metadata
            .runtime_api_trait_by_name("NeuronInfoRuntimeApi")
            .and_then(|t| t.method_by_name("get_neurons_lite"))
            .expect("NeuronInfoRuntimeApi::get_neurons_lite in the metadata")
            .output_ty();
        let TypeDef::Sequence(seq) = &types.resolve(output_ty).unwrap().type_def else {
            panic!("get_neurons_lite does not return a Vec");
        };
        let neuron_ty = seq.type_param.id;
        let axon_ty = field_ty(neuron_ty, "axon_info", types);
        let values = neurons.iter().map(|n| {
            let mut neuron = zero(neuron_ty, types);
            set_field(&mut neuron, "hotkey", account(n.hotkey));
            set_field(&mut neuron, "coldkey", account(n.coldkey));
            set_field(&mut neuron, "uid", Value::u128(n.uid.into()));
            set_field(
                &mut neuron,
                "last_update",
                Value::u128(n.last_update.into()),
            );
            set_field(
                &mut neuron,
                "validator_permit",
                Value::bool(n.validator_permit),
            );
            set_field(
                &mut neuron,
                "stake",
                Value::unnamed_composite([Value::unnamed_composite([
                    account(n.coldkey),
                    Value::u128(n.stake_rao.into()),
                ])]),
            );
            let mut axon = zero(axon_ty, types);
            if let Some(addr) = n.axon {
                let (ip, ip_type) = brainlock_chain::ip_to_chain(addr.ip());
                set_field(&mut axon, "ip", Value::u128(ip));
                set_field(&mut axon, "port", Value::u128(addr.port().into()));
                set_field(&mut axon, "ip_type", Value::u128(ip_type.into()));
            }
            set_field(&mut neuron, "axon_info", axon);
            neuron
        });
        let answer = encode(&Value::unnamed_composite(values), output_ty, types);
        self.runtime_calls.insert(
            (
                "NeuronInfoRuntimeApi_get_neurons_lite".to_string(),
                netuid.encode(),
            ),
            answer,
        );
    }

    fn push_empty_block(&mut self) {
        let no_events = Vec::<u8>::new().encode(); // an empty Vec<EventRecord>
        self.push_block(Vec::new(), no_events);
    }

    fn head(&self) -> &Block {
        self.blocks.last().expect("genesis exists")
    }

    fn genesis_hash(&self) -> H256 {
        self.blocks[0].hash
    }

    fn push_block(&mut self, extrinsics: Vec<Vec<u8>>, events: Vec<u8>) -> &Block {
        let (number, parent_hash) = match self.blocks.last() {
            Some(parent) => (parent.header.number + 1, parent.hash),
            None => (0, H256::zero()),
        };
        let header = SubstrateHeader {
            parent_hash,
            number,
            state_root: H256::zero(),
            extrinsics_root: BlakeTwo256.hash(&extrinsics.encode()),
            digest: Digest::default(),
        };
        let hash = BlakeTwo256.hash(&header.encode());
        self.blocks.push(Block {
            header,
            hash,
            extrinsics,
            events,
        });
        self.head()
    }

    /// The block at `at` (a hash; the head when absent or null).
    fn block_at(&self, at: Option<&Json>) -> Result<&Block, RpcError> {
        match at {
            None | Some(Json::Null) => Ok(self.head()),
            Some(hash) => {
                let hash: H256 = serde_json::from_value(hash.clone())
                    .map_err(|e| RpcError::invalid_params(format!("block hash: {e}")))?;
                self.blocks
                    .iter()
                    .find(|b| b.hash == hash)
                    .ok_or_else(|| RpcError::invalid_params(format!("unknown block {hash:?}")))
            }
        }
    }

    /// Answers one JSON-RPC call: the result, and the subscription notifications that
    /// follow it (for `author_submitAndWatchExtrinsic`).
    fn handle(&mut self, method: &str, params: &[Json]) -> Result<(Json, Vec<Json>), RpcError> {
        let result = match method {
            "rpc_methods" => json!({ "version": 1, "methods": METHODS }),
            "chain_getBlockHash" => match params.first() {
                None | Some(Json::Null) => json!(self.head().hash),
                Some(n) => {
                    let n = block_number(n)?;
                    json!(self.blocks.get(n as usize).map(|b| b.hash))
                }
            },
            "chain_getHeader" => json!(self.block_at(params.first())?.header),
            "chain_getBlock" => {
                let block = self.block_at(params.first())?;
                let extrinsics: Vec<String> = block.extrinsics.iter().map(to_hex).collect();
                json!({
                    "block": { "header": block.header, "extrinsics": extrinsics },
                    "justifications": null,
                })
            }
            "chain_getFinalizedHead" => json!(self.head().hash),
            "state_getStorage" => {
                let key = hex_param(params, 0)?;
                let block = self.block_at(params.get(1))?;
                let events_key =
                    frame_decode::storage::encode_storage_key_prefix("System", "Events");
                let value = if key == events_key {
                    Some(&block.events)
                } else {
                    self.storage.get(&key)
                };
                json!(value.map(to_hex))
            }
            "state_call" => {
                let function = params
                    .first()
                    .and_then(Json::as_str)
                    .ok_or_else(|| RpcError::invalid_params("runtime function name"))?;
                let args = hex_param(params, 1)?;
                self.block_at(params.get(2))?;
                json!(to_hex(self.runtime_call(function, &args)?))
            }
            "author_submitAndWatchExtrinsic" => {
                let extrinsic = hex_param(params, 0)?;
                return self.submit_and_watch(extrinsic);
            }
            "author_unwatchExtrinsic" => json!(true),
            other => return Err(RpcError::method_not_found(other)),
        };
        Ok((result, Vec::new()))
    }

    fn runtime_call(&self, function: &str, args: &[u8]) -> Result<Vec<u8>, RpcError> {
        let answer = match function {
            "Core_version" => (
                "node-subtensor".to_string(),
                "node-subtensor".to_string(),
                1u32,
                SPEC_VERSION,
                1u32,
                Vec::<([u8; 8], u32)>::new(),
                TRANSACTION_VERSION,
                1u8,
            )
                .encode(),
            "Metadata_metadata_versions" => vec![self.metadata_version].encode(),
            "Metadata_metadata_at_version" => {
                let version = u32::decode(&mut &args[..])
                    .map_err(|e| RpcError::invalid_params(format!("metadata version: {e}")))?;
                (version == self.metadata_version)
                    .then(|| self.metadata_bytes.clone())
                    .encode()
            }
            "Metadata_metadata" => self.metadata_bytes.encode(),
            "AccountNonceApi_account_nonce" => {
                let account = <[u8; 32]>::decode(&mut &args[..])
                    .map_err(|e| RpcError::invalid_params(format!("account id: {e}")))?;
                self.nonces.get(&account).copied().unwrap_or(0).encode()
            }
            _ => self
                .runtime_calls
                .get(&(function.to_string(), args.to_vec()))
                .cloned()
                .ok_or_else(|| {
                    RpcError::new(
                        4003,
                        format!(
                            "test node has no answer for {function}(0x{})",
                            hex::encode(args)
                        ),
                    )
                })?,
        };
        Ok(answer)
    }

    fn submit_and_watch(&mut self, mut extrinsic: Vec<u8>) -> Result<(Json, Vec<Json>), RpcError> {
        if self.corrupt_signatures {
            corrupt_signature(&mut extrinsic, &self.metadata);
        }
        let rejected = |chain: &mut Chain, reason: String| {
            chain.rejections.push(reason.clone());
            Err(RpcError {
                code: INVALID_TRANSACTION,
                message: "Invalid Transaction".into(),
                data: Some(reason),
            })
        };
        let mut call = match self.check_extrinsic(&extrinsic) {
            Ok(call) => call,
            Err(reason) => return rejected(self, reason),
        };
        // The block the call would be applied in: the next one.
        let now = self.head().header.number + 1;
        let subtensor_call = (call.pallet == PALLET)
            .then(|| pallet::decode(&call))
            .flatten();
        if let Some(subtensor_call) = &subtensor_call
            && let Err(code) = pallet::validate(&self.pallet, &call.signer, subtensor_call, now)
        {
            return rejected(self, format!("Custom error: {code}"));
        }
        *self.nonces.entry(call.signer).or_insert(0) += 1;
        let outcome = match subtensor_call {
            Some(subtensor_call) => {
                let netuid = subtensor_call.netuid();
                let outcome = pallet::dispatch(&mut self.pallet, &call.signer, subtensor_call, now);
                if self.pallet.subnets.contains_key(&netuid) {
                    self.publish(netuid);
                }
                outcome
            }
            None => Ok(()),
        };
        let events = match outcome {
            Ok(()) => self.extrinsic_events(None),
            Err(error) => {
                call.error = Some(error.to_string());
                self.extrinsic_events(Some(error))
            }
        };
        let block = self.push_block(vec![extrinsic], events);
        let (number, hash) = (block.header.number, block.hash);
        self.included.push(IncludedCall {
            block: number,
            ..call
        });

        self.next_subscription += 1;
        let subscription = format!("tx-{}", self.next_subscription);
        let notify = |status: Json| {
            json!({
                "jsonrpc": "2.0",
                "method": "author_extrinsicUpdate",
                "params": { "subscription": subscription, "result": status },
            })
        };
        let notifications = vec![
            notify(json!("ready")),
            notify(json!({ "inBlock": hash })),
            notify(json!({ "finalized": hash })),
        ];
        Ok((json!(subscription), notifications))
    }

    /// Decodes a submitted extrinsic and checks it as a node's transaction validation
    /// would (signature, extensions, nonce, mortality), without executing it.
    fn check_extrinsic(&self, bytes: &[u8]) -> Result<IncludedCall, String> {
        let metadata = &*self.metadata;
        let types = metadata.types();
        let decoded = frame_decode::extrinsics::decode_extrinsic(&mut &bytes[..], metadata, types)
            .map_err(|e| format!("cannot decode extrinsic: {e}"))?;
        let signature = decoded
            .signature_payload()
            .ok_or("not a signed extrinsic")?;
        let extensions = decoded
            .transaction_extension_payload()
            .ok_or("no transaction extensions")?;

        // MultiAddress::Id(AccountId32) and MultiSignature::Sr25519.
        let address = &bytes[signature.address_range()];
        let signer: [u8; 32] = match address {
            [0, key @ ..] => key.try_into().map_err(|_| "bad account id length")?,
            _ => return Err("signer is not a MultiAddress::Id".into()),
        };
        let signature = match &bytes[signature.signature_range()] {
            [1, sig @ ..] => {
                sr25519::Signature(sig.try_into().map_err(|_| "bad signature length")?)
            }
            _ => return Err("signature is not sr25519".into()),
        };

        // The extensions must be those the runtime declares, in its order.
        let declared: Vec<_> = metadata
            .extrinsic()
            .transaction_extensions_by_version(extensions.version())
            .ok_or("unknown transaction extension version")?
            .collect();
        let names: Vec<&str> = extensions.iter().map(|e| e.name()).collect();
        let declared_names: Vec<&str> = declared.iter().map(|e| e.identifier()).collect();
        if names != declared_names {
            return Err(format!(
                "transaction extensions {names:?} differ from the runtime's {declared_names:?}"
            ));
        }

        // The implicit data of each extension, which is signed but not sent.
        let expected_nonce = self.nonces.get(&signer).copied().unwrap_or(0);
        let mut nonce = 0;
        let mut implicit = Vec::new();
        for (ext, info) in extensions.iter().zip(&declared) {
            let value = &bytes[ext.range()];
            match ext.name() {
                "CheckSpecVersion" => SPEC_VERSION.encode_to(&mut implicit),
                "CheckTxVersion" => TRANSACTION_VERSION.encode_to(&mut implicit),
                "CheckGenesis" => self.genesis_hash().encode_to(&mut implicit),
                "CheckMortality" => {
                    let era = Era::decode(&mut &value[..]).map_err(|e| format!("era: {e}"))?;
                    self.checkpoint(era)?.encode_to(&mut implicit);
                }
                "CheckMetadataHash" => match value {
                    // Mode::Disabled: no metadata hash is signed.
                    [0] => None::<[u8; 32]>.encode_to(&mut implicit),
                    _ => return Err("CheckMetadataHash mode is not Disabled".into()),
                },
                "CheckNonce" => {
                    nonce = Compact::<u32>::decode(&mut &value[..])
                        .map_err(|e| format!("nonce: {e}"))?
                        .0;
                    if nonce != expected_nonce {
                        return Err(format!("nonce {nonce}, expected {expected_nonce}"));
                    }
                }
                // Extensions without implicit data (CheckWeight, ChargeTransactionPayment,
                // the subtensor-specific ones, ...): nothing to add.
                _ if is_empty_type(info.additional_ty(), types) => {}
                name => {
                    return Err(format!(
                        "test node does not know the implicit data of {name}"
                    ));
                }
            }
        }

        // The signer payload: call, explicit extension values, implicit data; hashed when
        // longer than 256 bytes.
        let mut payload = bytes[decoded.call_data_range()].to_vec();
        payload.extend_from_slice(&bytes[extensions.range()]);
        payload.extend_from_slice(&implicit);
        if payload.len() > 256 {
            payload = BlakeTwo256.hash(&payload).0.to_vec();
        }
        if !sr25519::verify(&signature, &payload, &sr25519::PublicKey(signer)) {
            return Err("Transaction has a bad signature".into());
        }

        let args = decoded
            .call_data()
            .map(|arg| {
                let value = subxt::ext::scale_value::scale::decode_as_type(
                    &mut &bytes[arg.range()],
                    *arg.ty(),
                    types,
                )
                .map_err(|e| format!("argument {}: {e}", arg.name()))?;
                Ok((arg.name().to_string(), value.remove_context()))
            })
            .collect::<Result<_, String>>()?;
        Ok(IncludedCall {
            pallet: decoded.pallet_name().to_string(),
            call: decoded.call_name().to_string(),
            args,
            signer,
            nonce,
            block: 0,
            error: None,
        })
    }

    /// The block hash a transaction's era refers to (`CheckMortality`'s implicit data).
    fn checkpoint(&self, era: Era) -> Result<H256, String> {
        let Era::Mortal { period, phase } = era else {
            return Ok(self.genesis_hash());
        };
        let current = self.head().header.number;
        let birth = (current.max(phase) - phase) / period * period + phase;
        if current >= birth + period {
            return Err("transaction is outdated".into());
        }
        self.blocks
            .get(birth as usize)
            .map(|b| b.hash)
            .ok_or_else(|| format!("era checkpoint block {birth} does not exist"))
    }

    /// `System.Events` of a block holding one extrinsic: `[EventRecord { phase:
    /// ApplyExtrinsic(0), event }]`, the event `System(ExtrinsicSuccess { .. })`, or
    /// `System(ExtrinsicFailed { dispatch_error: Module(ModuleError { index, error }), .. })`
    /// for a SubtensorModule error, indexed as the metadata's error enum.
    fn extrinsic_events(&self, error: Option<&str>) -> Vec<u8> {
        let metadata = &*self.metadata;
        let types = metadata.types();
        let events_ty = metadata
            .pallet_by_name("System")
            .and_then(|p| p.storage())
            .and_then(|s| s.entry_by_name("Events"))
            .expect("System.Events in the metadata")
            .value_ty();
        let TypeDef::Sequence(seq) = &types.resolve(events_ty).unwrap().type_def else {
            panic!("System.Events is not a Vec");
        };
        let record_ty = seq.type_param.id;
        let mut record = zero(record_ty, types);
        let phase = variant_path(
            field_ty(record_ty, "phase", types),
            &["ApplyExtrinsic"],
            None,
            types,
        );
        let event_ty = field_ty(record_ty, "event", types);
        let event = match error {
            None => variant_path(event_ty, &["System", "ExtrinsicSuccess"], None, types),
            Some(name) => {
                let pallet = metadata.pallet_by_name(PALLET).expect("SubtensorModule");
                let index = pallet
                    .error_variants()
                    .and_then(|v| v.iter().find(|v| v.name == name))
                    .unwrap_or_else(|| panic!("{PALLET} has no error {name} in the metadata"))
                    .index;
                let module_error = Value::named_composite([
                    ("index", Value::u128(pallet.error_index().into())),
                    (
                        "error",
                        Value::unnamed_composite([index, 0, 0, 0].map(|b| Value::u128(b.into()))),
                    ),
                ]);
                variant_path(
                    event_ty,
                    &["System", "ExtrinsicFailed", "Module"],
                    Some(module_error),
                    types,
                )
            }
        };
        set_field(&mut record, "phase", phase);
        set_field(&mut record, "event", event);
        encode(&Value::unnamed_composite([record]), events_ty, types)
    }
}

/// Flips the last byte of an extrinsic's signature (when it decodes at all).
fn corrupt_signature(extrinsic: &mut [u8], metadata: &Metadata) {
    let range =
        frame_decode::extrinsics::decode_extrinsic(&mut &extrinsic[..], metadata, metadata.types())
            .ok()
            .and_then(|d| d.signature_payload().map(|s| s.signature_range()));
    if let Some(range) = range {
        extrinsic[range.end - 1] ^= 1;
    }
}

/// A JSON-RPC error object.
#[derive(Debug)]
struct RpcError {
    code: i64,
    message: String,
    data: Option<String>,
}

impl RpcError {
    fn new(code: i64, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            data: None,
        }
    }

    fn invalid_params(message: impl Into<String>) -> Self {
        Self::new(-32602, message)
    }

    fn method_not_found(method: &str) -> Self {
        Self::new(-32601, format!("Method not found: {method}"))
    }

    fn to_json(&self) -> Json {
        match &self.data {
            Some(data) => json!({ "code": self.code, "message": self.message, "data": data }),
            None => json!({ "code": self.code, "message": self.message }),
        }
    }
}

/// Serves one WebSocket connection: each text message is a JSON-RPC request, answered
/// in order, followed by any subscription notifications it started.
async fn serve_connection(
    stream: TcpStream,
    chain: Arc<Mutex<Chain>>,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let mut server = Server::new(stream.compat());
    let key = server.receive_request().await?.key();
    server
        .send_response(&Response::Accept {
            key,
            protocol: None,
        })
        .await?;
    let (mut sender, mut receiver) = server.into_builder().finish();
    let mut message = Vec::new();
    loop {
        message.clear();
        match receiver.receive_data(&mut message).await {
            Ok(_) => {}
            Err(soketto::connection::Error::Closed) => return Ok(()),
            Err(e) => return Err(e.into()),
        }
        let replies = {
            let mut chain = chain.lock().expect("test node state");
            answer(&mut chain, &message)
        };
        for reply in replies {
            sender.send_text(reply.to_string()).await?;
        }
        sender.flush().await?;
    }
}

/// The response to one JSON-RPC request, then its notifications.
fn answer(chain: &mut Chain, message: &[u8]) -> Vec<Json> {
    let request: Json = match serde_json::from_slice(message) {
        Ok(request) => request,
        Err(e) => {
            let error = RpcError::new(-32700, format!("Parse error: {e}"));
            return vec![json!({ "jsonrpc": "2.0", "id": null, "error": error.to_json() })];
        }
    };
    let id = request.get("id").cloned().unwrap_or(Json::Null);
    let method = request.get("method").and_then(Json::as_str).unwrap_or("");
    let params = match request.get("params") {
        Some(Json::Array(params)) => params.clone(),
        _ => Vec::new(),
    };
    match chain.handle(method, &params) {
        Ok((result, notifications)) => {
            let mut replies = vec![json!({ "jsonrpc": "2.0", "id": id, "result": result })];
            replies.extend(notifications);
            replies
        }
        Err(error) => vec![json!({ "jsonrpc": "2.0", "id": id, "error": error.to_json() })],
    }
}

fn to_hex(bytes: impl AsRef<[u8]>) -> String {
    format!("0x{}", hex::encode(bytes))
}

fn hex_param(params: &[Json], index: usize) -> Result<Vec<u8>, RpcError> {
    let text = params
        .get(index)
        .and_then(Json::as_str)
        .ok_or_else(|| RpcError::invalid_params(format!("parameter {index}: expected hex")))?;
    hex::decode(text.trim_start_matches("0x"))
        .map_err(|e| RpcError::invalid_params(format!("parameter {index}: {e}")))
}

/// A block number given as a JSON number or a hex string.
fn block_number(value: &Json) -> Result<u64, RpcError> {
    match value {
        Json::Number(n) => n.as_u64(),
        Json::String(s) => u64::from_str_radix(s.trim_start_matches("0x"), 16).ok(),
        _ => None,
    }
    .ok_or_else(|| RpcError::invalid_params(format!("block number {value}")))
}

fn encode(value: &Value, ty: u32, types: &PortableRegistry) -> Vec<u8> {
    let mut bytes = Vec::new();
    value
        .encode_as_type_to(ty, types, &mut bytes)
        .unwrap_or_else(|e| panic!("encoding {value} as type {ty}: {e}"));
    bytes
}

/// An `AccountId32` value.
pub fn account(key: [u8; 32]) -> Value {
    Value::unnamed_composite([Value::from_bytes(key)])
}

/// Whether a type encodes to no bytes (a unit struct or empty tuple, possibly nested).
fn is_empty_type(ty: u32, types: &PortableRegistry) -> bool {
    match types.resolve(ty).map(|t| &t.type_def) {
        Some(TypeDef::Composite(c)) => c.fields.iter().all(|f| is_empty_type(f.ty.id, types)),
        Some(TypeDef::Tuple(t)) => t.fields.iter().all(|f| is_empty_type(f.id, types)),
        Some(TypeDef::Array(a)) => a.len == 0 || is_empty_type(a.type_param.id, types),
        _ => false,
    }
}

/// The type of a named field of a composite type.
fn field_ty(ty: u32, field: &str, types: &PortableRegistry) -> u32 {
    match &types.resolve(ty).expect("type exists").type_def {
        TypeDef::Composite(c) => c
            .fields
            .iter()
            .find(|f| f.name.as_deref() == Some(field))
            .map(|f| f.ty.id)
            .unwrap_or_else(|| panic!("type {ty} has no field {field}")),
        _ => panic!("type {ty} is not a composite"),
    }
}

/// A zero value of any type: zero numbers, empty sequences, first variants.
pub fn zero(ty_id: u32, types: &PortableRegistry) -> Value {
    let ty = types.resolve(ty_id).expect("type exists");
    match &ty.type_def {
        TypeDef::Composite(c) => {
            if c.fields.iter().all(|f| f.name.is_some()) && !c.fields.is_empty() {
                Value::named_composite(
                    c.fields
                        .iter()
                        .map(|f| (f.name.clone().unwrap(), zero(f.ty.id, types))),
                )
            } else {
                Value::unnamed_composite(c.fields.iter().map(|f| zero(f.ty.id, types)))
            }
        }
        TypeDef::Variant(v) => {
            let first = &v.variants[0];
            variant_path(ty_id, &[first.name.as_str()], None, types)
        }
        TypeDef::Sequence(_) => Value::unnamed_composite([]),
        TypeDef::Array(a) => {
            Value::unnamed_composite((0..a.len).map(|_| zero(a.type_param.id, types)))
        }
        TypeDef::Tuple(t) => Value::unnamed_composite(t.fields.iter().map(|f| zero(f.id, types))),
        TypeDef::Primitive(TypeDefPrimitive::Bool) => Value::bool(false),
        TypeDef::Primitive(TypeDefPrimitive::Str) => Value::string(""),
        TypeDef::Primitive(_) | TypeDef::Compact(_) => Value::u128(0),
        TypeDef::BitSequence(_) => Value::unnamed_composite([]),
    }
}

/// A variant value following `path` through nested enums: `["System",
/// "ExtrinsicSuccess"]` is `System(ExtrinsicSuccess { .. })`. The first field of each
/// variant on the path holds the next step, and the end of the path holds `leaf` (zero
/// when `None`); every other field is zero.
fn variant_path(ty: u32, path: &[&str], leaf: Option<Value>, types: &PortableRegistry) -> Value {
    let Some((name, rest)) = path.split_first() else {
        return leaf.unwrap_or_else(|| zero(ty, types));
    };
    let TypeDef::Variant(v) = &types.resolve(ty).expect("type exists").type_def else {
        panic!("type {ty} is not an enum (looking for variant {name})");
    };
    let variant = v
        .variants
        .iter()
        .find(|v| v.name == *name)
        .unwrap_or_else(|| panic!("type {ty} has no variant {name}"));
    let mut leaf = leaf;
    let fields = variant.fields.iter().enumerate().map(|(i, f)| {
        let value = if i == 0 {
            variant_path(f.ty.id, rest, leaf.take(), types)
        } else {
            zero(f.ty.id, types)
        };
        (f.name.clone(), value)
    });
    let fields: Vec<_> = fields.collect();
    if !fields.is_empty() && fields.iter().all(|(n, _)| n.is_some()) {
        Value::named_variant(
            name.to_string(),
            fields.into_iter().map(|(n, v)| (n.unwrap(), v)),
        )
    } else {
        Value::unnamed_variant(name.to_string(), fields.into_iter().map(|(_, v)| v))
    }
}

fn set_field(value: &mut Value, field: &str, new: Value) {
    let ValueDef::Composite(Composite::Named(fields)) = &mut value.value else {
        panic!("not a named composite (setting {field})");
    };
    let slot = fields
        .iter_mut()
        .find(|(name, _)| name == field)
        .unwrap_or_else(|| panic!("no field {field}"));
    slot.1 = new;
}
