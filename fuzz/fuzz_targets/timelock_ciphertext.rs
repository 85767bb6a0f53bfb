//! A timelocked weight commit and a drand round signature, as a reveal reads them. The
//! first byte says where the signature ends.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&at, rest)) = data.split_first() else {
        return;
    };
    let at = usize::from(at).min(rest.len());
    let (signature, ciphertext) = rest.split_at(at);
    let _ = brainlock_timelock::decrypt(ciphertext, signature);
});
