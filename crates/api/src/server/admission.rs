//! Admission of an Epistula-signed request: the one path both servers take.
//!
//! The order is the point: the cheap header checks (version, timestamp window, replay,
//! receiver, sender policy, signature format) run before any body byte is read, so an
//! unknown sender's gigabytes are never pulled; the body is then read within its limit,
//! and last the signature is checked over it.

use axum::body::{Body, Bytes};
use axum::http::HeaderMap;
use brainlock_epistula::headers::now_ms;
use brainlock_epistula::{Authenticated, VerifiedHeaders, Verifier};

use super::{ApiError, BodyLimit, read_body};

/// Admits a signed request: its sender, and its body, signature checked.
pub async fn admit_signed(
    verifier: &Verifier,
    headers: &HeaderMap,
    body: Body,
    limit: BodyLimit,
    what: &str,
) -> Result<(Authenticated, Bytes), ApiError> {
    let verified = verify_headers(verifier, headers)?;
    let body = read_body(headers, body, limit, what).await?;
    let sender = verified.verify_body(&body)?;
    Ok((sender, body))
}

/// The header half of [`admit_signed`], for a server that must decide more from the
/// headers (which customer, which quota) before it reads the body.
pub fn verify_headers(
    verifier: &Verifier,
    headers: &HeaderMap,
) -> Result<VerifiedHeaders, ApiError> {
    Ok(verifier.verify_headers(headers, now_ms())?)
}
