//! The `SubtensorModule` rules the test node applies to the calls Brainlock makes, in
//! the order the pallet applies them (read from `opentensor/subtensor`; the functions
//! named below are the pallet's). A call meets them in two places, as on a real node:
//!
//! - the transaction pool ([`validate`]): subtensor's transaction extension runs its
//!   guards (`guards/check_weights.rs`, `check_rate_limits.rs`,
//!   `check_serving_endpoints.rs`) and refuses with `Invalid Transaction` and a custom
//!   validity code; the extrinsic never reaches a block;
//! - the call itself ([`dispatch`]): it fails in its block with `System.ExtrinsicFailed`
//!   and the pallet's error, or succeeds and changes the state.
//!
//! The schedule is that of the runtime whose metadata the node serves (spec 393): epochs
//! end where `(block + netuid + 1) % (tempo + 1) == 0`. Not modelled: stake thresholds
//! (`StakeThreshold` is 0 on finney), mechanisms other than 0 (each subnet has one), the
//! root network, drand pulses (commits are recorded, never revealed), and registration
//! (a neuron's `last_update` is what the test gives; a real registration writes it).

use std::collections::HashMap;
use std::net::SocketAddr;

use subxt::ext::scale_value::ValueDef;

use crate::IncludedCall;

/// Most unrevealed timelocked commits one hotkey may hold in one epoch's bucket.
pub const MAX_UNREVEALED_COMMITS: usize = 10;

/// A neuron as `NeuronInfoRuntimeApi::get_neurons_lite` reports it (the fields a metagraph
/// reads; the others are zero).
#[derive(Debug, Clone)]
pub struct TestNeuron {
    /// Its uid.
    pub uid: u16,
    /// Its hotkey's public key.
    pub hotkey: [u8; 32],
    /// Its coldkey's public key.
    pub coldkey: [u8; 32],
    /// The axon it serves, if any.
    pub axon: Option<SocketAddr>,
    /// Stake in rao, held by the coldkey.
    pub stake_rao: u64,
    /// `LastUpdate`: the block of its last weight setting or commit.
    pub last_update: u64,
    /// `ValidatorPermit`.
    pub validator_permit: bool,
}

/// A subnet's hyperparameters and neurons: what the node serves as storage and runtime
/// API answers, and what its rules read and change.
#[derive(Debug, Clone)]
pub struct TestSubnet {
    /// The subnet's netuid.
    pub netuid: u16,
    /// `Tempo`: blocks per epoch, less one.
    pub tempo: u16,
    /// `WeightsSetRateLimit`, in blocks.
    pub weights_rate_limit: u64,
    /// `WeightsVersionKey`: the smallest version key accepted (0 accepts any).
    pub weights_version_key: u64,
    /// `MinAllowedWeights`.
    pub min_allowed_weights: u16,
    /// `MaxWeightsLimit`, in 1/65535 of the total: served, but not applied (the runtime
    /// no longer does).
    pub max_weights_limit: u16,
    /// `CommitRevealWeightsEnabled`.
    pub commit_reveal: bool,
    /// `RevealPeriodEpochs`.
    pub reveal_period_epochs: u64,
    /// `ServingRateLimit`, in blocks.
    pub serving_rate_limit: u64,
    /// `SubnetOwnerHotkey`: sets weights without a validator permit.
    pub owner_hotkey: Option<[u8; 32]>,
    /// The neurons, uid `i` at index `i`.
    pub neurons: Vec<TestNeuron>,
}

/// A call the rules know, with its arguments.
#[derive(Debug, Clone)]
pub(crate) enum SubtensorCall {
    SetWeights {
        netuid: u16,
        mecid: u8,
        uids: Vec<u16>,
        weights: Vec<u16>,
        version_key: u64,
    },
    CommitTimelocked {
        netuid: u16,
        mecid: u8,
        version: u16,
    },
    ServeAxon {
        netuid: u16,
        ip: u128,
        ip_type: u8,
        port: u16,
    },
}

impl SubtensorCall {
    pub(crate) fn netuid(&self) -> u16 {
        match *self {
            Self::SetWeights { netuid, .. }
            | Self::CommitTimelocked { netuid, .. }
            | Self::ServeAxon { netuid, .. } => netuid,
        }
    }
}

