//! Writes signatures made by this crate for scripts/interop/verify_rust_signatures.py to
//! check with Python `bittensor-wallet` (`Keypair.verify`):
//!
//!     cargo run -p brainlock-epistula --example interop_sign -- <out_dir>
//!
//! `<out_dir>/rust_signatures.json` holds plain signatures and Epistula request headers
//! by throwaway sr25519 and ed25519 keys; `<out_dir>/wallets`
//! holds a hotkey file made by `wallet::create_hotkey`.

use std::path::PathBuf;
use std::process::ExitCode;

use brainlock_epistula::headers::{self, signature_hex};
use brainlock_epistula::{CryptoType, Keypair, SignedHeaders, wallet};
use serde_json::{Value, json};

fn random_keypair(crypto: CryptoType) -> Keypair {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).expect("OS randomness");
    Keypair::from_seed(crypto, &seed)
}

fn main() -> ExitCode {
    let Some(out) = std::env::args().nth(1).map(PathBuf::from) else {
        eprintln!("usage: interop_sign <out_dir>");
        return ExitCode::from(2);
    };
    let receiver = random_keypair(CryptoType::Sr25519);
    let messages = ["hello", "", "épistula ✓"];
    let bodies: [&[u8]; 2] = [b"", b"{\"circuit\":\"conv3x3\"}"];
    let mut signatures = Vec::new();
    let mut requests = Vec::new();
    for (crypto, name) in [
        (CryptoType::Sr25519, "sr25519"),
        (CryptoType::Ed25519, "ed25519"),
    ] {
        let pair = random_keypair(crypto);
        for message in messages {
            signatures.push(json!({
                "scheme": name,
                "ss58": pair.account_id().to_ss58(),
                "message": message,
                "signature": signature_hex(&pair.sign(message.as_bytes())),
            }));
        }
        for body in bodies {
            let signed =
                SignedHeaders::sign(&pair, body, &receiver.account_id(), headers::now_ms());
            let map: serde_json::Map<String, Value> = signed
                .to_header_map()
                .iter()
                .map(|(k, v)| (k.to_string(), Value::from(v.to_str().unwrap())))
                .collect();
            requests.push(json!({ "scheme": name, "body_hex": hex::encode(body), "headers": map }));
        }
    }

    let wallets = out.join("wallets");
    let created = match wallet::create_hotkey(&wallets, "rust-made", "test-only", true) {
        Ok(created) => created,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::FAILURE;
        }
    };
    let document = json!({
        "signatures": signatures,
        "requests": requests,
        "hotkey": {
            "wallets_dir": wallets,
            "wallet": "rust-made",
            "hotkey": "test-only",
            "ss58": created.keypair.account_id().to_ss58(),
        },
    });
    let path = out.join("rust_signatures.json");
    if let Err(error) = std::fs::write(&path, serde_json::to_string_pretty(&document).unwrap()) {
        eprintln!("error: cannot write {}: {error}", path.display());
        return ExitCode::FAILURE;
    }
    println!("wrote {} and {}", path.display(), created.path.display());
    ExitCode::SUCCESS
}
