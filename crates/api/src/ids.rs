//! Identifiers on the wire: circuit and parameter-profile names, evaluation-key ids.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Longest circuit or profile name. Names travel with a one-byte length prefix in the
/// binary infer request, so this must stay below 256.
pub(crate) const MAX_NAME_LEN: usize = 64;

/// Why a circuit, profile or key id was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    /// The name is the empty string.
    #[error("{kind} must not be empty")]
    Empty {
        /// Which id (e.g. `"circuit id"`).
        kind: &'static str,
    },
    /// The name is longer than [`MAX_NAME_LEN`].
    #[error("{kind} is {len} bytes long, at most {max} allowed")]
    TooLong {
        /// Which id (e.g. `"circuit id"`).
        kind: &'static str,
        /// The name's length, in bytes.
        len: usize,
        /// The limit, in bytes.
        max: usize,
    },
    /// The name has a character outside `[A-Za-z0-9._-]`.
    #[error("{kind} {name:?} may only contain ASCII letters, digits, '-', '_' and '.'")]
    BadCharacter {
        /// Which id (e.g. `"profile id"`).
        kind: &'static str,
        /// The refused name, as given.
        name: String,
    },
    /// A key id that is not exactly 64 hex digits; the refused text.
    #[error("key id must be 64 hex digits: {0}")]
    BadKeyHex(String),
}

/// Names are restricted to a small ASCII alphabet so they are safe in logs, metrics
/// labels, file names and URLs without escaping.
fn validate_name(kind: &'static str, name: &str) -> Result<(), IdError> {
    if name.is_empty() {
        return Err(IdError::Empty { kind });
    }
    if name.len() > MAX_NAME_LEN {
        return Err(IdError::TooLong {
            kind,
            len: name.len(),
            max: MAX_NAME_LEN,
        });
    }
    let allowed = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.');
    if !name.bytes().all(allowed) {
        return Err(IdError::BadCharacter {
            kind,
            name: name.escape_debug().to_string(),
        });
    }
    Ok(())
}

macro_rules! name_id {
    ($(#[$doc:meta])* $name:ident, $kind:literal) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// Validates `name`: 1 to [`MAX_NAME_LEN`] bytes of `[A-Za-z0-9._-]`.
            pub fn new(name: impl Into<String>) -> Result<Self, IdError> {
                let name = name.into();
                validate_name($kind, &name)?;
                Ok(Self(name))
            }

            /// The validated name, as sent on the wire.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = IdError;
            fn try_from(name: String) -> Result<Self, IdError> {
                Self::new(name)
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl FromStr for $name {
            type Err = IdError;
            fn from_str(name: &str) -> Result<Self, IdError> {
                Self::new(name)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({:?})", stringify!($name), self.0)
            }
        }
    };
}

name_id!(
    /// A circuit's stable wire id (`vgg9`, `conv3x3`, ...).
    CircuitId,
    "circuit id"
);

name_id!(
    /// The name of an FHE parameter profile (LWE/GLWE dimensions, decompositions,
    /// encoding) that a miner supports and a client encrypted with.
    ProfileId,
    "profile id"
);

/// Content id of an uploaded evaluation key: SHA-256 of its compressed serialized
/// bytes, exactly as sent in `PUT /v1/keys`. Lowercase hex in JSON and text.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct KeyId([u8; 32]);

impl KeyId {
    /// Length of a key id, in bytes (a SHA-256 digest).
    pub const LEN: usize = 32;

    /// The id of the key whose wire bytes are `key_bytes`.
    pub fn of(key_bytes: &[u8]) -> Self {
        Self(Sha256::digest(key_bytes).into())
    }

    /// The key id with this raw digest (no check: any 32 bytes are an id).
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The raw 32-byte digest.
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The id as 64 lowercase hex digits, its JSON and URL spelling.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Parses 64 hex digits (either case).
    pub fn from_hex(text: &str) -> Result<Self, IdError> {
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(text, &mut bytes).map_err(|e| IdError::BadKeyHex(e.to_string()))?;
        Ok(Self(bytes))
    }
}

impl TryFrom<String> for KeyId {
    type Error = IdError;
    fn try_from(text: String) -> Result<Self, IdError> {
        Self::from_hex(&text)
    }
}

impl From<KeyId> for String {
    fn from(id: KeyId) -> String {
        id.to_hex()
    }
}

impl FromStr for KeyId {
    type Err = IdError;
    fn from_str(text: &str) -> Result<Self, IdError> {
        Self::from_hex(text)
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({})", self.to_hex())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_validated() {
        assert_eq!(CircuitId::new("vgg9").unwrap().as_str(), "vgg9");
        assert!(ProfileId::new("n918-k1-N2048_l1.v2").is_ok());
        assert_eq!(
            CircuitId::new(""),
            Err(IdError::Empty { kind: "circuit id" })
        );
        assert!(matches!(
            CircuitId::new("a b"),
            Err(IdError::BadCharacter { .. })
        ));
        assert!(matches!(
            CircuitId::new("vgg9/.."),
            Err(IdError::BadCharacter { .. })
        ));
        assert!(matches!(
            ProfileId::new("é"),
            Err(IdError::BadCharacter { .. })
        ));
        assert!(ProfileId::new("x".repeat(MAX_NAME_LEN)).is_ok());
        assert!(matches!(
            ProfileId::new("x".repeat(MAX_NAME_LEN + 1)),
            Err(IdError::TooLong { len: 65, .. })
        ));
    }

    #[test]
    fn names_validate_when_deserialized() {
        let id: CircuitId = serde_json::from_str("\"conv3x3\"").unwrap();
        assert_eq!(id.to_string(), "conv3x3");
        assert_eq!(serde_json::to_string(&id).unwrap(), "\"conv3x3\"");
        assert!(serde_json::from_str::<CircuitId>("\"conv 3x3\"").is_err());
        assert!(serde_json::from_str::<ProfileId>("\"\"").is_err());
    }

    #[test]
    fn key_id_is_sha256_in_hex() {
        let id = KeyId::of(b"abc");
        assert_eq!(
            id.to_hex(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(KeyId::from_hex(&id.to_hex().to_uppercase()).unwrap(), id);
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(json, format!("\"{id}\""));
        assert_eq!(serde_json::from_str::<KeyId>(&json).unwrap(), id);
        assert!(KeyId::from_hex("abcd").is_err());
        assert!(KeyId::from_hex(&"zz".repeat(32)).is_err());
        assert!(serde_json::from_str::<KeyId>("\"00\"").is_err());
    }
}
