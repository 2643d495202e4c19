//! Errors of the cache: [`CacheError`] for opening it (the agent cannot serve without its
//! directory or an HTTP client), and [`Failure`], an answer to one request that went wrong, with
//! the status the pod sees and a sentence that says what to do about it. A failing download must
//! say why in plain words, because the person reading it is looking at an agent pod's log.

use axum::{
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};

/// Why the cache could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    /// The cache directory (or a file in it) could not be created, read or written.
    #[error("cache directory {path}: {source}")]
    Io {
        /// The file or directory.
        path: String,
        /// What the system said.
        #[source]
        source: std::io::Error,
    },
    /// The TLS configuration of the upstream client could not be built.
    #[error("failed to configure TLS for the upstream client")]
    Tls(#[source] rustls::Error),
    /// The upstream HTTP client could not be built.
    #[error("failed to build the upstream HTTP client")]
    Client(#[source] reqwest::Error),
    /// A metric could not be registered.
    #[error("failed to register the cache metrics")]
    Metrics,
}

impl CacheError {
    pub(crate) fn io(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> CacheError + '_ {
        move |source| CacheError::Io {
            path: path.display().to_string(),
            source,
        }
    }
}

/// One request's failure: the status the pod gets and a message for its log.
#[derive(Debug, Clone)]
pub(crate) struct Failure {
    pub status: StatusCode,
    pub message: String,
    /// Passed on from a rate-limiting upstream, so that the client waits as asked.
    pub retry_after: Option<HeaderValue>,
}

impl Failure {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Failure {
        Failure {
            status,
            message: message.into(),
            retry_after: None,
        }
    }

    /// 400: a path or query the cache will not map onto an upstream.
    pub fn bad_request(message: impl Into<String>) -> Failure {
        Failure::new(StatusCode::BAD_REQUEST, message)
    }

    /// 404: nothing of that name, here or upstream.
    pub fn not_found(message: impl Into<String>) -> Failure {
        Failure::new(StatusCode::NOT_FOUND, message)
    }

    /// 502: the upstream failed or sent something the cache refuses.
    pub fn bad_gateway(message: impl Into<String>) -> Failure {
        Failure::new(StatusCode::BAD_GATEWAY, message)
    }
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        let mut response = (
            self.status,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            format!("openclaw-node cache: {}\n", self.message),
        )
            .into_response();
        if let Some(retry_after) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, retry_after);
        }
        response
    }
}
