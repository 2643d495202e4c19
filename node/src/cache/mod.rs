//! The node-local, content-addressed download cache.
//!
//! Every agent pod on a node downloads the same things: ClawHub skills, npm packages, the uv
//! wheel, a Python build, Ollama models. The node agent serves them over HTTP as a pull-through
//! mirror, so that the second pod on a node fetches nothing upstream that the first fetched,
//! and an air-gapped cluster needs only one internal mirror configured on the node agent.
//!
//! Nothing is served that was not verified: artifacts are hashed as they arrive and checked
//! against the digest the upstream's own documents promise (npm `dist.integrity`, PyPI
//! `#sha256=`, `SHA256SUMS`, the digest in an Ollama blob's name, the first SHA-256 seen for a
//! ClawHub version) before a byte is stored or served. Mutable documents (packuments, index
//! pages, skill metadata, manifests by tag) are served from the store for `metadata_ttl`, and
//! past it when the upstream is down.
//!
//! Routes (see [`Cache::router`]): `/clawhub/…`, `/npm/…`, `/pypi/simple/…` and
//! `/pypi/files/…`, `/python/…`, `/v2/…` (the Ollama registry).

mod clawhub;
mod error;
mod metrics;
mod npm;
mod ollama;
mod path;
mod pypi;
mod python;
mod serve;
mod store;
mod upstream;
mod verify;

use std::{
    collections::HashMap,
    path::PathBuf,
    sync::{Arc, Mutex, Weak},
    time::Duration,
};

use axum::{
    Router,
    extract::State,
    http::{HeaderMap, HeaderValue, StatusCode, Uri, header},
    response::{IntoResponse, Response},
    routing::get,
};
use bytes::Bytes;
use futures::StreamExt;

pub use error::CacheError;

use self::{
    error::Failure,
    metrics::{Metrics, Outcome, Source},
    store::{Entry, StageError, Store, now_ms},
    verify::Expected,
};

/// Largest upstream document (packument, index page, manifest) the cache reads into memory.
/// The full packuments of the largest npm packages are tens of MiB.
const MAX_DOCUMENT_BYTES: u64 = 128 * 1024 * 1024;

/// How the cache is set up.
#[derive(Debug, Clone)]
pub struct CacheConfig {
    /// The cache directory: a hostPath on the node, so the cache survives restarts of the
    /// node agent.
    pub dir: PathBuf,
    /// Bound on the bytes of stored blobs; least-recently-used blobs are evicted first.
    pub max_bytes: u64,
    /// How long mutable documents (packuments, index pages, skill metadata, manifests by tag)
    /// are served without asking the upstream.
    pub metadata_ttl: Duration,
    /// Where to pull through from.
    pub upstreams: Upstreams,
}

/// The upstream base URLs: the public registries by default, an internal mirror in an
/// air-gapped cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upstreams {
    /// ClawHub (`https://clawhub.ai`).
    pub clawhub: String,
    /// The npm registry (`https://registry.npmjs.org`).
    pub npm: String,
    /// A PyPI simple index (`https://pypi.org/simple`).
    pub pypi: String,
    /// A python-build-standalone release mirror (`<base>/<release>/<file>`); none by default,
    /// since uv downloads from GitHub unless told otherwise, and `/python/` then answers 404.
    pub python: Option<String>,
    /// The Ollama registry (`https://registry.ollama.ai`).
    pub ollama: String,
}

impl Default for Upstreams {
    fn default() -> Upstreams {
        Upstreams {
            clawhub: "https://clawhub.ai".into(),
            npm: "https://registry.npmjs.org".into(),
            pypi: "https://pypi.org/simple".into(),
            python: None,
            ollama: "https://registry.ollama.ai".into(),
        }
    }
}

/// The cache: its store, its upstream client and its metrics. Shared by every request.
#[derive(Debug)]
pub struct Cache {
    upstreams: Upstreams,
    metadata_ttl: Duration,
    store: Store,
    http: reqwest::Client,
    metrics: Arc<Metrics>,
    /// One lock per key being fetched, so concurrent requests for the same thing make one
    /// upstream request (the others wait, then find it in the store).
    flights: Mutex<HashMap<String, Weak<tokio::sync::Mutex<()>>>>,
}

