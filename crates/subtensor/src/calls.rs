//! SubtensorModule extrinsic payloads, built dynamically: argument names and types are
//! checked against the runtime metadata when the call is encoded, so the same code works
//! on every runtime version that keeps these calls' shapes.

use brainlock_chain::{AxonInfo, ip_to_chain};
use subxt::dynamic::Value;
use subxt::ext::scale_value::Composite;
use subxt::transactions::DynamicPayload;

/// Name of the pallet every Brainlock extrinsic calls.
pub const PALLET: &str = "SubtensorModule";

/// A call of the SubtensorModule pallet with named arguments.
pub type SubtensorCall = DynamicPayload<Composite<()>>;

fn call(name: &str, args: Vec<(&str, Value)>) -> SubtensorCall {
    let fields = args
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect::<Vec<_>>();
    subxt::dynamic::tx(PALLET, name, Composite::named(fields))
}

fn u16_list(values: &[u16]) -> Value {
    Value::unnamed_composite(values.iter().map(|&v| Value::u128(v.into())))
}

/// `set_weights(netuid, dests, weights, version_key)`.
pub fn set_weights(netuid: u16, uids: &[u16], weights: &[u16], version_key: u64) -> SubtensorCall {
    call(
        "set_weights",
        vec![
            ("netuid", Value::u128(netuid.into())),
            ("dests", u16_list(uids)),
            ("weights", u16_list(weights)),
            ("version_key", Value::u128(version_key.into())),
        ],
    )
}

/// `set_mechanism_weights(netuid, mecid, dests, weights, version_key)`.
pub fn set_mechanism_weights(
    netuid: u16,
    mecid: u8,
    uids: &[u16],
    weights: &[u16],
    version_key: u64,
) -> SubtensorCall {
    call(
        "set_mechanism_weights",
        vec![
            ("netuid", Value::u128(netuid.into())),
            ("mecid", Value::u128(mecid.into())),
            ("dests", u16_list(uids)),
            ("weights", u16_list(weights)),
            ("version_key", Value::u128(version_key.into())),
        ],
    )
}

/// `commit_timelocked_mechanism_weights(netuid, mecid, commit, reveal_round,
/// commit_reveal_version)`: `commit` is the timelock ciphertext of the weights payload.
pub fn commit_timelocked_mechanism_weights(
    netuid: u16,
    mecid: u8,
    commit: &[u8],
    reveal_round: u64,
    commit_reveal_version: u16,
) -> SubtensorCall {
    call(
        "commit_timelocked_mechanism_weights",
        vec![
            ("netuid", Value::u128(netuid.into())),
            ("mecid", Value::u128(mecid.into())),
            ("commit", Value::from_bytes(commit)),
            ("reveal_round", Value::u128(reveal_round.into())),
            (
                "commit_reveal_version",
                Value::u128(commit_reveal_version.into()),
            ),
        ],
    )
}

/// `serve_axon(netuid, version, ip, port, ip_type, protocol, placeholder1, placeholder2)`.
pub fn serve_axon(netuid: u16, axon: &AxonInfo) -> SubtensorCall {
    let (ip, ip_type) = ip_to_chain(axon.addr.ip());
    call(
        "serve_axon",
        vec![
            ("netuid", Value::u128(netuid.into())),
            ("version", Value::u128(axon.version.into())),
            ("ip", Value::u128(ip)),
            ("port", Value::u128(axon.addr.port().into())),
            ("ip_type", Value::u128(ip_type.into())),
            ("protocol", Value::u128(axon.protocol.into())),
            ("placeholder1", Value::u128(0)),
            ("placeholder2", Value::u128(0)),
        ],
    )
}
