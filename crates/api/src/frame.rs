//! The streamed answer of `POST /v1/infer`: one frame per batch item, sent as soon as
//! that item is computed (so not necessarily in order).
//!
//! ```text
//! length   4  u32 little-endian: bytes of the frame body that follows
//! index    4  u32 little-endian: the batch item this frame answers
//! kind     1  0 = result, 1 = error
//! payload  length - 5 bytes: the serialized encrypted output, or a UTF-8 message
//! ```

use bytes::{Buf, BufMut, Bytes, BytesMut};

/// Bytes of the length prefix.
pub const FRAME_LENGTH_PREFIX_LEN: usize = 4;
/// Bytes of the frame body before the payload: index and kind.
const BODY_HEADER_LEN: usize = 4 + 1;
/// Bytes before the payload on the wire: length prefix, index, kind.
pub const FRAME_HEADER_LEN: usize = FRAME_LENGTH_PREFIX_LEN + BODY_HEADER_LEN;

const KIND_RESULT: u8 = 0;
const KIND_ERROR: u8 = 1;

/// Why a result stream could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// A frame's length prefix is over the decoder's limit.
    #[error("frame of {len} bytes exceeds the {max}-byte limit")]
    TooLarge {
        /// The announced frame body length, in bytes.
        len: usize,
        /// The limit, in bytes.
        max: usize,
    },
    /// A frame body too short to hold its index and kind.
    #[error("frame of {len} bytes is shorter than its {BODY_HEADER_LEN}-byte header")]
    TooShort {
        /// The frame body length, in bytes.
        len: usize,
    },
    /// The kind byte is neither result (0) nor error (1).
    #[error("unknown frame kind {0}")]
    UnknownKind(u8),
    /// An error frame's message is not valid UTF-8.
    #[error("error frame for item {index} is not UTF-8")]
    ErrorNotUtf8 {
        /// Batch index of the item it reports on.
        index: u32,
    },
    /// The stream ended part-way through a frame.
    #[error("stream ended inside a frame ({buffered} bytes left over)")]
    Truncated {
        /// Bytes received of the unfinished frame.
        buffered: usize,
    },
}

/// What a frame carries for its item.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FramePayload {
    /// The serialized encrypted output of the item.
    Result(Bytes),
    /// Why the miner could not compute the item.
    Error(String),
}

/// One item's answer in an infer response stream: its encrypted output or why it failed.
/// Frames may arrive in any order; `index` ties each to its input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    /// Index of the item in the request's batch.
    pub index: u32,
    /// The item's encrypted output, or the miner's error for it.
    pub payload: FramePayload,
}

impl Frame {
    fn kind_and_bytes(&self) -> (u8, &[u8]) {
        match &self.payload {
            FramePayload::Result(bytes) => (KIND_RESULT, bytes),
            FramePayload::Error(message) => (KIND_ERROR, message.as_bytes()),
        }
    }
}

/// The wire header of a frame whose payload is `payload_len` bytes: a server streams
/// it followed by the payload itself, without copying the payload.
pub fn encode_frame_header(
    index: u32,
    is_error: bool,
    payload_len: usize,
) -> Result<[u8; FRAME_HEADER_LEN], FrameError> {
    let body_len = payload_len.saturating_add(BODY_HEADER_LEN);
    let len = u32::try_from(body_len).map_err(|_| FrameError::TooLarge {
        len: body_len,
        max: u32::MAX as usize,
    })?;
    let mut header = [0u8; FRAME_HEADER_LEN];
    header[..4].copy_from_slice(&len.to_le_bytes());
    header[4..8].copy_from_slice(&index.to_le_bytes());
    header[8] = if is_error { KIND_ERROR } else { KIND_RESULT };
    Ok(header)
}

/// A whole frame on the wire (header and payload).
pub fn encode_frame(frame: &Frame) -> Result<Bytes, FrameError> {
    let (kind, payload) = frame.kind_and_bytes();
    let header = encode_frame_header(frame.index, kind == KIND_ERROR, payload.len())?;
    let mut out = BytesMut::with_capacity(FRAME_HEADER_LEN + payload.len());
    out.put_slice(&header);
    out.put_slice(payload);
    Ok(out.freeze())
}

