//! Watches exactly the Secrets and ConfigMaps that instances reference, and nothing else.
//!
//! Each referenced object gets its own metadata-only watch, selected by name in its namespace,
//! started when the first instance references it and stopped when the last one lets go. A change
//! triggers a reconcile of every instance that references it (which re-hashes the content and
//! rolls the pod). No Secret of the cluster is cached, and no value at all.

use std::{
    collections::{BTreeSet, HashMap, HashSet},
    sync::Mutex,
};

use futures::{Stream, StreamExt};
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::{
    Api, Client, Resource,
    core::PartialObjectMeta,
    runtime::{WatchStreamExt, predicates, reflector::ObjectRef, watcher},
};
use openclaw_api::OpenClawInstance;
use serde::de::DeserializeOwned;
use tokio::{sync::mpsc, task::AbortHandle};

use crate::build::{Reference, ReferenceKind};

/// A referenced object: kind, namespace, name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Target {
    pub kind: ReferenceKind,
    pub namespace: String,
    pub name: String,
}

type Instance = ObjectRef<OpenClawInstance>;

#[derive(Debug, Default)]
struct Inner {
    /// Per watched object: the instances that reference it, and its watch task.
    watches: HashMap<Target, (HashSet<Instance>, AbortHandle)>,
    /// Per instance: what it references.
    by_instance: HashMap<Instance, BTreeSet<Target>>,
}

/// Starts and stops per-object watches as references come and go.
pub struct RefWatcher {
    client: Client,
    inner: std::sync::Arc<Mutex<Inner>>,
    triggers: mpsc::UnboundedSender<Instance>,
}

impl RefWatcher {
    /// The watcher and the stream of instances to reconcile when a referenced object changes.
    pub fn new(client: Client) -> (Self, impl Stream<Item = Instance> + Send + 'static) {
        let (tx, rx) = mpsc::unbounded_channel();
        let stream = futures::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|item| (item, rx))
        });
        (
            Self {
                client,
                inner: std::sync::Arc::default(),
                triggers: tx,
            },
            stream,
        )
    }

    /// Records what `instance` references now; starts and stops watches accordingly.
    pub fn set(&self, instance: &Instance, namespace: &str, references: &[Reference]) {
        let wanted: BTreeSet<Target> = references
            .iter()
            .map(|r| Target {
                kind: r.kind,
                namespace: namespace.to_owned(),
                name: r.name.clone(),
            })
            .collect();
        let mut inner = self
            .inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let previous = inner
            .by_instance
            .insert(instance.clone(), wanted.clone())
            .unwrap_or_default();
        for gone in previous.difference(&wanted) {
            release(&mut inner, gone, instance);
        }
        for target in wanted.difference(&previous) {
            if let Some((users, _)) = inner.watches.get_mut(target) {
                users.insert(instance.clone());
                continue;
            }
            let task = self.spawn(target.clone());
            inner
                .watches
                .insert(target.clone(), (HashSet::from([instance.clone()]), task));
        }
    }

    /// Drops every reference of a deleted instance.
    pub fn forget(&self, instance: &Instance) {
        let mut inner = self
            .inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for target in inner.by_instance.remove(instance).unwrap_or_default() {
            release(&mut inner, &target, instance);
        }
    }

    /// Number of objects watched now (for tests and metrics).
    pub fn watched(&self) -> usize {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .watches
            .len()
    }

    fn spawn(&self, target: Target) -> AbortHandle {
        let client = self.client.clone();
        let inner = self.inner.clone();
        let tx = self.triggers.clone();
        let handle = tokio::spawn(async move {
            match target.kind {
                ReferenceKind::Secret => watch_one::<Secret>(client, target, inner, tx).await,
                ReferenceKind::ConfigMap => watch_one::<ConfigMap>(client, target, inner, tx).await,
            }
        });
        handle.abort_handle()
    }
}

impl std::fmt::Debug for RefWatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RefWatcher")
            .field("watched", &self.watched())
            .finish()
    }
}

fn release(inner: &mut Inner, target: &Target, instance: &Instance) {
    if let Some((users, task)) = inner.watches.get_mut(target) {
        users.remove(instance);
        if users.is_empty() {
            task.abort();
            inner.watches.remove(target);
        }
    }
}

async fn watch_one<K>(
    client: Client,
    target: Target,
    inner: std::sync::Arc<Mutex<Inner>>,
    tx: mpsc::UnboundedSender<Instance>,
) where
    K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + DeserializeOwned
        + std::fmt::Debug
        + Send
        + 'static,
{
    let api: Api<PartialObjectMeta<K>> = Api::namespaced(client, &target.namespace);
    let config = watcher::Config::default().fields(&format!("metadata.name={}", target.name));
    let mut events = watcher(api, config)
        .default_backoff()
        .touched_objects()
        .predicate_filter(predicates::resource_version, Default::default())
        .boxed();
    // The initial listing triggers one reconcile too: harmless, and it covers an object that
    // appeared between the reconcile that read it and the start of this watch.
    while let Some(event) = events.next().await {
        if event.is_err() {
            continue;
        }
        let users: Vec<Instance> = inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .watches
            .get(&target)
            .map(|(users, _)| users.iter().cloned().collect())
            .unwrap_or_default();
        for user in users {
            let _ = tx.send(user);
        }
    }
}