/// The rules' view of an included call; `None` for a call they do not cover (or whose
/// arguments do not fit their types, which the real pallet's decoding would refuse).
pub(crate) fn decode(call: &IncludedCall) -> Option<SubtensorCall> {
    let number = |name: &str| {
        call.args
            .iter()
            .find(|(n, _)| n == name)
            .and_then(|(_, v)| v.as_u128())
    };
    let narrow = |name: &str| number(name).and_then(|v| u64::try_from(v).ok());
    let list = |name: &str| -> Option<Vec<u16>> {
        let (_, value) = call.args.iter().find(|(n, _)| n == name)?;
        let ValueDef::Composite(items) = &value.value else {
            return None;
        };
        items
            .values()
            .map(|v| v.as_u128().and_then(|v| u16::try_from(v).ok()))
            .collect()
    };
    let netuid = u16::try_from(narrow("netuid")?).ok()?;
    let mecid = || u8::try_from(narrow("mecid").unwrap_or(0)).ok();
    Some(match call.call.as_str() {
        "set_weights" | "set_mechanism_weights" => SubtensorCall::SetWeights {
            netuid,
            mecid: mecid()?,
            uids: list("dests")?,
            weights: list("weights")?,
            version_key: narrow("version_key")?,
        },
        "commit_timelocked_weights" | "commit_timelocked_mechanism_weights" => {
            SubtensorCall::CommitTimelocked {
                netuid,
                mecid: mecid()?,
                version: u16::try_from(narrow("commit_reveal_version")?).ok()?,
            }
        }
        "serve_axon" | "serve_axon_tls" => SubtensorCall::ServeAxon {
            netuid,
            ip: number("ip")?,
            ip_type: u8::try_from(narrow("ip_type")?).ok()?,
            port: u16::try_from(narrow("port")?).ok()?,
        },
        _ => return None,
    })
}

/// The pallet's state: subnets by netuid, and what calls leave behind.
#[derive(Debug, Default)]
pub(crate) struct Pallet {
    pub subnets: HashMap<u16, TestSubnet>,
    /// `CommitRevealWeightsVersion`.
    pub commit_reveal_version: u16,
    /// `Axons[netuid][hotkey].block`: when each axon was last served.
    axon_blocks: HashMap<(u16, [u8; 32]), u64>,
    /// `TimelockedWeightCommits[netuid][epoch]`: the committers, in order.
    commits: HashMap<(u16, u64), Vec<[u8; 32]>>,
    /// `Weights[netuid][uid]`: the last weights each uid set, max-upscaled.
    pub weights: HashMap<(u16, u16), Vec<(u16, u16)>>,
}

/// Custom validity codes (subtensor's `CustomTransactionError`).
pub(crate) mod code {
    pub(crate) const RATE_LIMIT_EXCEEDED: u8 = 6;
    pub(crate) const HOTKEY_NOT_REGISTERED_IN_NETWORK: u8 = 10;
    pub(crate) const INVALID_IP_ADDRESS: u8 = 11;
    pub(crate) const SERVING_RATE_LIMIT_EXCEEDED: u8 = 12;
    pub(crate) const INVALID_PORT: u8 = 13;
    pub(crate) const BAD_REQUEST: u8 = 255;
}

impl Pallet {
    fn neuron(&self, netuid: u16, hotkey: &[u8; 32]) -> Option<&TestNeuron> {
        self.subnets
            .get(&netuid)?
            .neurons
            .iter()
            .find(|n| n.hotkey == *hotkey)
    }

    /// `check_rate_limit`: inclusive, and a neuron that never set weights passes.
    fn passes_weights_rate_limit(&self, netuid: u16, neuron: &TestNeuron, now: u64) -> bool {
        let limit = self.subnets[&netuid].weights_rate_limit;
        neuron.last_update == 0 || now.saturating_sub(neuron.last_update) >= limit
    }

    /// `validate_serve_axon`, as a pallet error name.
    fn check_serve_axon(
        &self,
        who: &[u8; 32],
        netuid: u16,
        ip: u128,
        ip_type: u8,
        port: u16,
        now: u64,
    ) -> Result<(), &'static str> {
        if self.neuron(netuid, who).is_none() {
            return Err("HotKeyNotRegisteredInNetwork");
        }
        if ip_type != 4 && ip_type != 6 {
            return Err("InvalidIpType");
        }
        // `is_valid_ip_address` with zero allowed: only loopback and the all-ones
        // address (and beyond, for IPv4) are refused.
        let invalid = match ip_type {
            4 => ip >= 0xFFFF_FFFF || ip == 0x7F00_0001,
            _ => ip == u128::MAX || ip == 1,
        };
        if invalid {
            return Err("InvalidIpAddress");
        }
        let limit = self.subnets[&netuid].serving_rate_limit;
        let last = self.axon_blocks.get(&(netuid, *who)).copied().unwrap_or(0);
        if limit != 0 && last != 0 && now.saturating_sub(last) < limit {
            return Err("ServingRateLimitExceeded");
        }
        if port == 0 {
            return Err("InvalidPort");
        }
        Ok(())
    }
}

