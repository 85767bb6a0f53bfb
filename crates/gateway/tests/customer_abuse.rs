//! The gateway against customers that misbehave: every refusal is a clear 4xx and
//! nothing reaches the relay; a well-formed request reaches it byte for byte, keys
//! serve one session on one miner, and canary reports move the customer elsewhere.

use std::sync::{Arc, Mutex, OnceLock};

use axum::Router;
use axum::body::{Body, to_bytes};
use axum::http::{Request, StatusCode, header};
use brainlock_api::{
    CanaryReceipt, CanaryReport, CircuitId, ErrorBody, ErrorCode, Frame, FrameDecoder,
    FramePayload, GatewayInfo, InferRequest, KeyId, KeyUploadResponse, ProfileId, routes,
};
use brainlock_circuit::Circuit;
use brainlock_circuit::test_tiny;
use brainlock_epistula::headers::now_ms;
use brainlock_epistula::{AccountId, CryptoType, Keypair, SignedHeaders};
use brainlock_fhe::{ClientKey, Profile};
use brainlock_gateway::{
    CustomerConfig, GatewayConfig, GatewayLimits, GatewayState, QuotaConfig, Relay, RelayError,
    RelayRequest, Relayed, SessionModel, SessionPolicy, Workload, hash_api_key, router,
};
use bytes::Bytes;
use tower::ServiceExt;

const ALICE_KEY: &str = "blk_alice";
const BOB_KEY: &str = "blk_bob";

/// The miners behind the test relay, in its order of preference.
const MINERS: [AccountId; 2] = [AccountId([51; 32]), AccountId([52; 32])];

/// A relay that records what it was asked and answers with canned frames, from the
/// session's holder or else the first of [`MINERS`] the route allows.
#[derive(Default)]
struct RecordingRelay {
    seen: Mutex<Vec<RelayRequest>>,
    suspects: Mutex<Vec<AccountId>>,
    /// When set, the stream fails after the first frame.
    fail_midway: bool,
}

impl Relay for RecordingRelay {
    async fn relay(&self, request: RelayRequest) -> Result<Relayed, RelayError> {
        let count = request.inputs.len();
        let route = request.route.clone();
        let miner = route
            .holder
            .into_iter()
            .chain(MINERS)
            .find(|m| !route.avoid.contains(m))
            .ok_or_else(|| RelayError::NoMiner("every miner is avoided".into()))?;
        self.seen.lock().unwrap().push(request);
        let mut items: Vec<Result<Frame, RelayError>> = vec![Ok(Frame {
            index: 0,
            payload: FramePayload::Result(Bytes::from_static(b"encrypted answer 0")),
        })];
        if self.fail_midway {
            items.push(Err(RelayError::Miner("connection reset".into())));
        } else {
            for index in 1..count {
                items.push(Ok(Frame {
                    index: index as u32,
                    payload: FramePayload::Result(Bytes::from(vec![index as u8])),
                }));
            }
        }
        Ok(Relayed {
            miner,
            frames: Box::pin(futures_util::stream::iter(items)),
        })
    }

    fn suspect(&self, miner: AccountId) {
        self.suspects.lock().unwrap().push(miner);
    }
}

struct Fixture {
    circuit: Arc<Circuit>,
    profile: &'static Profile,
    key: Bytes,
    input: Bytes,
}

/// One real key and ciphertext for the whole file: key generation takes seconds.
fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let circuit = Arc::new(test_tiny());
        let profile = Profile::default_for(&circuit.id);
        let (client, compressed) = ClientKey::generate(profile, Some(7));
        let values = vec![1i64; circuit.input_shape.len()];
        let input = client
            .encrypt_input_seeded(&circuit, &values, Some(8))
            .unwrap();
        Fixture {
            key: Bytes::from(compressed.to_bytes()),
            input: Bytes::from(input.to_bytes()),
            circuit,
            profile,
        }
    })
}

fn customer_hotkey() -> Keypair {
    Keypair::from_seed(CryptoType::Sr25519, &[3; 32])
}

fn gateway_hotkey() -> Keypair {
    Keypair::from_seed(CryptoType::Sr25519, &[4; 32])
}

