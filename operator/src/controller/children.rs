//! Step `apply`: the instance's children, applied in order from one list (identity and
//! permissions, then configuration and storage, then the workload), and the gateway-token Secret.

use std::pin::Pin;

use futures::Future;
use k8s_openapi::{NamespaceResourceScope, api::core::v1::Secret};
use kube::{
    Api, Resource, ResourceExt,
    api::{ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams, PostParams},
    core::PartialObjectMeta,
    runtime::{
        events::EventType,
        reflector::{ObjectRef, Store},
    },
};
use openclaw_api::{OpenClawInstance, instance::GATEWAY_TOKEN_ROTATED_FOR_ANNOTATION};
use rand::RngCore;
use serde::{Serialize, de::DeserializeOwned};

use super::{
    Context,
    apply::{ensure, ensure_with, remove},
    error::Cause,
    events,
};
use crate::build::{self, FIELD_MANAGER, TokenRotation, names};

/// One child's apply, run in list order.
type Pending<'a> = Pin<Box<dyn Future<Output = Result<(), Cause>> + Send + 'a>>;

/// What to do when the child is not wanted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Absent {
    /// Delete it if it exists.
    Delete,
    /// Leave it (a PVC holds the agent's workspace and is never deleted by the operator).
    Keep,
}

/// The resourceVersion of a cached object, whether the watch keeps metadata or whole objects.
trait Cached<K> {
    fn resource_version(&self, ns: &str, name: &str) -> Option<String>;
}

impl<K: Resource<DynamicType = ()> + Clone> Cached<K> for Store<PartialObjectMeta<K>> {
    fn resource_version(&self, ns: &str, name: &str) -> Option<String> {
        self.get(&ObjectRef::new(name).within(ns))
            .map(|o| o.metadata.resource_version.clone().unwrap_or_default())
    }
}

impl<K: Resource<DynamicType = ()> + Clone> Cached<K> for Store<K> {
    fn resource_version(&self, ns: &str, name: &str) -> Option<String> {
        self.get(&ObjectRef::new(name).within(ns))
            .map(|o| o.meta().resource_version.clone().unwrap_or_default())
    }
}

/// Applies `desired` when wanted, else deletes (or keeps) the object `name` if the cache has it.
fn child<'a, K>(
    ctx: &'a Context,
    ns: &'a str,
    name: String,
    desired: Option<&'a K>,
    cache: &'a (impl Cached<K> + Sync),
    absent: Absent,
) -> Pending<'a>
where
    K: Resource<DynamicType = (), Scope = NamespaceResourceScope>
        + Serialize
        + DeserializeOwned
        + Clone
        + std::fmt::Debug
        + Send
        + Sync,
{
    Box::pin(async move {
        let live = cache.resource_version(ns, &name);
        match (desired, absent) {
            (Some(desired), _) => ensure(ctx, desired, live).await.map(drop),
            (None, Absent::Delete) => remove::<K>(ctx, ns, &name, live.is_some()).await.map(drop),
            (None, Absent::Keep) => Ok(()),
        }
    })
}

/// Applies every child in order; stops at the first failure.
pub async fn apply(
    ctx: &Context,
    instance: &OpenClawInstance,
    ns: &str,
    children: build::Children,
) -> Result<(), Cause> {
    let name = instance.name_any();
    let s = &ctx.stores;
    let c = &children;
    let own = || name.clone();
    let pvc_name = c.pvc.as_ref().map_or_else(own, ResourceExt::name_any);
    let list: Vec<Pending<'_>> = vec![
        child(
            ctx,
            ns,
            own(),
            c.service_account.as_ref(),
            &s.service_accounts,
            Absent::Delete,
        ),
        child(ctx, ns, own(), c.role.as_ref(), &s.roles, Absent::Delete),
        child(
            ctx,
            ns,
            own(),
            c.role_binding.as_ref(),
            &s.role_bindings,
            Absent::Delete,
        ),
        child(
            ctx,
            ns,
            own(),
            c.network_policy.as_ref(),
            &s.network_policies,
            Absent::Delete,
        ),
        child(
            ctx,
            ns,
            names::config_map(&name),
            Some(&c.config_map),
            &s.config_maps,
            Absent::Keep,
        ),
        child(ctx, ns, pvc_name, c.pvc.as_ref(), &s.pvcs, Absent::Keep),
        child(ctx, ns, own(), c.pdb.as_ref(), &s.pdbs, Absent::Delete),
        child(ctx, ns, own(), Some(&c.service), &s.services, Absent::Keep),
        child(
            ctx,
            ns,
            own(),
            c.ingress.as_ref(),
            &s.ingresses,
            Absent::Delete,
        ),
        child(
            ctx,
            ns,
            own(),
            Some(&c.stateful_set),
            &s.stateful_sets,
            Absent::Keep,
        ),
        service_monitor(ctx, ns, own(), c.service_monitor.as_ref()),
    ];
    for pending in list {
        pending.await?;
    }
    ensure_token_secret(ctx, instance, ns, &name).await
}

