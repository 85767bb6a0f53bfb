//! A real HTTP round trip: a validator's `SignedClient` calls a miner's route behind
//! `EpistulaLayer`, and checks the miner's signed response.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::response::Response;
use axum::routing::post;
use brainlock_epistula::{
    AllowList, Authenticated, CryptoType, EpistulaLayer, Keypair, ResponseError, SignedClient,
    Verifier, signed_response,
};
use bytes::Bytes;
use http::{Method, StatusCode};

async fn answer(State(miner): State<Arc<Keypair>>, caller: Authenticated, body: Bytes) -> Response {
    let mut reply = b"seen: ".to_vec();
    reply.extend_from_slice(&body);
    signed_response(&miner, &caller, Bytes::from(reply))
}

#[tokio::test]
async fn signed_request_and_signed_response_over_http() {
    let miner = Arc::new(Keypair::from_seed(CryptoType::Sr25519, &[5; 32]));
    let validator = Arc::new(Keypair::from_seed(CryptoType::Ed25519, &[6; 32]));
    let verifier = Verifier::new(
        miner.account_id(),
        Arc::new(AllowList::new([validator.account_id()])),
    );
    let app = Router::new()
        .route("/v1/infer", post(answer))
        .layer(EpistulaLayer::new(Arc::new(verifier), 1 << 20))
        .with_state(Arc::clone(&miner));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/v1/infer", listener.local_addr().unwrap());
    let server = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let client = SignedClient::new(Arc::clone(&validator), reqwest::Client::new());
    let signed = client.request(
        Method::POST,
        &url,
        &miner.account_id(),
        Bytes::from_static(b"ciphertexts"),
    );
    let response = signed.request.send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let headers = response.headers().clone();
    let body = response.bytes().await.unwrap();
    assert_eq!(&body[..], b"seen: ciphertexts");
    let proof = client
        .verify_response(&headers, &body, &miner.account_id(), signed.uuid)
        .unwrap();
    assert_eq!(proof.signed_for, validator.account_id());

    // The proof does not cover another body, nor another request.
    assert!(matches!(
        client.verify_response(
            &headers,
            b"seen: something else",
            &miner.account_id(),
            signed.uuid
        ),
        Err(ResponseError::BadSignature)
    ));
    assert!(matches!(
        client.verify_response(&headers, &body, &miner.account_id(), uuid::Uuid::new_v4()),
        Err(ResponseError::WrongRequest { .. })
    ));

    // Replaying the exact same request is refused.
    let replay = client.request(
        Method::POST,
        &url,
        &miner.account_id(),
        Bytes::from_static(b"x"),
    );
    let (http_client, request) = replay.request.build_split();
    let request = request.unwrap();
    let again = request.try_clone().unwrap();
    assert_eq!(
        http_client.execute(request).await.unwrap().status(),
        StatusCode::OK
    );
    let refused = http_client.execute(again).await.unwrap();
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    let error: serde_json::Value = serde_json::from_slice(&refused.bytes().await.unwrap()).unwrap();
    assert_eq!(error["code"], "unauthenticated");
    server.abort();
}
