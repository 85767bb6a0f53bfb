//! `SubtensorChain` against the test node (`brainlock-test-node`), a local stand-in for a
//! subtensor node that speaks the real JSON-RPC protocol and serves the real finney
//! metadata: reads decode what the node serves, and the extrinsics the client signs pass
//! the node's decoding and sr25519 signature check with the intended call arguments.

mod common;

use brainlock_account::AccountId;
use brainlock_chain::{AxonInfo, Chain, ChainError, Submission};
use brainlock_subtensor::{HotkeySigner, SubtensorChain, calls};
use common::{
    HEAD, NETUID, OTHER_HOTKEY, SEED, VERSION_KEY, connect, rules, start_node, subnet, within,
};
use subxt::config::DefaultExtrinsicParamsBuilder;
use subxt::dynamic::Value;
use subxt::{OnlineClient, SubstrateConfig};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_what_the_node_serves() {
    let signer = HotkeySigner::from_seed(SEED).unwrap();
    let node = start_node(subnet(signer.public_key())).await;
    let chain = connect(&node).await;

    assert_eq!(
        within("current_block", chain.current_block())
            .await
            .unwrap(),
        HEAD
    );

    let metagraph = within("metagraph", chain.metagraph(NETUID)).await.unwrap();
    assert_eq!(metagraph.netuid, NETUID);
    assert_eq!(metagraph.block, HEAD);
    assert_eq!(metagraph.len(), 3);
    let own = metagraph.by_uid(0).unwrap();
    assert_eq!(own.hotkey, *signer.account_id());
    assert_eq!(own.coldkey, AccountId([0xc0; 32]));
    assert_eq!(own.axon, Some("10.0.0.1:8091".parse().unwrap()));
    assert_eq!(own.stake, 2000.0);
    assert_eq!(own.last_update, 900);
    assert!(own.validator_permit);
    let other = metagraph.by_uid(1).unwrap();
    assert_eq!(other.hotkey, AccountId(OTHER_HOTKEY));
    assert_eq!(other.axon, Some("[2001:db8::1]:9000".parse().unwrap()));
    assert_eq!(other.stake, 1.5);
    assert!(!other.validator_permit);
    assert_eq!(metagraph.by_uid(2).unwrap().axon, None);

    assert_eq!(
        within("uid_of", chain.uid_of(NETUID, signer.account_id()))
            .await
            .unwrap(),
        Some(0)
    );
    assert_eq!(
        within("uid_of", chain.uid_of(NETUID, &AccountId(OTHER_HOTKEY)))
            .await
            .unwrap(),
        Some(1)
    );
    assert_eq!(
        within("uid_of", chain.uid_of(NETUID, &AccountId([0x99; 32])))
            .await
            .unwrap(),
        None
    );

    assert_eq!(
        within("weight_rules", chain.weight_rules(NETUID))
            .await
            .unwrap(),
        rules()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_extrinsics_are_verified_and_recorded() {
    let signer = HotkeySigner::from_seed(SEED).unwrap();
    let node = start_node(subnet(signer.public_key())).await;
    let chain = connect(&node).await;

    // set_weights: signed, checked by the node, included and finalized.
    let receipt = within(
        "set_weights",
        chain.set_weights(NETUID, &[(1, 1.0), (2, 0.5)], VERSION_KEY),
    )
    .await
    .expect("set_weights succeeds");
    assert_eq!(receipt.uids, [1, 2]);
    assert_eq!(receipt.weights[0], 65535);
    let included = node.included();
    assert_eq!(included.len(), 1);
    let call = &included[0];
    assert_eq!(
        (call.pallet.as_str(), call.call.as_str()),
        ("SubtensorModule", "set_weights")
    );
    assert_eq!(call.signer, signer.public_key());
    assert_eq!(call.nonce, 0);
    assert_eq!(call.block, HEAD + 1);
    assert_eq!(call.arg_u128("netuid"), u128::from(NETUID));
    assert_eq!(call.arg_u128_list("dests"), [1, 2]);
    let weights: Vec<u128> = receipt.weights.iter().map(|&w| w.into()).collect();
    assert_eq!(call.arg_u128_list("weights"), weights);
    assert_eq!(call.arg_u128("version_key"), u128::from(VERSION_KEY));
    let Submission::Direct { extrinsic_hash } = &receipt.submission else {
        panic!("expected a direct submission, got {:?}", receipt.submission);
    };
    assert!(extrinsic_hash.starts_with("0x") && extrinsic_hash.len() == 66);
    assert_eq!(chain.current_block().await.unwrap(), HEAD + 1);

    // serve_axon, with the next nonce.
    let axon = AxonInfo::new("1.2.3.4:8091".parse().unwrap(), 100);
    within("serve_axon", chain.serve_axon(NETUID, axon))
        .await
        .expect("serve_axon succeeds");
    let included = node.included();
    assert_eq!(included.len(), 2);
    let call = &included[1];
    assert_eq!(
        (call.pallet.as_str(), call.call.as_str()),
        ("SubtensorModule", "serve_axon")
    );
    assert_eq!(call.nonce, 1);
    assert_eq!(call.block, HEAD + 2);
    assert_eq!(call.arg_u128("netuid"), u128::from(NETUID));
    assert_eq!(call.arg_u128("version"), 100);
    assert_eq!(call.arg_u128("ip"), 0x0102_0304);
    assert_eq!(call.arg_u128("port"), 8091);
    assert_eq!(call.arg_u128("ip_type"), 4);
    assert_eq!(call.arg_u128("protocol"), u128::from(axon.protocol));
    assert!(node.rejections().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_signatures_are_rejected() {
    let signer = HotkeySigner::from_seed(SEED).unwrap();
    let node = start_node(subnet(signer.public_key())).await;
    let chain = connect(&node).await;

    // A node that flips a byte of each signature it receives: the client gets an error.
    node.corrupt_signatures(true);
    let result = within(
        "set_weights",
        chain.set_weights(NETUID, &[(1, 1.0)], VERSION_KEY),
    )
    .await;
    match result {
        Err(ChainError::Rejected(reason)) => {
            assert!(reason.contains("Invalid Transaction"), "{reason}")
        }
        other => panic!("expected a rejection, got {other:?}"),
    }
    node.corrupt_signatures(false);
    assert!(node.included().is_empty());
    assert_eq!(node.rejections().len(), 1);
    assert!(node.rejections()[0].contains("bad signature"));

    // A directly submitted extrinsic with a byte of its call changed after signing.
    let client = OnlineClient::<SubstrateConfig>::from_insecure_url(node.url())
        .await
        .unwrap();
    let at = client.at_current_block().await.unwrap();
    let mut tx = at.transactions();
    let call = calls::set_weights(NETUID, &[1], &[65535], VERSION_KEY);
    let signed = tx
        .create_signed(
            &call,
            signer.keypair(),
            DefaultExtrinsicParamsBuilder::<SubstrateConfig>::new().build(),
        )
        .await
        .unwrap();
    let mut tampered = signed.encoded().to_vec();
    let last = tampered.len() - 1;
    tampered[last] ^= 0x01; // the top byte of version_key
    let rpc = subxt::rpcs::RpcClient::from_insecure_url(node.url())
        .await
        .unwrap();
    let submitted = within(
        "tampered submission",
        rpc.subscribe::<serde_json::Value>(
            "author_submitAndWatchExtrinsic",
            subxt::rpcs::rpc_params![format!("0x{}", hex::encode(&tampered))],
            "author_unwatchExtrinsic",
        ),
    )
    .await;
    let Err(error) = submitted else {
        panic!("the tampered extrinsic was accepted");
    };
    assert!(error.to_string().contains("1010"), "{error}");
    assert_eq!(node.rejections().len(), 2);
    assert!(node.rejections()[1].contains("bad signature"));
    assert!(node.included().is_empty());

    // The same extrinsic untampered is accepted (the rejection consumed no nonce), and its
    // events, as the client decodes them, are the node's System.ExtrinsicSuccess.
    let events = within("untampered submission", async {
        signed
            .submit_and_watch()
            .await
            .unwrap()
            .wait_for_finalized_success()
            .await
    })
    .await
    .expect("the untampered extrinsic succeeds");
    let events: Vec<(String, String)> = events
        .iter()
        .map(|e| {
            let e = e.expect("event decodes");
            (e.pallet_name().to_string(), e.event_name().to_string())
        })
        .collect();
    assert_eq!(
        events,
        [("System".to_string(), "ExtrinsicSuccess".to_string())]
    );
    let included = node.included();
    assert_eq!(included.len(), 1);
    assert_eq!(included[0].arg_u128_list("dests"), [1]);
    assert_eq!(included[0].arg_u128("version_key"), u128::from(VERSION_KEY));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wallet_hotkey_connects_by_network_and_signs_as_itself() {
    use brainlock_epistula::{CryptoType, Keypair};

    let wallet_hotkey = Keypair::from_seed(CryptoType::Sr25519, &SEED);
    let node = start_node(subnet(*wallet_hotkey.account_id().as_bytes())).await;
    let chain = within(
        "connect_as",
        SubtensorChain::connect_as(&node.url(), &wallet_hotkey),
    )
    .await
    .expect("connects as the wallet's hotkey");
    // The extrinsic signer is the wallet's own key: same account, registered as uid 0.
    assert_eq!(*chain.hotkey(), wallet_hotkey.account_id());
    let uid = within("uid_of", chain.uid_of(NETUID, chain.hotkey())).await;
    assert_eq!(uid.unwrap(), Some(0));
    within(
        "set_weights",
        chain.set_weights(NETUID, &[(1, 1.0)], VERSION_KEY),
    )
    .await
    .expect("the node accepts the wallet hotkey's signature");

    let ed25519 = Keypair::from_seed(CryptoType::Ed25519, &SEED);
    let refused = SubtensorChain::connect_as(&node.url(), &ed25519).await;
    assert!(
        matches!(&refused, Err(ChainError::Config(m)) if m.to_string().contains("sr25519")),
        "{:?}",
        refused.err()
    );
    let unknown = SubtensorChain::connect_as("mainnet", &wallet_hotkey).await;
    assert!(
        matches!(&unknown, Err(ChainError::Config(m)) if m.to_string().contains("mainnet")),
        "{:?}",
        unknown.err()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commit_reveal_subnets_get_a_timelocked_commit() {
    let signer = HotkeySigner::from_seed(SEED).unwrap();
    let node = start_node(brainlock_test_node::TestSubnet {
        commit_reveal: true,
        ..subnet(signer.public_key())
    })
    .await;
    let chain = connect(&node).await;
    let now = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
    };
    let before = brainlock_subtensor::commit::reveal_round(HEAD, NETUID, 360, 1, now());
    let receipt = within(
        "set_weights",
        chain.set_weights(NETUID, &[(1, 1.0), (2, 0.5)], VERSION_KEY),
    )
    .await
    .expect("the commit is accepted");
    let after = brainlock_subtensor::commit::reveal_round(HEAD, NETUID, 360, 1, now());
    let Submission::TimelockedCommit { reveal_round, .. } = receipt.submission else {
        panic!("expected a timelocked commit, got {:?}", receipt.submission)
    };
    assert!((before..=after).contains(&reveal_round), "{reveal_round}");

    let included = node.included();
    assert_eq!(included.len(), 1);
    let call = &included[0];
    assert_eq!(
        (call.pallet.as_str(), call.call.as_str()),
        ("SubtensorModule", "commit_timelocked_mechanism_weights")
    );
    assert_eq!(call.arg_u128("netuid"), u128::from(NETUID));
    assert_eq!(call.arg_u128("mecid"), 0);
    assert_eq!(call.arg_u128("reveal_round"), u128::from(reveal_round));
    assert_eq!(call.arg_u128("commit_reveal_version"), 4);
    // The commit is a well-formed quicknet timelock ciphertext: it parses, and only the
    // reveal round's signature opens it (round 1000's does not).
    let commit = bytes_of(call.arg("commit"));
    let round_1000_signature = hex::decode(
        std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../timelock/tests/fixtures/quicknet_round_1000_signature.hex"
        ))
        .unwrap()
        .trim(),
    )
    .unwrap();
    assert!(matches!(
        brainlock_timelock::decrypt(&commit, &round_1000_signature),
        Err(brainlock_timelock::TimelockError::WrongSignature)
    ));
}

/// The bytes of a decoded `Vec<u8>` argument, through newtype wrappers (`BoundedVec`).
fn bytes_of(value: &Value) -> Vec<u8> {
    use subxt::ext::scale_value::ValueDef;
    match &value.value {
        ValueDef::Composite(items) => items.values().flat_map(bytes_of).collect(),
        _ => vec![u8::try_from(value.as_u128().expect("a byte")).expect("a byte")],
    }
}