/// The ServiceMonitor: a dynamic type, not cached by a watch (its CRD may come and go), so it
/// is read to keep the steady state write-free; an unwanted one is left alone.
fn service_monitor<'a>(
    ctx: &'a Context,
    ns: &'a str,
    name: String,
    monitor: Option<&'a DynamicObject>,
) -> Pending<'a> {
    Box::pin(async move {
        let Some(monitor) = monitor else {
            return Ok(());
        };
        let gvk = GroupVersionKind::gvk("monitoring.coreos.com", "v1", "ServiceMonitor");
        let api: Api<DynamicObject> =
            Api::namespaced_with(ctx.client.clone(), ns, &ApiResource::from_gvk(&gvk));
        let live = api
            .get_opt(&name)
            .await?
            .and_then(|o| o.metadata.resource_version);
        ensure_with(ctx, monitor, live, "ServiceMonitor", api)
            .await
            .map(drop)
    })
}

/// Creates the gateway-token Secret once; an existing one is never rewritten. It is created even
/// when `spec.gateway.existingSecret` supplies the gateway's token: its `supervisor-token` key
/// is the operator's key to the supervisor.
async fn ensure_token_secret(
    ctx: &Context,
    instance: &OpenClawInstance,
    ns: &str,
    name: &str,
) -> Result<(), Cause> {
    let secret_name = names::gateway_token(name);
    if let Some(cached) = ctx
        .stores
        .secrets
        .get(&ObjectRef::new(&secret_name).within(ns))
    {
        let answered = cached
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(GATEWAY_TOKEN_ROTATED_FOR_ANNOTATION))
            .map(String::as_str);
        return rotate_token(ctx, instance, ns, &secret_name, answered).await;
    }
    let secret = build::gateway_token_secret(instance, &random_token(), &random_token());
    let api: Api<Secret> = Api::namespaced(ctx.client.clone(), ns);
    match api
        .create(
            &PostParams {
                field_manager: Some(FIELD_MANAGER.into()),
                ..Default::default()
            },
            &secret,
        )
        .await
    {
        Ok(_) => ctx.metrics.api_write("Secret"),
        // Created by an earlier reconcile the cache has not seen yet: keep it.
        Err(kube::Error::Api(status)) if status.code == 409 => {}
        Err(err) => return Err(err.into()),
    }
    Ok(())
}

/// Answers a rotation request on the instance (`openclaw.rocks/rotate-gateway-token`): a new
/// gateway token in the instance's own Secret, which the kubelet refreshes in the pod's token
/// file and the supervisor hands to the running gateway. Recorded on the Secret, so each request
/// is answered once.
async fn rotate_token(
    ctx: &Context,
    instance: &OpenClawInstance,
    ns: &str,
    secret_name: &str,
    answered: Option<&str>,
) -> Result<(), Cause> {
    let (request, token) = match build::token_rotation(instance, answered) {
        TokenRotation::Nothing => return Ok(()),
        TokenRotation::Rotate { request } => (request, Some(random_token())),
        TokenRotation::UserSecret { request, secret } => {
            events::publish(
                ctx,
                instance,
                EventType::Warning,
                "GatewayTokenNotRotated",
                format!(
                    "the gateway token comes from Secret {secret} (spec.gateway.existingSecret): \
                     write a new token there; the running gateway takes it without a restart"
                ),
            )
            .await;
            (request, None)
        }
    };
    let api: Api<Secret> = Api::namespaced(ctx.client.clone(), ns);
    let patch = build::token_rotation_patch(&request, token.as_deref());
    api.patch(
        secret_name,
        &PatchParams {
            field_manager: Some(FIELD_MANAGER.into()),
            ..PatchParams::default()
        },
        &Patch::Merge(&patch),
    )
    .await?;
    ctx.metrics.api_write("Secret");
    if token.is_some() {
        events::publish(
            ctx,
            instance,
            EventType::Normal,
            "GatewayTokenRotated",
            format!(
                "new gateway token in Secret {secret_name} (request {request:?}); the running gateway takes it without a restart"
            ),
        )
        .await;
    }
    Ok(())
}

/// 32 random bytes from the OS generator, as hex.
fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}