/// Reassembles frames from the chunks of a streaming body, whatever their boundaries.
///
/// Call [`Self::push`] with each chunk, then [`Self::next_frame`] until it returns
/// `None`; at the end of the stream, [`Self::finish`] reports a cut-off frame. Drained
/// that way the buffer never holds more than one frame plus one chunk, and a frame
/// whose length prefix exceeds the limit is refused as soon as its 4 length bytes are
/// in, before its body is buffered.
#[derive(Debug)]
pub struct FrameDecoder {
    buffer: BytesMut,
    max_frame_bytes: usize,
}

impl FrameDecoder {
    /// `max_frame_bytes` bounds each frame's body (index, kind and payload).
    pub fn new(max_frame_bytes: usize) -> Self {
        Self {
            buffer: BytesMut::new(),
            max_frame_bytes,
        }
    }

    /// Appends bytes received from the stream; take whole frames out afterwards.
    pub fn push(&mut self, chunk: &[u8]) {
        self.buffer.extend_from_slice(chunk);
    }

    /// Bytes received but not yet returned as frames.
    pub fn buffered_len(&self) -> usize {
        self.buffer.len()
    }

    /// The next complete frame, `None` if more bytes are needed. After an error the
    /// stream is unusable: the same error comes back on every call.
    pub fn next_frame(&mut self) -> Result<Option<Frame>, FrameError> {
        let Some(prefix) = self.buffer.get(..FRAME_LENGTH_PREFIX_LEN) else {
            return Ok(None);
        };
        let len = u32::from_le_bytes(prefix.try_into().expect("4 bytes")) as usize;
        if len > self.max_frame_bytes {
            return Err(FrameError::TooLarge {
                len,
                max: self.max_frame_bytes,
            });
        }
        if len < BODY_HEADER_LEN {
            return Err(FrameError::TooShort { len });
        }
        let kind = match self.buffer.get(FRAME_HEADER_LEN - 1) {
            Some(&kind) if kind == KIND_RESULT || kind == KIND_ERROR => kind,
            Some(&other) => return Err(FrameError::UnknownKind(other)),
            None => return Ok(None),
        };
        if self.buffer.len() < FRAME_LENGTH_PREFIX_LEN + len {
            // Reserve once for the rest of this frame rather than growing chunk by chunk.
            self.buffer
                .reserve(FRAME_LENGTH_PREFIX_LEN + len - self.buffer.len());
            return Ok(None);
        }
        let index = u32::from_le_bytes(self.buffer[4..8].try_into().expect("4 bytes"));
        if kind == KIND_ERROR
            && std::str::from_utf8(&self.buffer[FRAME_HEADER_LEN..FRAME_LENGTH_PREFIX_LEN + len])
                .is_err()
        {
            return Err(FrameError::ErrorNotUtf8 { index });
        }
        let mut frame = self.buffer.split_to(FRAME_LENGTH_PREFIX_LEN + len);
        frame.advance(FRAME_HEADER_LEN);
        let payload = if kind == KIND_RESULT {
            FramePayload::Result(frame.freeze())
        } else {
            FramePayload::Error(String::from_utf8(frame.to_vec()).expect("checked above"))
        };
        Ok(Some(Frame { index, payload }))
    }

