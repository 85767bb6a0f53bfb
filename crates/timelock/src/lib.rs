//! drand **quicknet** timelock encryption, byte-compatible with `bittensor-drand`.
//!
//! Bittensor's commit-reveal weights encrypt a payload "to a future drand round": anyone can
//! decrypt it once drand's quicknet beacon publishes the BLS signature for that round, nobody can
//! before. The reference implementation is the `bittensor-drand` Python package
//! (`encrypt_and_compress` / `decrypt_and_decompress`), which uses Ideal Labs' `tle` crate with
//! the `TinyBLS381` engine. This crate re-implements exactly that construction so a validator can
//! produce and open the same bytes without Python or git dependencies.
//!
//! # Construction
//!
//! Quicknet uses BLS12-381 with *signatures in G1* (48 bytes) and the *public key in G2*
//! (96 bytes). The beacon for round `n` is `sig = sk · H(sha256(n as big-endian u64))`, where
//! `H` is the RFC 9380 hash-to-G1 suite with DST [`HASH_TO_G1_DST`]. That signature is the
//! Boneh–Franklin IBE private key for the identity `sha256(n)`, so encryption is:
//!
//! 1. pick a random 32-byte AES key `k`;
//! 2. Boneh–Franklin *FullIdent* (Fujisaki–Okamoto variant) encryption of `k` to the round's
//!    identity `Q = H(sha256(n))`:
//!    `σ = sha256(t)` for a random scalar `t` (serialized little-endian),
//!    `r = sha256(σ ‖ k) mod q` (read big-endian),
//!    `U = r·G2`, `V = σ ⊕ sha256(e(Q, r·P_pub))`, `W = k ⊕ sha256(σ)`;
//! 3. AES-256-GCM of the plaintext under `k` with a random 96-bit nonce and no associated data.
//!
//! Decryption recomputes `σ = V ⊕ sha256(e(sig, U))`, `k = W ⊕ sha256(σ)` and accepts only if
//! `sha256(σ ‖ k)·G2 == U`, which rejects a wrong signature before AES is even tried.
//! Pairing values are hashed in their arkworks serialization (the 576-byte `Fq12`).
//!
//! # Wire format
//!
//! The ciphertext is the arkworks `serialize_compressed` layout of `tle`'s `TLECiphertext`;
//! every `Vec<u8>` is a little-endian `u64` length followed by the bytes:
//!
//! ```text
//! U: compressed G2 (96) | V: vec (8+32) | W: vec (8+32)
//! | body: vec (8 + [aes ciphertext‖tag: vec] [nonce: vec (8+12)]) | cipher suite: vec (8 + "AES_GCM_")
//! ```
//!
//! `bittensor-drand`'s Python `encrypt*` helpers additionally wrap these bytes in a SCALE
//! `UserData { encrypted_data, reveal_round }`; that wrapper is not part of this format (the
//! on-chain commit-reveal payload is the raw ciphertext).
//!
//! Parsing is stricter than the reference: trailing bytes, a cipher suite other than `AES_GCM_`
//! and `V`/`W` of any length but 32 are rejected instead of being ignored (or, for short
//! `V`/`W`, panicking). Ciphertexts the reference produces are never affected.
//!
//! arkworks 0.5 is used (the reference uses 0.4); both versions serialize points, scalars and
//! field elements identically and implement the same RFC 9380 hash-to-curve, which the
//! interoperability tests against real quicknet signatures and `bittensor-drand` confirm.

#![deny(missing_docs)]

use aes_gcm::aead::Aead;
use aes_gcm::{Aes256Gcm, KeyInit, Nonce};
use ark_bls12_381::{Bls12_381, Fr, G1Affine, G1Projective, G2Affine, G2Projective};
use ark_ec::hashing::HashToCurve;
use ark_ec::hashing::curve_maps::wb::WBMap;
use ark_ec::hashing::map_to_curve_hasher::MapToCurveBasedHasher;
use ark_ec::pairing::Pairing;
use ark_ec::{AffineRepr, CurveGroup, PrimeGroup};
use ark_ff::PrimeField;
use ark_ff::field_hashers::DefaultFieldHasher;
use ark_serialize::{CanonicalDeserialize, CanonicalSerialize};
use rand::CryptoRng;
use sha2::{Digest, Sha256};
use std::sync::LazyLock;

