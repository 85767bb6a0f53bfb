//! The chain's rules through the real client: for each rule of `SubtensorModule` the test
//! node applies (see `brainlock_test_node`'s `pallet` module for the pallet function each
//! follows), a call that breaks it comes back as [`ChainError::Refused`] with the pallet's
//! error by name, whether the pool refused it (a custom validity code) or the call failed
//! in its block (`System.ExtrinsicFailed`).

mod common;

use brainlock_chain::{AxonInfo, Chain, ChainError, PalletError};
use brainlock_subtensor::{HotkeySigner, SubtensorChain, calls};
use brainlock_test_node::{MAX_UNREVEALED_COMMITS, TestNode, TestSubnet};
use common::{HEAD, NETUID, VERSION_KEY, connect, start_node, subnet, within};
use subxt::dynamic::Value;

fn own_key() -> [u8; 32] {
    HotkeySigner::from_seed(common::SEED).unwrap().public_key()
}

async fn node_with(edit: impl FnOnce(&mut TestSubnet)) -> (TestNode, SubtensorChain) {
    let mut subnet = subnet(own_key());
    edit(&mut subnet);
    let node = start_node(subnet).await;
    let chain = connect(&node).await;
    (node, chain)
}

#[track_caller]
fn assert_refused<T: std::fmt::Debug>(result: Result<T, ChainError>, expected: PalletError) {
    match result {
        Err(ChainError::Refused(error)) => assert_eq!(error, expected),
        other => panic!("expected a refusal with {expected}, got {other:?}"),
    }
}

/// The pallet error the last included call failed with in its block.
fn failed_in_block(node: &TestNode) -> Option<String> {
    node.included().last().and_then(|c| c.error.clone())
}

