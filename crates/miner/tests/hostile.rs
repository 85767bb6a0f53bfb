//! Hostile and malformed requests: each gets a clear 4xx and the miner keeps serving.

mod common;

use std::time::Duration;

use brainlock_api::ClientError;
use brainlock_api::{CircuitId, ErrorCode, FramePayload, InferRequest, KeyId, ProfileId};
use brainlock_circuit::{Circuit, Shape};
use brainlock_fhe::{ClientKey, Profile};
use bytes::Bytes;
use common::*;

fn expect_api_error(
    result: Result<impl std::fmt::Debug, ClientError>,
    status: u16,
    code: ErrorCode,
) {
    match result {
        Err(error @ ClientError::Api { .. }) => {
            assert_eq!(
                (error.status(), error.code()),
                (Some(status), Some(code)),
                "{error}"
            );
        }
        other => panic!("expected {status} {code}, got {other:?}"),
    }
}

/// The miner still answers a well-formed request end to end.
async fn still_serves(miner: &TestMiner, key_id: KeyId) {
    let client = miner.client(validator());
    let inputs = tiny_inputs(1);
    let mut stream = client.infer(&infer_request(key_id, &inputs)).await.unwrap();
    let frame = stream.next_frame().await.unwrap().unwrap();
    assert!(matches!(frame.payload, FramePayload::Result(_)));
    assert!(stream.next_frame().await.unwrap().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_keys_and_requests_get_4xx() {
    let miner = TestMiner::start(test_config()).await;
    let client = miner.client(validator());
    let key_id = client.upload_key(keys().eval_bytes.clone()).await.unwrap();

    // Garbage key.
    expect_api_error(
        client
            .upload_key(Bytes::from_static(b"not a key at all"))
            .await,
        400,
        ErrorCode::MalformedKey,
    );
    // A real key truncated by one byte.
    let truncated = keys().eval_bytes.slice(..keys().eval_bytes.len() - 1);
    expect_api_error(
        client.upload_key(truncated).await,
        400,
        ErrorCode::MalformedKey,
    );
    // A key for a parameter set this miner does not serve.
    let (_, other) = ClientKey::generate(Profile::by_id("n2048-tuniform").unwrap(), Some(9));
    expect_api_error(
        client.upload_key(Bytes::from(other.to_bytes())).await,
        422,
        ErrorCode::UnknownProfile,
    );

    // Unknown key id.
    expect_api_error(
        client
            .infer(&infer_request(
                KeyId::of(b"never uploaded"),
                &tiny_inputs(1),
            ))
            .await
            .map(|_| ()),
        404,
        ErrorCode::UnknownKey,
    );
    // Unknown circuit and profile.
    let mut request = infer_request(key_id, &tiny_inputs(1));
    request.circuit = CircuitId::new("resnet50").unwrap();
    expect_api_error(
        client.infer(&request).await.map(|_| ()),
        422,
        ErrorCode::UnknownCircuit,
    );
    let mut request = infer_request(key_id, &tiny_inputs(1));
    request.profile = ProfileId::new("n1024-made-up").unwrap();
    expect_api_error(
        client.infer(&request).await.map(|_| ()),
        422,
        ErrorCode::UnknownProfile,
    );

    // Wrong-shape ciphertexts: encrypted for a 1x4x3 input instead of 1x4x4.
    let mut narrow: Circuit = tiny_circuit();
    narrow.input_shape = Shape::new(1, 4, 3);
    let mut request = infer_request(key_id, &tiny_inputs(2));
    request.inputs[1] = Bytes::from(
        keys()
            .client
            .encrypt_input(&narrow, &[0; 12])
            .unwrap()
            .to_bytes(),
    );
    expect_api_error(
        client.infer(&request).await.map(|_| ()),
        422,
        ErrorCode::WrongShape,
    );
    // A ciphertext with garbage inside.
    let mut request = infer_request(key_id, &tiny_inputs(1));
    request.inputs[0] = Bytes::from_static(b"garbage ciphertext");
    expect_api_error(
        client.infer(&request).await.map(|_| ()),
        400,
        ErrorCode::MalformedCiphertext,
    );
    // Too many items.
    let request = infer_request(key_id, &tiny_inputs(9));
    expect_api_error(
        client.infer(&request).await.map(|_| ()),
        413,
        ErrorCode::PayloadTooLarge,
    );

    // Nothing was queued or left reserved by the refused requests.
    assert_eq!(miner.state.inflight.used(), 0);
    assert_eq!(miner.state.queue.depth(), 0);
    still_serves(&miner, key_id).await;
    miner.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unauthenticated_and_unpermitted_senders_are_refused() {
    let miner = TestMiner::start(test_config()).await;
    let key_id = miner
        .client(validator())
        .upload_key(keys().eval_bytes.clone())
        .await
        .unwrap();
    let body = infer_request(key_id, &tiny_inputs(1)).encode().unwrap();
    let http = reqwest::Client::new();

    // No Epistula headers at all.
    for (method, route) in [
        ("POST", "/v1/infer"),
        ("PUT", "/v1/keys"),
        ("GET", "/v1/info"),
    ] {
        let response = http
            .request(method.parse().unwrap(), format!("{}{route}", miner.url()))
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "{method} {route}");
        let error: brainlock_api::ErrorBody = response.json().await.unwrap();
        assert_eq!(error.code, ErrorCode::BadRequest);
        assert!(
            error.message.contains("missing header"),
            "{}",
            error.message
        );
    }

    // Registered, but neither a validator nor staked enough.
    expect_api_error(
        miner.client(outsider()).info().await,
        403,
        ErrorCode::Forbidden,
    );
    // Not registered at all.
    expect_api_error(
        miner
            .client(keypair(42))
            .upload_key(keys().eval_bytes.clone())
            .await,
        403,
        ErrorCode::Forbidden,
    );

    // Signed for another miner.
    let wrong_receiver = brainlock_api::MinerClient::new(
        miner.url(),
        keypair(43).account_id(),
        validator(),
        reqwest::Client::new(),
    );
    expect_api_error(wrong_receiver.info().await, 401, ErrorCode::Unauthenticated);

    // A body that does not match its signature.
    let signer = brainlock_epistula::SignedClient::new(validator(), reqwest::Client::new());
    let signed = signer.request(
        reqwest::Method::POST,
        &format!("{}/v1/infer", miner.url()),
        &miner.hotkey,
        Bytes::from_static(b"what was signed"),
    );
    let response = signed.request.body(body.clone()).send().await.unwrap();
    assert_eq!(response.status(), 401);

    // A replayed request (same uuid and signature).
    let signed = signer.request(
        reqwest::Method::GET,
        &format!("{}/v1/info", miner.url()),
        &miner.hotkey,
        Bytes::new(),
    );
    let replay = signed.request.try_clone().unwrap();
    assert_eq!(signed.request.send().await.unwrap().status(), 200);
    assert_eq!(replay.send().await.unwrap().status(), 401);

    // Unknown route and wrong method: JSON 4xx.
    let response = http
        .get(format!("{}/v2/nothing", miner.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    let response = http
        .get(format!("{}/v1/infer", miner.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 405);

    still_serves(&miner, key_id).await;
    miner.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversize_bodies_are_refused_before_they_are_read() {
    let miner = TestMiner::start(test_config()).await;
    let client = miner.client(validator());
    let key_id = client.upload_key(keys().eval_bytes.clone()).await.unwrap();

    // Over the 1 MiB infer body limit, declared by Content-Length.
    let big = InferRequest {
        key_id,
        circuit: CircuitId::new("test-tiny").unwrap(),
        profile: ProfileId::new(PROFILE).unwrap(),
        inputs: vec![Bytes::from(vec![7u8; 2 << 20])],
    };
    expect_api_error(
        client.infer(&big).await.map(|_| ()),
        413,
        ErrorCode::PayloadTooLarge,
    );
    // Over the key limit.
    expect_api_error(
        client.upload_key(Bytes::from(vec![0u8; 65 << 20])).await,
        413,
        ErrorCode::PayloadTooLarge,
    );

    // Over the limit with no Content-Length (chunked): cut off while streaming.
    let chunks: Vec<Result<Bytes, std::io::Error>> = (0..40)
        .map(|_| Ok(Bytes::from(vec![1u8; 64 << 10])))
        .collect();
    let signer = brainlock_epistula::SignedClient::new(validator(), reqwest::Client::new());
    // The signature covers an empty body, but the size check comes first.
    let signed = signer.request(
        reqwest::Method::POST,
        &format!("{}/v1/infer", miner.url()),
        &miner.hotkey,
        Bytes::new(),
    );
    let response = signed
        .request
        .body(reqwest::Body::wrap_stream(futures_util::stream::iter(
            chunks,
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);

    still_serves(&miner, key_id).await;
    miner.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_queue_answers_429_with_retry_after() {
    let mut config = test_config();
    config.limits.queue_items = 8;
    let miner = TestMiner::start(config).await;
    let client = miner.client(validator());
    let key_id = client.upload_key(keys().eval_bytes.clone()).await.unwrap();

    // One worker: the first request's 8 items fill the queue while it computes.
    let mut first = client
        .infer(&infer_request(key_id, &tiny_inputs(8)))
        .await
        .unwrap();
    let refused = client.infer(&infer_request(key_id, &tiny_inputs(2))).await;
    expect_api_error(refused.map(|_| ()), 429, ErrorCode::Busy);

    let signer = brainlock_epistula::SignedClient::new(validator(), reqwest::Client::new());
    let body = infer_request(key_id, &tiny_inputs(8)).encode().unwrap();
    let signed = signer.request(
        reqwest::Method::POST,
        &format!("{}/v1/infer", miner.url()),
        &miner.hotkey,
        body,
    );
    let response = signed.request.send().await.unwrap();
    assert_eq!(response.status(), 429);
    assert_eq!(response.headers()["retry-after"], "2");

    // Dropping the first stream cancels its remaining items.
    assert!(first.next_frame().await.unwrap().is_some());
    drop(first);
    // The miner notices the closed connection at its next frame; under load that can
    // take a while, so wait for the queue to drain rather than a fixed time.
    let waited = std::time::Instant::now();
    while miner.state.queue.depth() > 0 && waited.elapsed() < Duration::from_secs(60) {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(miner.state.queue.depth(), 0);
    assert!(
        miner.state.metrics.items_completed() < 8,
        "cancelled items were computed"
    );
    still_serves(&miner, key_id).await;
    miner.stop().await.unwrap();
}

/// Sends the signed headers of `route` over raw TCP, then `body` one byte every 200 ms;
/// returns the status line and the body of whatever the miner answers.
async fn trickle_request(miner: &TestMiner, route: &str, body: Bytes) -> (String, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let method = if route == brainlock_api::routes::KEYS {
        reqwest::Method::PUT
    } else {
        reqwest::Method::POST
    };
    let signed = brainlock_epistula::SignedClient::new(validator(), reqwest::Client::new())
        .request(
            method.clone(),
            &format!("{}{route}", miner.url()),
            &miner.hotkey,
            body.clone(),
        )
        .request
        .build()
        .unwrap();
    let mut head = format!(
        "{method} {route} HTTP/1.1\r\nhost: {}\r\ncontent-length: {}\r\n",
        miner.addr,
        body.len()
    );
    for (name, value) in signed.headers() {
        if name != "content-length" {
            head.push_str(&format!("{name}: {}\r\n", value.to_str().unwrap()));
        }
    }
    head.push_str("\r\n");
    let mut socket = tokio::net::TcpStream::connect(miner.addr).await.unwrap();
    socket.write_all(head.as_bytes()).await.unwrap();
    let (mut reader, mut writer) = socket.into_split();
    let trickler = tokio::spawn(async move {
        for byte in body.iter() {
            tokio::time::sleep(Duration::from_millis(200)).await;
            if writer.write_all(&[*byte]).await.is_err() {
                return;
            }
        }
    });
    let mut answer = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        match reader.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(n) => answer.extend_from_slice(&chunk[..n]),
        }
        if let Some(end) = answer.windows(4).position(|w| w == b"\r\n\r\n") {
            let text = String::from_utf8_lossy(&answer).to_string();
            let length: usize = text[..end]
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length: ")
                        .map(|v| v.trim().parse().unwrap())
                })
                .unwrap_or(0);
            if answer.len() >= end + 4 + length {
                break;
            }
        }
    }
    trickler.abort();
    let text = String::from_utf8_lossy(&answer).to_string();
    let status = text.lines().next().unwrap_or_default().to_string();
    let body = text
        .split("\r\n\r\n")
        .nth(1)
        .unwrap_or_default()
        .to_string();
    (status, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trickled_bodies_get_408_and_release_their_slot() {
    let mut config = test_config();
    config.limits.concurrent_key_uploads = Some(1);
    config.limits.body_read_timeout = Duration::from_secs(1);
    let miner = TestMiner::start(config).await;

    // A key upload that trickles: 408 body_timeout after the timeout, not when the
    // (tens of megabytes of) body would have arrived.
    let started = std::time::Instant::now();
    let (status, body) = trickle_request(
        &miner,
        brainlock_api::routes::KEYS,
        keys().eval_bytes.clone(),
    )
    .await;
    let took = started.elapsed();
    assert!(status.contains(" 408 "), "{status}: {body}");
    let error = brainlock_api::ErrorBody::from_json(body.as_bytes()).unwrap();
    assert_eq!(error.code, ErrorCode::BodyTimeout, "{body}");
    assert!(took < Duration::from_secs(5), "answered after {took:?}");

    // Its slot is free again: the only key-upload slot takes a real key at once.
    let client = miner.client(validator());
    let key_id = client.upload_key(keys().eval_bytes.clone()).await.unwrap();

    // The same for an infer request, which also releases its reserved memory.
    let request = infer_request(key_id, &tiny_inputs(1)).encode().unwrap();
    let (status, body) = trickle_request(&miner, brainlock_api::routes::INFER, request).await;
    assert!(status.contains(" 408 "), "{status}: {body}");
    assert!(body.contains("body_timeout"), "{body}");
    assert_eq!(miner.state.inflight.used(), 0);
    still_serves(&miner, key_id).await;
    miner.stop().await.unwrap();
}