/// Quicknet's group public key: a compressed G2 point.
pub const QUICKNET_PUBLIC_KEY_HEX: &str = "83cf0f2896adee7eb8b5f01fcad3912212c437e0073e911fb90022d3e760183c8c4b450b6a0a6c3ac6a5776a2d1064510d1fec758c921cc22b0e17e63aaf4bcb5ed66304de9cf809bd274ca73bab4af5a6e9c76a4bc09e76eae8991ef5ece45a";
/// Quicknet's chain hash, the identifier used in drand HTTP API paths.
pub const QUICKNET_CHAIN_HASH_HEX: &str =
    "52db9ba70e0cc0f6eaf7803dd07447a1f5477735fd3f661792ba94600c84e971";
/// Unix time at which quicknet emitted round 1.
pub const QUICKNET_GENESIS_UNIX: u64 = 1_692_803_367;
/// Seconds between quicknet rounds.
pub const QUICKNET_PERIOD_SECS: u64 = 3;
/// Domain separation tag of quicknet's hash-to-G1 (RFC 9380, SSWU, SHA-256, random oracle).
pub const HASH_TO_G1_DST: &[u8] = b"BLS_SIG_BLS12381G1_XMD:SHA-256_SSWU_RO_NUL_";
/// Length of a compressed G1 point, i.e. of a quicknet round signature.
pub const SIGNATURE_LEN: usize = 48;

/// Cipher suite tag `tle` stores for AES-256-GCM bodies.
const CIPHER_SUITE: &[u8] = b"AES_GCM_";
const G2_COMPRESSED_LEN: usize = 96;
const KEY_LEN: usize = 32;
const NONCE_LEN: usize = 12;

/// Everything that can go wrong while timelock encrypting or decrypting.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimelockError {
    /// [`decrypt`] got bytes that are not a `TLECiphertext`: truncated, trailing bytes, `U` not
    /// in G2, or `V`/`W`/nonce of the wrong length; the string names the offending part.
    #[error("malformed timelock ciphertext: {0}")]
    MalformedCiphertext(&'static str),
    /// [`decrypt`] found a cipher-suite tag other than `AES_GCM_` (the raw tag is carried).
    #[error("unsupported cipher suite {0:?} (only AES_GCM_ is supported)")]
    UnsupportedCipherSuite(Vec<u8>),
    /// The round signature is not 48 bytes or not a compressed point of G1's prime-order subgroup.
    #[error("round signature is not a valid compressed G1 point")]
    InvalidSignature,
    /// The signature is a valid G1 point but not quicknet's for this round (wrong round, wrong
    /// beacon, or a tampered `U`/`V`/`W` header).
    #[error("signature does not unlock this ciphertext (wrong round or corrupted header)")]
    WrongSignature,
    /// The IBE header opened but the AES-GCM tag did not verify: the body was corrupted.
    #[error("ciphertext body failed AES-GCM authentication")]
    BodyAuthentication,
    /// [`encrypt`] got a plaintext over AES-GCM's limit (about 64 GiB).
    #[error("plaintext too large for AES-GCM")]
    PlaintextTooLarge,
    /// RFC 9380 hash-to-G1 of the round identity failed; not expected for any round.
    #[error("hash to G1 failed")]
    HashToCurve,
}

/// Timelock-encrypts `plaintext` so it can only be decrypted with quicknet's signature for
/// `round`.
///
/// Returns the compressed `TLECiphertext` bytes exactly as `bittensor-drand`'s
/// `encrypt_and_compress` produces them. `rng` supplies the AES key, the IBE randomness and the
/// nonce, so it must be a cryptographically secure generator.
pub fn encrypt<R: CryptoRng + ?Sized>(
    plaintext: &[u8],
    round: u64,
    rng: &mut R,
) -> Result<Vec<u8>, TimelockError> {
    encrypt_for_public_key(&quicknet_public_key(), plaintext, round, rng)
}