/// The transaction pool's checks (subtensor's transaction extension): `Err` is the custom
/// validity code it refuses with. `now` is the block the call would be applied in.
pub(crate) fn validate(
    pallet: &Pallet,
    who: &[u8; 32],
    call: &SubtensorCall,
    now: u64,
) -> Result<(), u8> {
    match *call {
        // `CheckRateLimits`: direct settings only, and only for a registered hotkey (an
        // unregistered one is refused by the call itself). A mechanism that does not
        // exist fails `check_rate_limit` too, with the same code.
        SubtensorCall::SetWeights { netuid, mecid, .. } => {
            let Some(subnet) = pallet.subnets.get(&netuid) else {
                return Ok(());
            };
            match pallet.neuron(netuid, who) {
                Some(neuron)
                    if !subnet.commit_reveal
                        && (mecid != 0
                            || !pallet.passes_weights_rate_limit(netuid, neuron, now)) =>
                {
                    Err(code::RATE_LIMIT_EXCEEDED)
                }
                _ => Ok(()),
            }
        }
        SubtensorCall::CommitTimelocked { .. } => Ok(()),
        // `CheckServingEndpoints`: the whole of `validate_serve_axon`.
        SubtensorCall::ServeAxon {
            netuid,
            ip,
            ip_type,
            port,
        } => pallet
            .check_serve_axon(who, netuid, ip, ip_type, port, now)
            .map_err(|error| match error {
                "HotKeyNotRegisteredInNetwork" => code::HOTKEY_NOT_REGISTERED_IN_NETWORK,
                "InvalidIpAddress" => code::INVALID_IP_ADDRESS,
                "ServingRateLimitExceeded" => code::SERVING_RATE_LIMIT_EXCEEDED,
                "InvalidPort" => code::INVALID_PORT,
                _ => code::BAD_REQUEST,
            }),
    }
}

/// Runs a call in block `now`: `Err` is the name of the pallet error it fails with.
pub(crate) fn dispatch(
    pallet: &mut Pallet,
    who: &[u8; 32],
    call: SubtensorCall,
    now: u64,
) -> Result<(), &'static str> {
    match call {
        SubtensorCall::SetWeights {
            netuid,
            mecid,
            uids,
            weights,
            version_key,
        } => set_weights(
            pallet,
            who,
            netuid,
            mecid,
            &uids,
            &weights,
            version_key,
            now,
        ),
        SubtensorCall::CommitTimelocked {
            netuid,
            mecid,
            version,
        } => commit_timelocked(pallet, who, netuid, mecid, version, now),
        SubtensorCall::ServeAxon {
            netuid,
            ip,
            ip_type,
            port,
        } => {
            pallet.check_serve_axon(who, netuid, ip, ip_type, port, now)?;
            pallet.axon_blocks.insert((netuid, *who), now);
            let neuron = pallet
                .subnets
                .get_mut(&netuid)
                .and_then(|s| s.neurons.iter_mut().find(|n| n.hotkey == *who))
                .expect("checked registered");
            neuron.axon =
                brainlock_chain::ip_from_chain(ip, ip_type).map(|ip| SocketAddr::new(ip, port));
            Ok(())
        }
    }
}

