//! The binary body of `POST /v1/infer`.
//!
//! Ciphertexts are large (megabytes per image), so no JSON or base64: a fixed header
//! then length-prefixed items, all integers little-endian.
//!
//! ```text
//! magic        4  b"BLIR"
//! version      2  u16, PROTOCOL_VERSION
//! reserved     2  u16, must be 0
//! key id      32  SHA-256 of the evaluation key's wire bytes
//! circuit      1 + n  u8 length, then the circuit id (ASCII)
//! profile      1 + n  u8 length, then the profile id (ASCII)
//! item count   4  u32
//! items        per item: u32 length, then that many bytes (one serialized input)
//! ```
//!
//! Nothing may follow the last item.

use bytes::{BufMut, Bytes, BytesMut};

use crate::PROTOCOL_VERSION;
use crate::error::ErrorCode;
use crate::ids::{CircuitId, IdError, KeyId, ProfileId};

/// First 4 bytes of every infer request body (`BLIR`), so a stray body is told apart.
pub const REQUEST_MAGIC: [u8; 4] = *b"BLIR";

/// Bytes before the circuit id: magic, version, reserved, key id.
const FIXED_HEADER_LEN: usize = 4 + 2 + 2 + KeyId::LEN;
const ITEM_LENGTH_PREFIX_LEN: usize = 4;

/// Bounds a decoder enforces before it trusts any length in the body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DecodeLimits {
    /// Most inputs in one request.
    pub max_items: usize,
    /// Largest single serialized input, in bytes.
    pub max_item_bytes: usize,
    /// Largest whole request body, in bytes.
    pub max_total_bytes: usize,
}

/// Why an infer request body could not be decoded or encoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    /// The whole body is over [`DecodeLimits::max_total_bytes`].
    #[error("request body is {len} bytes, at most {max} allowed")]
    BodyTooLarge {
        /// The body length, in bytes.
        len: usize,
        /// The limit, in bytes.
        max: usize,
    },
    /// The body does not start with [`REQUEST_MAGIC`].
    #[error("not an infer request (bad magic bytes)")]
    BadMagic,
    /// The body's format version is not [`PROTOCOL_VERSION`].
    #[error("infer request version {got} is not supported (this peer speaks {supported})")]
    UnsupportedVersion {
        /// The version in the body.
        got: u16,
        /// The version this peer speaks.
        supported: u16,
    },
    /// The reserved header field is not zero; its value.
    #[error("reserved header field is {0:#06x}, must be 0")]
    ReservedNotZero(u16),
    /// The body ends before a field it announces.
    #[error("request truncated: {what} needs {needed} bytes, {available} left")]
    Truncated {
        /// Which field was cut short.
        what: &'static str,
        /// Bytes the field needs.
        needed: usize,
        /// Bytes left in the body.
        available: usize,
    },
    /// The circuit or profile id is not a valid name.
    #[error(transparent)]
    BadId(#[from] IdError),
    /// The circuit or profile id holds non-ASCII bytes.
    #[error("circuit or profile id is not ASCII")]
    IdNotAscii,
    /// The request holds no inputs.
    #[error("request holds no inputs")]
    EmptyBatch,
    /// The request holds more inputs than [`DecodeLimits::max_items`].
    #[error("request holds {count} inputs, at most {max} allowed")]
    TooManyItems {
        /// Inputs in the request.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// An input is zero bytes long.
    #[error("input {index} is empty")]
    EmptyItem {
        /// Its batch index.
        index: usize,
    },
    /// An input is over [`DecodeLimits::max_item_bytes`].
    #[error("input {index} is {len} bytes, at most {max} allowed")]
    ItemTooLarge {
        /// Its batch index.
        index: usize,
        /// Its length, in bytes.
        len: usize,
        /// The limit, in bytes.
        max: usize,
    },
    /// Bytes follow the last input announced.
    #[error("{count} unexpected bytes after the last input")]
    TrailingBytes {
        /// How many bytes.
        count: usize,
    },
}

impl RequestError {
    /// The API error code a miner answers this decoding failure with.
    pub const fn code(&self) -> ErrorCode {
        match self {
            RequestError::BodyTooLarge { .. }
            | RequestError::TooManyItems { .. }
            | RequestError::ItemTooLarge { .. } => ErrorCode::PayloadTooLarge,
            RequestError::UnsupportedVersion { .. } => ErrorCode::UnsupportedVersion,
            RequestError::EmptyBatch => ErrorCode::WrongShape,
            _ => ErrorCode::BadRequest,
        }
    }
}

/// One batch of encrypted inputs for one circuit, under one uploaded evaluation key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InferRequest {
    /// The uploaded evaluation key the inputs are encrypted under.
    pub key_id: KeyId,
    /// The circuit to evaluate on each input.
    pub circuit: CircuitId,
    /// The parameter profile of the key and inputs.
    pub profile: ProfileId,
    /// Serialized encrypted inputs, one per batch item (opaque to this crate).
    pub inputs: Vec<Bytes>,
}