/// Decrypts a ciphertext produced by [`encrypt`] or `bittensor-drand`, given quicknet's
/// signature (48-byte compressed G1 point) for the ciphertext's round.
pub fn decrypt(ciphertext: &[u8], round_signature: &[u8]) -> Result<Vec<u8>, TimelockError> {
    let parsed = ParsedCiphertext::parse(ciphertext)?;
    let signature = parse_signature(round_signature)?;

    let sigma = xor32(&parsed.v, &hash_pairing(signature, parsed.u));
    let key = xor32(&parsed.w, &sha256(&[&sigma]));
    // Fujisaki–Okamoto check: only the right signature reproduces the sender's r.
    if (G2Projective::generator() * fo_scalar(&sigma, &key)).into_affine() != parsed.u {
        return Err(TimelockError::WrongSignature);
    }

    let cipher = Aes256Gcm::new(&key.into());
    cipher
        .decrypt(Nonce::from_slice(&parsed.nonce), parsed.body_ciphertext)
        .map_err(|_| TimelockError::BodyAuthentication)
}

/// Checks that `round_signature` is quicknet's genuine BLS signature for `round`
/// (`e(sig, G2) == e(H(sha256(round)), P_pub)`).
///
/// [`decrypt`] does not need this (a wrong signature fails its own check), but it lets a caller
/// validate a signature fetched from an untrusted drand relay before using it.
pub fn verify_round_signature(round: u64, round_signature: &[u8]) -> Result<(), TimelockError> {
    let signature = parse_signature(round_signature)?;
    let lhs = Bls12_381::pairing(signature, G2Affine::generator());
    let rhs = Bls12_381::pairing(round_identity_point(round)?, quicknet_public_key());
    if lhs == rhs {
        Ok(())
    } else {
        Err(TimelockError::WrongSignature)
    }
}

/// The latest quicknet round whose beacon is due at `unix_seconds` (drand's "current round":
/// round 1 at genesis, then one every [`QUICKNET_PERIOD_SECS`]); 0 before genesis.
///
/// Note that `bittensor-drand` picks reveal rounds with its own formula
/// (`(t - genesis) / period`, one less than this), so use this to ask "is round `n` out yet?"
/// (`round_at(now) >= n`), not to reproduce its reveal-round choice.
pub fn round_at(unix_seconds: u64) -> u64 {
    match unix_seconds.checked_sub(QUICKNET_GENESIS_UNIX) {
        Some(since_genesis) => since_genesis / QUICKNET_PERIOD_SECS + 1,
        None => 0,
    }
}

/// Unix time at which quicknet emits `round` (round 0 is mapped to genesis).
pub fn round_time(round: u64) -> u64 {
    QUICKNET_GENESIS_UNIX
        .saturating_add(round.saturating_sub(1).saturating_mul(QUICKNET_PERIOD_SECS))
}

/// Encryption against an arbitrary G2 master public key; [`encrypt`] fixes it to quicknet's.
/// Kept separate so tests can use a locally generated key pair.
fn encrypt_for_public_key<R: CryptoRng + ?Sized>(
    public_key: &G2Affine,
    plaintext: &[u8],
    round: u64,
    rng: &mut R,
) -> Result<Vec<u8>, TimelockError> {
    let mut key = [0u8; KEY_LEN];
    rng.fill_bytes(&mut key);
    let mut nonce = [0u8; NONCE_LEN];
    rng.fill_bytes(&mut nonce);
    // 512 random bits reduced mod q: a uniform scalar up to a negligible bias.
    let mut t_wide = [0u8; 64];
    rng.fill_bytes(&mut t_wide);
    let t = Fr::from_le_bytes_mod_order(&t_wide);

    // Boneh–Franklin FullIdent encryption of the AES key.
    let sigma = sha256(&[&serialize(&t)]);
    let r = fo_scalar(&sigma, &key);
    let u = (G2Projective::generator() * r).into_affine();
    let r_public_key = (*public_key * r).into_affine();
    let v = xor32(
        &sigma,
        &hash_pairing(round_identity_point(round)?, r_public_key),
    );
    let w = xor32(&key, &sha256(&[&sigma]));

    let body_ciphertext = Aes256Gcm::new(&key.into())
        .encrypt(Nonce::from_slice(&nonce), plaintext)
        .map_err(|_| TimelockError::PlaintextTooLarge)?;
    let mut body = Vec::with_capacity(16 + body_ciphertext.len() + NONCE_LEN);
    push_vec(&mut body, &body_ciphertext);
    push_vec(&mut body, &nonce);

    let mut out = serialize(&u);
    push_vec(&mut out, &v);
    push_vec(&mut out, &w);
    push_vec(&mut out, &body);
    push_vec(&mut out, CIPHER_SUITE);
    Ok(out)
}

