//! Arbitrary bytes never panic a decoder, and what encodes decodes back.

use brainlock_api::{
    CircuitId, DecodeLimits, Frame, FrameDecoder, FramePayload, InferRequest, KeyId, ProfileId,
    encode_frame,
};
use bytes::Bytes;
use proptest::prelude::*;

const LIMITS: DecodeLimits = DecodeLimits {
    max_items: 16,
    max_item_bytes: 4096,
    max_total_bytes: 1 << 16,
};

fn name() -> impl Strategy<Value = String> {
    "[A-Za-z0-9._-]{1,64}"
}

fn request() -> impl Strategy<Value = InferRequest> {
    (
        any::<[u8; 32]>(),
        name(),
        name(),
        prop::collection::vec(prop::collection::vec(any::<u8>(), 1..300), 1..8),
    )
        .prop_map(|(key, circuit, profile, inputs)| InferRequest {
            key_id: KeyId::from_bytes(key),
            circuit: CircuitId::new(circuit).unwrap(),
            profile: ProfileId::new(profile).unwrap(),
            inputs: inputs.into_iter().map(Bytes::from).collect(),
        })
}

fn frame() -> impl Strategy<Value = Frame> {
    let payload = prop_oneof![
        prop::collection::vec(any::<u8>(), 0..200)
            .prop_map(|b| FramePayload::Result(Bytes::from(b))),
        ".{0,50}".prop_map(FramePayload::Error),
    ];
    (any::<u32>(), payload).prop_map(|(index, payload)| Frame { index, payload })
}

proptest! {
    #[test]
    fn request_decoder_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
        let _ = InferRequest::decode(&Bytes::from(bytes), &LIMITS);
    }

    #[test]
    fn request_decoder_survives_corrupted_valid_bodies(
        request in request(),
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut body = request.encode().unwrap().to_vec();
        for (at, byte) in flips {
            let at = at.index(body.len());
            body[at] = byte;
        }
        let len = cut.index(body.len() + 1);
        body.truncate(len);
        if let Ok(decoded) = InferRequest::decode(&Bytes::from(body), &LIMITS) {
            prop_assert!(decoded.inputs.len() <= LIMITS.max_items);
            prop_assert!(decoded.inputs.iter().all(|i| !i.is_empty() && i.len() <= LIMITS.max_item_bytes));
        }
    }

    #[test]
    fn request_round_trips(request in request()) {
        let body = request.encode().unwrap();
        prop_assert_eq!(body.len(), request.encoded_len());
        prop_assert_eq!(InferRequest::decode(&body, &LIMITS).unwrap(), request);
    }

    #[test]
    fn frame_decoder_never_panics(
        bytes in prop::collection::vec(any::<u8>(), 0..2048),
        chunk in 1usize..64,
    ) {
        let mut decoder = FrameDecoder::new(512);
        'stream: for piece in bytes.chunks(chunk) {
            decoder.push(piece);
            loop {
                match decoder.next_frame() {
                    Ok(Some(_)) => {}
                    Ok(None) => break,
                    // A broken stream is abandoned, as a client does.
                    Err(_) => break 'stream,
                }
            }
            // Bounded by one frame plus one chunk, whatever the input.
            prop_assert!(decoder.buffered_len() <= 4 + 512 + chunk);
        }
        let _ = decoder.finish();
    }

    #[test]
    fn frames_round_trip_in_any_chunking(
        frames in prop::collection::vec(frame(), 0..10),
        chunk in 1usize..100,
    ) {
        let bytes: Vec<u8> = frames.iter().flat_map(|f| encode_frame(f).unwrap()).collect();
        let mut decoder = FrameDecoder::new(1024);
        let mut out = Vec::new();
        for piece in bytes.chunks(chunk) {
            decoder.push(piece);
            while let Some(frame) = decoder.next_frame().unwrap() {
                out.push(frame);
            }
        }
        decoder.finish().unwrap();
        prop_assert_eq!(out, frames);
    }
}
