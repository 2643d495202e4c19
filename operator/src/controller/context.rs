//! What every reconcile shares: the client, settings, caches and metrics.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use kube::{
    Client,
    runtime::events::{Recorder, Reporter},
};

use super::{
    apply::AppliedCache, cluster_facts::ClusterFacts, references::RefWatcher, stores::Stores,
};
use crate::metrics::Metrics;

/// Settings of the controller, from the command line.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Image with `openclaw-init` and `openclaw-supervisor`.
    pub runtime_image: String,
    /// Namespace the operator runs in.
    pub operator_namespace: String,
    /// Only reconcile instances of these namespaces (all when empty).
    pub watch_namespaces: Vec<String>,
    /// Instances reconciled at once.
    pub concurrency: u16,
    /// Periodic resync (drift repair) interval.
    pub resync: Duration,
    /// Identity in events.
    pub pod_name: String,
    /// Reach every supervisor at this `host:port` instead of its pod's IP (local control
    /// planes, where pods do not run).
    pub supervisor_address: Option<String>,
    /// Whether the node agent's Localhost seccomp profile may be used.
    pub seccomp: crate::cli::SeccompMode,
    /// Port of the node agents' download cache, when agent pods use it.
    pub node_cache_port: Option<u16>,
    /// Registries whose tags are listed over plain HTTP.
    pub insecure_registries: Vec<String>,
}

/// Shared state of the controller.
pub struct Context {
    pub client: Client,
    pub settings: Settings,
    pub metrics: Arc<Metrics>,
    pub stores: Stores,
    pub refs: RefWatcher,
    pub applied: AppliedCache,
    pub facts: ClusterFacts,
    pub recorder: Recorder,
    /// Plain-HTTP client for the supervisors' status ports.
    pub http: reqwest::Client,
    /// Registry tag listings, one per repository per interval, shared by every instance.
    pub tags: crate::update::lookups::TagLookups,
    /// Final-backup attempts per instance uid being deleted (a failed attempt's id is spent).
    deletions: Mutex<HashMap<String, u32>>,
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl Context {
    pub fn new(
        client: Client,
        settings: Settings,
        metrics: Arc<Metrics>,
        stores: Stores,
        refs: RefWatcher,
    ) -> Self {
        let reporter = Reporter {
            controller: "openclaw-operator".into(),
            instance: Some(settings.pod_name.clone()),
        };
        Self {
            recorder: Recorder::new(client.clone(), reporter),
            facts: ClusterFacts::new(client.clone()),
            client,
            settings,
            metrics,
            stores,
            refs,
            applied: AppliedCache::default(),
            http: reqwest::Client::new(),
            tags: crate::update::lookups::TagLookups::default(),
            deletions: Mutex::default(),
        }
    }

    /// The current final-backup attempt of the instance `uid`.
    pub fn deletion_attempt(&self, uid: &str) -> u32 {
        self.deletions().get(uid).copied().unwrap_or(0)
    }

    /// Moves on to a new final-backup attempt after a failed one.
    pub fn next_deletion_attempt(&self, uid: &str) {
        *self.deletions().entry(uid.to_owned()).or_insert(0) += 1;
    }

    /// Forgets the attempts of a finalized instance.
    pub fn forget_deletion(&self, uid: &str) {
        self.deletions().remove(uid);
    }

    fn deletions(&self) -> std::sync::MutexGuard<'_, HashMap<String, u32>> {
        self.deletions
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