fn config(limits: GatewayLimits) -> GatewayConfig {
    GatewayConfig {
        limits,
        quota: QuotaConfig {
            requests_per_hour: 100,
            items_per_hour: 100,
            max_inflight: 2,
        },
        customers: vec![
            CustomerConfig {
                name: "alice".into(),
                api_key_sha256: Some(hash_api_key(ALICE_KEY)),
                hotkey: None,
                quota: None,
            },
            CustomerConfig {
                name: "bob".into(),
                api_key_sha256: Some(hash_api_key(BOB_KEY)),
                hotkey: None,
                quota: Some(QuotaConfig {
                    requests_per_hour: 2,
                    items_per_hour: 100,
                    max_inflight: 1,
                }),
            },
            CustomerConfig {
                name: "carol".into(),
                api_key_sha256: None,
                hotkey: Some(customer_hotkey().account_id().to_ss58()),
                quota: None,
            },
        ],
        reports: Default::default(),
    }
}

fn default_limits() -> GatewayLimits {
    GatewayLimits {
        max_batch: 2,
        exact_batch: false,
        ..GatewayLimits::default()
    }
}

fn gateway(limits: GatewayLimits, relay: Arc<RecordingRelay>) -> Router {
    let f = fixture();
    let workload = Workload {
        circuit: f.circuit.clone(),
        profile: f.profile,
    };
    router(
        GatewayState::new(
            config(limits),
            gateway_hotkey().account_id(),
            workload,
            SessionModel::new(SessionPolicy {
                max_requests: 3,
                ..SessionPolicy::default()
            }),
            relay,
        )
        .unwrap(),
    )
}

fn put_key(api_key: Option<&str>, body: Bytes) -> Request<Body> {
    let mut builder = Request::put(routes::KEYS).header(header::CONTENT_LENGTH, body.len());
    if let Some(key) = api_key {
        builder = builder.header(header::AUTHORIZATION, format!("Bearer {key}"));
    }
    builder.body(Body::from(body)).unwrap()
}

fn post_infer(api_key: &str, body: Bytes) -> Request<Body> {
    Request::post(routes::INFER)
        .header(header::AUTHORIZATION, format!("Bearer {api_key}"))
        .header(header::CONTENT_LENGTH, body.len())
        .body(Body::from(body))
        .unwrap()
}

fn infer_body(key_id: KeyId, circuit: &str, profile: &str, inputs: Vec<Bytes>) -> Bytes {
    InferRequest {
        key_id,
        circuit: CircuitId::new(circuit).unwrap(),
        profile: ProfileId::new(profile).unwrap(),
        inputs,
    }
    .encode()
    .unwrap()
}

async fn send(app: &Router, request: Request<Body>) -> (StatusCode, Bytes) {
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    (
        status,
        to_bytes(response.into_body(), usize::MAX).await.unwrap(),
    )
}

async fn expect_error(app: &Router, request: Request<Body>, status: u16, code: &str) -> String {
    let (got, body) = send(app, request).await;
    let text = String::from_utf8_lossy(&body).into_owned();
    assert_eq!(got.as_u16(), status, "{text}");
    let json: serde_json::Value =
        serde_json::from_slice(&body).unwrap_or_else(|_| panic!("not JSON: {text}"));
    assert_eq!(json["code"], code, "{text}");
    assert!(!json["message"].as_str().unwrap().is_empty());
    text
}

async fn upload(app: &Router, api_key: &str) -> KeyId {
    let (status, body) = send(app, put_key(Some(api_key), fixture().key.clone())).await;
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
    let KeyUploadResponse { key_id } = serde_json::from_slice(&body).unwrap();
    assert_eq!(key_id, KeyId::of(&fixture().key));
    key_id
}

fn frames(body: &[u8]) -> Vec<Frame> {
    let mut decoder = FrameDecoder::new(1 << 20);
    decoder.push(body);
    let mut out = Vec::new();
    while let Some(frame) = decoder.next_frame().unwrap() {
        out.push(frame);
    }
    decoder.finish().unwrap();
    out
}

/// The gateway's `GET /v1/info`, which must answer.
async fn gateway_info(app: &Router) -> GatewayInfo {
    let (status, body) = send(app, Request::get(routes::INFO).body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    serde_json::from_slice(&body).unwrap()
}

fn profile_id() -> &'static str {
    fixture().profile.id
}

