//! An ONNX model, as a model author brings it to `brainlock circuit import`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = brainlock_onnx::lower_model(data, "fuzz");
});
