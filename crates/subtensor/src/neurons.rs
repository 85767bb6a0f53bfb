//! Reading the metagraph through `NeuronInfoRuntimeApi::get_neurons_lite`, one runtime
//! call for the whole subnet.

use std::net::SocketAddr;

use brainlock_account::AccountId;
use brainlock_chain::{Metagraph, Neuron};
use subxt::ext::scale_decode::DecodeAsType;

use brainlock_chain::ip_from_chain;

/// Rao per TAO (and per alpha unit).
pub const RAO_PER_TAO: f64 = 1e9;

/// The fields of the runtime's `NeuronInfoLite` that a metagraph needs; the others are
/// skipped by name when decoding.
#[derive(Debug, DecodeAsType)]
#[decode_as_type(crate_path = "subxt::ext::scale_decode")]
pub struct NeuronInfoLite {
    /// Hotkey public key (sr25519, 32 bytes).
    pub hotkey: [u8; 32],
    /// Coldkey public key that owns the hotkey.
    pub coldkey: [u8; 32],
    /// Position of the neuron in the subnet.
    pub uid: u16,
    /// Axon the neuron last served (all zero when it never did).
    pub axon_info: ChainAxonInfo,
    /// Stake per staking coldkey, in rao (1e9 rao = 1 TAO or alpha).
    pub stake: Vec<([u8; 32], u64)>,
    /// Block of the neuron's last weight setting (or registration).
    pub last_update: u64,
    /// Whether the neuron may set weights on the subnet.
    pub validator_permit: bool,
}

/// The runtime's `AxonInfo`.
#[derive(Debug, DecodeAsType)]
#[decode_as_type(crate_path = "subxt::ext::scale_decode")]
pub struct ChainAxonInfo {
    /// IP address as an integer; an IPv4 address sits in the low 32 bits.
    pub ip: u128,
    /// Port the axon listens on.
    pub port: u16,
    /// IP version: 4 or 6; any other value means no usable address.
    pub ip_type: u8,
}

impl ChainAxonInfo {
    /// The served address, `None` when none was served (ip 0, port 0 or unknown type).
    pub fn addr(&self) -> Option<SocketAddr> {
        if self.ip == 0 || self.port == 0 {
            return None;
        }
        ip_from_chain(self.ip, self.ip_type).map(|ip| SocketAddr::new(ip, self.port))
    }
}

/// Builds the metagraph from decoded neurons.
pub fn to_metagraph(netuid: u16, block: u64, neurons: Vec<NeuronInfoLite>) -> Metagraph {
    let mut neurons: Vec<Neuron> = neurons
        .into_iter()
        .map(|n| Neuron {
            uid: n.uid,
            hotkey: AccountId(n.hotkey),
            coldkey: AccountId(n.coldkey),
            axon: n.axon_info.addr(),
            validator_permit: n.validator_permit,
            stake: n.stake.iter().map(|(_, rao)| *rao as f64).sum::<f64>() / RAO_PER_TAO,
            last_update: n.last_update,
        })
        .collect();
    neurons.sort_by_key(|n| n.uid);
    Metagraph {
        netuid,
        block,
        neurons,
    }
}
