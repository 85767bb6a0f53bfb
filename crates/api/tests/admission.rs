//! Every way a signed request is refused by the one admission path both servers use
//! (`brainlock_api::server::admit_signed`): status, JSON code, and that the body is not
//! read when the headers already fail.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Request, StatusCode, header};
use axum::routing::post;
use brainlock_api::server::{ApiError, BodyLimit, admit_signed};
use brainlock_epistula::headers::{self, now_ms};
use brainlock_epistula::{AccountId, AllowList, CryptoType, Keypair, SignedHeaders, Verifier};
use bytes::Bytes;
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

const LIMIT: u64 = 1024;
const BODY_LIMIT: BodyLimit = BodyLimit {
    max_bytes: LIMIT as usize,
    timeout: Duration::from_secs(30),
};

struct Setup {
    app: Router,
    sender: Keypair,
    me: AccountId,
}

/// A route that admits the request and echoes who sent how many bytes.
async fn echo(
    State(verifier): State<Arc<Verifier>>,
    request: Request<Body>,
) -> Result<String, ApiError> {
    let (parts, body) = request.into_parts();
    let (sender, body) = admit_signed(&verifier, &parts.headers, body, BODY_LIMIT, "test").await?;
    Ok(format!("{} {}", sender.sender, body.len()))
}

fn app(verifier: Verifier) -> Router {
    Router::new()
        .route("/echo", post(echo))
        .with_state(Arc::new(verifier))
}

fn setup() -> Setup {
    let sender = Keypair::from_seed(CryptoType::Sr25519, &[1; 32]);
    let me = Keypair::from_seed(CryptoType::Sr25519, &[2; 32]).account_id();
    let verifier = Verifier::new(me, Arc::new(AllowList::new([sender.account_id()])))
        .with_window(Duration::from_secs(10));
    Setup {
        app: app(verifier),
        sender,
        me,
    }
}

async fn send(app: &Router, headers: HeaderMap, body: Body) -> (StatusCode, Value) {
    let mut request = Request::post("/echo").body(body).unwrap();
    request.headers_mut().extend(headers);
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let value = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()));
    (status, value)
}

fn signed(setup: &Setup, body: &[u8], timestamp_ms: u64) -> HeaderMap {
    SignedHeaders::sign(&setup.sender, body, &setup.me, timestamp_ms).to_header_map()
}

async fn assert_refused(
    setup: &Setup,
    headers: HeaderMap,
    body: &'static [u8],
    status: StatusCode,
    code: &str,
    needle: &str,
) {
    let (got, value) = send(&setup.app, headers, Body::from(body)).await;
    assert_eq!(got, status, "{value}");
    assert_eq!(value["code"], code, "{value}");
    let message = value["message"].as_str().unwrap();
    assert!(message.contains(needle), "{message:?} lacks {needle:?}");
}

