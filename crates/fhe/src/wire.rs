//! Byte layout shared by keys and ciphertexts: magic, version, profile id, then
//! little-endian fields. Readers check every length against what the profile and circuit
//! imply before allocating anything.

use crate::error::{EngineError, Result};
use crate::profile::Profile;

/// Version of the byte layout of keys and ciphertexts, the byte after the magic.
/// 2: evaluation keys carry a packing key and results travel compressed.
/// 3: every profile packs; those wider than the packing GLWE carry a narrowing key.
pub const VERSION: u8 = 3;
/// Longest profile id we accept on the wire.
const MAX_ID_LEN: usize = 64;

/// Upper bounds on what a peer may make us read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest serialized (compressed) evaluation key accepted, in bytes.
    pub max_key_bytes: u64,
    /// Largest serialized encrypted input or output accepted, in bytes.
    pub max_ciphertext_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        // The largest profile's compressed key is ~320 MB; VGG9's biggest ciphertext set
        // leaving a miner is far smaller than its inputs' expansion.
        Self {
            max_key_bytes: 512 << 20,
            max_ciphertext_bytes: 1 << 30,
        }
    }
}

pub(crate) struct Writer {
    buf: Vec<u8>,
}

impl Writer {
    pub(crate) fn new(magic: &[u8; 4], profile: &Profile, capacity: usize) -> Self {
        let mut buf = Vec::with_capacity(capacity + header_len(profile));
        buf.extend_from_slice(magic);
        buf.push(VERSION);
        buf.push(profile.id.len() as u8);
        buf.extend_from_slice(profile.id.as_bytes());
        Self { buf }
    }

    pub(crate) fn u8(&mut self, v: u8) {
        self.buf.push(v);
    }

    pub(crate) fn u64(&mut self, v: u64) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }

    pub(crate) fn u128(&mut self, v: u128) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }

    pub(crate) fn words(&mut self, words: &[u64]) {
        for w in words {
            self.u64(*w);
        }
    }

    /// The buffer, for writers that append a bit stream.
    pub(crate) fn bytes(&mut self) -> &mut Vec<u8> {
        &mut self.buf
    }

    pub(crate) fn finish(self) -> Vec<u8> {
        self.buf
    }
}

/// Bytes of the header `Writer::new` emits.
pub(crate) fn header_len(profile: &Profile) -> usize {
    4 + 1 + 1 + profile.id.len()
}

pub(crate) struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
    what: &'static str,
}

impl<'a> Reader<'a> {
    /// Checks magic, version and that the blob was made for `profile`.
    pub(crate) fn open(
        bytes: &'a [u8],
        magic: &[u8; 4],
        profile: &Profile,
        what: &'static str,
    ) -> Result<Self> {
        if bytes.len() < 6 || &bytes[..4] != magic || bytes[4] != VERSION {
            return Err(EngineError::BadHeader { what });
        }
        let id_len = bytes[5] as usize;
        if id_len > MAX_ID_LEN || bytes.len() < 6 + id_len {
            return Err(EngineError::BadHeader { what });
        }
        let id = &bytes[6..6 + id_len];
        if id != profile.id.as_bytes() {
            return Err(EngineError::WrongProfile {
                what,
                expected: profile.id.to_string(),
                found: String::from_utf8_lossy(id).into_owned(),
            });
        }
        Ok(Self {
            bytes,
            pos: 6 + id_len,
            what,
        })
    }

    pub(crate) fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if self.remaining() < n {
            return Err(EngineError::WrongSize {
                what: self.what,
                expected: (self.pos + n) as u64,
                found: self.bytes.len() as u64,
            });
        }
        let s = &self.bytes[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    pub(crate) fn u8(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }

    pub(crate) fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_le_bytes(
            self.take(8)?.try_into().expect("8 bytes"),
        ))
    }

    pub(crate) fn u128(&mut self) -> Result<u128> {
        Ok(u128::from_le_bytes(
            self.take(16)?.try_into().expect("16 bytes"),
        ))
    }

    /// Requires that exactly `count` bytes remain, then returns them.
    pub(crate) fn exact_bytes(&mut self, count: usize) -> Result<&'a [u8]> {
        if self.remaining() != count {
            return Err(EngineError::WrongSize {
                what: self.what,
                expected: (self.pos as u64).saturating_add(count as u64),
                found: self.bytes.len() as u64,
            });
        }
        self.take(count)
    }

    /// Requires that exactly `count` words remain, then copies them out.
    pub(crate) fn exact_words(&mut self, count: usize) -> Result<Vec<u64>> {
        let expected = count
            .checked_mul(8)
            .ok_or(EngineError::BadHeader { what: self.what })?;
        if self.remaining() != expected {
            return Err(EngineError::WrongSize {
                what: self.what,
                expected: (self.pos + expected) as u64,
                found: self.bytes.len() as u64,
            });
        }
        self.words(count)
    }

    /// Copies out the next `count` words (into a vector of exactly that capacity).
    pub(crate) fn words(&mut self, count: usize) -> Result<Vec<u64>> {
        let len = count
            .checked_mul(8)
            .ok_or(EngineError::BadHeader { what: self.what })?;
        let raw = self.take(len)?;
        Ok(raw
            .chunks_exact(8)
            .map(|c| u64::from_le_bytes(c.try_into().expect("8 bytes")))
            .collect())
    }
}

/// Rejects blobs over `limit` before anything is parsed.
pub(crate) fn check_limit(bytes: &[u8], limit: u64, what: &'static str) -> Result<()> {
    let size = bytes.len() as u64;
    if size > limit {
        return Err(EngineError::TooLarge { what, size, limit });
    }
    Ok(())
}
