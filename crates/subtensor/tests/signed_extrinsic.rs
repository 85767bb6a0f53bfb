//! A signed extrinsic built against the real finney metadata carries every transaction
//! extension that runtime declares, and its signature verifies over the signer payload.

mod common;

use brainlock_subtensor::{HotkeySigner, calls};
use subxt::SubstrateConfig;
use subxt::config::DefaultExtrinsicParamsBuilder;
use subxt::ext::codec::{Compact, Decode};
use subxt::ext::frame_decode::extrinsics::decode_extrinsic;
use subxt_signer::sr25519::{PublicKey, Signature, verify};

#[test]
fn signed_set_weights_has_runtime_extensions_and_valid_signature() {
    let metadata = common::finney_metadata();
    let client = common::offline_client(metadata.clone());
    let at = client.at_block(0u64).unwrap();
    let signer = HotkeySigner::from_seed([5; 32]).unwrap();
    let call = calls::set_weights(18, &[1, 2], &[65535, 30000], 42);

    let params = DefaultExtrinsicParamsBuilder::<SubstrateConfig>::new()
        .nonce(7)
        .build();
    let tx = at.transactions();
    let mut signable = tx.create_v4_signable_offline(&call, params).unwrap();
    let signer_payload = signable.signer_payload().unwrap();
    let signed = signable.sign(signer.keypair()).unwrap();
    let bytes = signed.encoded().to_vec();

    let decoded = decode_extrinsic(&mut &bytes[..], &*metadata, metadata.types()).unwrap();
    assert_eq!(decoded.pallet_name(), "SubtensorModule");
    assert_eq!(decoded.call_name(), "set_weights");

    // Address: MultiAddress::Id(public key); signature: MultiSignature::Sr25519(64 bytes).
    let sig = decoded.signature_payload().expect("signed");
    let address = &bytes[sig.address_range()];
    assert_eq!(address[0], 0);
    assert_eq!(&address[1..], &signer.public_key());
    let signature = &bytes[sig.signature_range()];
    assert_eq!(signature[0], 1, "sr25519 variant");
    let signature = Signature(signature[1..].try_into().unwrap());
    assert!(verify(
        &signature,
        &signer_payload,
        &PublicKey(signer.public_key())
    ));
    let mut tampered = signer_payload.clone();
    tampered[3] ^= 1;
    assert!(!verify(
        &signature,
        &tampered,
        &PublicKey(signer.public_key())
    ));

    // Every extension the runtime declares is present, in the runtime's order.
    let extensions = decoded.transaction_extension_payload().expect("extensions");
    let names: Vec<&str> = extensions.iter().map(|e| e.name()).collect();
    let declared: Vec<String> = metadata
        .extrinsic()
        .transaction_extensions_by_version(extensions.version())
        .unwrap()
        .map(|e| e.identifier().to_string())
        .collect();
    assert_eq!(names, declared);
    for custom in [
        "CheckMetadataHash",
        "DrandPriority",
        "CheckShieldedTxValidity",
        "SubtensorTransactionExtension",
    ] {
        assert!(names.contains(&custom), "{custom} missing from {names:?}");
    }
    let nonce = extensions
        .iter()
        .find(|e| e.name() == "CheckNonce")
        .unwrap();
    let nonce = Compact::<u32>::decode(&mut &bytes[nonce.range()]).unwrap();
    assert_eq!(nonce.0, 7);
}
