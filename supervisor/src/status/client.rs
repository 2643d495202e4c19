//! A small HTTP/1 GET client for loopback endpoints: the gateway's probes and `/status`.
//!
//! It never adds forwarding headers (the gateway answers 403 to `X-Forwarded-For` from
//! loopback) and gives every request a deadline, so a wedged peer cannot stall a poller.

use std::time::Duration;

use http_body_util::{BodyExt, Empty, Limited};
use hyper::{
    Request, StatusCode,
    body::Bytes,
    header::{ACCEPT, HOST},
};
use hyper_util::{
    client::legacy::{Client, connect::HttpConnector},
    rt::TokioExecutor,
};

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
    /// Connecting or sending failed.
    #[error("failed to reach {url}")]
    Request {
        /// The URL asked.
        url: String,
        #[source]
        source: hyper_util::client::legacy::Error,
    },
    /// The body could not be read.
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
    inner: Client<HttpConnector, Empty<Bytes>>,
    timeout: Duration,
}

impl HttpClient {
    /// A client whose requests give up after `timeout`.
    pub fn new(timeout: Duration) -> Self {
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(timeout));
        connector.set_nodelay(true);
        let inner = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .pool_max_idle_per_host(2)
            .build(connector);
        Self { inner, timeout }
    }

    /// GETs `url` and reads the whole body.
    pub async fn get(&self, url: &str) -> Result<Answer, ClientError> {
        let uri: hyper::Uri = url.parse().map_err(|_| ClientError::InvalidUrl {
            url: url.to_owned(),
        })?;
        if uri.scheme_str() != Some("http") {
            return Err(ClientError::InvalidUrl {
                url: url.to_owned(),
            });
        }
        let Some(authority) = uri.authority().cloned() else {
            return Err(ClientError::InvalidUrl {
                url: url.to_owned(),
            });
        };
        let request = Request::get(uri)
            .header(HOST, authority.as_str())
            .header(ACCEPT, "application/json")
            .body(Empty::new())
            .map_err(|_| ClientError::InvalidUrl {
                url: url.to_owned(),
            })?;
        let exchange = async {
            let response =
                self.inner
                    .request(request)
                    .await
                    .map_err(|source| ClientError::Request {
                        url: url.to_owned(),
                        source,
                    })?;
            let status = response.status();
            let body = Limited::new(response.into_body(), MAX_BODY)
                .collect()
                .await
                .map_err(|source| ClientError::Body {
                    url: url.to_owned(),
                    source,
                })?
                .to_bytes();
            Ok(Answer { status, body })
        };
        tokio::time::timeout(self.timeout, exchange)
            .await
            .map_err(|_| ClientError::Timeout {
                url: url.to_owned(),
                timeout: self.timeout,
            })?
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
