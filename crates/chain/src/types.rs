//! What daemons read from and write to a chain: neurons, the metagraph, axon info and the
//! receipt of a weight setting.

use std::net::{IpAddr, SocketAddr};

use brainlock_account::AccountId;
use serde::{Deserialize, Serialize};

/// One registered neuron of a subnet.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Neuron {
    /// Position of the neuron in the subnet, 0-based; reused when a neuron is deregistered.
    pub uid: u16,
    /// Hotkey (serialized as SS58, prefix 42).
    pub hotkey: AccountId,
    /// Coldkey that owns the hotkey.
    pub coldkey: AccountId,
    /// Served axon address; `None` when the neuron never served one (ip 0).
    pub axon: Option<SocketAddr>,
    /// Whether the neuron may set weights (the top stakes of the subnet hold one).
    pub validator_permit: bool,
    /// Stake behind the hotkey on this subnet, in TAO (alpha on dynamic subnets).
    pub stake: f64,
    /// Block of the neuron's last weight setting (or registration).
    pub last_update: u64,
}

/// The neurons of one subnet as seen at one block.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metagraph {
    /// Subnet the metagraph describes.
    pub netuid: u16,
    /// Chain block the neurons were read at.
    pub block: u64,
    /// Sorted by uid.
    pub neurons: Vec<Neuron>,
}

impl Metagraph {
    /// The neuron registered under a hotkey.
    pub fn by_hotkey(&self, hotkey: &AccountId) -> Option<&Neuron> {
        self.neurons.iter().find(|n| n.hotkey == *hotkey)
    }

    /// The neuron with a uid.
    pub fn by_uid(&self, uid: u16) -> Option<&Neuron> {
        self.neurons.iter().find(|n| n.uid == uid)
    }

    /// Neurons that hold a validator permit.
    pub fn validators(&self) -> impl Iterator<Item = &Neuron> {
        self.neurons.iter().filter(|n| n.validator_permit)
    }

    /// Neurons without a validator permit that serve an axon: the miners to query.
    pub fn serving_miners(&self) -> impl Iterator<Item = &Neuron> {
        self.neurons
            .iter()
            .filter(|n| !n.validator_permit && n.axon.is_some())
    }

    /// Number of neurons (the subnet size the weight rules check uids against).
    pub fn len(&self) -> usize {
        self.neurons.len()
    }

    /// Whether the subnet has no registered neurons.
    pub fn is_empty(&self) -> bool {
        self.neurons.is_empty()
    }
}

/// Protocol number the Bittensor SDK's axons announce.
pub const AXON_PROTOCOL: u8 = 4;

/// An axon to announce with `serve_axon`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AxonInfo {
    /// IP and port the axon listens on.
    pub addr: SocketAddr,
    /// Software version as an integer (the SDK's `version_as_int`).
    pub version: u32,
    /// Axon protocol number; [`AXON_PROTOCOL`] unless built otherwise.
    pub protocol: u8,
}

impl AxonInfo {
    /// An axon at `addr` announcing software `version`, with the SDK's [`AXON_PROTOCOL`].
    pub fn new(addr: SocketAddr, version: u32) -> Self {
        Self {
            addr,
            version,
            protocol: AXON_PROTOCOL,
        }
    }
}

/// How a weight setting reached the chain (or stood-in ledger).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Submission {
    /// Appended to a local registry's weights ledger.
    Ledger,
    /// `set_weights` / `set_mechanism_weights` extrinsic, by hash (`0x` hex).
    Direct {
        /// Hash of the extrinsic (`0x` hex).
        extrinsic_hash: String,
    },
    /// `commit_timelocked_mechanism_weights` extrinsic, revealed at a drand round.
    TimelockedCommit {
        /// Hash of the extrinsic (`0x` hex).
        extrinsic_hash: String,
        /// Drand round at which the chain decrypts and applies the weights.
        reveal_round: u64,
    },
}

/// What a successful weight setting sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WeightsReceipt {
    /// Subnet the weights were set on.
    pub netuid: u16,
    /// Block at which it was accepted (included, or written to the ledger).
    pub block: u64,
    /// Uids that received a non-zero weight, in the order given.
    pub uids: Vec<u16>,
    /// Weights of those uids on the u16 scale (the largest is 65535).
    pub weights: Vec<u16>,
    /// Version key sent with the weights (checked against `WeightsVersionKey`).
    pub version_key: u64,
    /// How the weights were sent: ledger, direct extrinsic or timelocked commit.
    pub submission: Submission,
}

/// How the chain stores an IP address: the address as an integer and 4 or 6.
pub fn ip_to_chain(ip: IpAddr) -> (u128, u8) {
    match ip {
        IpAddr::V4(v4) => (u128::from(u32::from(v4)), 4),
        IpAddr::V6(v6) => (u128::from(v6), 6),
    }
}

/// The inverse of [`ip_to_chain`]; `None` for an unknown type or an out-of-range value.
pub fn ip_from_chain(ip: u128, ip_type: u8) -> Option<IpAddr> {
    match ip_type {
        4 => u32::try_from(ip).ok().map(|v| IpAddr::V4(v.into())),
        6 => Some(IpAddr::V6(ip.into())),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ip_round_trips() {
        for ip in [
            "1.2.3.4",
            "255.255.255.255",
            "::1",
            "2001:db8::8a2e:370:7334",
        ] {
            let ip: IpAddr = ip.parse().unwrap();
            let (n, t) = ip_to_chain(ip);
            assert_eq!(ip_from_chain(n, t), Some(ip));
        }
        assert_eq!(ip_to_chain("1.2.3.4".parse().unwrap()), (0x01020304, 4));
        assert_eq!(ip_from_chain(1 << 40, 4), None);
        assert_eq!(ip_from_chain(1, 5), None);
    }
}
