//! Optional HTTP basic auth, checked before any route runs.
//!
//! The expected `Authorization` header is computed once at start-up and
//! compared with what each request sends; no base64 decoding of untrusted
//! input is needed.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::header::AUTHORIZATION;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::{Error, Result};

use super::errors::ApiError;

/// The one accepted `user:password`, as the header value clients send.
pub struct Credentials {
    expected_header: String,
}

impl Credentials {
    /// Parses `user:password` from the configuration.
    pub fn parse(user_and_password: &str) -> Result<Self> {
        if !user_and_password.contains(':') {
            return Err(Error::config(
                "registry.basic_auth",
                "expected `user:password`",
            ));
        }
        Ok(Self {
            expected_header: format!("Basic {}", base64_encode(user_and_password.as_bytes())),
        })
    }
}

/// Lets a request through only with the configured credentials (or when none are configured).
pub async fn require_basic_auth(
    State(credentials): State<Arc<Option<Credentials>>>,
    request: Request,
    next: Next,
) -> Response {
    if let Some(credentials) = credentials.as_ref() {
        let sent = request
            .headers()
            .get(AUTHORIZATION)
            .and_then(|value| value.to_str().ok());
        if sent != Some(credentials.expected_header.as_str()) {
            return ApiError::unauthorized().into_response();
        }
    }
    next.run(request).await
}

/// Standard base64 with padding (RFC 4648), enough for one header.
fn base64_encode(input: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut output = String::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let bytes = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let group = (u32::from(bytes[0]) << 16) | (u32::from(bytes[1]) << 8) | u32::from(bytes[2]);
        for index in 0..4 {
            if index <= chunk.len() {
                output.push(char::from(
                    ALPHABET[(group >> (18 - 6 * index) & 63) as usize],
                ));
            } else {
                output.push('=');
            }
        }
    }
    output
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc_4648_examples() {
        assert_eq!(base64_encode(b"f"), "Zg==");
        assert_eq!(base64_encode(b"fo"), "Zm8=");
        assert_eq!(base64_encode(b"foo"), "Zm9v");
        assert_eq!(base64_encode(b"user:pass"), "dXNlcjpwYXNz");
    }
}
