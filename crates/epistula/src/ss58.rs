//! SS58 addresses: base58 of `prefix || account || checksum`, where the checksum is the
//! first two bytes of `blake2b-512("SS58PRE" || prefix || account)`.
//!
//! Only 32-byte account ids are handled (the only kind hotkeys have). Network prefixes
//! 0..=63 take one byte, 64..=16383 take two (Substrate's packed form).

use blake2::{Blake2b512, Digest};
use thiserror::Error;

/// The generic Substrate prefix that Bittensor uses for addresses.
pub const BITTENSOR_PREFIX: u16 = 42;

const CHECKSUM_LEN: usize = 2;
const ACCOUNT_LEN: usize = 32;
const MAX_PREFIX: u16 = 16_383;
/// Prefixes 46 and 47 are reserved by the SS58 registry and never valid.
const RESERVED_PREFIXES: [u16; 2] = [46, 47];

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum Ss58Error {
    #[error("not base58: {0}")]
    Base58(String),
    #[error("decodes to {0} bytes, which is not a 32-byte account address")]
    BadLength(usize),
    #[error("invalid or reserved network prefix {0}")]
    BadPrefix(u16),
    #[error("checksum mismatch (mistyped address?)")]
    BadChecksum,
    #[error("network prefix is {found}, expected {expected}")]
    WrongPrefix { expected: u16, found: u16 },
}

fn checksum(payload: &[u8]) -> [u8; CHECKSUM_LEN] {
    let mut hasher = Blake2b512::new();
    hasher.update(b"SS58PRE");
    hasher.update(payload);
    let digest = hasher.finalize();
    [digest[0], digest[1]]
}

fn prefix_bytes(prefix: u16) -> Result<Vec<u8>, Ss58Error> {
    if prefix > MAX_PREFIX || RESERVED_PREFIXES.contains(&prefix) {
        return Err(Ss58Error::BadPrefix(prefix));
    }
    if prefix < 64 {
        return Ok(vec![prefix as u8]);
    }
    // Substrate's two-byte form: the low 6 bits of the first byte and the whole second
    // byte interleave the 14-bit prefix, with 0b01 in the first byte's top bits.
    let first = (((prefix & 0b1111_1100) >> 2) as u8) | 0b0100_0000;
    let second = ((prefix >> 8) as u8) | (((prefix & 0b11) as u8) << 6);
    Ok(vec![first, second])
}

/// Encodes a 32-byte account id under a network prefix.
pub fn encode(prefix: u16, account: &[u8; ACCOUNT_LEN]) -> Result<String, Ss58Error> {
    let mut payload = prefix_bytes(prefix)?;
    payload.extend_from_slice(account);
    let check = checksum(&payload);
    payload.extend_from_slice(&check);
    Ok(bs58::encode(payload).into_string())
}

/// Decodes an address into its network prefix and 32-byte account id.
pub fn decode(address: &str) -> Result<(u16, [u8; ACCOUNT_LEN]), Ss58Error> {
    // A 2-byte prefix + 32 + 2 bytes is at most 49 base58 characters; refuse long
    // inputs before decoding them.
    if address.len() > 64 {
        return Err(Ss58Error::BadLength(address.len()));
    }
    let raw = bs58::decode(address)
        .into_vec()
        .map_err(|e| Ss58Error::Base58(e.to_string()))?;
    let (prefix, prefix_len) = match raw.first() {
        Some(&b) if b < 64 => (u16::from(b), 1),
        Some(&b) if b < 128 && raw.len() > 1 => {
            let second = raw[1];
            let lower = (u16::from(b) << 2) | (u16::from(second) >> 6);
            let upper = u16::from(second & 0b0011_1111);
            ((lower & 0b1111_1111) | (upper << 8), 2)
        }
        Some(&b) => return Err(Ss58Error::BadPrefix(u16::from(b))),
        None => return Err(Ss58Error::BadLength(0)),
    };
    if raw.len() != prefix_len + ACCOUNT_LEN + CHECKSUM_LEN {
        return Err(Ss58Error::BadLength(raw.len()));
    }
    if RESERVED_PREFIXES.contains(&prefix) {
        return Err(Ss58Error::BadPrefix(prefix));
    }
    let (payload, check) = raw.split_at(prefix_len + ACCOUNT_LEN);
    if checksum(payload) != check {
        return Err(Ss58Error::BadChecksum);
    }
    let mut account = [0u8; ACCOUNT_LEN];
    account.copy_from_slice(&payload[prefix_len..]);
    Ok((prefix, account))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_alice_address() {
        // Alice's well-known sr25519 public key and her generic-prefix address.
        let alice = hex::decode("d43593c715fdd31c61141abd04a99fd6822c8558854ccde39a5684e7a56da27d")
            .unwrap();
        let account: [u8; 32] = alice.try_into().unwrap();
        let address = encode(BITTENSOR_PREFIX, &account).unwrap();
        assert_eq!(address, "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY");
        assert_eq!(decode(&address).unwrap(), (42, account));
    }

    #[test]
    fn rejects_corrupted_addresses() {
        let good = "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY";
        let mut chars: Vec<char> = good.chars().collect();
        chars[10] = if chars[10] == 'a' { 'b' } else { 'a' };
        let typo: String = chars.into_iter().collect();
        assert_eq!(decode(&typo), Err(Ss58Error::BadChecksum));
        assert!(matches!(decode("0OIl"), Err(Ss58Error::Base58(_))));
        let short = bs58::encode([42u8, 1, 2, 3]).into_string();
        assert!(matches!(decode(&short), Err(Ss58Error::BadLength(4))));
        assert!(matches!(decode(""), Err(Ss58Error::BadLength(0))));
        assert!(matches!(
            decode(&"5".repeat(500)),
            Err(Ss58Error::BadLength(_))
        ));
    }

    proptest! {
        #[test]
        fn roundtrips_every_valid_prefix(prefix in 0u16..=16_383, account in any::<[u8; 32]>()) {
            prop_assume!(!RESERVED_PREFIXES.contains(&prefix));
            let address = encode(prefix, &account).unwrap();
            prop_assert_eq!(decode(&address).unwrap(), (prefix, account));
        }
    }
}
