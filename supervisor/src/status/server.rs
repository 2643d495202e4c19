//! The status server on `0.0.0.0:<status_port>`: `/livez`, `/startupz`, `/readyz` (the pod's
//! probes), `/status` (the [`Board`] as JSON, read by the operator and `openclaw-supervisor
//! status`), `/metrics`, and the authenticated `POST /backup`.
//!
//! It starts before the pipeline, so the probes tell the truth during start-up.

use std::{future::Future, net::SocketAddr, sync::Arc};

use axum::{
    Json, Router,
    extract::State,
    http::{StatusCode, header},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;

use super::{
    control::{self, ControlToken},
    gateway_probe::StartupFlag,
    health::{self, Verdict},
    metrics,
};
use crate::{backup::manager::BackupManager, board::Board};

/// Why the server could not run.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The port is taken or not allowed.
    #[error("failed to listen on {address}")]
    Bind {
        /// The address asked for.
        address: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    /// Accepting connections failed.
    #[error("the status server stopped")]
    Serve(#[source] std::io::Error),
}

/// What the handlers share.
#[derive(Debug, Clone)]
pub struct ServerState {
    /// The supervisor's state.
    pub board: Board,
    /// Whether the gateway's own `/startupz` said `started`.
    pub gateway_started: StartupFlag,
    /// Token of the control endpoints; `None` disables them.
    pub control_token: Option<ControlToken>,
    /// Runs the backups `POST /backup` asks for.
    pub backups: BackupManager,
    metrics: Arc<Registry>,
}

impl ServerState {
    /// State over `board`, with the metrics registry built from it.
    pub fn new(
        board: Board,
        gateway_started: StartupFlag,
        control_token: Option<ControlToken>,
    ) -> Self {
        let metrics = Arc::new(metrics::registry(board.clone()));
        Self {
            backups: BackupManager::disabled(board.clone()),
            board,
            gateway_started,
            control_token,
            metrics,
        }
    }

    /// The same state, with `backups` answering `POST /backup`.
    pub fn with_backups(self, backups: BackupManager) -> Self {
        Self { backups, ..self }
    }
}

/// The routes.
pub fn router(state: ServerState) -> Router {
    Router::new()
        .route("/livez", get(livez))
        .route("/startupz", get(startupz))
        .route("/readyz", get(readyz))
        .route("/status", get(status))
        .route("/metrics", get(metrics_text))
        .route("/backup", post(control::backup))
        .with_state(state)
}

/// Binds the listener; separate from [`serve`] so a taken port fails start-up at once.
pub async fn bind(address: SocketAddr) -> Result<TcpListener, ServerError> {
    TcpListener::bind(address)
        .await
        .map_err(|source| ServerError::Bind { address, source })
}

/// Serves until `shutdown` resolves.
pub async fn serve(
    listener: TcpListener,
    state: ServerState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(ServerError::Serve)
}

fn answer(verdict: Verdict) -> Response {
    let code = if verdict.pass {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, [(header::CACHE_CONTROL, "no-store")], Json(verdict)).into_response()
}

async fn livez() -> Response {
    answer(health::live())
}

async fn startupz(State(state): State<ServerState>) -> Response {
    let snapshot = state.board.snapshot();
    answer(health::startup(&snapshot, state.gateway_started.get()))
}

async fn readyz(State(state): State<ServerState>) -> Response {
    answer(health::ready(&state.board.snapshot()))
}

async fn status(State(state): State<ServerState>) -> Response {
    (
        [(header::CACHE_CONTROL, "no-store")],
        Json(state.board.snapshot()),
    )
        .into_response()
}

async fn metrics_text(State(state): State<ServerState>) -> Response {
    match metrics::render(&state.metrics) {
        Ok(text) => ([(header::CONTENT_TYPE, metrics::CONTENT_TYPE)], text).into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}
