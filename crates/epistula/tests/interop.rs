//! Our verifier against the reference tooling: everything under tests/fixtures was
//! written by Python `bittensor-wallet` (scripts/interop/make_fixtures.py).

use std::path::PathBuf;
use std::sync::Arc;

use brainlock_epistula::keypair::{self, CryptoType};
use brainlock_epistula::{AccountId, AllowList, Verifier, wallet};
use http::{HeaderMap, HeaderName, HeaderValue};
use serde_json::Value;

fn fixture(name: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn scheme(name: &str) -> CryptoType {
    match name {
        "sr25519" => CryptoType::Sr25519,
        "ed25519" => CryptoType::Ed25519,
        other => panic!("unknown scheme {other}"),
    }
}

fn signature(text: &str) -> [u8; 64] {
    hex::decode(text.trim_start_matches("0x"))
        .unwrap()
        .try_into()
        .unwrap()
}

#[test]
fn python_keypair_signatures_verify() {
    let fixtures = fixture("python_signatures.json");
    let entries = fixtures["signatures"].as_array().unwrap();
    assert_eq!(entries.len(), 8);
    for entry in entries {
        let signer: AccountId = entry["ss58"].as_str().unwrap().parse().unwrap();
        let public = hex::decode(
            entry["public_key"]
                .as_str()
                .unwrap()
                .trim_start_matches("0x"),
        )
        .unwrap();
        assert_eq!(signer.as_bytes().as_slice(), public.as_slice());
        let message = entry["message"].as_str().unwrap().as_bytes();
        let sig = signature(entry["signature"].as_str().unwrap());
        let expected = scheme(entry["scheme"].as_str().unwrap());
        assert_eq!(
            keypair::verify(&signer, message, &sig),
            Some(expected),
            "{entry}"
        );
        let mut tampered = message.to_vec();
        tampered.push(b'!');
        assert_eq!(keypair::verify(&signer, &tampered, &sig), None);
    }
}

#[test]
fn python_epistula_requests_verify() {
    let fixtures = fixture("python_epistula_requests.json");
    let receiver: AccountId = fixtures["receiver"].as_str().unwrap().parse().unwrap();
    let requests = fixtures["requests"].as_array().unwrap();
    let senders = requests.iter().map(|r| {
        r["headers"]["Epistula-Signed-By"]
            .as_str()
            .unwrap()
            .parse::<AccountId>()
            .unwrap()
    });
    let verifier = Verifier::new(receiver, Arc::new(AllowList::new(senders)));
    for request in requests {
        let mut headers = HeaderMap::new();
        for (name, value) in request["headers"].as_object().unwrap() {
            headers.insert(
                HeaderName::try_from(name.as_str()).unwrap(),
                HeaderValue::try_from(value.as_str().unwrap()).unwrap(),
            );
        }
        let body = hex::decode(request["body_hex"].as_str().unwrap()).unwrap();
        // The fixtures are old; judge them at the moment they were signed.
        let signed_at: u64 = request["headers"]["Epistula-Timestamp"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        let verified = verifier.verify_headers(&headers, signed_at + 5).unwrap();
        assert!(
            verifier
                .verify_headers(&headers, signed_at)
                .is_err_and(|e| e.to_string().contains("already used")),
            "the uuid is reserved while the first copy is in flight"
        );
        let authenticated = verified.verify_body(&body).unwrap();
        assert_eq!(
            authenticated.sender.to_ss58(),
            request["headers"]["Epistula-Signed-By"].as_str().unwrap()
        );
        assert_eq!(authenticated.timestamp_ms, signed_at);
    }
}

#[test]
fn python_epistula_request_with_tampered_body_fails() {
    let fixtures = fixture("python_epistula_requests.json");
    let receiver: AccountId = fixtures["receiver"].as_str().unwrap().parse().unwrap();
    let request = &fixtures["requests"][1];
    let verifier = Verifier::new(receiver, Arc::new(|_: &AccountId| true));
    let mut headers = HeaderMap::new();
    for (name, value) in request["headers"].as_object().unwrap() {
        headers.insert(
            HeaderName::try_from(name.as_str()).unwrap(),
            HeaderValue::try_from(value.as_str().unwrap()).unwrap(),
        );
    }
    let signed_at: u64 = request["headers"]["Epistula-Timestamp"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let mut body = hex::decode(request["body_hex"].as_str().unwrap()).unwrap();
    body[0] ^= 1;
    let verified = verifier.verify_headers(&headers, signed_at).unwrap();
    assert!(matches!(
        verified.verify_body(&body),
        Err(brainlock_epistula::EpistulaError::BadSignature)
    ));
}

#[test]
fn python_hotkey_files_load_to_the_same_addresses() {
    let fixtures = fixture("python_hotkeys.json");
    let wallets = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/wallets");
    let name = fixtures["wallet"].as_str().unwrap();
    let hotkeys = fixtures["hotkeys"].as_object().unwrap();
    assert_eq!(hotkeys.len(), 3);
    for (hotkey, address) in hotkeys {
        let pair = wallet::load_hotkey(&wallets, name, hotkey).unwrap();
        assert_eq!(
            pair.account_id().to_ss58(),
            address.as_str().unwrap(),
            "{hotkey}"
        );
        let expected = if hotkey.contains("ed25519") {
            CryptoType::Ed25519
        } else {
            CryptoType::Sr25519
        };
        assert_eq!(pair.crypto_type(), expected);
    }
}
