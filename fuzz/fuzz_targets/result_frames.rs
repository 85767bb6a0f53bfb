//! A miner's stream of result frames, as the validator and customers read it, cut into
//! chunks where the input says (the first byte is the chunk length).
#![no_main]

use brainlock_api::FrameDecoder;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&chunk, stream)) = data.split_first() else {
        return;
    };
    let mut decoder = FrameDecoder::new(1 << 16);
    for piece in stream.chunks(usize::from(chunk).max(1)) {
        decoder.push(piece);
        loop {
            match decoder.next_frame() {
                Ok(Some(_)) => continue,
                Ok(None) => break,
                Err(_) => return,
            }
        }
    }
});
