//! Which miner to query when: a seeded shuffle per block window, shared by all
//! validators, each starting at its own offset.
//!
//! Every validator derives the same permutation of the serving miners from the block
//! window (no communication needed) and walks all of it, so each one scores every
//! serving miner within a round - validators agree, which keeps vtrust high. They
//! start at evenly spaced offsets, so at any moment they hit different miners rather
//! than all hammering the same one. (The live Python subnet gives each validator only
//! a slice of the miners per window; miners outside a validator's slice go unscored.)

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha20Rng;
use sha2::{Digest, Sha256};

/// The permutation of `miners` for a block window, identical for every validator.
pub(crate) fn shuffled(netuid: u16, window: u64, miners: &[u16]) -> Vec<u16> {
    let mut sorted = miners.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let mut hasher = Sha256::new();
    hasher.update(b"brainlock/miner-shuffle/v1");
    hasher.update(netuid.to_le_bytes());
    hasher.update(window.to_le_bytes());
    let mut rng = ChaCha20Rng::from_seed(hasher.finalize().into());
    sorted.shuffle(&mut rng);
    sorted
}

/// This validator's query order for the window containing `block`: the shared
/// permutation rotated to start at `position * n / validators` where `position` is our
/// rank among the validators' uids. A validator that is not in `validators` (no permit
/// yet, or the local registry) takes position 0 of 1.
pub(crate) fn round_order(
    netuid: u16,
    block: u64,
    window_blocks: u64,
    miners: &[u16],
    validators: &[u16],
    me: Option<u16>,
) -> Vec<u16> {
    let window = block / window_blocks.max(1);
    let order = shuffled(netuid, window, miners);
    if order.is_empty() {
        return order;
    }
    let mut ranks = validators.to_vec();
    ranks.sort_unstable();
    ranks.dedup();
    let (position, count) = match me.and_then(|uid| ranks.iter().position(|&v| v == uid)) {
        Some(p) => (p, ranks.len()),
        None => (0, 1),
    };
    let start = position * order.len() / count;
    let mut rotated = order[start..].to_vec();
    rotated.extend_from_slice(&order[..start]);
    rotated
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_validator_covers_every_miner_from_a_different_start() {
        let miners: Vec<u16> = (10..40).collect();
        let validators = [1, 2, 3];
        let orders: Vec<Vec<u16>> = validators
            .iter()
            .map(|&v| round_order(55, 1000, 360, &miners, &validators, Some(v)))
            .collect();
        for order in &orders {
            let mut sorted = order.clone();
            sorted.sort_unstable();
            assert_eq!(sorted, miners);
        }
        assert_ne!(orders[0][0], orders[1][0]);
        assert_ne!(orders[1][0], orders[2][0]);
        // Same shared permutation, only rotated.
        assert_eq!(
            orders[1][..],
            [&orders[0][10..], &orders[0][..10]].concat()[..]
        );
    }

    #[test]
    fn shuffle_is_deterministic_per_window_and_changes_between_windows() {
        let miners: Vec<u16> = (0..64).collect();
        assert_eq!(
            round_order(55, 10, 360, &miners, &[], None),
            round_order(55, 359, 360, &miners, &[], None)
        );
        assert_ne!(
            round_order(55, 10, 360, &miners, &[], None),
            round_order(55, 360, 360, &miners, &[], None)
        );
        assert_ne!(
            shuffled(55, 0, &miners),
            miners,
            "a shuffle of 64 should move something"
        );
        // Input order does not matter.
        let mut reversed = miners.clone();
        reversed.reverse();
        assert_eq!(shuffled(55, 7, &reversed), shuffled(55, 7, &miners));
    }

    #[test]
    fn empty_and_unknown_validator_cases() {
        assert!(round_order(55, 0, 0, &[], &[1], Some(1)).is_empty());
        let order = round_order(55, 0, 360, &[5, 6], &[1, 2], Some(9));
        assert_eq!(order, shuffled(55, 0, &[5, 6]));
    }
}
