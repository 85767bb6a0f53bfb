//! Timelocked weight commits, for subnets with commit-reveal on: the payload the chain
//! decrypts at reveal time, the drand round it is locked to, and the encrypted commit,
//! built as the reference (`bittensor-drand`) builds them (DESIGN section 6).

use brainlock_timelock::{QUICKNET_GENESIS_UNIX, QUICKNET_PERIOD_SECS, TimelockError};
use subxt::ext::codec::Encode;

/// Blocks after the first block of the reveal epoch that the reveal round aims at, so
/// the drand signature exists when the chain tries to reveal.
pub const SECURITY_BLOCK_OFFSET: u64 = 3;
/// Seconds per subtensor block.
pub const BLOCK_SECONDS: u64 = 12;

/// The SCALE payload `{hotkey, uids, values, version_key}` the chain decrypts and
/// applies at reveal time.
pub fn payload(hotkey: &[u8; 32], uids: &[u16], values: &[u16], version_key: u64) -> Vec<u8> {
    (hotkey.to_vec(), uids.to_vec(), values.to_vec(), version_key).encode()
}

/// The drand quicknet round a commit made at `current_block` (at `now_unix`) is locked
/// to, on a runtime whose epochs end where `(block + netuid + 1) % (tempo + 1) == 0`
/// (spec 393 and older): the first block of the epoch `reveal_period_epochs` after the
/// current one, as the reference generator (`bittensor-drand`'s `get_encrypted_commit`)
/// computes it.
pub fn reveal_round(
    current_block: u64,
    netuid: u16,
    tempo: u16,
    reveal_period_epochs: u64,
    now_unix: u64,
) -> u64 {
    let tempo_plus_one = u64::from(tempo) + 1;
    let netuid_plus_one = u64::from(netuid) + 1;
    let current_epoch = current_block.saturating_add(netuid_plus_one) / tempo_plus_one;
    let reveal_epoch = current_epoch.saturating_add(reveal_period_epochs);
    let first_reveal_block = reveal_epoch
        .saturating_mul(tempo_plus_one)
        .saturating_sub(netuid_plus_one);
    round_for_block(first_reveal_block, current_block, now_unix)
}

/// The round whose signature exists [`SECURITY_BLOCK_OFFSET`] blocks after
/// `reveal_block`, counting [`BLOCK_SECONDS`] per block from `current_block` at
/// `now_unix`.
pub fn round_for_block(reveal_block: u64, current_block: u64, now_unix: u64) -> u64 {
    let target_block = reveal_block.saturating_add(SECURITY_BLOCK_OFFSET);
    let reveal_unix = now_unix.saturating_add(
        target_block
            .saturating_sub(current_block)
            .saturating_mul(BLOCK_SECONDS),
    );
    (reveal_unix.saturating_sub(QUICKNET_GENESIS_UNIX) / QUICKNET_PERIOD_SECS).max(1)
}

/// Blocks after which an epoch runs whatever the schedule says (the chain's `MAX_TEMPO`).
const MAX_TEMPO: u64 = 50_400;

/// A subnet's epoch schedule on runtimes with dynamic tempo, read at one block: epochs run
/// `tempo` blocks after the last one, earlier when triggered (`PendingEpochAt`), and
/// commits are revealed in the block where the epoch `RevealPeriodEpochs` after theirs
/// runs. The simple arithmetic of [`reveal_round`] drifts from it by a block per epoch
/// and misses triggers and resets, so on these runtimes the reveal block comes from
/// simulating the schedule, as the reference's newer generator
/// (`bittensor-drand` 2, `get_encrypted_commit_v2`) does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EpochSchedule {
    /// `Tempo`.
    pub tempo: u16,
    /// `LastEpochBlock`: where the last epoch ran.
    pub last_epoch_block: u64,
    /// `PendingEpochAt`: a triggered epoch's block, 0 for none.
    pub pending_epoch_at: u64,
    /// `SubnetEpochIndex`.
    pub epoch_index: u64,
    /// `BlocksSinceLastStep`.
    pub blocks_since_last_step: u64,
}

impl EpochSchedule {
    /// `should_run_epoch` at `block`.
    fn runs_at(&self, block: u64) -> bool {
        let tempo = u64::from(self.tempo);
        tempo != 0
            && ((self.pending_epoch_at != 0 && block >= self.pending_epoch_at)
                || self.blocks_since_last_step > MAX_TEMPO
                || block.saturating_sub(self.last_epoch_block) >= tempo)
    }

    /// The epoch a call applied at `block` counts in (`current_epoch_with_lookahead`).
    fn epoch_at(&self, block: u64) -> u64 {
        self.epoch_index + u64::from(self.runs_at(block))
    }

    /// The state after `block`.
    fn step(&mut self, block: u64) {
        self.blocks_since_last_step += 1;
        if self.runs_at(block) {
            self.last_epoch_block = block;
            self.pending_epoch_at = 0;
            self.epoch_index += 1;
            self.blocks_since_last_step = 0;
        }
    }

