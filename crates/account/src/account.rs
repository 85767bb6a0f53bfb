//! An account id: a 32-byte public key, shown as an SS58 address with Bittensor's prefix.
//!
//! [`AccountId::from_ss58`] (and so `FromStr` and `Deserialize`) accepts prefix 42 only.
//! Every Bittensor address is written under 42, so another prefix is the same key copied
//! from another network's wallet, which is almost always a mistake; accepting it would
//! also give one account several spellings in configs, registries and allow lists. The
//! error names the prefix found so the operator can see what went wrong.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::ss58::{self, BITTENSOR_PREFIX, Ss58Error};

/// The public key of a hotkey or coldkey. Both sr25519 and ed25519 public keys are 32
/// bytes, so the id alone does not say which scheme signs for it.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AccountId(pub [u8; 32]);

impl AccountId {
    /// The raw 32-byte public key.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The SS58 address with Bittensor's prefix 42.
    pub fn to_ss58(&self) -> String {
        ss58::encode(BITTENSOR_PREFIX, &self.0).expect("prefix 42 is a valid SS58 prefix")
    }

    /// Parses an SS58 address, insisting on Bittensor's prefix 42.
    pub fn from_ss58(address: &str) -> Result<Self, Ss58Error> {
        let (prefix, account) = ss58::decode(address)?;
        if prefix != BITTENSOR_PREFIX {
            return Err(Ss58Error::WrongPrefix {
                expected: BITTENSOR_PREFIX,
                found: prefix,
            });
        }
        Ok(Self(account))
    }
}

impl fmt::Display for AccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_ss58())
    }
}

impl fmt::Debug for AccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AccountId({})", self.to_ss58())
    }
}

impl FromStr for AccountId {
    type Err = Ss58Error;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::from_ss58(s)
    }
}

impl Serialize for AccountId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_ss58())
    }
}

impl<'de> Deserialize<'de> for AccountId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::from_ss58(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALICE: &str = "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY";

    #[test]
    fn rejects_other_networks() {
        // Alice on Polkadot (prefix 0).
        let polkadot = "15oF4uVJwmo4TdGW7VfQxNLavjCXviqxT9S1MgbjMNHr6Sp5";
        let error = AccountId::from_ss58(polkadot).unwrap_err();
        assert_eq!(
            error,
            Ss58Error::WrongPrefix {
                expected: 42,
                found: 0
            }
        );
        assert_eq!(
            error.to_string(),
            "address has network prefix 0; Bittensor addresses use prefix 42"
        );
    }

    #[test]
    fn debug_shows_the_address() {
        let alice: AccountId = ALICE.parse().unwrap();
        assert_eq!(format!("{alice:?}"), format!("AccountId({ALICE})"));
        assert_eq!(alice.to_string(), ALICE);
    }

    #[test]
    fn serde_uses_ss58() {
        let alice: AccountId = ALICE.parse().unwrap();
        let json = serde_json::to_string(&alice).unwrap();
        assert_eq!(json, format!("\"{ALICE}\""));
        assert_eq!(serde_json::from_str::<AccountId>(&json).unwrap(), alice);
    }
}
