//! A customer's or validator's evaluation key, as a miner or gateway receives it.
#![no_main]

use brainlock_fhe::{CompressedEvaluationKey, Limits, Profile};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for profile in Profile::all() {
        let _ = CompressedEvaluationKey::from_bytes(data, profile, &Limits::default());
    }
});
