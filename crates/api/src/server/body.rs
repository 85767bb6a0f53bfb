//! The one size- and time-limited request body reader of both servers.

use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, header};
use bytes::BytesMut;
use http_body_util::BodyExt;

use super::ApiError;
use crate::ErrorCode;

/// How much of a body a route reads, and for how long.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BodyLimit {
    /// Bytes; a longer body is refused with 413, a longer declared one before any byte
    /// is read.
    pub max_bytes: usize,
    /// A sender that trickles its bytes past this gets 408 `body_timeout`, and whatever
    /// slot or memory it held is released.
    pub timeout: Duration,
}

/// Reads the body of a request whose headers are `headers`, within `limit`. `what`
/// names the body in error messages ("evaluation key", "infer request").
pub async fn read_body(
    headers: &HeaderMap,
    body: Body,
    limit: BodyLimit,
    what: &str,
) -> Result<Bytes, ApiError> {
    let declared = declared_length(headers, limit, what)?;
    tokio::time::timeout(
        limit.timeout,
        collect(body, declared, limit.max_bytes, what),
    )
    .await
    .map_err(|_| {
        ApiError::new(
            ErrorCode::BodyTimeout,
            format!(
                "the {what} body did not arrive within {} s",
                limit.timeout.as_secs_f64()
            ),
        )
    })?
}

/// The declared `Content-Length`, refused if over the limit before reading anything. A
/// server that reserves memory for a body before reading it sizes the reservation by it.
pub fn declared_length(
    headers: &HeaderMap,
    limit: BodyLimit,
    what: &str,
) -> Result<Option<usize>, ApiError> {
    let Some(value) = headers.get(header::CONTENT_LENGTH) else {
        return Ok(None);
    };
    let length: usize = value
        .to_str()
        .ok()
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| ApiError::new(ErrorCode::BadRequest, "malformed Content-Length"))?;
    if length > limit.max_bytes {
        return Err(too_large(what, limit.max_bytes));
    }
    Ok(Some(length))
}

/// Collects at most `max` bytes into one buffer. With a declared length the buffer is
/// allocated once at that size: collecting chunks and joining them would hold the body
/// twice, and an evaluation key is tens of megabytes.
async fn collect(
    mut body: Body,
    declared: Option<usize>,
    max: usize,
    what: &str,
) -> Result<Bytes, ApiError> {
    let mut buffer = BytesMut::with_capacity(declared.unwrap_or(0).min(max));
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|error| {
            ApiError::new(
                ErrorCode::BadRequest,
                format!("reading the {what} body: {error}"),
            )
        })?;
        let Ok(data) = frame.into_data() else {
            continue; // trailers carry nothing we use
        };
        if buffer.len() + data.len() > max {
            return Err(too_large(what, max));
        }
        buffer.extend_from_slice(&data);
    }
    Ok(buffer.freeze())
}

fn too_large(what: &str, max: usize) -> ApiError {
    ApiError::new(
        ErrorCode::PayloadTooLarge,
        format!("{what} body exceeds the {max}-byte limit"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMIT: BodyLimit = BodyLimit {
        max_bytes: 8,
        timeout: Duration::from_secs(5),
    };

    fn headers(length: Option<&'static str>) -> HeaderMap {
        let mut headers = HeaderMap::new();
        if let Some(length) = length {
            headers.insert(header::CONTENT_LENGTH, length.parse().unwrap());
        }
        headers
    }

    #[tokio::test]
    async fn reads_within_the_limit_and_refuses_beyond_it() {
        let body = read_body(&headers(Some("5")), Body::from("hello"), LIMIT, "test")
            .await
            .unwrap();
        assert_eq!(&body[..], b"hello");
        // Declared too long: refused before reading.
        let err = read_body(&headers(Some("9")), Body::from("x"), LIMIT, "test")
            .await
            .unwrap_err();
        assert_eq!(err.code, ErrorCode::PayloadTooLarge);
        // Undeclared, and longer than it may be.
        let err = read_body(&headers(None), Body::from("123456789"), LIMIT, "test")
            .await
            .unwrap_err();
        assert_eq!(err.code, ErrorCode::PayloadTooLarge);
        let err = read_body(&headers(Some("many")), Body::from("x"), LIMIT, "test")
            .await
            .unwrap_err();
        assert_eq!(err.code, ErrorCode::BadRequest);
    }

    #[tokio::test(start_paused = true)]
    async fn a_body_that_never_ends_times_out() {
        let never =
            Body::from_stream(futures_util::stream::pending::<Result<Bytes, std::io::Error>>());
        let err = read_body(&headers(None), never, LIMIT, "test")
            .await
            .unwrap_err();
        assert_eq!(err.code, ErrorCode::BodyTimeout);
        assert_eq!(err.status().as_u16(), 408);
    }
}
