//! Call data built against the real finney runtime metadata (spec 393) decodes back to the
//! intended arguments.

mod common;

use brainlock_chain::AxonInfo;
use brainlock_subtensor::calls;
use subxt::ext::scale_decode::DecodeAsType;

#[derive(Debug, PartialEq, DecodeAsType)]
#[decode_as_type(crate_path = "subxt::ext::scale_decode")]
enum RuntimeCall {
    SubtensorModule(SubtensorCall),
}

#[allow(non_camel_case_types)]
#[derive(Debug, PartialEq, DecodeAsType)]
#[decode_as_type(crate_path = "subxt::ext::scale_decode")]
enum SubtensorCall {
    set_weights {
        netuid: u16,
        dests: Vec<u16>,
        weights: Vec<u16>,
        version_key: u64,
    },
    set_mechanism_weights {
        netuid: u16,
        mecid: u8,
        dests: Vec<u16>,
        weights: Vec<u16>,
        version_key: u64,
    },
    commit_timelocked_mechanism_weights {
        netuid: u16,
        mecid: u8,
        commit: Vec<u8>,
        reveal_round: u64,
        commit_reveal_version: u16,
    },
    serve_axon {
        netuid: u16,
        version: u32,
        ip: u128,
        port: u16,
        ip_type: u8,
        protocol: u8,
        placeholder1: u8,
        placeholder2: u8,
    },
}

fn round_trip<C: subxt::transactions::Payload>(call: &C) -> (Vec<u8>, SubtensorCall) {
    let metadata = common::finney_metadata();
    let client = common::offline_client(metadata.clone());
    let bytes = client
        .at_block(0u64)
        .unwrap()
        .transactions()
        .call_data(call)
        .unwrap();
    let call_ty = metadata.outer_enums().call_enum_ty();
    let cursor = &mut &bytes[..];
    let RuntimeCall::SubtensorModule(decoded) =
        RuntimeCall::decode_as_type(cursor, call_ty, metadata.types()).unwrap();
    assert!(cursor.is_empty(), "trailing bytes after the call");
    (bytes, decoded)
}

fn indices(call_name: &str) -> (u8, u8) {
    let metadata = common::finney_metadata();
    let pallet = metadata.pallet_by_name(calls::PALLET).unwrap();
    (
        pallet.call_index(),
        pallet.call_variant_by_name(call_name).unwrap().index,
    )
}

#[test]
fn set_weights_call_data() {
    let (bytes, decoded) = round_trip(&calls::set_weights(18, &[0, 3, 7], &[65535, 100, 2], 1234));
    assert_eq!(
        decoded,
        SubtensorCall::set_weights {
            netuid: 18,
            dests: vec![0, 3, 7],
            weights: vec![65535, 100, 2],
            version_key: 1234,
        }
    );
    let (pallet, call) = indices("set_weights");
    assert_eq!(&bytes[..2], &[pallet, call]);
    // Finney's SubtensorModule sits at pallet index 7; set_weights is its call 0.
    assert_eq!((pallet, call), (7, 0));
}

#[test]
fn set_mechanism_weights_call_data() {
    let (_, decoded) = round_trip(&calls::set_mechanism_weights(5, 1, &[2], &[65535], 9));
    assert_eq!(
        decoded,
        SubtensorCall::set_mechanism_weights {
            netuid: 5,
            mecid: 1,
            dests: vec![2],
            weights: vec![65535],
            version_key: 9,
        }
    );
}

#[test]
fn timelocked_commit_call_data() {
    let commit: Vec<u8> = (0..=255).collect();
    let (_, decoded) = round_trip(&calls::commit_timelocked_mechanism_weights(
        18, 0, &commit, 21_000_123, 4,
    ));
    assert_eq!(
        decoded,
        SubtensorCall::commit_timelocked_mechanism_weights {
            netuid: 18,
            mecid: 0,
            commit,
            reveal_round: 21_000_123,
            commit_reveal_version: 4,
        }
    );
}

#[test]
fn serve_axon_call_data() {
    let axon = AxonInfo::new("203.0.113.9:8091".parse().unwrap(), 7_002_000);
    let (bytes, decoded) = round_trip(&calls::serve_axon(18, &axon));
    assert_eq!(
        decoded,
        SubtensorCall::serve_axon {
            netuid: 18,
            version: 7_002_000,
            ip: 0xCB00_7109,
            port: 8091,
            ip_type: 4,
            protocol: 4,
            placeholder1: 0,
            placeholder2: 0,
        }
    );
    let (pallet, call) = indices("serve_axon");
    assert_eq!(&bytes[..2], &[pallet, call]);

    let v6 = AxonInfo::new("[2001:db8::1]:9000".parse().unwrap(), 1);
    let (_, decoded) = round_trip(&calls::serve_axon(1, &v6));
    let SubtensorCall::serve_axon { ip, ip_type, .. } = decoded else {
        panic!("not serve_axon");
    };
    assert_eq!(
        (ip, ip_type),
        (0x2001_0db8_0000_0000_0000_0000_0000_0001, 6)
    );
}
