//! Error answers of the gateway. The body has the miner API's shape
//! (`{"code", "message"}`, see `brainlock_api::ErrorBody`) so one client parses both;
//! the gateway adds codes of its own (`quota_exceeded`, `upstream_failed`) that an
//! older client reads as `unknown` and still shows the message of.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use brainlock_api::ErrorCode;

/// A refused request: status, stable code, human message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{status} {code}: {message}")]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

/// Quota code: the customer spent its allowance; retry after it refills.
pub const QUOTA_EXCEEDED: &str = "quota_exceeded";
/// No miner could take the request, or the chosen one failed before answering.
pub const UPSTREAM_FAILED: &str = "upstream_failed";

impl ApiError {
    /// An error with one of the miner API's codes and that code's status.
    pub fn wire(code: ErrorCode, message: impl Into<String>) -> Self {
        let status =
            StatusCode::from_u16(code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        Self {
            status,
            code: code.as_str(),
            message: message.into(),
        }
    }

    pub fn quota(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::TOO_MANY_REQUESTS,
            code: QUOTA_EXCEEDED,
            message: message.into(),
        }
    }

    pub fn upstream(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_GATEWAY,
            code: UPSTREAM_FAILED,
            message: message.into(),
        }
    }

    pub fn body_json(&self) -> String {
        serde_json::json!({ "code": self.code, "message": self.message }).to_string()
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, self.body_json()).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use brainlock_api::ErrorBody;

    #[test]
    fn bodies_parse_as_wire_error_bodies() {
        let known = ApiError::wire(ErrorCode::UnknownCircuit, "vgg9 is not served here");
        assert_eq!(known.status, StatusCode::UNPROCESSABLE_ENTITY);
        let parsed = ErrorBody::from_json(known.body_json().as_bytes()).unwrap();
        assert_eq!(parsed.code, ErrorCode::UnknownCircuit);
        assert_eq!(parsed.message, "vgg9 is not served here");

        let quota = ApiError::quota("60 items per hour");
        assert_eq!(quota.status, StatusCode::TOO_MANY_REQUESTS);
        let parsed = ErrorBody::from_json(quota.body_json().as_bytes()).unwrap();
        assert_eq!(parsed.code, ErrorCode::Unknown);
        assert!(quota.body_json().contains("\"quota_exceeded\""));
    }
}
