//! A small GET client (reqwest) for loopback endpoints: the gateway's probes and `/status`.
//!
//! It never adds forwarding headers (the gateway answers 403 to `X-Forwarded-For` from
//! loopback) and gives every request a deadline, so a wedged peer cannot stall a poller.

use std::time::Duration;

use bytes::Bytes;
use reqwest::{StatusCode, header::ACCEPT};

/// Largest body read; the gateway's probe bodies are under 1 KiB, `/status` a few KiB.
const MAX_BODY: usize = 1 << 20;

/// Why a GET failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The URL is not an absolute `http://` URL.
    #[error("invalid URL {url:?}")]
    InvalidUrl {
        /// The URL as given.
        url: String,
    },
    /// The client could not be built.
    #[error("failed to build the HTTP client")]
    Build(#[source] std::sync::Arc<reqwest::Error>),
    /// Connecting or sending failed.
    #[error("failed to reach {url}")]
    Request {
        /// The URL asked.
        url: String,
        #[source]
        source: reqwest::Error,
    },
    /// The body could not be read, or is larger than 1 MiB.
    #[error("failed to read the answer of {url}")]
    Body {
        /// The URL asked.
        url: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// No answer within the deadline.
    #[error("no answer from {url} within {timeout:?}")]
    Timeout {
        /// The URL asked.
        url: String,
        /// The deadline.
        timeout: Duration,
    },
}

/// A status code and a body.
#[derive(Debug, Clone)]
pub struct Answer {
    /// HTTP status.
    pub status: StatusCode,
    /// The whole body.
    pub body: Bytes,
}

/// A reusable client; cheap to clone.
#[derive(Debug, Clone)]
pub struct HttpClient {
    inner: Result<reqwest::Client, std::sync::Arc<reqwest::Error>>,
    timeout: Duration,
}

impl HttpClient {
    /// A client whose requests (body included) give up after `timeout`; no proxy from the
    /// environment is ever used.
    pub fn new(timeout: Duration) -> Self {
        // reqwest is built without a TLS provider of its own; plain HTTP needs none, but the
        // builder asks for the process default.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let inner = reqwest::Client::builder()
            .no_proxy()
            .timeout(timeout)
            .connect_timeout(timeout)
            .tcp_nodelay(true)
            .pool_idle_timeout(Duration::from_secs(30))
            .pool_max_idle_per_host(2)
            .build()
            .map_err(std::sync::Arc::new);
        Self { inner, timeout }
    }

    /// GETs `url` and reads the whole body.
    pub async fn get(&self, url: &str) -> Result<Answer, ClientError> {
        let invalid = || ClientError::InvalidUrl {
            url: url.to_owned(),
        };
        let parsed = reqwest::Url::parse(url).map_err(|_| invalid())?;
        if parsed.scheme() != "http" || parsed.host().is_none() {
            return Err(invalid());
        }
        let client = self
            .inner
            .as_ref()
            .map_err(|e| ClientError::Build(e.clone()))?;
        let failed = |source: reqwest::Error| {
            if source.is_timeout() {
                ClientError::Timeout {
                    url: url.to_owned(),
                    timeout: self.timeout,
                }
            } else {
                ClientError::Request {
                    url: url.to_owned(),
                    source,
                }
            }
        };
        let mut response = client
            .get(parsed)
            .header(ACCEPT, "application/json")
            .send()
            .await
            .map_err(failed)?;
        let status = response.status();
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| match failed(e) {
            ClientError::Request { url, source } => ClientError::Body {
                url,
                source: Box::new(source),
            },
            other => other,
        })? {
            if body.len() + chunk.len() > MAX_BODY {
                return Err(ClientError::Body {
                    url: url.to_owned(),
                    source: format!("the body is larger than {MAX_BODY} bytes").into(),
                });
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Answer {
            status,
            body: Bytes::from(body),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn refuses_what_is_not_plain_http() {
        let client = HttpClient::new(Duration::from_millis(200));
        for url in ["https://127.0.0.1/", "127.0.0.1:9090/status", "not a url"] {
            assert!(
                matches!(client.get(url).await, Err(ClientError::InvalidUrl { .. })),
                "{url}"
            );
        }
    }

    #[tokio::test]
    async fn reports_a_closed_port() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").ok();
        let port = listener
            .as_ref()
            .and_then(|l| l.local_addr().ok())
            .map_or(1, |a| a.port());
        drop(listener);
        let client = HttpClient::new(Duration::from_millis(500));
        let result = client.get(&format!("http://127.0.0.1:{port}/readyz")).await;
        assert!(
            matches!(result, Err(ClientError::Request { .. })),
            "{result:?}"
        );
    }
}