#[tokio::test]
async fn honest_customer_is_relayed_byte_for_byte() {
    let relay = Arc::new(RecordingRelay::default());
    let app = gateway(default_limits(), relay.clone());

    let info = gateway_info(&app).await;
    assert_eq!(info.hotkey, gateway_hotkey().account_id().to_ss58());
    assert_eq!(info.circuits, [CircuitId::new("test-tiny").unwrap()]);
    assert_eq!(info.limits.max_batch, 2);

    let key_id = upload(&app, ALICE_KEY).await;
    let inputs = vec![fixture().input.clone(), fixture().input.clone()];
    let (status, body) = send(
        &app,
        post_infer(
            ALICE_KEY,
            infer_body(key_id, "test-tiny", profile_id(), inputs.clone()),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let frames = frames(&body);
    assert_eq!(frames.len(), 2);
    assert_eq!(
        frames[0].payload,
        FramePayload::Result(Bytes::from_static(b"encrypted answer 0"))
    );

    let seen = relay.seen.lock().unwrap();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].customer, "alice");
    assert_eq!(seen[0].key_bytes, fixture().key);
    assert_eq!(seen[0].key_id, key_id);
    assert_eq!(seen[0].inputs, inputs);
}

#[tokio::test]
async fn unauthenticated_requests_are_refused_before_reading() {
    let relay = Arc::new(RecordingRelay::default());
    let app = gateway(default_limits(), relay.clone());
    expect_error(
        &app,
        put_key(None, fixture().key.clone()),
        401,
        "unauthenticated",
    )
    .await;
    expect_error(
        &app,
        put_key(Some("blk_wrong"), fixture().key.clone()),
        401,
        "unauthenticated",
    )
    .await;
    let body = infer_body(
        KeyId::of(b"k"),
        "test-tiny",
        profile_id(),
        vec![fixture().input.clone()],
    );
    expect_error(&app, post_infer("blk_wrong", body), 401, "unauthenticated").await;
    // Epistula from a hotkey nobody admitted.
    let stranger = Keypair::from_seed(CryptoType::Sr25519, &[9; 32]);
    let signed = SignedHeaders::sign(
        &stranger,
        &fixture().key,
        &gateway_hotkey().account_id(),
        now_ms(),
    );
    let mut request = put_key(None, fixture().key.clone());
    request.headers_mut().extend(signed.to_header_map());
    expect_error(&app, request, 403, "forbidden").await;
    assert!(relay.seen.lock().unwrap().is_empty());
}

#[tokio::test]
async fn admitted_hotkey_signs_its_way_through() {
    let relay = Arc::new(RecordingRelay::default());
    let app = gateway(default_limits(), relay.clone());
    let me = gateway_hotkey().account_id();
    let key = fixture().key.clone();
    let signed = SignedHeaders::sign(&customer_hotkey(), &key, &me, now_ms());
    let mut request = put_key(None, key.clone());
    request.headers_mut().extend(signed.to_header_map());
    let (status, _) = send(&app, request).await;
    assert_eq!(status, StatusCode::OK);

    let body = infer_body(
        KeyId::of(&key),
        "test-tiny",
        profile_id(),
        vec![fixture().input.clone()],
    );
    // A signature over another body does not pass.
    let forged = SignedHeaders::sign(&customer_hotkey(), b"other", &me, now_ms());
    let mut request = Request::post(routes::INFER)
        .body(Body::from(body.clone()))
        .unwrap();
    request.headers_mut().extend(forged.to_header_map());
    expect_error(&app, request, 401, "unauthenticated").await;

    let signed = SignedHeaders::sign(&customer_hotkey(), &body, &me, now_ms());
    let mut request = Request::post(routes::INFER).body(Body::from(body)).unwrap();
    request.headers_mut().extend(signed.to_header_map());
    let (status, _) = send(&app, request).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(relay.seen.lock().unwrap()[0].customer, "carol");
}