/// The ciphertext fields decryption needs, borrowed from the input where possible.
struct ParsedCiphertext<'a> {
    u: G2Affine,
    v: [u8; KEY_LEN],
    w: [u8; KEY_LEN],
    body_ciphertext: &'a [u8],
    nonce: [u8; NONCE_LEN],
}

impl<'a> ParsedCiphertext<'a> {
    fn parse(bytes: &'a [u8]) -> Result<Self, TimelockError> {
        let mut reader = Reader(bytes);
        let u_bytes = reader.take(G2_COMPRESSED_LEN, "header point U")?;
        let u = G2Affine::deserialize_compressed(u_bytes)
            .map_err(|_| TimelockError::MalformedCiphertext("header point U is not in G2"))?;
        let v = fixed::<KEY_LEN>(reader.vec("header V")?, "header V must be 32 bytes")?;
        let w = fixed::<KEY_LEN>(reader.vec("header W")?, "header W must be 32 bytes")?;
        let body = reader.vec("body")?;
        let cipher_suite = reader.vec("cipher suite")?;
        reader.finish("trailing bytes after ciphertext")?;
        if cipher_suite != CIPHER_SUITE {
            return Err(TimelockError::UnsupportedCipherSuite(cipher_suite.to_vec()));
        }

        let mut body_reader = Reader(body);
        let body_ciphertext = body_reader.vec("AES ciphertext")?;
        let nonce =
            fixed::<NONCE_LEN>(body_reader.vec("AES nonce")?, "AES nonce must be 12 bytes")?;
        body_reader.finish("trailing bytes in body")?;
        Ok(Self {
            u,
            v,
            w,
            body_ciphertext,
            nonce,
        })
    }
}

/// A cursor over ciphertext bytes that never reads past the end.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, len: usize, what: &'static str) -> Result<&'a [u8], TimelockError> {
        if self.0.len() < len {
            return Err(TimelockError::MalformedCiphertext(what));
        }
        let (head, rest) = self.0.split_at(len);
        self.0 = rest;
        Ok(head)
    }

    /// An arkworks `Vec<u8>`: little-endian u64 length, then the bytes.
    fn vec(&mut self, what: &'static str) -> Result<&'a [u8], TimelockError> {
        let len_bytes: [u8; 8] = self.take(8, what)?.try_into().expect("took 8 bytes");
        let len = usize::try_from(u64::from_le_bytes(len_bytes))
            .map_err(|_| TimelockError::MalformedCiphertext(what))?;
        self.take(len, what)
    }

    fn finish(&self, what: &'static str) -> Result<(), TimelockError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(TimelockError::MalformedCiphertext(what))
        }
    }
}

fn fixed<const N: usize>(bytes: &[u8], what: &'static str) -> Result<[u8; N], TimelockError> {
    bytes
        .try_into()
        .map_err(|_| TimelockError::MalformedCiphertext(what))
}

fn push_vec(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&(bytes.len() as u64).to_le_bytes());
    out.extend_from_slice(bytes);
}

fn parse_signature(bytes: &[u8]) -> Result<G1Affine, TimelockError> {
    if bytes.len() != SIGNATURE_LEN {
        return Err(TimelockError::InvalidSignature);
    }
    // Checked deserialization: on the curve and in the prime-order subgroup.
    G1Affine::deserialize_compressed(bytes).map_err(|_| TimelockError::InvalidSignature)
}

fn quicknet_public_key() -> G2Affine {
    // Parsed (with its subgroup check) once per process.
    static KEY: LazyLock<G2Affine> = LazyLock::new(|| {
        let bytes: [u8; G2_COMPRESSED_LEN] = hex_literal(QUICKNET_PUBLIC_KEY_HEX);
        G2Affine::deserialize_compressed(&bytes[..])
            .expect("quicknet public key is a valid G2 point")
    });
    *KEY
}

/// The G1 point quicknet signs for `round`: hash-to-G1 of `sha256(round as big-endian u64)`.
fn round_identity_point(round: u64) -> Result<G1Affine, TimelockError> {
    let message = sha256(&[&round.to_be_bytes()]);
    let hasher = MapToCurveBasedHasher::<
        G1Projective,
        DefaultFieldHasher<Sha256, 128>,
        WBMap<ark_bls12_381::g1::Config>,
    >::new(HASH_TO_G1_DST)
    .map_err(|_| TimelockError::HashToCurve)?;
    hasher
        .hash(&message)
        .map_err(|_| TimelockError::HashToCurve)
}

