//! The miner's `POST /v1/infer` body, as a peer sends it.
#![no_main]

use brainlock_api::{DecodeLimits, InferRequest};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let limits = DecodeLimits {
        max_items: 16,
        max_item_bytes: 1 << 20,
        max_total_bytes: 16 << 20,
    };
    let _ = InferRequest::decode(&bytes::Bytes::copy_from_slice(data), &limits);
});
