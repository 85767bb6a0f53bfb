//! A circuit file, as a model author brings it to `brainlock circuit`, a miner or a
//! validator.
#![no_main]

use brainlock_circuit::Circuit;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(circuit) = Circuit::from_json(data) {
        let _ = circuit.shapes();
    }
});
