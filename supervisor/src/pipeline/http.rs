//! The pipeline's HTTP client (rustls with ring; Mozilla roots, the image's bundle and the
//! instance's private CA) and retries that honour `Retry-After` on 429 and 5xx answers.

use std::{
    path::Path,
    sync::Arc,
    time::{Duration, SystemTime},
};

use reqwest::{RequestBuilder, Response, StatusCode};
use rustls::{RootCertStore, pki_types::CertificateDer, pki_types::pem::PemObject};

/// Why an HTTP exchange failed.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// The TLS configuration could not be built.
    #[error("failed to configure TLS")]
    Tls(#[source] rustls::Error),
    /// The client could not be built.
    #[error("failed to build the HTTP client")]
    Client(#[source] reqwest::Error),
    /// No answer (connection refused, timeout, TLS failure).
    #[error("request to {url} failed")]
    Send {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    /// An answer with an error status, after the retries.
    #[error("{url} answered {status}{}", body_suffix(.body))]
    Status {
        url: String,
        status: StatusCode,
        body: String,
    },
    /// The body could not be read.
    #[error("failed to read the answer of {url}")]
    Body {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    /// The body is larger than allowed.
    #[error("the answer of {url} exceeds {limit} bytes")]
    TooLarge { url: String, limit: u64 },
}

fn body_suffix(body: &str) -> String {
    let body = body.trim();
    if body.is_empty() {
        String::new()
    } else {
        format!(": {}", truncate(body, 300))
    }
}

fn truncate(text: &str, max: usize) -> &str {
    match text.char_indices().nth(max) {
        Some((i, _)) => &text[..i],
        None => text,
    }
}

/// Builds the client: Mozilla's roots, plus the image's bundle and the private CA when readable.
/// Only connecting has a time limit here; each request sets its own (a model pull may take hours).
pub fn client(system_ca: &Path, custom_ca: Option<&Path>) -> Result<reqwest::Client, HttpError> {
    let mut roots = RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    for file in std::iter::once(system_ca).chain(custom_ca) {
        let Ok(bytes) = std::fs::read(file) else {
            continue;
        };
        let certs = CertificateDer::pem_slice_iter(&bytes).filter_map(Result::ok);
        let (added, ignored) = roots.add_parsable_certificates(certs);
        tracing::debug!(file = %file.display(), added, ignored, "trusted certificates");
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(HttpError::Tls)?
        .with_root_certificates(roots)
        .with_no_client_auth();
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .connect_timeout(Duration::from_secs(15))
        .user_agent(concat!("openclaw-supervisor/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(HttpError::Client)
}

/// How often and how long to retry.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Attempts in all (the first included).
    pub attempts: u32,
    /// Delay after the first failure; doubled after each.
    pub base: Duration,
    /// Longest delay, `Retry-After` included.
    pub max: Duration,
}

impl RetryPolicy {
    /// Five attempts, from `base`, at most a minute apart.
    pub fn new(base: Duration) -> RetryPolicy {
        RetryPolicy {
            attempts: 5,
            base,
            max: Duration::from_secs(60),
        }
    }
}

/// Statuses worth retrying: rate limits and server-side failures.
pub fn retryable(status: StatusCode) -> bool {
    status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error()
}

/// Delay before attempt `attempt + 1` (`attempt` counts from 1): the server's `Retry-After`
/// when it sent one, else exponential backoff; never above `policy.max`.
pub fn retry_delay(policy: &RetryPolicy, attempt: u32, retry_after: Option<Duration>) -> Duration {
    let backoff = policy
        .base
        .saturating_mul(1 << attempt.saturating_sub(1).min(16));
    retry_after.unwrap_or(backoff).min(policy.max)
}

/// Parses `Retry-After`: delay seconds or an HTTP date.
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let when = httpdate::parse_http_date(value).ok()?;
    Some(when.duration_since(now).unwrap_or(Duration::ZERO))
}

/// Sends the request `build` makes, retrying connection failures, 429 and 5xx as `policy` says.
/// Returns the first answer with a success status; an error status after the last attempt (or a
/// status not worth retrying) becomes [`HttpError::Status`].
pub async fn send(
    policy: &RetryPolicy,
    build: impl Fn() -> RequestBuilder,
) -> Result<Response, HttpError> {
    let mut attempt = 1;
    loop {
        let request = build();
        let url = request
            .try_clone()
            .and_then(|r| r.build().ok())
            .map(|r| r.url().to_string())
            .unwrap_or_default();
        let (retry_after, error) = match request.send().await {
            Ok(response) if response.status().is_success() => return Ok(response),
            Ok(response) => {
                let status = response.status();
                let retry_after = response
                    .headers()
                    .get(reqwest::header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| parse_retry_after(v, SystemTime::now()));
                let body = response.text().await.unwrap_or_default();
                let error = HttpError::Status { url, status, body };
                if !retryable(status) {
                    return Err(error);
                }
                (retry_after, error)
            }
            Err(source) => (None, HttpError::Send { url, source }),
        };
        if attempt >= policy.attempts {
            return Err(error);
        }
        let delay = retry_delay(policy, attempt, retry_after);
        tracing::warn!(error = %error, attempt, delay_ms = delay.as_millis() as u64, "retrying");
        tokio::time::sleep(delay).await;
        attempt += 1;
    }
}

/// Reads a body of at most `limit` bytes.
pub async fn body_limited(mut response: Response, limit: u64) -> Result<Vec<u8>, HttpError> {
    let url = response.url().to_string();
    let mut bytes = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|source| HttpError::Body {
        url: url.clone(),
        source,
    })? {
        if bytes.len() as u64 + chunk.len() as u64 > limit {
            return Err(HttpError::TooLarge { url, limit });
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_wins_over_backoff_within_the_cap() {
        let policy = RetryPolicy {
            attempts: 5,
            base: Duration::from_millis(300),
            max: Duration::from_secs(60),
        };
        assert_eq!(retry_delay(&policy, 1, None), Duration::from_millis(300));
        assert_eq!(retry_delay(&policy, 3, None), Duration::from_millis(1200));
        assert_eq!(
            retry_delay(&policy, 1, Some(Duration::from_secs(7))),
            Duration::from_secs(7)
        );
        assert_eq!(
            retry_delay(&policy, 1, Some(Duration::from_secs(3600))),
            Duration::from_secs(60)
        );
        assert_eq!(retry_delay(&policy, 40, None), Duration::from_secs(60));
    }

    #[test]
    fn parses_both_forms_of_retry_after() {
        let now = httpdate::parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT")
            .unwrap_or(SystemTime::UNIX_EPOCH);
        assert_eq!(parse_retry_after(" 2 ", now), Some(Duration::from_secs(2)));
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:47 GMT", now),
            Some(Duration::from_secs(10))
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
    }

    #[test]
    fn retries_rate_limits_and_server_errors_only() {
        assert!(retryable(StatusCode::TOO_MANY_REQUESTS));
        assert!(retryable(StatusCode::SERVICE_UNAVAILABLE));
        assert!(!retryable(StatusCode::NOT_FOUND));
        assert!(!retryable(StatusCode::GONE));
    }
}
