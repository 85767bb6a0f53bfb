//! The HuggingFace reader against a local HTTP server.
//!
//! The server answers `/splits` and `/rows` with bodies shaped exactly as the dataset
//! viewer API documents them (https://huggingface.co/docs/dataset-viewer: `/splits` ->
//! `{splits: [{dataset, config, split}], pending, failed}`; `/rows` -> `{features:
//! [{feature_idx, name, type}], rows: [{row_idx, row, truncated_cells}],
//! num_rows_total, num_rows_per_page, partial}`, an Image cell being `{src, height,
//! width}`), and serves the images that `src` points at. The reader is the production
//! code; only its base URL differs from `https://datasets-server.huggingface.co`.

use std::collections::HashMap;
use std::io::Cursor;
use std::sync::{Arc, Mutex};

use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use brainlock_validator::images::huggingface::DatasetRef;
use brainlock_validator::images::{ImageError, ImageSource, SourceSpec};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde_json::json;

const ROWS: u64 = 5;

#[derive(Clone, Default)]
struct Server {
    base: Arc<Mutex<String>>,
    requested_offsets: Arc<Mutex<Vec<u64>>>,
}

/// Row `i` is a 32x32 PNG whose red channel is `i * 50`.
fn png(i: u64) -> Vec<u8> {
    let img = image::RgbImage::from_pixel(32, 32, image::Rgb([(i * 50) as u8, 10, 20]));
    let mut out = Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

async fn splits(Query(q): Query<HashMap<String, String>>) -> Response {
    if q.get("dataset").map(String::as_str) != Some("uoft-cs/cifar10") {
        return (
            StatusCode::NOT_FOUND,
            Json(json!({"error": "The dataset does not exist."})),
        )
            .into_response();
    }
    Json(json!({
        "splits": [
            {"dataset": "uoft-cs/cifar10", "config": "plain_text", "split": "train"},
            {"dataset": "uoft-cs/cifar10", "config": "plain_text", "split": "test"}
        ],
        "pending": [],
        "failed": []
    }))
    .into_response()
}

async fn rows(State(server): State<Server>, Query(q): Query<HashMap<String, String>>) -> Response {
    assert_eq!(q["config"], "plain_text");
    assert_eq!(q["split"], "test");
    let offset: u64 = q["offset"].parse().unwrap();
    let length: u64 = q["length"].parse().unwrap();
    assert!(length <= 100);
    server.requested_offsets.lock().unwrap().push(offset);
    let base = server.base.lock().unwrap().clone();
    let rows: Vec<_> = (offset..(offset + length).min(ROWS))
        .map(|i| {
            json!({
                "row_idx": i,
                "row": {
                    "img": {
                        "src": format!("{base}/assets/uoft-cs/cifar10/--/abc/--/plain_text/test/{i}/img/image.png?Expires=1&Signature=x"),
                        "height": 32,
                        "width": 32
                    },
                    "label": i % 10
                },
                "truncated_cells": []
            })
        })
        .collect();
    Json(json!({
        "features": [
            {"feature_idx": 0, "name": "img", "type": {"_type": "Image"}},
            {"feature_idx": 1, "name": "label", "type": {"names": ["airplane", "automobile"], "_type": "ClassLabel"}}
        ],
        "rows": rows,
        "num_rows_total": ROWS,
        "num_rows_per_page": 100,
        "partial": false
    }))
    .into_response()
}

async fn asset(Path(path): Path<String>) -> Response {
    let index: u64 = path.split('/').nth_back(2).unwrap().parse().unwrap();
    ([(header::CONTENT_TYPE, "image/png")], png(index)).into_response()
}

async fn serve(router: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    base
}

#[tokio::test]
async fn draws_random_rows_and_fetches_their_images() {
    let server = Server::default();
    let router = Router::new()
        .route("/splits", get(splits))
        .route("/rows", get(rows))
        .route("/assets/{*path}", get(asset))
        .with_state(server.clone());
    let base = serve(router).await;
    *server.base.lock().unwrap() = base.clone();

    // Bare name: config and split resolved through /splits, preferring `test`.
    let spec = SourceSpec::parse("uoft-cs/cifar10").unwrap();
    let source = ImageSource::open(&spec, &base).unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let mut reds = Vec::new();
    for _ in 0..12 {
        let image = source.draw(32, 32, &mut rng).await.unwrap();
        assert_eq!(image.pixels.len(), 3 * 32 * 32);
        let red = ((image.at(0, 3, 3) + 1.0) * 127.5).round() as u64;
        assert_eq!(red % 50, 0, "red {red} is not a row's");
        reds.push(red / 50);
    }
    let offsets = server.requested_offsets.lock().unwrap().clone();
    // The first request learns the row count; then one request per draw.
    assert_eq!(offsets.len(), 13);
    assert_eq!(
        offsets[1..],
        reds[..],
        "each draw shows the row it asked for"
    );
    assert!(offsets[1..].iter().all(|&o| o < ROWS));
    let mut distinct = reds.clone();
    distinct.sort_unstable();
    distinct.dedup();
    assert!(distinct.len() > 1, "offsets must be random, got {reds:?}");
}

#[tokio::test]
async fn server_errors_and_bad_bodies_are_clear_errors() {
    let router = Router::new().route("/splits", get(splits)).route(
        "/rows",
        get(|| async { Json(json!({"rows": "not a list"})) }),
    );
    let base = serve(router).await;
    let mut rng = ChaCha8Rng::seed_from_u64(1);

    let missing = ImageSource::open(&SourceSpec::parse("nobody/nothing").unwrap(), &base).unwrap();
    let err = missing.draw(32, 32, &mut rng).await.unwrap_err();
    assert!(
        matches!(&err, ImageError::Status { status: 404, .. }),
        "{err}"
    );

    let dataset = DatasetRef::parse("uoft-cs/cifar10:plain_text:test").unwrap();
    let bad = ImageSource::open(&SourceSpec::HuggingFace(dataset), &base).unwrap();
    let err = bad.draw(32, 32, &mut rng).await.unwrap_err();
    assert!(matches!(err, ImageError::Json { .. }), "{err}");

    let refused =
        ImageSource::open(&SourceSpec::parse("a/b").unwrap(), "http://127.0.0.1:1").unwrap();
    assert!(matches!(
        refused.draw(32, 32, &mut rng).await.unwrap_err(),
        ImageError::Http { .. }
    ));
}