/// An answer and how it was found, for the `requests_total` metric.
#[derive(Debug)]
pub(crate) struct Reply {
    pub response: Response,
    pub outcome: Outcome,
}

/// A document from the store or the upstream.
#[derive(Debug, Clone)]
pub(crate) struct Doc {
    pub bytes: Bytes,
    pub content_type: Option<String>,
    pub outcome: Outcome,
}

/// A blob ready to stream.
#[derive(Debug)]
pub(crate) struct Blob {
    pub file: tokio::fs::File,
    pub size: u64,
    pub sha256: String,
    pub outcome: Outcome,
}

/// Where a blob is found in the index.
#[derive(Debug, Clone, Copy)]
pub(crate) enum BlobKey<'a> {
    /// Under a request key (an npm tarball path, a ClawHub slug and version).
    Entry(&'a str),
    /// By its own SHA-256 (Ollama blobs, PyPI files).
    Content(&'a str),
}

impl Cache {
    /// Opens the cache in `config.dir`: loads the index, removes half-written temporary files,
    /// drops entries whose blob is missing or has the wrong size (blobs are hashed in full
    /// before their first serve), and registers the metrics on `registry`.
    pub async fn open(
        config: CacheConfig,
        registry: &mut prometheus_client::registry::Registry,
    ) -> Result<Arc<Cache>, CacheError> {
        let metrics = Arc::new(Metrics::register(registry));
        let store = Store::open(config.dir.clone(), config.max_bytes, metrics.clone()).await?;
        Ok(Arc::new(Cache {
            upstreams: config.upstreams,
            metadata_ttl: config.metadata_ttl,
            store,
            http: upstream::client()?,
            metrics,
            flights: Mutex::new(HashMap::new()),
        }))
    }

    /// The cache's routes, to merge at the root of the node agent's server (they match the
    /// full path, so do not nest them under a prefix):
    ///
    /// - `/clawhub/api/v1/…`: ClawHub (`OPENCLAW_MIRROR_CLAWHUB=http://<node>:<port>/clawhub`)
    /// - `/npm/…`: the npm registry (`OPENCLAW_MIRROR_NPM=http://<node>:<port>/npm/`)
    /// - `/pypi/simple/<project>/` and `/pypi/files/<sha256>/<file>`: the PyPI simple index
    ///   (`OPENCLAW_MIRROR_PYPI=http://<node>:<port>/pypi/simple`)
    /// - `/python/<release>/<file>`: python-build-standalone
    ///   (`OPENCLAW_MIRROR_PYTHON=http://<node>:<port>/python`)
    /// - `/v2/<name>/manifests/<tag>` and `/v2/<name>/blobs/sha256:<hex>`: the Ollama registry
    ///   (pull `http://<node>:<port>/library/<model>:<tag>` with insecure)
    ///
    /// GET and HEAD only.
    pub fn router(self: &Arc<Self>) -> Router {
        Router::new()
            .route(
                "/clawhub/{*rest}",
                get(
                    |State(c): State<Arc<Cache>>, uri: Uri, headers: HeaderMap| async move {
                        let result = clawhub::handle(&c, &uri, &headers).await;
                        c.finish(Source::ClawHub, result)
                    },
                ),
            )
            .route(
                "/npm/{*rest}",
                get(
                    |State(c): State<Arc<Cache>>, uri: Uri, headers: HeaderMap| async move {
                        let result = npm::handle(&c, &uri, &headers).await;
                        c.finish(Source::Npm, result)
                    },
                ),
            )
            .route(
                "/pypi/{*rest}",
                get(
                    |State(c): State<Arc<Cache>>, uri: Uri, headers: HeaderMap| async move {
                        let result = pypi::handle(&c, &uri, &headers).await;
                        c.finish(Source::Pypi, result)
                    },
                ),
            )
            .route(
                "/python/{*rest}",
                get(
                    |State(c): State<Arc<Cache>>, uri: Uri, headers: HeaderMap| async move {
                        let result = python::handle(&c, &uri, &headers).await;
                        c.finish(Source::Python, result)
                    },
                ),
            )
            .route(
                "/v2/{*rest}",
                get(
                    |State(c): State<Arc<Cache>>, uri: Uri, headers: HeaderMap| async move {
                        let result = ollama::handle(&c, &uri, &headers).await;
                        c.finish(Source::Ollama, result)
                    },
                ),
            )
            .with_state(self.clone())
    }

    /// Requests sent to upstreams since the cache opened, all sources together.
    pub fn upstream_requests(&self) -> u64 {
        self.metrics.upstream_total()
    }

    /// Bytes of blobs the store holds now (what the `stored_bytes` gauge shows).
    pub fn stored_bytes(&self) -> u64 {
        self.store.stored_bytes()
    }

    fn finish(&self, source: Source, result: Result<Reply, Failure>) -> Response {
        match result {
            Ok(reply) => {
                self.metrics.request(source, Some(reply.outcome));
                reply.response
            }
            Err(failure) => {
                self.metrics.request(source, None);
                if failure.status.is_server_error() {
                    tracing::warn!(source = source.label(), status = %failure.status, message = %failure.message, "cache request failed");
                } else {
                    tracing::debug!(source = source.label(), status = %failure.status, message = %failure.message, "cache request refused");
                }
                failure.into_response()
            }
        }
    }

    /// Waits for the right to fetch `key`.
    async fn flight(&self, key: &str) -> tokio::sync::OwnedMutexGuard<()> {
        let lock = {
            let mut flights = self.flights.lock().unwrap_or_else(|e| e.into_inner());
            match flights.get(key).and_then(Weak::upgrade) {
                Some(lock) => lock,
                None => {
                    if flights.len() >= 1024 {
                        flights.retain(|_, w| w.strong_count() > 0);
                    }
                    let lock = Arc::new(tokio::sync::Mutex::new(()));
                    flights.insert(key.to_owned(), Arc::downgrade(&lock));
                    lock
                }
            }
        };
        lock.lock_owned().await
    }

    /// Sends a GET upstream and sorts the answer: success, or a failure and whether a stale
    /// document may stand in for it (the upstream is down or rate-limiting, rather than saying
    /// the thing does not exist).
    async fn get_upstream(
        &self,
        source: Source,
        url: &str,
        accept: Option<&str>,
    ) -> Result<reqwest::Response, (Failure, bool)> {
        self.metrics.upstream_request(source);
        let mut request = self.http.get(url);
        if let Some(accept) = accept {
            request = request.header(header::ACCEPT, accept);
        }
        let response = match request.send().await {
            Ok(response) => response,
            Err(error) => {
                let mut chain = error.to_string();
                let mut cause = std::error::Error::source(&error);
                while let Some(c) = cause {
                    chain.push_str(&format!(": {c}"));
                    cause = c.source();
                }
                return Err((
                    Failure::bad_gateway(format!("upstream {url} is unreachable ({chain})")),
                    true,
                ));
            }
        };
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        Err(match status.as_u16() {
            404 | 410 => (
                Failure::new(
                    StatusCode::from_u16(status.as_u16()).unwrap_or(StatusCode::NOT_FOUND),
                    format!("upstream {url} answered {status}"),
                ),
                false,
            ),
            429 => {
                let mut failure = Failure::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    format!("upstream {url} is rate-limiting (429); retry later"),
                );
                failure.retry_after = response
                    .headers()
                    .get(header::RETRY_AFTER)
                    .and_then(|v| HeaderValue::from_bytes(v.as_bytes()).ok());
                (failure, true)
            }
            500..=599 => (
                Failure::bad_gateway(format!("upstream {url} answered {status}")),
                true,
            ),
            _ => (
                Failure::new(
                    StatusCode::from_u16(status.as_u16()).unwrap_or(StatusCode::BAD_GATEWAY),
                    format!("upstream {url} answered {status}"),
                ),
                false,
            ),
        })
    }

    /// The stored document of `key`, if held and (with `max_age`) young enough.
    async fn cached_document(&self, key: &str, max_age: Option<Duration>) -> Option<Doc> {
        let entry = self.store.entry(key)?;
        if let Some(max_age) = max_age {
            let age = now_ms().saturating_sub(entry.fetched_at_ms.unwrap_or(0));
            if u128::from(age) >= max_age.as_millis() {
                return None;
            }
        }
        let bytes = self.store.read(&entry.sha256).await?;
        Some(Doc {
            bytes,
            content_type: entry.content_type,
            outcome: Outcome::Hit,
        })
    }

    /// A mutable document: from the store while younger than the TTL (unless `force`), else
    /// from `url` (one request however many ask at once), else the stored one however old when
    /// the upstream is down or rate-limiting.
    async fn document(
        &self,
        source: Source,
        key: &str,
        url: &str,
        accept: &str,
        force: bool,
    ) -> Result<Doc, Failure> {
        let asked_at = now_ms();
        if !force && let Some(doc) = self.cached_document(key, Some(self.metadata_ttl)).await {
            return Ok(doc);
        }
        let _flight = self.flight(key).await;
        // Fetched by another request while this one waited.
        if let Some(entry) = self.store.entry(key)
            && entry.fetched_at_ms.unwrap_or(0) >= asked_at
            && let Some(doc) = self.cached_document(key, None).await
        {
            return Ok(doc);
        }
        if !force && let Some(doc) = self.cached_document(key, Some(self.metadata_ttl)).await {
            return Ok(doc);
        }
        let fetched = async {
            let response = self.get_upstream(source, url, Some(accept)).await?;
            let content_type = response
                .headers()
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let bytes = read_limited(response, MAX_DOCUMENT_BYTES)
                .await
                .map_err(|message| (Failure::bad_gateway(format!("{url}: {message}")), true))?;
            Ok::<_, (Failure, bool)>((bytes, content_type))
        }
        .await;
        match fetched {
            Ok((bytes, content_type)) => {
                self.keep_document(key, bytes.clone(), content_type.clone())
                    .await;
                Ok(Doc {
                    bytes,
                    content_type,
                    outcome: Outcome::Miss,
                })
            }
            Err((failure, stale_ok)) => {
                if stale_ok && let Some(mut doc) = self.cached_document(key, None).await {
                    tracing::warn!(%url, reason = %failure.message, "serving a stale document");
                    doc.outcome = Outcome::Stale;
                    return Ok(doc);
                }
                Err(failure)
            }
        }
    }

    /// Stores a fetched document; a failure to store is logged, the document still served.
    async fn keep_document(&self, key: &str, bytes: Bytes, content_type: Option<String>) {
        let kept = async {
            let staged = self
                .store
                .stage_bytes(bytes)
                .await
                .map_err(|e| format!("{e:?}"))?;
            let entry = Entry {
                sha256: staged.sha256.clone(),
                fetched_at_ms: Some(now_ms()),
                content_type,
                expected: None,
            };
            self.store
                .commit(staged, Some((key.to_owned(), entry)))
                .await
                .map_err(|e| e.to_string())
        }
        .await;
        if let Err(error) = kept {
            tracing::warn!(%key, %error, "failed to store a document");
        }
    }

    /// A stored blob, if held and intact.
    async fn lookup(&self, key: BlobKey<'_>) -> Option<Blob> {
        let sha256 = match key {
            BlobKey::Entry(key) => self.store.entry(key)?.sha256,
            BlobKey::Content(hex) => hex.to_owned(),
        };
        let (file, size) = self.store.open_blob(&sha256).await?;
        Some(Blob {
            file,
            size,
            sha256,
            outcome: Outcome::Hit,
        })
    }

    /// An immutable artifact: from the store, else fetched from `url` (one request however many
    /// ask at once), checked against `expected` as it streams in, and stored only when it
    /// matches. `what` names the artifact in messages.
    async fn artifact(
        &self,
        source: Source,
        key: BlobKey<'_>,
        url: &str,
        expected: Option<&Expected>,
        what: &str,
    ) -> Result<Blob, Failure> {
        if let Some(blob) = self.lookup(key).await {
            return Ok(blob);
        }
        let flight_key = match key {
            BlobKey::Entry(key) => key.to_owned(),
            BlobKey::Content(hex) => format!("blob:{hex}"),
        };
        let _flight = self.flight(&flight_key).await;
        if let Some(blob) = self.lookup(key).await {
            return Ok(blob);
        }
        let response = self
            .get_upstream(source, url, None)
            .await
            .map_err(|(failure, _)| failure)?;
        let staged = self
            .store
            .stage(response.bytes_stream(), expected.map(Expected::checker))
            .await
            .map_err(|error| match error {
                StageError::Mismatch(mismatch) => {
                    self.metrics.verification_failure(source);
                    tracing::warn!(%what, %url, expected = %mismatch.expected, actual = %mismatch.actual, "refused a download that does not match its digest");
                    Failure::bad_gateway(format!(
                        "refused {what}: expected {}, but {url} sent bytes with {}; nothing was stored",
                        mismatch.expected, mismatch.actual
                    ))
                }
                StageError::Upstream(message) => {
                    Failure::bad_gateway(format!("the download of {url} broke off: {message}"))
                }
                StageError::Io(error) => Failure::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    format!("the cache could not write {what}: {error}"),
                ),
            })?;
        let internal = |error: std::io::Error| {
            Failure::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("the cache could not store {what}: {error}"),
            )
        };
        let file = match staged.open().await {
            Ok(file) => file,
            Err(error) => {
                self.store.discard(staged).await;
                return Err(internal(error));
            }
        };
        let (sha256, size) = (staged.sha256.clone(), staged.size);
        let entry = match key {
            BlobKey::Entry(key) => Some((
                key.to_owned(),
                Entry {
                    sha256: sha256.clone(),
                    fetched_at_ms: Some(now_ms()),
                    content_type: None,
                    expected: expected.map(Expected::describe),
                },
            )),
            BlobKey::Content(_) => None,
        };
        self.store.commit(staged, entry).await.map_err(internal)?;
        Ok(Blob {
            file,
            size,
            sha256,
            outcome: Outcome::Miss,
        })
    }

    /// Streams `blob` back (honouring `Range`).
    async fn blob_reply(
        blob: Blob,
        content_type: &'static str,
        request: &HeaderMap,
        extra: &[(header::HeaderName, HeaderValue)],
    ) -> Result<Reply, Failure> {
        let outcome = blob.outcome;
        let response = serve::blob(blob.file, blob.size, content_type, request, extra).await?;
        Ok(Reply { response, outcome })
    }
}

/// Reads a body of at most `limit` bytes.
async fn read_limited(response: reqwest::Response, limit: u64) -> Result<Bytes, String> {
    let mut stream = response.bytes_stream();
    let mut bytes = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| format!("the answer broke off: {e}"))?;
        if bytes.len() as u64 + chunk.len() as u64 > limit {
            return Err(format!("the answer exceeds {limit} bytes"));
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(Bytes::from(bytes))
}

/// A JSON or text document as the reply.
fn document_reply(doc: Doc, default_type: &str) -> Reply {
    let content_type = doc
        .content_type
        .as_deref()
        .unwrap_or(default_type)
        .to_owned();
    Reply {
        response: serve::document(doc.bytes, &content_type),
        outcome: doc.outcome,
    }
}

/// The route's part of the path: after `prefix`, raw (still percent-encoded).
fn rest<'a>(uri: &'a Uri, prefix: &str) -> &'a str {
    uri.path().strip_prefix(prefix).unwrap_or_default()
}