/// `set_weights` / `set_mechanism_weights`, then `internal_set_weights`.
#[allow(clippy::too_many_arguments)]
fn set_weights(
    pallet: &mut Pallet,
    who: &[u8; 32],
    netuid: u16,
    mecid: u8,
    uids: &[u16],
    weights: &[u16],
    version_key: u64,
    now: u64,
) -> Result<(), &'static str> {
    // Commit-reveal defaults to on, so an unknown subnet reads as one.
    let Some(subnet) = pallet.subnets.get(&netuid) else {
        return Err("CommitRevealEnabled");
    };
    if subnet.commit_reveal {
        return Err("CommitRevealEnabled");
    }
    if uids.len() != weights.len() {
        return Err("WeightVecNotEqualSize");
    }
    if mecid != 0 {
        return Err("MechanismDoesNotExist");
    }
    let size = subnet.neurons.len();
    if uids.len() > size {
        return Err("UidsLengthExceedUidsInSubNet");
    }
    let neuron = pallet
        .neuron(netuid, who)
        .ok_or("HotKeyNotRegisteredInSubNet")?;
    if subnet.weights_version_key != 0 && version_key < subnet.weights_version_key {
        return Err("IncorrectWeightVersionKey");
    }
    if !pallet.passes_weights_rate_limit(netuid, neuron, now) {
        return Err("SettingWeightsTooFast");
    }
    // `check_validator_permit`: a permit, the subnet owner's hotkey, or `is_self_weight`
    // (exactly one weight, on oneself).
    let self_weight = uids == [neuron.uid];
    let owner = subnet.owner_hotkey == Some(*who);
    if !self_weight && !neuron.validator_permit && !owner {
        return Err("NeuronNoValidatorPermit");
    }
    let mut seen = std::collections::HashSet::new();
    if !uids.iter().all(|uid| seen.insert(uid)) {
        return Err("DuplicateUids");
    }
    if uids.iter().any(|&uid| usize::from(uid) >= size) {
        return Err("UidVecContainInvalidOne");
    }
    // `check_length`: zeros count; a subnet smaller than the minimum needs all.
    let min = usize::from(subnet.min_allowed_weights).min(size);
    if !self_weight && weights.len() < min {
        return Err("WeightVecLengthIsLow");
    }
    // `max_weight_limited` passes everything: `get_max_weight_limit` is the constant
    // u16::MAX (the metadata's words: "currently `u16::MAX`"), whatever `MaxWeightsLimit`
    // holds.
    let upscaled = max_upscale(weights);
    let uid = neuron.uid;
    pallet
        .weights
        .insert((netuid, uid), uids.iter().copied().zip(upscaled).collect());
    set_last_update(pallet, netuid, uid, now);
    Ok(())
}

/// `internal_commit_timelocked_weights` (the commit's contents are not judged here).
fn commit_timelocked(
    pallet: &mut Pallet,
    who: &[u8; 32],
    netuid: u16,
    mecid: u8,
    version: u16,
    now: u64,
) -> Result<(), &'static str> {
    let subnet = match pallet.subnets.get(&netuid) {
        Some(subnet) if mecid == 0 => subnet,
        _ => return Err("MechanismDoesNotExist"),
    };
    if !subnet.commit_reveal {
        return Err("CommitRevealDisabled");
    }
    if version != pallet.commit_reveal_version {
        return Err("IncorrectCommitRevealVersion");
    }
    let neuron = pallet
        .neuron(netuid, who)
        .ok_or("HotKeyNotRegisteredInSubNet")?;
    if !pallet.passes_weights_rate_limit(netuid, neuron, now) {
        return Err("CommittingWeightsTooFast");
    }
    let uid = neuron.uid;
    let epoch = commit_epoch(netuid, subnet.tempo, now);
    let bucket = pallet.commits.entry((netuid, epoch)).or_default();
    if bucket.iter().filter(|c| *c == who).count() >= MAX_UNREVEALED_COMMITS {
        return Err("TooManyUnrevealedCommits");
    }
    bucket.push(*who);
    set_last_update(pallet, netuid, uid, now);
    Ok(())
}

fn set_last_update(pallet: &mut Pallet, netuid: u16, uid: u16, now: u64) {
    if let Some(neuron) = pallet
        .subnets
        .get_mut(&netuid)
        .and_then(|s| s.neurons.get_mut(usize::from(uid)))
    {
        neuron.last_update = now;
    }
}

/// The epoch a commit at `block` belongs to: `get_epoch_index`, one more when an epoch
/// runs at that very block (`should_run_epoch`).
fn commit_epoch(netuid: u16, tempo: u16, block: u64) -> u64 {
    let period = u64::from(tempo) + 1;
    let shifted = block + u64::from(netuid) + 1;
    let runs_now = tempo != 0 && u64::from(tempo) == shifted % period;
    shifted / period + u64::from(runs_now)
}

/// `vec_u16_max_upscale_to_u16`: the largest weight becomes 65535, the rest in
/// proportion (rounded half away from zero).
fn max_upscale(weights: &[u16]) -> Vec<u16> {
    let max = weights.iter().copied().max().unwrap_or(0);
    if max == 0 {
        return weights.to_vec();
    }
    weights
        .iter()
        .map(|&w| (f64::from(w) * 65535.0 / f64::from(max)).round() as u16)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upscales_and_keys_commits_by_epoch() {
        assert_eq!(max_upscale(&[100, 50, 0]), [65535, 32768, 0]);
        assert_eq!(max_upscale(&[0, 0]), [0, 0]);
        // netuid 1, tempo 9: epochs end where (block + 2) % 10 == 0, so an epoch runs at
        // block 17 ((17 + 2) % 10 == 9 == tempo) and a commit there counts in the next.
        assert_eq!(commit_epoch(1, 9, 16), 1);
        assert_eq!(commit_epoch(1, 9, 17), 2);
        assert_eq!(commit_epoch(1, 9, 18), 2);
    }
}
