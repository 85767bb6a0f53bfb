//! A signed request's headers and body, as a miner or gateway admits them. The input
//! is header lines (`name: value`), an empty line, then the body.
#![no_main]

use std::sync::{Arc, OnceLock};

use brainlock_epistula::{AllowList, CryptoType, Keypair, Verifier};
use http::{HeaderMap, HeaderName, HeaderValue};
use libfuzzer_sys::fuzz_target;

fn verifier() -> &'static Verifier {
    static VERIFIER: OnceLock<Verifier> = OnceLock::new();
    VERIFIER.get_or_init(|| {
        let me = Keypair::from_seed(CryptoType::Sr25519, &[1; 32]).account_id();
        let sender = Keypair::from_seed(CryptoType::Sr25519, &[2; 32]).account_id();
        Verifier::new(me, Arc::new(AllowList::new([sender])))
    })
}

fuzz_target!(|data: &[u8]| {
    let split = data.windows(2).position(|w| w == b"\n\n");
    let (head, body) = match split {
        Some(at) => (&data[..at], &data[at + 2..]),
        None => (data, &[][..]),
    };
    let mut headers = HeaderMap::new();
    for line in head.split(|&b| b == b'\n') {
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(&line[..colon]),
            HeaderValue::from_bytes(line[colon + 1..].trim_ascii()),
        ) else {
            continue;
        };
        headers.append(name, value);
    }
    if let Ok(verified) = verifier().verify_headers(&headers, 1_700_000_000_000) {
        let _ = verified.verify_body(body);
    }
});