impl InferRequest {
    /// Exact size of [`Self::encode`]'s output.
    pub fn encoded_len(&self) -> usize {
        FIXED_HEADER_LEN
            + 1
            + self.circuit.as_str().len()
            + 1
            + self.profile.as_str().len()
            + 4
            + self
                .inputs
                .iter()
                .map(|i| ITEM_LENGTH_PREFIX_LEN + i.len())
                .sum::<usize>()
    }

    /// Serializes the request. Refuses what no decoder would accept: an empty batch,
    /// an empty input, or counts and lengths beyond `u32`.
    pub fn encode(&self) -> Result<Bytes, RequestError> {
        if self.inputs.is_empty() {
            return Err(RequestError::EmptyBatch);
        }
        let count = u32::try_from(self.inputs.len()).map_err(|_| RequestError::TooManyItems {
            count: self.inputs.len(),
            max: u32::MAX as usize,
        })?;
        let mut out = BytesMut::with_capacity(self.encoded_len());
        out.put_slice(&REQUEST_MAGIC);
        out.put_u16_le(PROTOCOL_VERSION);
        out.put_u16_le(0);
        out.put_slice(self.key_id.as_bytes());
        for name in [self.circuit.as_str(), self.profile.as_str()] {
            // Ids are at most MAX_NAME_LEN (< 256) bytes by construction.
            out.put_u8(name.len() as u8);
            out.put_slice(name.as_bytes());
        }
        out.put_u32_le(count);
        for (index, input) in self.inputs.iter().enumerate() {
            if input.is_empty() {
                return Err(RequestError::EmptyItem { index });
            }
            let len = u32::try_from(input.len()).map_err(|_| RequestError::ItemTooLarge {
                index,
                len: input.len(),
                max: u32::MAX as usize,
            })?;
            out.put_u32_le(len);
            out.put_slice(input);
        }
        Ok(out.freeze())
    }

    /// Parses a request body. The inputs are zero-copy slices of `body`. Every length
    /// is checked against `limits` and against the bytes actually present before
    /// anything is allocated.
    pub fn decode(body: &Bytes, limits: &DecodeLimits) -> Result<Self, RequestError> {
        if body.len() > limits.max_total_bytes {
            return Err(RequestError::BodyTooLarge {
                len: body.len(),
                max: limits.max_total_bytes,
            });
        }
        let mut reader = Reader { body, pos: 0 };
        if reader.take(4, "magic")? != REQUEST_MAGIC {
            return Err(RequestError::BadMagic);
        }
        let version = reader.u16("version")?;
        if version != PROTOCOL_VERSION {
            return Err(RequestError::UnsupportedVersion {
                got: version,
                supported: PROTOCOL_VERSION,
            });
        }
        let reserved = reader.u16("reserved field")?;
        if reserved != 0 {
            return Err(RequestError::ReservedNotZero(reserved));
        }
        let key_id = KeyId::from_bytes(
            reader
                .take(KeyId::LEN, "key id")?
                .try_into()
                .expect("32 bytes"),
        );
        let circuit = CircuitId::new(reader.name("circuit id")?)?;
        let profile = ProfileId::new(reader.name("profile id")?)?;

        let count = reader.u32("item count")? as usize;
        if count == 0 {
            return Err(RequestError::EmptyBatch);
        }
        if count > limits.max_items {
            return Err(RequestError::TooManyItems {
                count,
                max: limits.max_items,
            });
        }
        // Each item needs at least its length prefix: a count the body cannot hold is
        // caught here, before the vector is sized from it.
        let room = reader.remaining() / ITEM_LENGTH_PREFIX_LEN;
        if count > room {
            return Err(RequestError::Truncated {
                what: "item length prefixes",
                needed: count * ITEM_LENGTH_PREFIX_LEN,
                available: reader.remaining(),
            });
        }
        let mut inputs = Vec::with_capacity(count);
        for index in 0..count {
            let len = reader.u32("item length")? as usize;
            if len == 0 {
                return Err(RequestError::EmptyItem { index });
            }
            if len > limits.max_item_bytes {
                return Err(RequestError::ItemTooLarge {
                    index,
                    len,
                    max: limits.max_item_bytes,
                });
            }
            inputs.push(reader.slice(len, "item")?);
        }
        if reader.remaining() > 0 {
            return Err(RequestError::TrailingBytes {
                count: reader.remaining(),
            });
        }
        Ok(Self {
            key_id,
            circuit,
            profile,
            inputs,
        })
    }
}

