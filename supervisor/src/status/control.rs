//! The operator's control endpoints (`POST /backup`, answered by the backup manager), authenticated with the bearer token in
//! `OPENCLAW_SUPERVISOR_TOKEN`, compared in constant time.

use std::sync::Arc;

use axum::{
    Json,
    body::Bytes,
    extract::State,
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
};
use openclaw_api::backup::BackupRequest;
use serde_json::json;
use subtle::ConstantTimeEq;

use super::server::ServerState;
use crate::backup::manager::Answer;

/// The control token; never logged, never printed by `Debug`.
#[derive(Clone)]
pub struct ControlToken(Arc<[u8]>);

impl std::fmt::Debug for ControlToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ControlToken(<redacted>)")
    }
}

impl ControlToken {
    /// A token; `None` when empty (an empty token would authenticate `Bearer `).
    pub fn new(token: &str) -> Option<Self> {
        let token = token.trim();
        (!token.is_empty()).then(|| Self(Arc::from(token.as_bytes())))
    }

    /// True when `headers` carry `Authorization: Bearer <this token>`.
    pub fn admits(&self, headers: &HeaderMap) -> bool {
        let Some(given) = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
        else {
            return false;
        };
        // Length differences return early inside `ct_eq`; the token's length is not a secret.
        bool::from(given.trim().as_bytes().ct_eq(&self.0))
    }
}

/// Why a control request was refused; answers 401.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denied {
    /// No or a wrong bearer token.
    BadToken,
    /// No token is configured, so nobody is admitted.
    Disabled,
}

impl IntoResponse for Denied {
    fn into_response(self) -> Response {
        let message = match self {
            Denied::BadToken => "a valid bearer token is required",
            Denied::Disabled => {
                "control endpoints are disabled: OPENCLAW_SUPERVISOR_TOKEN is not set"
            }
        };
        (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
            Json(json!({ "error": message })),
        )
            .into_response()
    }
}

/// Checks the bearer token.
pub fn authorize(token: Option<&ControlToken>, headers: &HeaderMap) -> Result<(), Denied> {
    match token {
        Some(token) if token.admits(headers) => Ok(()),
        Some(_) => Err(Denied::BadToken),
        None => Err(Denied::Disabled),
    }
}

/// `POST /backup` with a [`BackupRequest`] body: starts a backup, or answers the one with the
/// same id (see [`BackupRequest`] for the answer codes).
pub async fn backup(State(state): State<ServerState>, headers: HeaderMap, body: Bytes) -> Response {
    if let Err(denied) = authorize(state.control_token.as_ref(), &headers) {
        tracing::warn!("refused an unauthenticated POST /backup");
        return denied.into_response();
    }
    let request: BackupRequest = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(error) => {
            return error_answer(
                StatusCode::BAD_REQUEST,
                &format!("the body is not a backup request: {error}"),
            );
        }
    };
    answer(state.backups.request(&request))
}

/// The HTTP answer of a manager's [`Answer`].
pub fn answer(answer: Answer) -> Response {
    match answer {
        Answer::Started(record) | Answer::Running(record) => {
            (StatusCode::ACCEPTED, Json(record)).into_response()
        }
        Answer::Finished(record) => (StatusCode::OK, Json(record)).into_response(),
        Answer::Busy(record) => (StatusCode::CONFLICT, Json(record)).into_response(),
        Answer::Disabled => error_answer(
            StatusCode::PRECONDITION_FAILED,
            "no backup target: the plan names no S3 bucket",
        ),
        Answer::InvalidId => error_answer(
            StatusCode::BAD_REQUEST,
            "the id must be 1 to 128 characters of [A-Za-z0-9._-]",
        ),
    }
}

fn error_answer(code: StatusCode, message: &str) -> Response {
    (code, Json(json!({ "error": message }))).into_response()
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn with_auth(value: &'static str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, HeaderValue::from_static(value));
        headers
    }

    #[test]
    fn admits_only_the_exact_bearer_token() {
        let token = ControlToken::new("s3cret-token");
        let token = token.as_ref();
        assert!(authorize(token, &with_auth("Bearer s3cret-token")).is_ok());
        for wrong in [
            "Bearer s3cret-toke",
            "Bearer s3cret-token2",
            "Basic s3cret-token",
            "s3cret-token",
            "Bearer ",
        ] {
            assert!(authorize(token, &with_auth(wrong)).is_err(), "{wrong}");
        }
        assert!(authorize(token, &HeaderMap::new()).is_err());
    }

    #[test]
    fn no_token_configured_admits_nobody() {
        assert!(ControlToken::new("  ").is_none());
        let denied = authorize(None, &with_auth("Bearer anything")).err();
        assert_eq!(denied, Some(Denied::Disabled));
        let response = Denied::Disabled.into_response();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }

    #[test]
    fn debug_hides_the_token() {
        let token = ControlToken::new("s3cret-token");
        assert!(!format!("{token:?}").contains("s3cret"));
    }
}
