//! Resident memory stays under the configured cap while many clients upload keys and
//! infer at once (measured from /proc, not assumed). Its own test binary, so no other
//! test's allocations are counted.

mod common;

use brainlock_api::ClientError;
use brainlock_api::ErrorCode;
use brainlock_fhe::{ClientKey, Profile};
use brainlock_miner::circuits::key_expansion_bytes;
use brainlock_testkit::rss::{RssSampler, resident_bytes};
use bytes::Bytes;
use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_concurrent_uploads_stay_under_the_memory_cap() {
    // Three distinct keys; the cache holds two expanded keys at most.
    let profile = Profile::by_id(PROFILE).unwrap();
    let extra: Vec<Bytes> = (20..22)
        .map(|seed| Bytes::from(ClientKey::generate(profile, Some(seed)).1.to_bytes()))
        .collect();
    let all_keys: Vec<Bytes> = std::iter::once(keys().eval_bytes.clone())
        .chain(extra)
        .collect();

    let mut config = test_config();
    config.limits.key_cache_bytes = 2 * profile.expanded_key_bytes() + (1 << 20);
    let cap = config.limits.memory_cap_bytes(key_expansion_bytes(profile));
    let baseline = resident_bytes();
    let sampler = RssSampler::start();
    let miner = TestMiner::start(config).await;

    // 24 uploads at once, every key 8 times, plus garbage: one slot processes keys,
    // the others are refused without their bodies being buffered.
    let mut uploads = Vec::new();
    for round in 0..8 {
        for key in &all_keys {
            let client = miner.client(validator());
            let key = key.clone();
            uploads.push(tokio::spawn(async move { client.upload_key(key).await }));
        }
        let client = miner.client(validator());
        uploads.push(tokio::spawn(async move {
            client
                .upload_key(Bytes::from(vec![round as u8; 1 << 20]))
                .await
        }));
    }
    let (mut accepted, mut busy, mut malformed) = (0, 0, 0);
    for upload in uploads {
        match upload.await.unwrap() {
            Ok(_) => accepted += 1,
            Err(error @ ClientError::Api { .. }) => match (error.status(), error.code()) {
                (Some(429), Some(ErrorCode::Busy)) => busy += 1,
                (Some(400), Some(ErrorCode::MalformedKey)) => malformed += 1,
                other => panic!("unexpected refusal {other:?}: {error}"),
            },
            Err(error) => panic!("transport error: {error}"),
        }
    }
    // Whichever upload's headers arrive first holds the slot (a real key or garbage);
    // the rest of the burst is turned away.
    assert!(
        accepted + malformed >= 1 && busy >= 1,
        "accepted {accepted}, busy {busy}, malformed {malformed}"
    );
    assert_eq!(accepted + busy + malformed, 32);

    // Every key once more, in turn: the LRU keeps two.
    let client = miner.client(validator());
    for key in &all_keys {
        client.upload_key(key.clone()).await.unwrap();
    }
    assert_eq!(miner.state.keys.len(), 2);
    assert!(miner.state.keys.used_bytes() <= miner.state.keys.cap());

    // And the server still computes.
    let key_id = client.upload_key(keys().eval_bytes.clone()).await.unwrap();
    let mut stream = client
        .infer(&infer_request(key_id, &tiny_inputs(2)))
        .await
        .unwrap();
    let mut frames = 0;
    while stream.next_frame().await.unwrap().is_some() {
        frames += 1;
    }
    assert_eq!(frames, 2);

    let peak = sampler.finish();
    let grown = peak.saturating_sub(baseline);
    eprintln!(
        "baseline {} MiB, peak {} MiB, grown {} MiB, cap {} MiB",
        baseline >> 20,
        peak >> 20,
        grown >> 20,
        cap >> 20
    );
    assert!(
        grown < cap,
        "resident memory grew by {grown} bytes, over the {cap}-byte cap"
    );
    miner.stop().await.unwrap();
}
