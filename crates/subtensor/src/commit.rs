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
/// to: the first block of the epoch `reveal_period_epochs` after the current one (the
/// chain's epochs end where `(block + netuid + 1) % (tempo + 1) == 0`), plus
/// [`SECURITY_BLOCK_OFFSET`], converted to time and then to a round.
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
    let target_block = first_reveal_block.saturating_add(SECURITY_BLOCK_OFFSET);
    let reveal_unix = now_unix.saturating_add(
        target_block
            .saturating_sub(current_block)
            .saturating_mul(BLOCK_SECONDS),
    );
    (reveal_unix.saturating_sub(QUICKNET_GENESIS_UNIX) / QUICKNET_PERIOD_SECS).max(1)
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
}