#[tokio::test]
async fn accepts_a_good_request_and_tells_the_handler_who_sent_it() {
    let s = setup();
    let (status, value) = send(&s.app, signed(&s, b"hi", now_ms()), Body::from("hi")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(value, Value::String(format!("{} 2", s.sender.account_id())));
}

#[tokio::test]
async fn missing_header() {
    let s = setup();
    for name in [
        "epistula-version",
        "epistula-timestamp",
        "epistula-uuid",
        "epistula-signed-by",
        "epistula-signed-for",
        "epistula-request-signature",
    ] {
        let mut headers = signed(&s, b"x", now_ms());
        headers.remove(name);
        assert_refused(
            &s,
            headers,
            b"x",
            StatusCode::BAD_REQUEST,
            "bad_request",
            "missing header",
        )
        .await;
    }
}

#[tokio::test]
async fn bad_hex_signature() {
    let s = setup();
    let mut headers = signed(&s, b"x", now_ms());
    headers.insert(
        headers::REQUEST_SIGNATURE,
        HeaderValue::from_str(&format!("0x{}", "zz".repeat(64))).unwrap(),
    );
    assert_refused(
        &s,
        headers,
        b"x",
        StatusCode::BAD_REQUEST,
        "bad_request",
        "bad hex",
    )
    .await;
}

#[tokio::test]
async fn wrong_length_signature() {
    let s = setup();
    let mut headers = signed(&s, b"x", now_ms());
    headers.insert(
        headers::REQUEST_SIGNATURE,
        HeaderValue::from_str(&format!("0x{}", "ab".repeat(63))).unwrap(),
    );
    assert_refused(
        &s,
        headers,
        b"x",
        StatusCode::BAD_REQUEST,
        "bad_request",
        "wrong length",
    )
    .await;
}

#[tokio::test]
async fn malformed_fields() {
    let s = setup();
    let cases = [
        (headers::VERSION, "1", "Epistula-Version"),
        (headers::TIMESTAMP, "12.5", "Epistula-Timestamp"),
        (
            headers::TIMESTAMP,
            "99999999999999999999999",
            "Epistula-Timestamp",
        ),
        (headers::UUID, "not-a-uuid", "Epistula-Uuid"),
        (
            headers::SIGNED_BY,
            "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQZ",
            "Epistula-Signed-By",
        ),
        (headers::SIGNED_FOR, "", "Epistula-Signed-For"),
    ];
    for (name, value, label) in cases {
        let mut headers = signed(&s, b"x", now_ms());
        headers.insert(name, HeaderValue::from_static(value));
        assert_refused(
            &s,
            headers,
            b"x",
            StatusCode::BAD_REQUEST,
            "bad_request",
            label,
        )
        .await;
    }
}

#[tokio::test]
async fn wrong_signed_for() {
    let s = setup();
    let someone_else = AccountId([9; 32]);
    let headers = SignedHeaders::sign(&s.sender, b"x", &someone_else, now_ms()).to_header_map();
    assert_refused(
        &s,
        headers,
        b"x",
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
        "signed for",
    )
    .await;
}

#[tokio::test]
async fn stale_and_future_timestamps() {
    let s = setup();
    let now = now_ms();
    assert_refused(
        &s,
        signed(&s, b"x", now - 11_000),
        b"x",
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
        "old",
    )
    .await;
    assert_refused(
        &s,
        signed(&s, b"x", now + 11_000),
        b"x",
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
        "future",
    )
    .await;
    // Inside the window, both ways, is fine.
    for timestamp in [now - 8_000, now + 8_000] {
        let (status, _) = send(&s.app, signed(&s, b"x", timestamp), Body::from("x")).await;
        assert_eq!(status, StatusCode::OK);
    }
}

#[tokio::test]
async fn replayed_uuid() {
    let s = setup();
    let headers = signed(&s, b"x", now_ms());
    let (status, _) = send(&s.app, headers.clone(), Body::from("x")).await;
    assert_eq!(status, StatusCode::OK);
    assert_refused(
        &s,
        headers,
        b"x",
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
        "already used",
    )
    .await;
}

#[tokio::test]
async fn tampered_body() {
    let s = setup();
    let headers = signed(&s, b"pay 1", now_ms());
    assert_refused(
        &s,
        headers.clone(),
        b"pay 9",
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
        "signature",
    )
    .await;
    // A failed attempt does not burn the uuid of the genuine request.
    let (status, _) = send(&s.app, headers, Body::from("pay 1")).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn unknown_sender() {
    let s = setup();
    let stranger = Keypair::from_seed(CryptoType::Ed25519, &[3; 32]);
    let headers = SignedHeaders::sign(&stranger, b"x", &s.me, now_ms()).to_header_map();
    assert_refused(
        &s,
        headers,
        b"x",
        StatusCode::FORBIDDEN,
        "forbidden",
        "not permitted",
    )
    .await;
}

#[tokio::test]
async fn oversize_body_by_content_length_is_refused_unread() {
    let s = setup();
    let polled = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&polled);
    let body = Body::from_stream(futures_util::stream::poll_fn(move |_| {
        flag.store(true, Ordering::SeqCst);
        std::task::Poll::Ready(None::<Result<Bytes, Infallible>>)
    }));
    let mut headers = signed(&s, b"", now_ms());
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(LIMIT + 1));
    let (status, value) = send(&s.app, headers, body).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(value["code"], "payload_too_large");
    assert!(!polled.load(Ordering::SeqCst));
}

