//! Interoperability with drand quicknet and the reference `bittensor-drand`, offline, using
//! the real quicknet signature for round 1000 (see `tests/fixtures/README.md`).

use brainlock_timelock::{
    SIGNATURE_LEN, TimelockError, decrypt, encrypt, round_at, round_time, verify_round_signature,
};
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;

const FIXTURE_ROUND: u64 = 1000;
const PYTHON_MESSAGE: &[u8] = b"brainlock timelock interop: encrypted by bittensor-drand";

fn fixture_hex(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    hex::decode(text.trim()).unwrap()
}

fn round_1000_signature() -> Vec<u8> {
    fixture_hex("quicknet_round_1000_signature.hex")
}

fn rng() -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(1000)
}

#[test]
fn fixture_signature_is_quicknets_signature_for_round_1000() {
    // Validates public key, identity hashing (sha256 + hash-to-G1 DST) and pairing orientation.
    verify_round_signature(FIXTURE_ROUND, &round_1000_signature()).unwrap();
    assert_eq!(
        verify_round_signature(FIXTURE_ROUND + 1, &round_1000_signature()),
        Err(TimelockError::WrongSignature)
    );
}

#[test]
fn decrypts_ciphertext_made_by_bittensor_drand() {
    let ciphertext = fixture_hex("bittensor_drand_round_1000_ciphertext.hex");
    assert_eq!(
        decrypt(&ciphertext, &round_1000_signature()).unwrap(),
        PYTHON_MESSAGE
    );
}

#[test]
fn round_trip_with_real_quicknet_signature() {
    let plaintext = b"uids=[1,2,3] weights=[100,200,300]";
    let ciphertext = encrypt(plaintext, FIXTURE_ROUND, &mut rng()).unwrap();
    assert_eq!(
        decrypt(&ciphertext, &round_1000_signature()).unwrap(),
        plaintext
    );
}

#[test]
fn ciphertext_layout_matches_tle_serialization() {
    let plaintext = [7u8; 15];
    let ct = encrypt(&plaintext, FIXTURE_ROUND, &mut rng()).unwrap();
    // U(96) | V(8+32) | W(8+32) | body(8 + (8+15+16) + (8+12)) | suite(8+8)
    assert_eq!(ct.len(), 96 + 40 + 40 + 8 + 39 + 20 + 16);
    assert_eq!(&ct[96..104], &32u64.to_le_bytes());
    assert_eq!(&ct[ct.len() - 8..], b"AES_GCM_");
    // Same length as the reference's output for the same plaintext length.
    let python = fixture_hex("bittensor_drand_round_1000_ciphertext.hex");
    let ours = encrypt(PYTHON_MESSAGE, FIXTURE_ROUND, &mut rng()).unwrap();
    assert_eq!(ours.len(), python.len());
    assert_eq!(ours[96..104], python[96..104]);
    assert_eq!(ours[ours.len() - 16..], python[python.len() - 16..]);
}

#[test]
fn encryption_is_randomized() {
    let mut rng = rng();
    let a = encrypt(b"same", FIXTURE_ROUND, &mut rng).unwrap();
    let b = encrypt(b"same", FIXTURE_ROUND, &mut rng).unwrap();
    assert_ne!(a, b);
}

#[test]
fn signature_of_another_round_does_not_decrypt() {
    // Encrypted for round 1001, opened with round 1000's (genuine) signature.
    let ciphertext = encrypt(b"secret", FIXTURE_ROUND + 1, &mut rng()).unwrap();
    assert_eq!(
        decrypt(&ciphertext, &round_1000_signature()),
        Err(TimelockError::WrongSignature)
    );
}

#[test]
fn malformed_signatures_are_rejected() {
    let ciphertext = encrypt(b"secret", FIXTURE_ROUND, &mut rng()).unwrap();
    let signature = round_1000_signature();
    assert_eq!(signature.len(), SIGNATURE_LEN);
    for bad in [
        Vec::new(),
        signature[..47].to_vec(),
        [signature.clone(), vec![0]].concat(),
        vec![0xff; SIGNATURE_LEN],
        vec![0u8; SIGNATURE_LEN],
    ] {
        assert_eq!(
            decrypt(&ciphertext, &bad),
            Err(TimelockError::InvalidSignature)
        );
    }
    // A flipped bit lands off the curve or on another point; either way it must not decrypt.
    let mut flipped = signature.clone();
    flipped[20] ^= 1;
    assert!(matches!(
        decrypt(&ciphertext, &flipped),
        Err(TimelockError::InvalidSignature | TimelockError::WrongSignature)
    ));
}

