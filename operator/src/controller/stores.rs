//! Caches of the objects the operator owns, fed by watches limited to its own label.
//!
//! Children are watched as metadata only (no Secret value, no ConfigMap content is cached),
//! except StatefulSets, whose status decides the instance's phase.

use k8s_openapi::api::{
    apps::v1::StatefulSet,
    core::v1::{ConfigMap, PersistentVolumeClaim, Secret, Service, ServiceAccount},
    networking::v1::{Ingress, NetworkPolicy},
    policy::v1::PodDisruptionBudget,
    rbac::v1::{Role, RoleBinding},
};
use kube::{
    Api, Client, Resource,
    core::PartialObjectMeta,
    runtime::{
        Controller, WatchStreamExt, predicates,
        reflector::{self, ObjectRef, Store},
        watcher,
    },
};
use openclaw_api::OpenClawInstance;
use serde::de::DeserializeOwned;

/// Label every object the operator creates carries; the watches select on it.
pub const MANAGED_BY: &str = "app.kubernetes.io/managed-by=openclaw-operator";

/// Read-only caches of the operator's children.
#[derive(Clone)]
pub struct Stores {
    pub stateful_sets: Store<StatefulSet>,
    pub services: Store<PartialObjectMeta<Service>>,
    pub service_accounts: Store<PartialObjectMeta<ServiceAccount>>,
    pub roles: Store<PartialObjectMeta<Role>>,
    pub role_bindings: Store<PartialObjectMeta<RoleBinding>>,
    pub config_maps: Store<PartialObjectMeta<ConfigMap>>,
    pub secrets: Store<PartialObjectMeta<Secret>>,
    pub pvcs: Store<PartialObjectMeta<PersistentVolumeClaim>>,
    pub pdbs: Store<PartialObjectMeta<PodDisruptionBudget>>,
    pub network_policies: Store<PartialObjectMeta<NetworkPolicy>>,
    pub ingresses: Store<PartialObjectMeta<Ingress>>,
}

impl std::fmt::Debug for Stores {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Stores")
    }
}

fn api<K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>>(
    client: &Client,
    namespace: Option<&str>,
) -> Api<K> {
    match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    }
}

/// Watches one kind as metadata, caches it, and makes its events trigger the owner.
fn owns_meta<K>(
    controller: Controller<OpenClawInstance>,
    client: &Client,
    namespace: Option<&str>,
) -> (Controller<OpenClawInstance>, Store<PartialObjectMeta<K>>)
where
    K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + DeserializeOwned
        + std::fmt::Debug
        + Send
        + Sync
        + 'static,
{
    let (reader, writer) = reflector::store();
    let stream = reflector::reflector(
        writer,
        watcher(
            api::<PartialObjectMeta<K>>(client, namespace),
            watcher::Config::default().labels(MANAGED_BY),
        )
        .modify(|o| slim(&mut o.metadata)),
    )
    .default_backoff()
    .touched_objects()
    .predicate_filter(predicates::resource_version, Default::default());
    (controller.owns_stream(stream), reader)
}

/// Adds the children's watches to the controller and returns their caches.
pub fn attach(
    controller: Controller<OpenClawInstance>,
    client: &Client,
    namespace: Option<&str>,
) -> (Controller<OpenClawInstance>, Stores) {
    let (reader, writer) = reflector::store();
    let sts = reflector::reflector(
        writer,
        watcher(
            api::<StatefulSet>(client, namespace),
            watcher::Config::default().labels(MANAGED_BY),
        )
        .modify(|sts| {
            slim(&mut sts.metadata);
            // Only replicas and the status are read from the cache; the pod template is the
            // bulk of the object.
            if let Some(spec) = sts.spec.as_mut() {
                spec.template = Default::default();
                spec.volume_claim_templates = None;
            }
        }),
    )
    .default_backoff()
    .touched_objects()
    .predicate_filter(predicates::resource_version, Default::default());
    let c = controller.owns_stream(sts);
    let (c, services) = owns_meta::<Service>(c, client, namespace);
    let (c, service_accounts) = owns_meta::<ServiceAccount>(c, client, namespace);
    let (c, roles) = owns_meta::<Role>(c, client, namespace);
    let (c, role_bindings) = owns_meta::<RoleBinding>(c, client, namespace);
    let (c, config_maps) = owns_meta::<ConfigMap>(c, client, namespace);
    let (c, secrets) = owns_meta::<Secret>(c, client, namespace);
    let (c, pvcs) = owns_meta::<PersistentVolumeClaim>(c, client, namespace);
    let (c, pdbs) = owns_meta::<PodDisruptionBudget>(c, client, namespace);
    let (c, network_policies) = owns_meta::<NetworkPolicy>(c, client, namespace);
    let (c, ingresses) = owns_meta::<Ingress>(c, client, namespace);
    let stores = Stores {
        stateful_sets: reader,
        services,
        service_accounts,
        roles,
        role_bindings,
        config_maps,
        secrets,
        pvcs,
        pdbs,
        network_policies,
        ingresses,
    };
    (c, stores)
}

/// Drops what the operator never reads from cached metadata (managed fields are most of it).
fn slim(meta: &mut k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta) {
    meta.managed_fields = None;
    if let Some(annotations) = meta.annotations.as_mut() {
        annotations.remove("kubectl.kubernetes.io/last-applied-configuration");
    }
}

/// Key of a namespaced object in a store.
pub fn key<K: Resource<DynamicType = ()>>(namespace: &str, name: &str) -> ObjectRef<K> {
    ObjectRef::new(name).within(namespace)
}
