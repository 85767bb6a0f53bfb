//! The metagraph decoder reads the runtime's real `NeuronInfoLite` layout (finney spec
//! 393): values are encoded with the metadata's own return type of
//! `NeuronInfoRuntimeApi::get_neurons_lite` and decoded through ours.

mod common;

use brainlock_test_node::zero;

use brainlock_account::AccountId;
use brainlock_subtensor::{NeuronInfoLite, neurons_to_metagraph};
use scale_info::TypeDef;
use subxt::dynamic::Value;
use subxt::ext::scale_decode::DecodeAsType;
use subxt::ext::scale_encode::EncodeAsType;
use subxt::ext::scale_value::{Composite, ValueDef};

fn set(value: &mut Value, field: &str, new: Value) {
    let ValueDef::Composite(Composite::Named(fields)) = &mut value.value else {
        panic!("not a named composite");
    };
    let slot = fields.iter_mut().find(|(name, _)| name == field).unwrap();
    slot.1 = new;
}

fn account(byte: u8) -> Value {
    Value::unnamed_composite([Value::from_bytes([byte; 32])])
}

#[test]
fn decodes_get_neurons_lite_output() {
    let metadata = common::finney_metadata();
    let types = metadata.types();
    let method = metadata
        .runtime_api_trait_by_name("NeuronInfoRuntimeApi")
        .unwrap()
        .method_by_name("get_neurons_lite")
        .unwrap();
    let output_ty = method.output_ty();
    // Vec<NeuronInfoLite> (spec 393 returns the list itself, not an Option).
    let TypeDef::Sequence(seq) = &types.resolve(output_ty).unwrap().type_def else {
        panic!("get_neurons_lite does not return a Vec");
    };
    let neuron_ty = seq.type_param.id;

    let mut neuron = zero(neuron_ty, types);
    set(&mut neuron, "hotkey", account(1));
    set(&mut neuron, "coldkey", account(2));
    set(&mut neuron, "uid", Value::u128(3));
    set(&mut neuron, "last_update", Value::u128(777));
    set(&mut neuron, "validator_permit", Value::bool(true));
    set(
        &mut neuron,
        "stake",
        Value::unnamed_composite([
            Value::unnamed_composite([account(2), Value::u128(1_500_000_000)]),
            Value::unnamed_composite([account(4), Value::u128(500_000_000)]),
        ]),
    );
    let mut axon = zero(
        types
            .resolve(neuron_ty)
            .and_then(|t| match &t.type_def {
                TypeDef::Composite(c) => c
                    .fields
                    .iter()
                    .find(|f| f.name.as_deref() == Some("axon_info"))
                    .map(|f| f.ty.id),
                _ => None,
            })
            .unwrap(),
        types,
    );
    set(&mut axon, "ip", Value::u128(0x7f00_0001));
    set(&mut axon, "port", Value::u128(8091));
    set(&mut axon, "ip_type", Value::u128(4));
    set(&mut neuron, "axon_info", axon);
    let idle = zero(neuron_ty, types);

    let output = Value::unnamed_composite([neuron, idle]);
    let mut bytes = Vec::new();
    output
        .encode_as_type_to(output_ty, types, &mut bytes)
        .unwrap();

    let decoded = Vec::<NeuronInfoLite>::decode_as_type(&mut &bytes[..], output_ty, types).unwrap();
    let metagraph = neurons_to_metagraph(18, 1000, decoded);
    assert_eq!(metagraph.len(), 2);
    let n = metagraph.by_uid(3).unwrap();
    assert_eq!(n.hotkey, AccountId([1; 32]));
    assert_eq!(n.coldkey, AccountId([2; 32]));
    assert_eq!(n.axon, Some("127.0.0.1:8091".parse().unwrap()));
    assert!(n.validator_permit);
    assert_eq!(n.stake, 2.0);
    assert_eq!(n.last_update, 777);
    let idle = metagraph.by_uid(0).unwrap();
    assert_eq!(idle.axon, None);
    assert!(!idle.validator_permit);
}

/// The weight rules read u16/u64/bool storage values through u64 and bool decoders: check
/// that every entry they read decodes that way from the real value types.
#[test]
fn weight_rule_storage_values_decode() {
    let metadata = common::finney_metadata();
    let types = metadata.types();
    let storage = metadata
        .pallet_by_name("SubtensorModule")
        .unwrap()
        .storage()
        .unwrap();
    for (entry, raw) in [
        ("WeightsSetRateLimit", 100u128),
        ("WeightsVersionKey", 7),
        ("MinAllowedWeights", 8),
        ("MaxWeightsLimit", 65535),
        ("Tempo", 360),
        ("CommitRevealWeightsVersion", 4),
        ("RevealPeriodEpochs", 1),
    ] {
        let ty = storage.entry_by_name(entry).unwrap().value_ty();
        let mut bytes = Vec::new();
        Value::u128(raw)
            .encode_as_type_to(ty, types, &mut bytes)
            .unwrap();
        let decoded = u64::decode_as_type(&mut &bytes[..], ty, types).unwrap();
        assert_eq!(u128::from(decoded), raw, "{entry}");
    }
    for entry in ["CommitRevealWeightsEnabled", "NetworksAdded"] {
        let ty = storage.entry_by_name(entry).unwrap().value_ty();
        let mut bytes = Vec::new();
        Value::bool(true)
            .encode_as_type_to(ty, types, &mut bytes)
            .unwrap();
        assert!(
            bool::decode_as_type(&mut &bytes[..], ty, types).unwrap(),
            "{entry}"
        );
    }
}