#[test]
fn truncated_or_extended_ciphertexts_are_errors() {
    let ciphertext = encrypt(b"secret weights", FIXTURE_ROUND, &mut rng()).unwrap();
    let signature = round_1000_signature();
    for len in 0..ciphertext.len() {
        assert!(
            matches!(
                decrypt(&ciphertext[..len], &signature),
                Err(TimelockError::MalformedCiphertext(_))
            ),
            "prefix of {len} bytes"
        );
    }
    let extended = [ciphertext, vec![0]].concat();
    assert!(matches!(
        decrypt(&extended, &signature),
        Err(TimelockError::MalformedCiphertext(_))
    ));
}

#[test]
fn garbage_ciphertexts_are_errors_not_panics() {
    let signature = round_1000_signature();
    let mut rng = rng();
    for len in [0, 1, 95, 96, 200, 300, 4096] {
        let mut garbage = vec![0u8; len];
        rand::RngCore::fill_bytes(&mut rng, &mut garbage);
        assert!(decrypt(&garbage, &signature).is_err());
    }
    // Valid point U followed by absurd length prefixes.
    let ciphertext = encrypt(b"x", FIXTURE_ROUND, &mut rng).unwrap();
    let mut huge_len = ciphertext.clone();
    huge_len[96..104].copy_from_slice(&u64::MAX.to_le_bytes());
    assert!(matches!(
        decrypt(&huge_len, &signature),
        Err(TimelockError::MalformedCiphertext(_))
    ));
}

#[test]
fn tampered_fields_are_detected() {
    let ciphertext = encrypt(b"secret weights", FIXTURE_ROUND, &mut rng()).unwrap();
    let signature = round_1000_signature();
    let flip = |index: usize| {
        let mut copy = ciphertext.clone();
        copy[index] ^= 0x01;
        decrypt(&copy, &signature)
    };
    // V and W (header) fail the Fujisaki–Okamoto check.
    assert_eq!(flip(96 + 8 + 3), Err(TimelockError::WrongSignature));
    assert_eq!(flip(96 + 40 + 8 + 3), Err(TimelockError::WrongSignature));
    // AES ciphertext, tag and nonce fail authentication.
    let body_start = 96 + 40 + 40 + 8;
    let aes_len = b"secret weights".len() + 16;
    let nonce_start = body_start + 8 + aes_len + 8;
    for index in [
        body_start + 8 + 2,
        body_start + 8 + aes_len - 1,
        nonce_start + 5,
    ] {
        assert_eq!(
            flip(index),
            Err(TimelockError::BodyAuthentication),
            "byte {index}"
        );
    }
    // The cipher suite tag must be AES_GCM_.
    assert!(matches!(
        flip(ciphertext.len() - 1),
        Err(TimelockError::UnsupportedCipherSuite(_))
    ));
    // U: either not a G2 point any more, or a different one.
    assert!(matches!(
        flip(50),
        Err(TimelockError::MalformedCiphertext(_) | TimelockError::WrongSignature)
    ));
}

#[test]
fn round_clock_follows_drand() {
    let genesis = brainlock_timelock::QUICKNET_GENESIS_UNIX;
    assert_eq!(round_at(0), 0);
    assert_eq!(round_at(genesis - 1), 0);
    assert_eq!(round_at(genesis), 1);
    assert_eq!(round_at(genesis + 2), 1);
    assert_eq!(round_at(genesis + 3), 2);
    assert_eq!(round_time(1), genesis);
    assert_eq!(round_time(FIXTURE_ROUND), genesis + 999 * 3);
    for round in [1, 2, 1000, 17_200_000] {
        assert_eq!(round_at(round_time(round)), round);
        assert_eq!(round_at(round_time(round) + 2), round);
    }
    assert_eq!(round_at(u64::MAX), (u64::MAX - genesis) / 3 + 1);
}