#[tokio::test]
async fn oversize_uploads_and_batches_are_refused() {
    let relay = Arc::new(RecordingRelay::default());
    let limits = GatewayLimits {
        max_key_bytes: fixture().key.len() as u64 - 1,
        max_batch: 1,
        ..default_limits()
    };
    let app = gateway(limits, relay.clone());
    expect_error(
        &app,
        put_key(Some(ALICE_KEY), fixture().key.clone()),
        413,
        "payload_too_large",
    )
    .await;
    // A body without Content-Length is cut off at the limit too.
    let request = Request::put(routes::KEYS)
        .header(header::AUTHORIZATION, format!("Bearer {ALICE_KEY}"))
        .body(Body::from_stream(futures_util::stream::iter([Ok::<
            _,
            std::io::Error,
        >(
            fixture().key.clone(),
        )])))
        .unwrap();
    expect_error(&app, request, 413, "payload_too_large").await;

    let app = gateway(
        GatewayLimits {
            max_batch: 1,
            ..default_limits()
        },
        relay.clone(),
    );
    let key_id = upload(&app, ALICE_KEY).await;
    let two = vec![fixture().input.clone(), fixture().input.clone()];
    expect_error(
        &app,
        post_infer(
            ALICE_KEY,
            infer_body(key_id, "test-tiny", profile_id(), two),
        ),
        413,
        "payload_too_large",
    )
    .await;
    // With exact batches (the default), a short batch would stand out: refused too.
    let app = gateway(
        GatewayLimits {
            max_batch: 2,
            ..GatewayLimits::default()
        },
        relay.clone(),
    );
    let key_id = upload(&app, ALICE_KEY).await;
    let one = vec![fixture().input.clone()];
    let text = expect_error(
        &app,
        post_infer(
            ALICE_KEY,
            infer_body(key_id, "test-tiny", profile_id(), one),
        ),
        422,
        "wrong_shape",
    )
    .await;
    assert!(text.contains("exactly 2"), "{text}");
    assert!(relay.seen.lock().unwrap().is_empty());
}

#[tokio::test]
async fn wrong_circuit_profile_key_or_ciphertext_is_refused() {
    let relay = Arc::new(RecordingRelay::default());
    let app = gateway(default_limits(), relay.clone());
    let key_id = upload(&app, ALICE_KEY).await;
    let input = || vec![fixture().input.clone()];

    let text = expect_error(
        &app,
        post_infer(ALICE_KEY, infer_body(key_id, "vgg9", profile_id(), input())),
        422,
        "unknown_circuit",
    )
    .await;
    assert!(text.contains("test-tiny"), "{text}");
    let other_profile = Profile::all()
        .iter()
        .find(|p| p.id != profile_id())
        .unwrap()
        .id;
    expect_error(
        &app,
        post_infer(
            ALICE_KEY,
            infer_body(key_id, "test-tiny", other_profile, input()),
        ),
        422,
        "unknown_profile",
    )
    .await;
    // Bob cannot use Alice's key, and unknown keys are unknown.
    expect_error(
        &app,
        post_infer(
            BOB_KEY,
            infer_body(key_id, "test-tiny", profile_id(), input()),
        ),
        404,
        "unknown_key",
    )
    .await;
    // A ciphertext of the wrong size for the circuit, and garbage.
    let mut short = fixture().input.to_vec();
    short.truncate(short.len() - 8);
    expect_error(
        &app,
        post_infer(
            ALICE_KEY,
            infer_body(key_id, "test-tiny", profile_id(), vec![Bytes::from(short)]),
        ),
        400,
        "malformed_ciphertext",
    )
    .await;
    expect_error(
        &app,
        post_infer(
            ALICE_KEY,
            infer_body(
                key_id,
                "test-tiny",
                profile_id(),
                vec![Bytes::from_static(b"junk")],
            ),
        ),
        400,
        "malformed_ciphertext",
    )
    .await;
    expect_error(
        &app,
        post_infer(ALICE_KEY, Bytes::from_static(b"not a request")),
        400,
        "bad_request",
    )
    .await;
    // A key that is not a key.
    expect_error(
        &app,
        put_key(Some(ALICE_KEY), Bytes::from_static(b"BLEKjunk")),
        400,
        "malformed_key",
    )
    .await;
    assert!(relay.seen.lock().unwrap().is_empty());
}

#[tokio::test]
async fn quotas_are_enforced_per_customer() {
    let relay = Arc::new(RecordingRelay::default());
    let app = gateway(default_limits(), relay.clone());
    // Bob: two requests per hour. (Both hold the fixture's one key: a test shortcut.)
    let key_id = upload(&app, BOB_KEY).await;
    upload(&app, ALICE_KEY).await;
    let body = infer_body(
        key_id,
        "test-tiny",
        profile_id(),
        vec![fixture().input.clone()],
    );
    let (status, _) = send(&app, post_infer(BOB_KEY, body.clone())).await;
    assert_eq!(status, StatusCode::OK);
    let text = expect_error(
        &app,
        post_infer(BOB_KEY, body.clone()),
        429,
        "quota_exceeded",
    )
    .await;
    assert!(text.contains("2 per hour"), "{text}");
    assert_eq!(relay.seen.lock().unwrap().len(), 1);
    // Alice is not affected.
    let (status, _) = send(&app, post_infer(ALICE_KEY, body)).await;
    assert_eq!(status, StatusCode::OK);
    // The quota error is one of the API's codes, which every client parses.
    let parsed = ErrorBody::from_json(
        br#"{"code":"quota_exceeded","message":"request quota of 2 per hour spent"}"#,
    )
    .unwrap();
    assert_eq!(parsed.code, ErrorCode::QuotaExceeded);
}

