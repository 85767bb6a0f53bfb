//! A result, as the validator or a customer receives it in a frame: parsed, then
//! decrypted with a client key.
#![no_main]

use std::sync::OnceLock;

use brainlock_fhe::{ClientKey, EncryptedOutput, Limits, Profile};
use libfuzzer_sys::fuzz_target;

fn client_key() -> &'static ClientKey {
    static KEY: OnceLock<ClientKey> = OnceLock::new();
    KEY.get_or_init(|| ClientKey::generate(&Profile::all()[0], Some(7)).0)
}

fuzz_target!(|data: &[u8]| {
    let circuit = brainlock_circuit::test_tiny();
    let profile = &Profile::all()[0];
    if let Ok(output) = EncryptedOutput::from_bytes(data, &circuit, profile, &Limits::default()) {
        let _ = output.has_trivial_ciphertext();
        let _ = client_key().decrypt_output(&circuit, &output);
    }
});
