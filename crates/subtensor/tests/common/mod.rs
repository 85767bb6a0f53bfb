//! Shared by the tests: the real finney metadata and an offline client over it.

#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use brainlock_chain::WeightRules;
use brainlock_subtensor::{HotkeySigner, Network, SubtensorChain, SubtensorOptions};
use brainlock_test_node::{TestNeuron, TestNode, TestSubnet};

use subxt::config::substrate::{SpecVersionForRange, SubstrateConfigBuilder};
use subxt::{Metadata, OfflineClient, SubstrateConfig};

pub(crate) use brainlock_test_node::{SPEC_VERSION, metadata_path};

pub(crate) fn finney_metadata() -> Arc<Metadata> {
    let path = metadata_path();
    let bytes = std::fs::read(&path)
        .unwrap_or_else(|e| panic!("reading metadata fixture {}: {e}", path.display()));
    Arc::new(Metadata::decode_from(&bytes).expect("finney metadata decodes"))
}

pub(crate) fn offline_client(metadata: Arc<Metadata>) -> OfflineClient<SubstrateConfig> {
    let config = SubstrateConfigBuilder::new()
        .set_genesis_hash([0x11; 32].into())
        .set_spec_version_for_block_ranges([SpecVersionForRange {
            block_range: 0..u64::MAX,
            spec_version: SPEC_VERSION,
            transaction_version: 1,
        }])
        .set_metadata_for_spec_versions([(SPEC_VERSION, metadata)])
        .build();
    OfflineClient::new_with_config(config)
}

pub(crate) const NETUID: u16 = 18;
/// The node's finalized head when it starts.
pub(crate) const HEAD: u64 = 1000;
pub(crate) const VERSION_KEY: u64 = 7;
/// Seed of the client's hotkey.
pub(crate) const SEED: [u8; 32] = [5; 32];
pub(crate) const OTHER_HOTKEY: [u8; 32] = [0x11; 32];

/// Every call of the client must finish well within this (a refusal must not hang).
const CALL_TIMEOUT: Duration = Duration::from_secs(60);

pub(crate) async fn within<T>(what: &str, f: impl Future<Output = T>) -> T {
    tokio::time::timeout(CALL_TIMEOUT, f)
        .await
        .unwrap_or_else(|_| panic!("{what} did not finish within {CALL_TIMEOUT:?}"))
}

/// The rules of [`subnet`], as the client reads them.
pub(crate) fn rules() -> WeightRules {
    WeightRules {
        rate_limit_blocks: 100,
        version_key: VERSION_KEY,
        min_allowed_weights: 1,
        max_weight_limit: 65535,
        tempo: 360,
        commit_reveal: None,
        owner_hotkey: None,
    }
}

/// Subnet `NETUID` of three neurons, commit-reveal off; `own_hotkey` is uid 0, a
/// validator that last set weights at block 900.
pub(crate) fn subnet(own_hotkey: [u8; 32]) -> TestSubnet {
    let rules = rules();
    TestSubnet {
        netuid: NETUID,
        tempo: rules.tempo,
        weights_rate_limit: rules.rate_limit_blocks,
        weights_version_key: rules.version_key,
        min_allowed_weights: rules.min_allowed_weights,
        max_weights_limit: rules.max_weight_limit,
        commit_reveal: false,
        reveal_period_epochs: 1,
        serving_rate_limit: 50,
        owner_hotkey: None,
        neurons: vec![
            TestNeuron {
                uid: 0,
                hotkey: own_hotkey,
                coldkey: [0xc0; 32],
                axon: Some("10.0.0.1:8091".parse().unwrap()),
                stake_rao: 2_000_000_000_000,
                last_update: 900,
                validator_permit: true,
            },
            TestNeuron {
                uid: 1,
                hotkey: OTHER_HOTKEY,
                coldkey: [0xc1; 32],
                axon: Some("[2001:db8::1]:9000".parse().unwrap()),
                stake_rao: 1_500_000_000,
                last_update: 950,
                validator_permit: false,
            },
            TestNeuron {
                uid: 2,
                hotkey: [0x22; 32],
                coldkey: [0xc2; 32],
                axon: None,
                stake_rao: 0,
                last_update: 0,
                validator_permit: false,
            },
        ],
    }
}

/// A node at block [`HEAD`] serving `subnet`.
pub(crate) async fn start_node(subnet: TestSubnet) -> TestNode {
    let metadata = std::fs::read(metadata_path()).expect("metadata fixture");
    let node = TestNode::start(metadata, HEAD).await;
    node.set_subnet(subnet);
    node
}

/// The client, signing with [`SEED`]'s hotkey.
pub(crate) async fn connect(node: &TestNode) -> SubtensorChain {
    let options = SubtensorOptions::new(Network::Url(node.url()));
    within(
        "connect",
        SubtensorChain::connect(options, HotkeySigner::from_seed(SEED).unwrap()),
    )
    .await
    .expect("connects to the test node")
}