async fn set(
    chain: &SubtensorChain,
    weights: &[(u16, f32)],
    version_key: u64,
) -> Result<(), ChainError> {
    within(
        "set_weights",
        chain.set_weights(NETUID, weights, version_key),
    )
    .await
    .map(|_| ())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn weights_rate_limit_counts_from_the_last_update_inclusively() {
    // Last update 10 blocks ago, limit 100: the first allowed block is 990 + 100.
    let (node, chain) = node_with(|s| s.neurons[0].last_update = HEAD - 10).await;
    // The pool refuses (custom code 6): nothing reaches a block.
    assert_refused(
        set(&chain, &[(1, 1.0)], VERSION_KEY).await,
        PalletError::SettingWeightsTooFast,
    );
    assert_eq!(node.rejections(), ["Custom error: 6"]);
    assert!(node.included().is_empty());
    // Applied at block 1089 (head 1088): one block short.
    node.advance(88);
    assert_refused(
        set(&chain, &[(1, 1.0)], VERSION_KEY).await,
        PalletError::SettingWeightsTooFast,
    );
    node.advance(1);
    set(&chain, &[(1, 1.0)], VERSION_KEY).await.unwrap();
    assert_eq!(node.included()[0].block, HEAD - 10 + 100);
    assert_eq!(node.subnet(NETUID).neurons[0].last_update, HEAD - 10 + 100);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn version_key_below_the_subnets_fails_in_its_block() {
    let (node, chain) = node_with(|_| {}).await;
    assert_refused(
        set(&chain, &[(1, 1.0)], VERSION_KEY - 1).await,
        PalletError::IncorrectWeightVersionKey,
    );
    assert_eq!(
        failed_in_block(&node).as_deref(),
        Some("IncorrectWeightVersionKey")
    );
    // A failed call does not count for the rate limit; a newer key is accepted.
    set(&chain, &[(1, 1.0)], VERSION_KEY + 1).await.unwrap();
    assert_eq!(failed_in_block(&node), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn too_few_weights_are_refused_and_the_client_pads_with_zeros() {
    let (node, chain) = node_with(|s| s.min_allowed_weights = 3).await;
    let short = calls::set_weights(NETUID, &[1], &[65535], VERSION_KEY);
    assert_refused(
        within("submit", chain.submit_call(&short)).await,
        PalletError::WeightVecLengthIsLow,
    );
    // The client fills the minimum with zero weights: uid 2, then itself.
    set(&chain, &[(1, 1.0)], VERSION_KEY).await.unwrap();
    assert_eq!(
        node.weights(NETUID, 0).unwrap(),
        [(1, 65535), (2, 0), (0, 0)]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stored_max_weight_limit_is_not_applied() {
    // Spec 393 stores MaxWeightsLimit but applies u16::MAX: a 91% share passes, and the
    // client does not refuse it either (it would stop commits on such subnets).
    let (node, chain) = node_with(|s| s.max_weights_limit = 40_000).await;
    assert_eq!(
        within("weight_rules", chain.weight_rules(NETUID))
            .await
            .unwrap()
            .max_weight_limit,
        u16::MAX
    );
    set(&chain, &[(1, 1.0), (2, 0.1)], VERSION_KEY)
        .await
        .unwrap();
    assert_eq!(failed_in_block(&node), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_and_duplicate_uids_are_refused() {
    let (node, chain) = node_with(|_| {}).await;
    assert_refused(
        set(&chain, &[(1, 1.0), (7, 1.0)], VERSION_KEY).await,
        PalletError::UidVecContainInvalidOne,
    );
    assert_refused(
        set(&chain, &[(1, 1.0), (1, 0.5)], VERSION_KEY).await,
        PalletError::DuplicateUids,
    );
    let long = calls::set_weights(NETUID, &[0, 1, 2, 2], &[1; 4], VERSION_KEY);
    assert_refused(
        within("submit", chain.submit_call(&long)).await,
        PalletError::UidsLengthExceedUidsInSubNet,
    );
    let uneven = calls::set_weights(NETUID, &[1, 2], &[1], VERSION_KEY);
    assert_refused(
        within("submit", chain.submit_call(&uneven)).await,
        PalletError::WeightVecNotEqualSize,
    );
    assert_eq!(node.included().len(), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_permit_only_weight_on_oneself_is_allowed() {
    let (node, chain) = node_with(|s| {
        s.neurons[0].validator_permit = false;
        s.min_allowed_weights = 3;
    })
    .await;
    assert_refused(
        set(&chain, &[(1, 1.0), (2, 1.0)], VERSION_KEY).await,
        PalletError::NeuronNoValidatorPermit,
    );
    // Weight on oneself alone: exempt from the permit and the minimum count.
    set(&chain, &[(0, 1.0)], VERSION_KEY).await.unwrap();
    assert_eq!(node.weights(NETUID, 0).unwrap(), [(0, 65535)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_subnet_owner_needs_no_permit() {
    // On a commit-reveal subnet, where the client checks the weights itself before
    // committing (the chain judges them only at reveal): the owner's hotkey passes.
    let (node, chain) = node_with(|s| {
        s.neurons[0].validator_permit = false;
        s.owner_hotkey = Some(own_key());
        s.commit_reveal = true;
    })
    .await;
    set(&chain, &[(1, 1.0), (2, 1.0)], VERSION_KEY)
        .await
        .unwrap();
    assert_eq!(
        node.included()[0].call,
        "commit_timelocked_mechanism_weights"
    );
    // Directly, the chain's own rule.
    let mut subnet = node.subnet(NETUID);
    subnet.commit_reveal = false;
    node.set_subnet(subnet);
    node.advance(100);
    set(&chain, &[(1, 1.0), (2, 1.0)], VERSION_KEY)
        .await
        .unwrap();
    assert_eq!(failed_in_block(&node), None);
    assert_eq!(node.weights(NETUID, 0).unwrap(), [(1, 65535), (2, 65535)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mechanism_weights_follow_the_same_rules_on_existing_mechanisms() {
    let (node, chain) = node_with(|_| {}).await;
    // Mechanism 0, the one every subnet has: the same rules as set_weights.
    let duplicate = calls::set_mechanism_weights(NETUID, 0, &[1, 1], &[1, 1], VERSION_KEY);
    assert_refused(
        within("submit", chain.submit_call(&duplicate)).await,
        PalletError::DuplicateUids,
    );
    let good = calls::set_mechanism_weights(NETUID, 0, &[1, 2], &[65535, 100], VERSION_KEY);
    within("submit", chain.submit_call(&good)).await.unwrap();
    assert_eq!(node.weights(NETUID, 0).unwrap(), [(1, 65535), (2, 100)]);
    // A mechanism the subnet does not have fails the pool's rate-limit check, with its
    // code: the client can only read it as a rate limit.
    let unknown = calls::set_mechanism_weights(NETUID, 1, &[1], &[65535], VERSION_KEY);
    assert_refused(
        within("submit", chain.submit_call(&unknown)).await,
        PalletError::SettingWeightsTooFast,
    );
    assert_eq!(node.rejections(), ["Custom error: 6"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unregistered_hotkeys_are_refused() {
    let node = start_node(subnet([0x99; 32])).await;
    let chain = connect(&node).await;
    let call = calls::set_weights(NETUID, &[1], &[65535], VERSION_KEY);
    assert_refused(
        within("submit", chain.submit_call(&call)).await,
        PalletError::HotKeyNotRegisteredInSubNet,
    );
    // Serving is checked by the pool (custom code 10).
    let axon = AxonInfo::new("1.2.3.4:8091".parse().unwrap(), 1);
    assert_refused(
        within("serve_axon", chain.serve_axon(NETUID, axon)).await,
        PalletError::HotKeyNotRegisteredInNetwork,
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commit_reveal_decides_between_settings_and_commits() {
    let commit = |version| {
        calls::commit_timelocked_mechanism_weights(NETUID, 0, &[1, 2, 3], 1_000_000, version)
    };

    // Off: a commit is refused.
    let (node, chain) = node_with(|_| {}).await;
    assert_refused(
        within("commit", chain.submit_call(&commit(4))).await,
        PalletError::CommitRevealDisabled,
    );
    drop((node, chain));

    // On: a direct setting is refused, a commit of the wrong version too; the client's
    // own setting commits.
    let (node, chain) = node_with(|s| s.commit_reveal = true).await;
    let direct = calls::set_weights(NETUID, &[1], &[65535], VERSION_KEY);
    assert_refused(
        within("submit", chain.submit_call(&direct)).await,
        PalletError::CommitRevealEnabled,
    );
    assert_refused(
        within("commit", chain.submit_call(&commit(3))).await,
        PalletError::IncorrectCommitRevealVersion,
    );
    set(&chain, &[(1, 1.0)], VERSION_KEY).await.unwrap();
    let last = node.included().pop().unwrap();
    assert_eq!(last.call, "commit_timelocked_mechanism_weights");
    assert_eq!(last.error, None);
    // Commits count for the rate limit, and are refused in their block (the pool does
    // not check them).
    assert_refused(
        within("commit", chain.submit_call(&commit(4))).await,
        PalletError::CommittingWeightsTooFast,
    );
    assert_eq!(
        failed_in_block(&node).as_deref(),
        Some("CommittingWeightsTooFast")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_most_ten_unrevealed_commits_per_epoch() {
    let (_node, chain) = node_with(|s| {
        s.commit_reveal = true;
        s.weights_rate_limit = 0;
    })
    .await;
    let commit = calls::commit_timelocked_mechanism_weights(NETUID, 0, &[1, 2, 3], 1_000_000, 4);
    for _ in 0..MAX_UNREVEALED_COMMITS {
        within("commit", chain.submit_call(&commit)).await.unwrap();
    }
    assert_refused(
        within("commit", chain.submit_call(&commit)).await,
        PalletError::TooManyUnrevealedCommits,
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serving_checks_the_endpoint_and_the_rate_limit() {
    let (node, chain) = node_with(|_| {}).await;
    let serve = |addr: &str| {
        let axon = AxonInfo::new(addr.parse().unwrap(), 1);
        within("serve_axon", chain.serve_axon(NETUID, axon))
    };
    assert_refused(serve("127.0.0.1:8091").await, PalletError::InvalidIpAddress);
    assert_refused(serve("[::1]:8091").await, PalletError::InvalidIpAddress);
    assert_refused(serve("1.2.3.4:0").await, PalletError::InvalidPort);
    // An IP type the chain does not know: the pool's catch-all code.
    let bad_type = subxt::dynamic::tx(
        "SubtensorModule",
        "serve_axon",
        subxt::ext::scale_value::Composite::named(
            [
                ("netuid", Value::u128(NETUID.into())),
                ("version", Value::u128(1)),
                ("ip", Value::u128(0x0102_0304)),
                ("port", Value::u128(8091)),
                ("ip_type", Value::u128(5)),
                ("protocol", Value::u128(4)),
                ("placeholder1", Value::u128(0)),
                ("placeholder2", Value::u128(0)),
            ]
            .map(|(k, v)| (k.to_string(), v)),
        ),
    );
    assert_refused(
        within("submit", chain.submit_call(&bad_type)).await,
        PalletError::Other("custom validity code 255".into()),
    );
    assert!(node.included().is_empty(), "the pool refused them all");
    assert_eq!(
        node.rejections(),
        [11, 11, 13, 255].map(|code| format!("Custom error: {code}"))
    );

    serve("1.2.3.4:8091").await.unwrap();
    let served_at = node.included()[0].block;
    assert_eq!(
        node.subnet(NETUID).neurons[0].axon,
        Some("1.2.3.4:8091".parse().unwrap())
    );
    // ServingRateLimit is 50 blocks, counted inclusively.
    node.advance(48);
    assert_refused(
        serve("1.2.3.5:8091").await,
        PalletError::ServingRateLimitExceeded,
    );
    node.advance(1);
    serve("1.2.3.5:8091").await.unwrap();
    assert_eq!(node.included()[1].block, served_at + 50);
}
