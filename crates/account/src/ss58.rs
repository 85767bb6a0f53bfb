//! SS58 addresses: base58 of `prefix || account || checksum`, where the checksum is the
//! first two bytes of `blake2b-512("SS58PRE" || prefix || account)`.
//!
//! Only 32-byte account ids are handled (the only kind hotkeys and coldkeys have).
//! Network prefixes 0..=63 take one byte, 64..=16383 take two (Substrate's packed form).
//! The codec itself takes any valid prefix; which network an address must belong to is
//! the caller's decision (see [`crate::AccountId::from_ss58`]).

use blake2::{Blake2b512, Digest};
use thiserror::Error;

/// The generic Substrate prefix that Bittensor uses for addresses.
pub const BITTENSOR_PREFIX: u16 = 42;

const CHECKSUM_PREIMAGE: &[u8] = b"SS58PRE";
const CHECKSUM_LEN: usize = 2;
const ACCOUNT_LEN: usize = 32;
const MAX_PREFIX: u16 = 16_383;
/// Prefixes 46 and 47 are reserved by the SS58 registry and never valid.
const RESERVED_PREFIXES: [u16; 2] = [46, 47];
/// A two-byte prefix, 32-byte account and checksum take at most 49 base58 characters;
/// anything much longer is refused before it is decoded.
const MAX_ADDRESS_CHARS: usize = 64;

/// Why a string is not a usable SS58 address.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum Ss58Error {
    /// The string holds characters outside the base58 alphabet.
    #[error("not base58: {0}")]
    Base58(#[from] bs58::decode::Error),
    /// The string is far longer than any SS58 address; its length in bytes.
    #[error("{0} characters is too long for an SS58 address")]
    TooLong(usize),
    /// The decoded bytes are not prefix, 32-byte account and 2-byte checksum;
    /// their count, prefix and checksum included.
    #[error("decodes to {0} bytes, which is not a 32-byte account address")]
    Length(usize),
    /// The network prefix is reserved (46, 47), over 16383, or not a valid first byte;
    /// the refused value.
    #[error("invalid or reserved network prefix {0}")]
    Prefix(u16),
    /// The checksum does not match the prefix and account: usually a typo.
    #[error("checksum mismatch (mistyped address?)")]
    Checksum,
    /// A well-formed address of another network; only [`crate::AccountId`] returns this.
    #[error("address has network prefix {found}; Bittensor addresses use prefix {expected}")]
    WrongPrefix {
        /// The prefix the caller requires (42 for Bittensor).
        expected: u16,
        /// The prefix the address carries.
        found: u16,
    },
}

fn checksum(payload: &[u8]) -> [u8; CHECKSUM_LEN] {
    let mut hasher = Blake2b512::new();
    hasher.update(CHECKSUM_PREIMAGE);
    hasher.update(payload);
    let digest = hasher.finalize();
    [digest[0], digest[1]]
}

fn prefix_bytes(prefix: u16) -> Result<Vec<u8>, Ss58Error> {
    if prefix > MAX_PREFIX || RESERVED_PREFIXES.contains(&prefix) {
        return Err(Ss58Error::Prefix(prefix));
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
    if address.len() > MAX_ADDRESS_CHARS {
        return Err(Ss58Error::TooLong(address.len()));
    }
    let raw = bs58::decode(address).into_vec()?;
    let (prefix, prefix_len) = match raw.first() {
        Some(&b) if b < 64 => (u16::from(b), 1),
        Some(&b) if b < 128 && raw.len() > 1 => {
            let second = raw[1];
            let lower = (u16::from(b) << 2) | (u16::from(second) >> 6);
            let upper = u16::from(second & 0b0011_1111);
            ((lower & 0b1111_1111) | (upper << 8), 2)
        }
        Some(&b) => return Err(Ss58Error::Prefix(u16::from(b))),
        None => return Err(Ss58Error::Length(0)),
    };
    if raw.len() != prefix_len + ACCOUNT_LEN + CHECKSUM_LEN {
        return Err(Ss58Error::Length(raw.len()));
    }
    if RESERVED_PREFIXES.contains(&prefix) {
        return Err(Ss58Error::Prefix(prefix));
    }
    let (payload, check) = raw.split_at(prefix_len + ACCOUNT_LEN);
    if checksum(payload) != check {
        return Err(Ss58Error::Checksum);
    }
    let mut account = [0u8; ACCOUNT_LEN];
    account.copy_from_slice(&payload[prefix_len..]);
    Ok((prefix, account))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    // Alice's well-known development key (//Alice) and her generic-prefix address.
    const ALICE_HEX: &str = "d43593c715fdd31c61141abd04a99fd6822c8558854ccde39a5684e7a56da27d";
    const ALICE_SS58: &str = "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY";
    // The same key under Polkadot's prefix 0.
    const ALICE_POLKADOT: &str = "15oF4uVJwmo4TdGW7VfQxNLavjCXviqxT9S1MgbjMNHr6Sp5";

    fn alice() -> [u8; 32] {
        hex::decode(ALICE_HEX).unwrap().try_into().unwrap()
    }

    /// The address with one character replaced, as a typo would.
    fn with_typo(address: &str, at: usize, replacement: char) -> String {
        let mut chars: Vec<char> = address.chars().collect();
        chars[at] = replacement;
        chars.into_iter().collect()
    }

    #[test]
    fn encodes_known_address() {
        assert_eq!(encode(BITTENSOR_PREFIX, &alice()).unwrap(), ALICE_SS58);
        assert_eq!(encode(0, &alice()).unwrap(), ALICE_POLKADOT);
    }

    #[test]
    fn decodes_known_address() {
        assert_eq!(decode(ALICE_SS58).unwrap(), (42, alice()));
        assert_eq!(decode(ALICE_POLKADOT).unwrap(), (0, alice()));
    }

    #[test]
    fn rejects_typos() {
        for replacement in ['a', 'b'] {
            assert_eq!(
                decode(&with_typo(ALICE_SS58, 10, replacement)),
                Err(Ss58Error::Checksum)
            );
        }
    }

    #[test]
    fn rejects_non_base58() {
        assert!(matches!(decode("0OIl"), Err(Ss58Error::Base58(_))));
    }

    #[test]
    fn rejects_wrong_lengths() {
        assert!(matches!(decode("abc"), Err(Ss58Error::Length(_))));
        let short = bs58::encode([42u8, 1, 2, 3]).into_string();
        assert_eq!(decode(&short), Err(Ss58Error::Length(4)));
        assert_eq!(decode(""), Err(Ss58Error::Length(0)));
        assert_eq!(decode(&"5".repeat(500)), Err(Ss58Error::TooLong(500)));
    }

    #[test]
    fn refuses_reserved_prefixes() {
        for prefix in RESERVED_PREFIXES {
            assert_eq!(encode(prefix, &alice()), Err(Ss58Error::Prefix(prefix)));
        }
        assert_eq!(
            encode(MAX_PREFIX + 1, &alice()),
            Err(Ss58Error::Prefix(MAX_PREFIX + 1))
        );
    }

    proptest! {
        #[test]
        fn roundtrips_every_valid_prefix(prefix in 0u16..=MAX_PREFIX, account in any::<[u8; 32]>()) {
            prop_assume!(!RESERVED_PREFIXES.contains(&prefix));
            let address = encode(prefix, &account).unwrap();
            prop_assert_eq!(decode(&address).unwrap(), (prefix, account));
        }
    }
}
