//! The agent's HTTP server: `/healthz`, `/readyz` (the profiles are in place and the Node says
//! so), `/metrics`, and the download cache's routes when it is on.

use std::sync::{
    Arc,
    atomic::{AtomicBool, Ordering},
};

use axum::{
    Json, Router,
    extract::State,
    http::{StatusCode, header},
    response::IntoResponse,
    routing::get,
};
use prometheus_client::registry::Registry;
use serde_json::json;

#[derive(Clone)]
struct AppState {
    ready: Arc<AtomicBool>,
    registry: Arc<Registry>,
    sources: Arc<Vec<&'static str>>,
}

/// The router: health, metrics, and `cache` (the cache's routes) merged in.
pub fn router(
    ready: Arc<AtomicBool>,
    registry: Arc<Registry>,
    cache: Option<Router>,
    sources: Vec<&'static str>,
) -> Router {
    let state = AppState {
        ready,
        registry,
        sources: Arc::new(sources),
    };
    let base = Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(state);
    match cache {
        Some(cache) => base.merge(cache),
        None => base,
    }
}

/// Alive, and which download sources the cache serves (the supervisor reads this to decide
/// which mirrors to take from the node).
async fn healthz(State(state): State<AppState>) -> impl IntoResponse {
    Json(json!({"status": "ok", "cache": {"sources": *state.sources}}))
}

async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    if state.ready.load(Ordering::Relaxed) {
        (StatusCode::OK, "ready\n")
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "the seccomp profiles are not in place yet\n",
        )
    }
}

async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let mut text = String::new();
    match prometheus_client::encoding::text::encode(&mut text, &state.registry) {
        Ok(()) => (
            StatusCode::OK,
            [(
                header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            text,
        )
            .into_response(),
        Err(err) => (StatusCode::INTERNAL_SERVER_ERROR, err.to_string()).into_response(),
    }
}
