//! SS58 addresses (the account format Bittensor shows hotkeys and coldkeys in).
//!
//! Only 32-byte public keys with a one-byte network prefix (< 64) are handled: that
//! covers Bittensor (prefix 42) and every generic Substrate chain.

use blake2::{Blake2b512, Digest};

/// The network prefix Bittensor uses for its addresses.
pub const BITTENSOR_PREFIX: u8 = 42;

const CHECKSUM_PREIMAGE: &[u8] = b"SS58PRE";
const CHECKSUM_LEN: usize = 2;
const ADDRESS_LEN: usize = 1 + 32 + CHECKSUM_LEN;

/// Why a string is not a usable SS58 address.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Ss58Error {
    #[error("not base58: {0}")]
    Base58(String),
    #[error(
        "decoded to {0} bytes, expected {ADDRESS_LEN} (one-byte prefix, 32-byte key, checksum)"
    )]
    Length(usize),
    #[error("prefix byte {0} is not a simple (one-byte) SS58 prefix")]
    Prefix(u8),
    #[error("checksum mismatch")]
    Checksum,
}

fn checksum(body: &[u8]) -> [u8; CHECKSUM_LEN] {
    let mut hasher = Blake2b512::new();
    hasher.update(CHECKSUM_PREIMAGE);
    hasher.update(body);
    let hash = hasher.finalize();
    [hash[0], hash[1]]
}

/// Encodes a 32-byte public key as an SS58 address with the Bittensor prefix.
pub fn encode(public_key: &[u8; 32]) -> String {
    encode_with_prefix(public_key, BITTENSOR_PREFIX)
}

/// Encodes a 32-byte public key with a given one-byte prefix (must be below 64).
pub fn encode_with_prefix(public_key: &[u8; 32], prefix: u8) -> String {
    debug_assert!(prefix < 64, "two-byte prefixes are not supported");
    let mut bytes = Vec::with_capacity(ADDRESS_LEN);
    bytes.push(prefix);
    bytes.extend_from_slice(public_key);
    let sum = checksum(&bytes);
    bytes.extend_from_slice(&sum);
    bs58::encode(bytes).into_string()
}

/// Decodes an SS58 address into its prefix and 32-byte public key, checking the checksum.
pub fn decode(address: &str) -> Result<(u8, [u8; 32]), Ss58Error> {
    // Refuse absurd input before decoding it: a valid address is under 50 characters.
    if address.len() > 64 {
        return Err(Ss58Error::Length(address.len()));
    }
    let bytes = bs58::decode(address)
        .into_vec()
        .map_err(|e| Ss58Error::Base58(e.to_string()))?;
    if bytes.len() != ADDRESS_LEN {
        return Err(Ss58Error::Length(bytes.len()));
    }
    let prefix = bytes[0];
    if prefix >= 64 {
        return Err(Ss58Error::Prefix(prefix));
    }
    let (body, sum) = bytes.split_at(1 + 32);
    if checksum(body) != sum {
        return Err(Ss58Error::Checksum);
    }
    let mut key = [0u8; 32];
    key.copy_from_slice(&body[1..]);
    Ok((prefix, key))
}

/// Decodes an address and returns only its public key.
pub fn public_key(address: &str) -> Result<[u8; 32], Ss58Error> {
    decode(address).map(|(_, key)| key)
}

#[cfg(test)]
mod tests {
    use super::*;

    // Alice's well-known development key (//Alice) and its generic-Substrate address.
    const ALICE_HEX: &str = "d43593c715fdd31c61141abd04a99fd6822c8558854ccde39a5684e7a56da27d";
    const ALICE_SS58: &str = "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY";

    fn alice() -> [u8; 32] {
        let mut key = [0u8; 32];
        for (i, byte) in key.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&ALICE_HEX[2 * i..2 * i + 2], 16).unwrap();
        }
        key
    }

    #[test]
    fn encodes_known_address() {
        assert_eq!(encode(&alice()), ALICE_SS58);
    }

    #[test]
    fn decodes_known_address() {
        assert_eq!(decode(ALICE_SS58).unwrap(), (42, alice()));
    }

    #[test]
    fn rejects_corrupted_address() {
        let mut corrupted = ALICE_SS58.to_string();
        corrupted.replace_range(10..11, "b");
        assert!(decode(&corrupted).is_err());
        assert!(matches!(decode("0OIl"), Err(Ss58Error::Base58(_))));
        assert!(matches!(decode("abc"), Err(Ss58Error::Length(_))));
    }
}
