//! Server-side apply of children, skipped when nothing changed since our last apply.
//!
//! Steady state must write nothing: an object is applied only when what we want differs from
//! what we last applied, or when its resourceVersion moved since (someone edited or deleted it).

use std::{
    collections::HashMap,
    hash::{DefaultHasher, Hash, Hasher},
    sync::Mutex,
};

use k8s_openapi::NamespaceResourceScope;
use kube::{
    Api, Resource, ResourceExt,
    api::{DeleteParams, Patch, PatchParams},
};
use serde::{Serialize, de::DeserializeOwned};

use super::{Context, error::Cause};
use crate::build::FIELD_MANAGER;

type Key = (String, String, String);

/// What we last applied per object: hash of the desired object and the resourceVersion the
/// API server returned.
#[derive(Debug, Default)]
pub struct AppliedCache {
    entries: Mutex<HashMap<Key, (u64, String)>>,
}

impl AppliedCache {
    fn get(&self, key: &Key) -> Option<(u64, String)> {
        self.lock().get(key).cloned()
    }

    fn put(&self, key: Key, value: (u64, String)) {
        self.lock().insert(key, value);
    }

    fn remove(&self, key: &Key) {
        self.lock().remove(key);
    }

    /// Forgets every object of a namespace/instance prefix (after the instance is deleted).
    pub fn forget_instance(&self, namespace: &str, instance: &str) {
        self.lock()
            .retain(|(_, ns, name), _| !(ns == namespace && name.starts_with(instance)));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Key, (u64, String)>> {
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

fn desired_hash<K: Serialize>(desired: &K) -> Result<u64, Cause> {
    let bytes = serde_json::to_vec(desired).map_err(|e| Cause::Serialize("a child object", e))?;
    let mut hasher = DefaultHasher::new();
    bytes.hash(&mut hasher);
    Ok(hasher.finish())
}

/// Applies `desired` unless the live object (its resourceVersion from the cache, `None` when
/// absent) is exactly what our previous apply left. Returns whether it wrote.
pub async fn ensure<K>(ctx: &Context, desired: &K, live_rv: Option<String>) -> Result<bool, Cause>
where
    K: Resource<DynamicType = (), Scope = NamespaceResourceScope>
        + Serialize
        + DeserializeOwned
        + Clone
        + std::fmt::Debug,
{
    let namespace = desired
        .meta()
        .namespace
        .as_deref()
        .ok_or(Cause::NoNamespace)?;
    let api = Api::namespaced(ctx.client.clone(), namespace);
    ensure_with(ctx, desired, live_rv, &K::kind(&()), api).await
}

/// [`ensure`] with an explicit API (dynamic types such as ServiceMonitor).
pub async fn ensure_with<K>(
    ctx: &Context,
    desired: &K,
    live_rv: Option<String>,
    kind: &str,
    api: Api<K>,
) -> Result<bool, Cause>
where
    K: Resource + Serialize + DeserializeOwned + Clone + std::fmt::Debug,
{
    let name = desired.name_any();
    let namespace = desired.meta().namespace.clone().unwrap_or_default();
    let key = (kind.to_owned(), namespace, name.clone());
    let hash = desired_hash(desired)?;
    if let (Some(rv), Some((applied_hash, applied_rv))) = (&live_rv, ctx.applied.get(&key))
        && applied_hash == hash
        && &applied_rv == rv
    {
        return Ok(false);
    }
    let params = PatchParams::apply(FIELD_MANAGER).force();
    let applied = api.patch(&name, &params, &Patch::Apply(desired)).await?;
    ctx.metrics.api_write(kind);
    if live_rv.is_some() {
        tracing::info!(kind, %name, "repaired or updated");
    }
    ctx.applied
        .put(key, (hash, applied.resource_version().unwrap_or_default()));
    Ok(true)
}

/// Deletes an object we no longer want, if the cache says it exists.
pub async fn remove<K>(
    ctx: &Context,
    namespace: &str,
    name: &str,
    exists: bool,
) -> Result<bool, Cause>
where
    K: Resource<DynamicType = (), Scope = NamespaceResourceScope>
        + DeserializeOwned
        + Clone
        + std::fmt::Debug,
{
    if !exists {
        return Ok(false);
    }
    let api: Api<K> = Api::namespaced(ctx.client.clone(), namespace);
    match api.delete(name, &DeleteParams::background()).await {
        Ok(_) => {}
        Err(kube::Error::Api(status)) if status.code == 404 => {}
        Err(err) => return Err(err.into()),
    }
    ctx.metrics.api_write(&K::kind(&()));
    ctx.applied.remove(&(
        K::kind(&()).into_owned(),
        namespace.to_owned(),
        name.to_owned(),
    ));
    Ok(true)
}