/// A bounds-checked cursor over the body.
struct Reader<'a> {
    body: &'a Bytes,
    pos: usize,
}

impl<'a> Reader<'a> {
    fn remaining(&self) -> usize {
        self.body.len() - self.pos
    }

    fn take(&mut self, len: usize, what: &'static str) -> Result<&'a [u8], RequestError> {
        if len > self.remaining() {
            return Err(RequestError::Truncated {
                what,
                needed: len,
                available: self.remaining(),
            });
        }
        let start = self.pos;
        self.pos += len;
        Ok(&self.body[start..self.pos])
    }

    fn slice(&mut self, len: usize, what: &'static str) -> Result<Bytes, RequestError> {
        let start = self.pos;
        self.take(len, what)?;
        Ok(self.body.slice(start..self.pos))
    }

    fn u16(&mut self, what: &'static str) -> Result<u16, RequestError> {
        Ok(u16::from_le_bytes(
            self.take(2, what)?.try_into().expect("2 bytes"),
        ))
    }

    fn u32(&mut self, what: &'static str) -> Result<u32, RequestError> {
        Ok(u32::from_le_bytes(
            self.take(4, what)?.try_into().expect("4 bytes"),
        ))
    }

    fn name(&mut self, what: &'static str) -> Result<&'a str, RequestError> {
        let len = self.take(1, what)?[0] as usize;
        let bytes = self.take(len, what)?;
        if !bytes.is_ascii() {
            return Err(RequestError::IdNotAscii);
        }
        Ok(std::str::from_utf8(bytes).expect("ASCII is UTF-8"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: DecodeLimits = DecodeLimits {
        max_items: 4,
        max_item_bytes: 1000,
        max_total_bytes: 10_000,
    };

    fn request(items: &[&[u8]]) -> InferRequest {
        InferRequest {
            key_id: KeyId::of(b"evaluation key"),
            circuit: CircuitId::new("conv3x3").unwrap(),
            profile: ProfileId::new("n918-N2048").unwrap(),
            inputs: items.iter().map(|i| Bytes::copy_from_slice(i)).collect(),
        }
    }

    #[test]
    fn round_trips() {
        let original = request(&[b"first ciphertext", &[7; 1000], b"x"]);
        let body = original.encode().unwrap();
        assert_eq!(body.len(), original.encoded_len());
        assert_eq!(&body[..4], b"BLIR");
        assert_eq!(InferRequest::decode(&body, &LIMITS).unwrap(), original);
    }

    #[test]
    fn every_truncation_is_an_error() {
        let body = request(&[b"abc", b"defgh"]).encode().unwrap();
        for len in 0..body.len() {
            let err = InferRequest::decode(&body.slice(..len), &LIMITS).unwrap_err();
            assert!(
                matches!(err, RequestError::Truncated { .. }),
                "at {len}: {err}"
            );
        }
    }

    #[test]
    fn limits_are_enforced() {
        let body = request(&[b"a".as_slice(); 5]).encode().unwrap();
        assert_eq!(
            InferRequest::decode(&body, &LIMITS),
            Err(RequestError::TooManyItems { count: 5, max: 4 })
        );
        let body = request(&[b"a", &[1; 1001]]).encode().unwrap();
        assert_eq!(
            InferRequest::decode(&body, &LIMITS),
            Err(RequestError::ItemTooLarge {
                index: 1,
                len: 1001,
                max: 1000
            })
        );
        let tight = DecodeLimits {
            max_total_bytes: body.len() - 1,
            ..LIMITS
        };
        assert!(matches!(
            InferRequest::decode(&body, &tight),
            Err(RequestError::BodyTooLarge { .. })
        ));
        assert_eq!(
            RequestError::TooManyItems { count: 5, max: 4 }.code(),
            ErrorCode::PayloadTooLarge
        );
    }

    #[test]
    fn lying_lengths_do_not_allocate() {
        let body = request(&[b"abc"]).encode().unwrap();
        let count_at = body.len() - 4 - 3 - 4;
        // A count of 4 billion items in a small body.
        let mut lying = body.to_vec();
        lying[count_at..count_at + 4].copy_from_slice(&u32::MAX.to_le_bytes());
        let huge = DecodeLimits {
            max_items: usize::MAX,
            max_item_bytes: usize::MAX,
            ..LIMITS
        };
        assert!(matches!(
            InferRequest::decode(&Bytes::from(lying), &huge),
            Err(RequestError::Truncated {
                what: "item length prefixes",
                ..
            })
        ));
        // An item claiming 4 GiB.
        let mut lying = body.to_vec();
        lying[count_at + 4..count_at + 8].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(
            InferRequest::decode(&Bytes::from(lying), &huge),
            Err(RequestError::Truncated { what: "item", .. })
        ));
    }

    #[test]
    fn header_fields_are_checked() {
        let body = request(&[b"abc"]).encode().unwrap().to_vec();
        let decode = |bytes: Vec<u8>| InferRequest::decode(&Bytes::from(bytes), &LIMITS);

        let mut bad = body.clone();
        bad[0] = b'X';
        assert_eq!(decode(bad), Err(RequestError::BadMagic));
        let mut bad = body.clone();
        bad[4] = 9;
        assert_eq!(
            decode(bad),
            Err(RequestError::UnsupportedVersion {
                got: 9,
                supported: 1
            })
        );
        let mut bad = body.clone();
        bad[6] = 1;
        assert_eq!(decode(bad), Err(RequestError::ReservedNotZero(1)));
        let mut bad = body.clone();
        bad[FIXED_HEADER_LEN + 1] = b' ';
        assert!(matches!(
            decode(bad),
            Err(RequestError::BadId(IdError::BadCharacter { .. }))
        ));
        let mut bad = body.clone();
        bad[FIXED_HEADER_LEN + 1] = 0xff;
        assert_eq!(decode(bad), Err(RequestError::IdNotAscii));
        let mut bad = body.clone();
        bad.push(0);
        assert_eq!(decode(bad), Err(RequestError::TrailingBytes { count: 1 }));
        let mut bad = body.clone();
        let n = bad.len();
        bad[n - 7..n - 3].copy_from_slice(&0u32.to_le_bytes());
        assert!(matches!(
            decode(bad),
            Err(RequestError::EmptyItem { index: 0 })
        ));
    }

    #[test]
    fn empty_batches_and_items_are_refused_both_ways() {
        assert_eq!(request(&[]).encode(), Err(RequestError::EmptyBatch));
        assert_eq!(
            request(&[b"a", b""]).encode(),
            Err(RequestError::EmptyItem { index: 1 })
        );
        let body = request(&[b"a"]).encode().unwrap().to_vec();
        let mut empty = body[..body.len() - 4 - 1 - 4].to_vec();
        empty.extend_from_slice(&0u32.to_le_bytes());
        assert_eq!(
            InferRequest::decode(&Bytes::from(empty), &LIMITS),
            Err(RequestError::EmptyBatch)
        );
    }
}
