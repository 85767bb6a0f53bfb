//! An encrypted input, as a miner receives it inside an infer request.
#![no_main]

use brainlock_fhe::{EncryptedInput, Limits, Profile};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let circuit = brainlock_circuit::test_tiny();
    let _ = EncryptedInput::from_bytes(data, &circuit, &Profile::all()[0], &Limits::default());
});
