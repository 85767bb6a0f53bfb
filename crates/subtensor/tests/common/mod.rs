//! Shared by the tests: the real finney metadata and an offline client over it.

#![allow(dead_code)]

pub(crate) mod test_node;

use std::path::PathBuf;
use std::sync::Arc;

use subxt::config::substrate::{SpecVersionForRange, SubstrateConfigBuilder};
use subxt::{Metadata, OfflineClient, SubstrateConfig};

pub(crate) const SPEC_VERSION: u32 = 393;

/// Path of the finney metadata fixture: `BRAINLOCK_CHAIN_METADATA`, else the shared copy
/// beside the repository (`<repo>/../shared/chain/`).
pub(crate) fn metadata_path() -> PathBuf {
    std::env::var_os("BRAINLOCK_CHAIN_METADATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../../../shared/chain/finney-spec393.metadata.scale")
        })
}

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
