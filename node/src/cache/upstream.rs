//! The client the cache fetches from upstreams with: rustls with the `ring` provider and
//! Mozilla's roots (the same approach as the supervisor's pipeline client), a connect timeout,
//! and a read timeout rather than a total one, because a model blob may take an hour to arrive
//! but should never sit silent for a minute.

use std::{sync::Arc, time::Duration};

use rustls::RootCertStore;

use super::error::CacheError;

/// Builds the upstream client. Redirects are followed (the Ollama registry and GitHub
/// releases answer blobs with a redirect to a CDN).
pub(crate) fn client() -> Result<reqwest::Client, CacheError> {
    let roots = RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(CacheError::Tls)?
        .with_root_certificates(roots)
        .with_no_client_auth();
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .connect_timeout(Duration::from_secs(15))
        .read_timeout(Duration::from_secs(60))
        .user_agent(concat!("openclaw-node-cache/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(CacheError::Client)
}

/// Percent-encodes a path segment or query value for an upstream URL: everything but RFC 3986
/// unreserved characters and those in `keep`.
pub(crate) fn encode(value: &str, keep: &[u8]) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) || keep.contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The base URL without its trailing slashes.
pub(crate) fn base(url: &str) -> &str {
    url.trim_end_matches('/')
}