    /// Call when the stream has ended: an error if it stopped inside a frame.
    pub fn finish(&self) -> Result<(), FrameError> {
        match self.buffer.len() {
            0 => Ok(()),
            buffered => Err(FrameError::Truncated { buffered }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames() -> Vec<Frame> {
        vec![
            Frame {
                index: 2,
                payload: FramePayload::Result(Bytes::from_static(b"ciphertext two")),
            },
            Frame {
                index: 0,
                payload: FramePayload::Error("malformed_ciphertext: bad mask ✗".into()),
            },
            Frame {
                index: 1,
                payload: FramePayload::Result(Bytes::new()),
            },
            Frame {
                index: u32::MAX,
                payload: FramePayload::Result(Bytes::from(vec![0xAB; 3000])),
            },
        ]
    }

    fn stream(frames: &[Frame]) -> Vec<u8> {
        frames
            .iter()
            .flat_map(|f| encode_frame(f).unwrap())
            .collect()
    }

    fn decode_all(decoder: &mut FrameDecoder, out: &mut Vec<Frame>) {
        while let Some(frame) = decoder.next_frame().unwrap() {
            out.push(frame);
        }
    }

    #[test]
    fn header_layout() {
        let bytes = encode_frame(&Frame {
            index: 5,
            payload: FramePayload::Result(Bytes::from_static(b"xy")),
        })
        .unwrap();
        assert_eq!(&bytes[..], &[7, 0, 0, 0, 5, 0, 0, 0, 0, b'x', b'y']);
        assert_eq!(
            encode_frame_header(5, true, 2).unwrap(),
            [7, 0, 0, 0, 5, 0, 0, 0, 1]
        );
        assert!(matches!(
            encode_frame_header(0, false, usize::MAX),
            Err(FrameError::TooLarge { .. })
        ));
    }

    #[test]
    fn decodes_whole_stream_at_once() {
        let mut decoder = FrameDecoder::new(4096);
        decoder.push(&stream(&frames()));
        let mut out = Vec::new();
        decode_all(&mut decoder, &mut out);
        assert_eq!(out, frames());
        decoder.finish().unwrap();
    }

    #[test]
    fn decodes_stream_fed_byte_by_byte() {
        let bytes = stream(&frames());
        let mut decoder = FrameDecoder::new(4096);
        let mut out = Vec::new();
        for byte in &bytes {
            decoder.push(std::slice::from_ref(byte));
            decode_all(&mut decoder, &mut out);
            assert!(decoder.buffered_len() <= FRAME_LENGTH_PREFIX_LEN + 3005);
        }
        assert_eq!(out, frames());
        decoder.finish().unwrap();
    }

    #[test]
    fn truncated_stream_is_reported() {
        let bytes = stream(&frames()[..1]);
        for cut in 1..bytes.len() {
            let mut decoder = FrameDecoder::new(4096);
            decoder.push(&bytes[..cut]);
            assert_eq!(decoder.next_frame().unwrap(), None);
            assert_eq!(
                decoder.finish(),
                Err(FrameError::Truncated { buffered: cut })
            );
        }
    }

    #[test]
    fn oversized_frame_is_refused_from_its_prefix() {
        let mut decoder = FrameDecoder::new(100);
        decoder.push(&1_000_000u32.to_le_bytes());
        assert_eq!(
            decoder.next_frame(),
            Err(FrameError::TooLarge {
                len: 1_000_000,
                max: 100
            })
        );
        // The error sticks.
        assert_eq!(
            decoder.next_frame(),
            Err(FrameError::TooLarge {
                len: 1_000_000,
                max: 100
            })
        );
        assert!(decoder.buffered_len() < 100);
    }

    #[test]
    fn garbage_frames_are_errors() {
        let mut decoder = FrameDecoder::new(100);
        decoder.push(&[3, 0, 0, 0, 1, 2, 3]);
        assert_eq!(decoder.next_frame(), Err(FrameError::TooShort { len: 3 }));

        let mut decoder = FrameDecoder::new(100);
        decoder.push(&[5, 0, 0, 0, 0, 0, 0, 0, 7]);
        assert_eq!(decoder.next_frame(), Err(FrameError::UnknownKind(7)));

        let mut decoder = FrameDecoder::new(100);
        decoder.push(&[7, 0, 0, 0, 4, 0, 0, 0, 1, 0xff, 0xfe]);
        assert_eq!(
            decoder.next_frame(),
            Err(FrameError::ErrorNotUtf8 { index: 4 })
        );
    }
}