/// `sha256` of the serialized pairing `e(g1, g2)` (the `tle` "H2" map).
fn hash_pairing(g1: G1Affine, g2: G2Affine) -> [u8; 32] {
    let target = Bls12_381::pairing(g1, g2).0;
    sha256(&[&serialize(&target)])
}

/// `r = sha256(σ ‖ k)` read big-endian and reduced mod q (the `tle` "H3" map).
fn fo_scalar(sigma: &[u8; 32], key: &[u8; KEY_LEN]) -> Fr {
    Fr::from_be_bytes_mod_order(&sha256(&[sigma, key]))
}

fn sha256(parts: &[&[u8]]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part);
    }
    hasher.finalize().into()
}

fn xor32(a: &[u8; 32], b: &[u8; 32]) -> [u8; 32] {
    std::array::from_fn(|i| a[i] ^ b[i])
}

fn serialize<T: CanonicalSerialize>(value: &T) -> Vec<u8> {
    let mut out = Vec::with_capacity(value.compressed_size());
    value
        .serialize_compressed(&mut out)
        .expect("serializing into a Vec cannot fail");
    out
}

/// Decodes a hex string at compile time (for the embedded public key).
const fn hex_literal<const N: usize>(hex: &str) -> [u8; N] {
    const fn nibble(c: u8) -> u8 {
        match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'f' => c - b'a' + 10,
            _ => panic!("invalid hex digit"),
        }
    }
    let hex = hex.as_bytes();
    assert!(hex.len() == 2 * N, "hex length mismatch");
    let mut out = [0u8; N];
    let mut i = 0;
    while i < N {
        out[i] = (nibble(hex[2 * i]) << 4) | nibble(hex[2 * i + 1]);
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{RngCore, SeedableRng};
    use rand_chacha::ChaCha20Rng;

    /// A local "drand": master key pair plus the round signature it would publish.
    fn local_beacon(rng: &mut ChaCha20Rng, round: u64) -> (G2Affine, Vec<u8>) {
        let mut seed = [0u8; 64];
        rng.fill_bytes(&mut seed);
        let master_secret = Fr::from_le_bytes_mod_order(&seed);
        let public_key = (G2Projective::generator() * master_secret).into_affine();
        let signature = (round_identity_point(round).unwrap() * master_secret).into_affine();
        (public_key, serialize(&signature))
    }

    #[test]
    fn round_trip_with_locally_generated_master_key() {
        let mut rng = ChaCha20Rng::seed_from_u64(7);
        let (public_key, signature) = local_beacon(&mut rng, 42);
        let ct = encrypt_for_public_key(&public_key, b"weights", 42, &mut rng).unwrap();
        assert_eq!(decrypt(&ct, &signature).unwrap(), b"weights");
    }

    #[test]
    fn signature_for_another_round_is_rejected() {
        let mut rng = ChaCha20Rng::seed_from_u64(8);
        let (public_key, signature_42) = local_beacon(&mut rng, 42);
        let ct = encrypt_for_public_key(&public_key, b"weights", 43, &mut rng).unwrap();
        assert_eq!(
            decrypt(&ct, &signature_42),
            Err(TimelockError::WrongSignature)
        );
    }

    #[test]
    fn empty_plaintext_round_trips() {
        let mut rng = ChaCha20Rng::seed_from_u64(9);
        let (public_key, signature) = local_beacon(&mut rng, 1);
        let ct = encrypt_for_public_key(&public_key, b"", 1, &mut rng).unwrap();
        assert_eq!(decrypt(&ct, &signature).unwrap(), b"");
    }

    #[test]
    fn identity_point_is_in_g1_subgroup() {
        let point = round_identity_point(1000).unwrap();
        assert!(point.is_on_curve() && point.is_in_correct_subgroup_assuming_on_curve());
        assert_ne!(point, round_identity_point(1001).unwrap());
        // An unrelated point of G1 is not accepted as the round's signature.
        let unrelated = (G1Projective::generator() * Fr::from(12345u64)).into_affine();
        assert_eq!(
            verify_round_signature(1000, &serialize(&unrelated)),
            Err(TimelockError::WrongSignature)
        );
    }
}