#[tokio::test]
async fn a_relay_failing_midway_answers_every_item() {
    let relay = Arc::new(RecordingRelay {
        fail_midway: true,
        ..Default::default()
    });
    let app = gateway(default_limits(), relay.clone());
    let key_id = upload(&app, ALICE_KEY).await;
    let inputs = vec![fixture().input.clone(), fixture().input.clone()];
    let (status, body) = send(
        &app,
        post_infer(
            ALICE_KEY,
            infer_body(key_id, "test-tiny", profile_id(), inputs),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let frames = frames(&body);
    assert_eq!(frames.len(), 2);
    assert!(
        matches!(&frames[1].payload, FramePayload::Error(m) if m.contains("connection reset")),
        "{frames:?}"
    );
    // The in-flight slot was released: the next request goes through.
    let inputs = vec![fixture().input.clone()];
    let (status, _) = send(
        &app,
        post_infer(
            ALICE_KEY,
            infer_body(key_id, "test-tiny", profile_id(), inputs),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
}

fn post_report(api_key: &str, report: &CanaryReport) -> Request<Body> {
    let body = serde_json::to_vec(report).unwrap();
    Request::post(routes::REPORTS)
        .header(header::AUTHORIZATION, format!("Bearer {api_key}"))
        .header(header::CONTENT_LENGTH, body.len())
        .body(Body::from(body))
        .unwrap()
}

#[tokio::test]
async fn a_key_serves_one_session_and_a_canary_report_moves_it() {
    let relay = Arc::new(RecordingRelay::default());
    let app = gateway(default_limits(), relay.clone());
    let info = gateway_info(&app).await;
    assert_eq!(info.limits.max_requests_per_key, 3);

    let key_id = upload(&app, ALICE_KEY).await;
    let infer = || {
        post_infer(
            ALICE_KEY,
            infer_body(
                key_id,
                "test-tiny",
                profile_id(),
                vec![fixture().input.clone()],
            ),
        )
    };
    let report = |failed| CanaryReport {
        key_id,
        canaries: 2,
        failed,
    };
    // Nothing served yet: nothing to report.
    expect_error(&app, post_report(ALICE_KEY, &report(1)), 404, "unknown_key").await;
    for _ in 0..2 {
        let (status, _) = send(&app, infer()).await;
        assert_eq!(status, StatusCode::OK);
    }
    {
        let seen = relay.seen.lock().unwrap();
        assert_eq!(
            seen[0].route.holder, None,
            "the first request draws a miner"
        );
        assert_eq!(seen[1].route.holder, Some(MINERS[0]), "the next stay there");
    }
    // Reports of nothing, of more than was checked, of another's session: refused.
    expect_error(&app, post_report(ALICE_KEY, &report(0)), 400, "bad_request").await;
    expect_error(&app, post_report(ALICE_KEY, &report(3)), 400, "bad_request").await;
    expect_error(&app, post_report(BOB_KEY, &report(1)), 404, "unknown_key").await;
    assert!(relay.suspects.lock().unwrap().is_empty());

    let (status, body) = send(&app, post_report(ALICE_KEY, &report(1))).await;
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
    let receipt: CanaryReceipt = serde_json::from_slice(&body).unwrap();
    assert!(receipt.miner_avoided);
    assert_eq!(*relay.suspects.lock().unwrap(), [MINERS[0]]);
    // The session's last request goes elsewhere, with the key.
    let (status, _) = send(&app, infer()).await;
    assert_eq!(status, StatusCode::OK);
    {
        let seen = relay.seen.lock().unwrap();
        assert_eq!(seen[2].route.holder, None);
        assert_eq!(seen[2].route.avoid, [MINERS[0]]);
    }
    // Three requests were the session's allowance.
    let text = expect_error(&app, infer(), 404, "unknown_key").await;
    assert!(text.contains("3 requests"), "{text}");
    // One key, one session: uploading it again is refused.
    let (status, _) = send(&app, put_key(Some(ALICE_KEY), fixture().key.clone())).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(relay.seen.lock().unwrap().len(), 3);
}