    /// The block the chain reveals a commit made while `head` is the best block (it is
    /// applied in the next): `None` when no epoch runs within the bound the chain keeps
    /// (tempo 0).
    pub fn first_reveal_block(&self, head: u64, reveal_period_epochs: u64) -> Option<u64> {
        let mut state = *self;
        let applied = head + 1;
        let target = state.epoch_at(applied).checked_add(reveal_period_epochs)?;
        let bound = reveal_period_epochs
            .saturating_add(1)
            .saturating_mul(MAX_TEMPO);
        for block in applied..=applied.saturating_add(bound) {
            if state.epoch_at(block) == target {
                return Some(block);
            }
            state.step(block);
        }
        None
    }
}

/// The commit: `payload` timelock-encrypted to `round`.
pub fn encrypt_commit(payload: &[u8], round: u64) -> Result<Vec<u8>, TimelockError> {
    brainlock_timelock::encrypt(payload, round, &mut rand::rng())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_is_the_scale_struct_the_chain_decodes() {
        let bytes = payload(&[7; 32], &[1, 2], &[65535, 30000], 42);
        let mut expected = vec![32 << 2];
        expected.extend([7u8; 32]);
        expected.extend([2 << 2, 1, 0, 2, 0]);
        expected.extend([2 << 2, 0xff, 0xff, 0x30, 0x75]);
        expected.extend(42u64.to_le_bytes());
        assert_eq!(bytes, expected);
    }

    #[test]
    fn reveal_round_aims_past_the_first_block_of_the_reveal_epoch() {
        // netuid 18, tempo 360: epochs end where (block + 19) % 361 == 0. Block 1000 is in
        // epoch 2; one epoch later the reveal epoch starts at 3 * 361 - 19 = 1064, and
        // the round aims at block 1067: 67 blocks (804 s) from now.
        let now = QUICKNET_GENESIS_UNIX + 3_000;
        let expected = (3_000 + 804) / QUICKNET_PERIOD_SECS;
        assert_eq!(reveal_round(1000, 18, 360, 1, now), expected);
        // Two reveal epochs: 361 blocks later.
        assert_eq!(
            reveal_round(1000, 18, 360, 2, now),
            (3_000 + (67 + 361) * 12) / 3
        );
        // Before genesis (a broken clock) the round is still a valid one.
        assert_eq!(reveal_round(0, 0, 0, 0, 0), 1);
        // Extreme inputs saturate instead of overflowing.
        assert!(reveal_round(u64::MAX, u16::MAX, u16::MAX, u64::MAX, u64::MAX) > 0);
    }

    /// Netuid 1, tempo 360, one reveal epoch: where the simple arithmetic and the
    /// schedule disagree (worked examples of the commit generator's two versions).
    #[test]
    fn the_schedule_and_the_simple_arithmetic_differ() {
        let legacy_block = |head: u64| {
            let period = 361;
            ((head + 2) / period + 1) * period - 2
        };
        // A: 100 blocks after an epoch. The arithmetic's grid says the next epoch starts
        // at 10,106; the chain runs it 360 blocks after the last, at 10,360, so a round
        // aimed at 10,109 would open the weights 250 blocks before the chain reveals them.
        let a = EpochSchedule {
            tempo: 360,
            last_epoch_block: 10_000,
            pending_epoch_at: 0,
            epoch_index: 27,
            blocks_since_last_step: 100,
        };
        assert_eq!(legacy_block(10_100), 10_106);
        assert_eq!(a.first_reveal_block(10_100, 1), Some(10_360));
        // B: two blocks before an epoch the grid puts a block later. The chain reveals at
        // 10,108 and drops unrevealed commits when the next epoch runs (10,468); a round
        // aimed at the grid's 10,470 would never be revealed.
        let b = EpochSchedule {
            last_epoch_block: 9_748,
            blocks_since_last_step: 358,
            ..a
        };
        assert_eq!(legacy_block(10_106), 10_467);
        assert_eq!(b.first_reveal_block(10_106, 1), Some(10_108));
        // The rounds differ accordingly: 12 s per block, 3 s per round.
        let now = QUICKNET_GENESIS_UNIX + 3_000;
        assert_eq!(
            reveal_round(10_106, 1, 360, 1, now),
            round_for_block(10_467, 10_106, now)
        );
        assert_eq!(
            round_for_block(10_467, 10_106, now) - round_for_block(10_108, 10_106, now),
            (10_467 - 10_108) * 4
        );
        // Two reveal epochs: one tempo later; a triggered epoch comes first.
        assert_eq!(a.first_reveal_block(10_100, 2), Some(10_720));
        let triggered = EpochSchedule {
            pending_epoch_at: 10_200,
            ..a
        };
        assert_eq!(triggered.first_reveal_block(10_100, 1), Some(10_200));
        let stopped = EpochSchedule { tempo: 0, ..a };
        assert_eq!(stopped.first_reveal_block(10_100, 1), None);
    }
}
