//! The cache's Prometheus metrics (`openclaw_node_cache_*`): how often pods are answered from
//! the node (hits) rather than by the upstream (misses), how often the upstream is asked at
//! all, how many downloads were refused for not matching their digest, and how much disk the
//! store holds. They tell an operator whether the cache saves anything and whether an upstream
//! (or a mirror in between) serves tampered bytes.

use std::sync::atomic::{AtomicU64, Ordering};

use prometheus_client::{
    encoding::EncodeLabelSet,
    metrics::{counter::Counter, family::Family, gauge::Gauge},
    registry::Registry,
};

/// Where a download comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Source {
    ClawHub,
    Npm,
    Pypi,
    Python,
    Ollama,
}

impl Source {
    pub fn label(self) -> &'static str {
        match self {
            Source::ClawHub => "clawhub",
            Source::Npm => "npm",
            Source::Pypi => "pypi",
            Source::Python => "python",
            Source::Ollama => "ollama",
        }
    }
}

/// How a request was answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// From the store, fresh.
    Hit,
    /// Fetched from the upstream now.
    Miss,
    /// From the store, past its time to live, because the upstream could not answer.
    Stale,
}

impl Outcome {
    fn label(self) -> &'static str {
        match self {
            Outcome::Hit => "hit",
            Outcome::Miss => "miss",
            Outcome::Stale => "stale",
        }
    }
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SourceLabels {
    source: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    source: String,
    result: String,
}

/// The metrics, registered once when the cache opens.
#[derive(Debug, Default)]
pub(crate) struct Metrics {
    upstream_requests: Family<SourceLabels, Counter>,
    requests: Family<RequestLabels, Counter>,
    verification_failures: Family<SourceLabels, Counter>,
    stored_bytes: Gauge,
    evictions: Counter,
    upstream_total: AtomicU64,
}

impl Metrics {
    /// Registers the metrics under `openclaw_node_cache_`.
    pub fn register(registry: &mut Registry) -> Metrics {
        let metrics = Metrics::default();
        let sub = registry.sub_registry_with_prefix("openclaw_node_cache");
        sub.register(
            "upstream_requests",
            "Requests the cache sent to an upstream",
            metrics.upstream_requests.clone(),
        );
        sub.register(
            "requests",
            "Requests pods sent to the cache, by how they were answered",
            metrics.requests.clone(),
        );
        sub.register(
            "verification_failures",
            "Downloads refused because they did not match their digest",
            metrics.verification_failures.clone(),
        );
        sub.register(
            "stored_bytes",
            "Bytes of blobs in the store",
            metrics.stored_bytes.clone(),
        );
        sub.register(
            "evictions",
            "Blobs evicted to keep the store within its size",
            metrics.evictions.clone(),
        );
        metrics
    }

    pub fn upstream_request(&self, source: Source) {
        self.upstream_total.fetch_add(1, Ordering::Relaxed);
        self.upstream_requests
            .get_or_create(&SourceLabels {
                source: source.label().into(),
            })
            .inc();
    }

    pub fn upstream_total(&self) -> u64 {
        self.upstream_total.load(Ordering::Relaxed)
    }

    pub fn request(&self, source: Source, outcome: Option<Outcome>) {
        self.requests
            .get_or_create(&RequestLabels {
                source: source.label().into(),
                result: outcome.map_or("error", Outcome::label).into(),
            })
            .inc();
    }

    pub fn verification_failure(&self, source: Source) {
        self.verification_failures
            .get_or_create(&SourceLabels {
                source: source.label().into(),
            })
            .inc();
    }

    pub fn set_stored_bytes(&self, bytes: u64) {
        self.stored_bytes
            .set(i64::try_from(bytes).unwrap_or(i64::MAX));
    }

    pub fn evicted(&self, count: u64) {
        self.evictions.inc_by(count);
    }
}