/// An endless body stream that counts the chunks pulled from it.
fn endless_body(chunk: usize, pulled: Arc<AtomicUsize>) -> Body {
    Body::from_stream(futures_util::stream::poll_fn(move |_| {
        pulled.fetch_add(1, Ordering::SeqCst);
        std::task::Poll::Ready(Some(Ok::<_, Infallible>(Bytes::from(vec![0u8; chunk]))))
    }))
}

#[tokio::test]
async fn oversize_streamed_body_stops_at_the_limit() {
    let s = setup();
    let pulled = Arc::new(AtomicUsize::new(0));
    let (status, value) = send(
        &s.app,
        signed(&s, b"", now_ms()),
        endless_body(100, Arc::clone(&pulled)),
    )
    .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{value}");
    // 1024 bytes fit in 10 chunks of 100; the 11th crosses the limit and ends reading.
    assert_eq!(pulled.load(Ordering::SeqCst), 11);
}

#[tokio::test]
async fn unknown_sender_with_a_huge_body_is_refused_without_reading_it() {
    let s = setup();
    let stranger = Keypair::from_seed(CryptoType::Sr25519, &[4; 32]);
    let headers = SignedHeaders::sign(&stranger, b"", &s.me, now_ms()).to_header_map();
    let pulled = Arc::new(AtomicUsize::new(0));
    let (status, value) = send(&s.app, headers, endless_body(1 << 20, Arc::clone(&pulled))).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{value}");
    assert_eq!(pulled.load(Ordering::SeqCst), 0, "no body chunk was pulled");
}

#[tokio::test]
async fn full_replay_cache_answers_busy_instead_of_forgetting_uuids() {
    let sender = Keypair::from_seed(CryptoType::Sr25519, &[1; 32]);
    let me = AccountId([2; 32]);
    let verifier =
        Verifier::new(me, Arc::new(AllowList::new([sender.account_id()]))).with_replay_capacity(1);
    let app = app(verifier);
    let first = SignedHeaders::sign(&sender, b"", &me, now_ms()).to_header_map();
    assert_eq!(send(&app, first, Body::empty()).await.0, StatusCode::OK);
    let second = SignedHeaders::sign(&sender, b"", &me, now_ms()).to_header_map();
    let (status, value) = send(&app, second, Body::empty()).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(value["code"], "busy");
}

/// A real HTTP round trip on loopback: a validator's `SignedClient` calls a route that
/// admits it; replaying the exact same request is refused.
#[tokio::test]
async fn signed_request_over_http_and_its_replay() {
    let s = setup();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/echo", listener.local_addr().unwrap());
    let app = s.app.clone();
    let server = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let client = brainlock_epistula::SignedClient::new(Arc::new(s.sender), reqwest::Client::new());
    let signed = client.request(
        axum::http::Method::POST,
        &url,
        &s.me,
        Bytes::from_static(b"ciphertexts"),
    );
    let (http_client, request) = signed.request.build_split();
    let request = request.unwrap();
    let again = request.try_clone().unwrap();
    let response = http_client.execute(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.text().await.unwrap(),
        format!("{} 11", client.account_id())
    );
    let refused = http_client.execute(again).await.unwrap();
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    let error: Value = serde_json::from_slice(&refused.bytes().await.unwrap()).unwrap();
    assert_eq!(error["code"], "unauthenticated");
    server.abort();
}
