//! End to end over loopback: a signed client uploads a key, streams a batch through
//! the miner and decrypts results that equal the clear simulation.

mod common;

use std::time::Duration;

use brainlock_api::FramePayload;
use brainlock_circuit::Simulator;
use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_client_streams_results_that_match_the_simulation() {
    let miner = TestMiner::start(test_config()).await;
    let client = miner.client(validator());

    let info = client.info().await.unwrap();
    assert_eq!(info.hotkey, miner.hotkey.to_ss58());
    assert_eq!(info.circuits[0].as_str(), "test-tiny");
    assert_eq!(info.profiles[0].as_str(), PROFILE);

    let key_id = client.upload_key(keys().eval_bytes.clone()).await.unwrap();
    // Uploading the same key again is idempotent and cheap.
    assert_eq!(
        client.upload_key(keys().eval_bytes.clone()).await.unwrap(),
        key_id
    );
    assert_eq!(miner.state.keys.len(), 1);
    assert_eq!(
        miner.state.keys.used_bytes(),
        profile().expanded_key_bytes()
    );

    let inputs = tiny_inputs(4);
    let mut stream = client.infer(&infer_request(key_id, &inputs)).await.unwrap();
    let circuit = tiny_circuit();
    let simulator = Simulator::new(&circuit).unwrap();
    let mut seen = [false; 4];
    let mut completed_at_first_frame = None;
    while let Some(frame) = stream.next_frame().await.unwrap() {
        // One worker computes the items one after the other: when the first frame
        // arrives, the last item cannot have been computed yet.
        completed_at_first_frame.get_or_insert(miner.state.metrics.items_completed());
        let index = frame.index as usize;
        assert!(!seen[index], "item {index} answered twice");
        seen[index] = true;
        let FramePayload::Result(payload) = frame.payload else {
            panic!("item {index}: {:?}", frame.payload)
        };
        let expected = simulator.run(&inputs[index]).unwrap();
        assert_eq!(decrypt(&payload), expected, "item {index}");
    }
    assert_eq!(seen, [true; 4]);
    let first = completed_at_first_frame.unwrap();
    assert!(
        first < 4,
        "the first frame arrived after all {first} items were computed"
    );

    // Memory reserved for the request is all given back once it has streamed.
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(miner.state.inflight.used(), 0);

    let metrics_url = format!("http://{}/metrics", miner.metrics_addr.unwrap());
    let metrics = reqwest::get(metrics_url)
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("brainlock_miner_requests_total{route=\"/v1/infer\",status=\"200\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("brainlock_miner_requests_total{route=\"/v1/keys\",status=\"200\"} 2")
    );
    assert!(metrics.contains("brainlock_miner_lookups_total 128"));
    assert!(metrics.contains("brainlock_miner_infer_seconds_count 1"));
    assert!(metrics.contains(&format!(
        "brainlock_miner_key_cache_bytes {}",
        profile().expanded_key_bytes()
    )));
    let health = reqwest::get(format!("{}/healthz", miner.url()))
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    // Metrics are for the operator, not served to the miner's peers.
    let public = reqwest::get(format!("{}/metrics", miner.url()))
        .await
        .unwrap();
    assert_eq!(public.status(), 404);

    miner.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_finishes_admitted_work() {
    let miner = TestMiner::start(test_config()).await;
    let client = miner.client(validator());
    let key_id = client.upload_key(keys().eval_bytes.clone()).await.unwrap();
    let inputs = tiny_inputs(2);
    let mut stream = client.infer(&infer_request(key_id, &inputs)).await.unwrap();
    let url = miner.url();
    let stopped = tokio::spawn(miner.stop());
    let mut frames = 0;
    while let Some(frame) = stream.next_frame().await.unwrap() {
        assert!(matches!(frame.payload, FramePayload::Result(_)));
        frames += 1;
    }
    assert_eq!(frames, 2);
    stopped.await.unwrap().unwrap();
    // The listener is gone.
    assert!(reqwest::get(format!("{url}/healthz")).await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_deadline_answers_error_frames() {
    let mut config = test_config();
    // Expired before any worker can pick the items up.
    config.limits.request_deadline = Duration::from_nanos(1);
    let miner = TestMiner::start(config).await;
    let client = miner.client(validator());
    let key_id = client.upload_key(keys().eval_bytes.clone()).await.unwrap();
    let mut stream = client
        .infer(&infer_request(key_id, &tiny_inputs(3)))
        .await
        .unwrap();
    let mut errors = 0;
    while let Some(frame) = stream.next_frame().await.unwrap() {
        let FramePayload::Error(message) = frame.payload else {
            panic!("item {} was computed", frame.index)
        };
        assert!(message.starts_with("deadline_exceeded"), "{message}");
        errors += 1;
    }
    assert_eq!(errors, 3);
    assert_eq!(miner.state.metrics.items_completed(), 0);
    miner.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn newly_registered_validators_are_admitted_after_a_refresh() {
    let mut config = test_config();
    config.auth.metagraph_refresh = Duration::from_millis(100);
    let miner = TestMiner::start(config).await;
    let newcomer = keypair(50);
    let client = miner.client(newcomer.clone());
    assert_eq!(client.info().await.unwrap_err().status(), Some(403));
    miner
        .registry
        .register(brainlock_chain::Registration {
            hotkey: newcomer.account_id(),
            coldkey: None,
            role: brainlock_chain::Role::Validator,
            stake: 0.0,
        })
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(client.info().await.unwrap().hotkey, miner.hotkey.to_ss58());
    miner.stop().await.unwrap();
}
