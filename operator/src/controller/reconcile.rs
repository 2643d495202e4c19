//! One reconcile: dereference → validate → build → apply → status.

use std::{sync::Arc, time::Instant};

use k8s_openapi::api::{
    core::v1::{PersistentVolumeClaim, Secret, ServiceAccount},
    networking::v1::{Ingress, NetworkPolicy},
    policy::v1::PodDisruptionBudget,
    rbac::v1::{Role, RoleBinding},
};
use kube::{
    Api, Resource, ResourceExt,
    api::{ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams, PostParams},
    core::PartialObjectMeta,
    runtime::{
        controller::Action,
        events::EventType,
        reflector::{ObjectRef, Store},
    },
};
use openclaw_api::{
    OpenClawInstance,
    backup::{BACKUP_FINALIZER, BACKUP_NOW_ANNOTATION, BackupReason, BackupState},
    instance::Phase,
};
use rand::RngCore;

use super::{
    Context, Error,
    apply::{ensure, ensure_with, remove},
    backup::{self, Answer},
    dereference::dereference,
    events::publish,
    finalize,
    status::{self, Observations, Workload},
    stores::key,
    supervisor,
};
use crate::{
    build::{self, BuildContext, FIELD_MANAGER, names},
    metrics::{Outcome, ReconcileLabels},
};

/// How often a starting instance is looked at again.
const STARTUP_POLL: std::time::Duration = std::time::Duration::from_secs(5);

pub async fn reconcile(
    instance: Arc<OpenClawInstance>,
    ctx: Arc<Context>,
) -> Result<Action, Error> {
    let started = Instant::now();
    let result = reconcile_inner(&instance, &ctx).await;
    ctx.metrics
        .reconcile_duration
        .observe(started.elapsed().as_secs_f64());
    let outcome = if result.is_ok() {
        Outcome::Success
    } else {
        Outcome::Error
    };
    ctx.metrics
        .reconcile_total
        .get_or_create(&ReconcileLabels { result: outcome })
        .inc();
    result
}

fn meta_rv<K: Resource<DynamicType = ()> + Clone>(
    store: &Store<PartialObjectMeta<K>>,
    ns: &str,
    name: &str,
) -> Option<String> {
    let k: ObjectRef<PartialObjectMeta<K>> = ObjectRef::new(name).within(ns);
    store
        .get(&k)
        .map(|o| o.metadata.resource_version.clone().unwrap_or_default())
}

async fn reconcile_inner(instance: &OpenClawInstance, ctx: &Context) -> Result<Action, Error> {
    let ns = instance.namespace().ok_or(Error::NoNamespace)?;
    let name = instance.name_any();
    let me = ObjectRef::from_obj(instance);
    let defaults = ctx.facts.cluster_defaults().await?;
    if instance.meta().deletion_timestamp.is_some() {
        if instance.finalizers().iter().any(|f| f == BACKUP_FINALIZER) {
            return finalize::finalize(ctx, instance, defaults.as_ref()).await;
        }
        ctx.refs.forget(&me);
        ctx.metrics.forget(&ns, &name);
        ctx.applied.forget_instance(&ns, &name);
        return Ok(Action::await_change());
    }
    finalize::set_finalizer(
        ctx,
        instance,
        finalize::wants_finalizer(instance, defaults.as_ref()),
    )
    .await?;

    // Dereference: what the instance names, and facts about the cluster.
    let references = build::references_with_defaults(instance, defaults.as_ref());
    ctx.refs.set(&me, &ns, &references);
    let deref = dereference(ctx, &ns, &references).await?;
    let wants_monitor = instance.spec.observability.metrics.enabled
        && instance.spec.observability.metrics.service_monitor.enabled;
    let monitor_crd = if wants_monitor {
        ctx.facts.service_monitor_crd().await?
    } else {
        false
    };
    let gpus = i64::from(if instance.spec.ollama.enabled {
        instance.spec.ollama.gpu.unwrap_or(0)
    } else {
        0
    });
    let gpu_shortage = if gpus > 0 {
        let max = ctx.facts.max_node_gpus().await?;
        (max < gpus).then_some((gpus, max))
    } else {
        None
    };

    let mut obs = Observations {
        generation: instance.meta().generation,
        suspended: instance.spec.suspend,
        missing: deref.missing,
        gpu_shortage,
        service_monitor: wants_monitor.then_some(monitor_crd),
        gateway_endpoint: Some(format!(
            "{name}.{ns}.svc:{}",
            openclaw_api::plan::GATEWAY_PORT
        )),
        ..Default::default()
    };

    // Validate and build (pure).
    let bctx = BuildContext {
        instance,
        defaults: defaults.as_ref(),
        runtime_image: &ctx.settings.runtime_image,
        operator_namespace: &ctx.settings.operator_namespace,
        inputs_hash: &deref.inputs_hash,
        service_monitor_crd: monitor_crd,
    };
    match build::build(&bctx) {
        Ok(children) => {
            apply_children(ctx, &ns, &name, children).await?;
            ensure_token_secret(ctx, instance, &ns, &name).await?;
        }
        Err(err) => obs.invalid = Some(err.to_string()),
    }

    let sts = ctx.stores.stateful_sets.get(&key(&ns, &name));
    obs.workload = Workload::of(sts.as_deref());
    let mut backup_pending = false;
    if sts.is_some() && !instance.spec.suspend {
        let port = u16::try_from(instance.spec.observability.metrics.port)
            .unwrap_or(openclaw_api::plan::DEFAULT_STATUS_PORT);
        obs.supervisor = supervisor::fetch(ctx, &ns, &name, port).await;
        if obs.supervisor.is_some() {
            backup_pending = requested_backup(ctx, instance, port, &mut obs).await;
        }
    }
    write_status(ctx, instance, &obs).await?;
    // While the pod is starting, follow its progress (model pulls, steps) closely.
    let starting = obs.workload != Workload::Ready
        || obs
            .supervisor
            .as_ref()
            .is_some_and(supervisor::Report::in_progress);
    Ok(Action::requeue(if starting || backup_pending {
        STARTUP_POLL.min(ctx.settings.resync)
    } else {
        ctx.settings.resync
    }))
}

/// Serves the `openclaw.rocks/backup-now` annotation: each new value asks the supervisor for
/// one backup. Returns true while that backup is still to finish (poll again soon).
async fn requested_backup(
    ctx: &Context,
    instance: &OpenClawInstance,
    port: u16,
    obs: &mut Observations,
) -> bool {
    let Some(value) = instance
        .annotations()
        .get(BACKUP_NOW_ANNOTATION)
        .filter(|v| !v.trim().is_empty())
    else {
        return false;
    };
    let served = instance
        .status
        .as_ref()
        .and_then(|s| s.backup.as_ref())
        .and_then(|b| b.last_request.as_ref());
    if served == Some(value) {
        return false;
    }
    let ns = instance.namespace().unwrap_or_default();
    let id = backup::request_id("request", value);
    let answer = backup::request(
        ctx,
        &ns,
        &instance.name_any(),
        port,
        &id,
        BackupReason::Request,
    )
    .await;
    let (type_, reason, note) = match answer {
        Answer::Running(_) | Answer::Busy(_) | Answer::Unreachable(_) => return true,
        Answer::Finished(record) if record.state == BackupState::Succeeded => (
            EventType::Normal,
            "BackupComplete",
            format!(
                "backup {} ({} bytes) taken as asked by {BACKUP_NOW_ANNOTATION}",
                record.key.as_deref().unwrap_or("?"),
                record.size_bytes
            ),
        ),
        Answer::Finished(record) => (
            EventType::Warning,
            "BackupFailed",
            format!(
                "the backup asked by {BACKUP_NOW_ANNOTATION} failed: {}",
                record.error.unwrap_or_default()
            ),
        ),
        Answer::NoTarget(message) => (
            EventType::Warning,
            "BackupFailed",
            format!("{BACKUP_NOW_ANNOTATION} is set but there is no S3 target: {message}"),
        ),
    };
    publish(ctx, instance, type_, reason, note).await;
    obs.served_backup_request = Some(value.clone());
    false
}

async fn apply_children(
    ctx: &Context,
    ns: &str,
    name: &str,
    children: build::Children,
) -> Result<(), Error> {
    let s = &ctx.stores;
    // Identity and permissions first, then configuration and storage, then the workload.
    match &children.service_account {
        Some(sa) => ensure(ctx, sa, meta_rv(&s.service_accounts, ns, name)).await?,
        None => {
            remove::<ServiceAccount>(
                ctx,
                ns,
                name,
                meta_rv(&s.service_accounts, ns, name).is_some(),
            )
            .await?
        }
    };
    match &children.role {
        Some(role) => ensure(ctx, role, meta_rv(&s.roles, ns, name)).await?,
        None => remove::<Role>(ctx, ns, name, meta_rv(&s.roles, ns, name).is_some()).await?,
    };
    match &children.role_binding {
        Some(rb) => ensure(ctx, rb, meta_rv(&s.role_bindings, ns, name)).await?,
        None => {
            remove::<RoleBinding>(ctx, ns, name, meta_rv(&s.role_bindings, ns, name).is_some())
                .await?
        }
    };
    match &children.network_policy {
        Some(np) => ensure(ctx, np, meta_rv(&s.network_policies, ns, name)).await?,
        None => {
            remove::<NetworkPolicy>(
                ctx,
                ns,
                name,
                meta_rv(&s.network_policies, ns, name).is_some(),
            )
            .await?
        }
    };
    ensure(
        ctx,
        &children.config_map,
        meta_rv(&s.config_maps, ns, &names::config_map(name)),
    )
    .await?;
    // A PVC is never deleted by the operator: it holds the agent's workspace.
    if let Some(pvc) = &children.pvc {
        let pvc_name = pvc.name_any();
        ensure::<PersistentVolumeClaim>(ctx, pvc, meta_rv(&s.pvcs, ns, &pvc_name)).await?;
    }
    match &children.pdb {
        Some(pdb) => ensure(ctx, pdb, meta_rv(&s.pdbs, ns, name)).await?,
        None => {
            remove::<PodDisruptionBudget>(ctx, ns, name, meta_rv(&s.pdbs, ns, name).is_some())
                .await?
        }
    };
    ensure(ctx, &children.service, meta_rv(&s.services, ns, name)).await?;
    match &children.ingress {
        Some(ingress) => ensure(ctx, ingress, meta_rv(&s.ingresses, ns, name)).await?,
        None => remove::<Ingress>(ctx, ns, name, meta_rv(&s.ingresses, ns, name).is_some()).await?,
    };
    let sts_rv = s
        .stateful_sets
        .get(&key(ns, name))
        .map(|o| o.metadata.resource_version.clone().unwrap_or_default());
    ensure(ctx, &children.stateful_set, sts_rv).await?;
    if let Some(monitor) = &children.service_monitor {
        let gvk = GroupVersionKind::gvk("monitoring.coreos.com", "v1", "ServiceMonitor");
        let api: Api<DynamicObject> =
            Api::namespaced_with(ctx.client.clone(), ns, &ApiResource::from_gvk(&gvk));
        // Not cached by a watch (the CRD may come and go): read it to keep steady state write-free.
        let live_rv = api
            .get_opt(name)
            .await?
            .and_then(|o| o.metadata.resource_version);
        ensure_with(ctx, monitor, live_rv, "ServiceMonitor", api).await?;
    }
    Ok(())
}

/// Creates the gateway-token Secret once; an existing one is never rewritten. It is created even
/// when `spec.gateway.existingSecret` supplies the gateway's token: its `supervisor-token` key
/// is the operator's key to the supervisor.
async fn ensure_token_secret(
    ctx: &Context,
    instance: &OpenClawInstance,
    ns: &str,
    name: &str,
) -> Result<(), Error> {
    let secret_name = names::gateway_token(name);
    if meta_rv(&ctx.stores.secrets, ns, &secret_name).is_some() {
        return Ok(());
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

/// 32 random bytes from the OS generator, as hex.
fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

async fn write_status(
    ctx: &Context,
    instance: &OpenClawInstance,
    obs: &Observations,
) -> Result<(), Error> {
    let previous = instance.status.clone().unwrap_or_default();
    let next = status::compute(&previous, obs);
    let ns = instance.namespace().unwrap_or_default();
    let name = instance.name_any();
    let phase = next.phase.unwrap_or(Phase::Provisioning);
    ctx.metrics.set_phase(&ns, &name, phase.as_str());
    if !status::differs(&previous, &next) {
        return Ok(());
    }
    apply_status(ctx, instance, &next).await?;
    if let Some(drill) = super::drill_status::newly_failed(&previous, &next) {
        let note = format!(
            "restore drill of {} failed: {}",
            drill.key.as_deref().unwrap_or("the newest snapshot"),
            drill.error.as_deref().unwrap_or("unknown error")
        );
        publish(ctx, instance, EventType::Warning, "BackupDrillFailed", note).await;
    }
    if previous.phase != next.phase {
        publish_transition(ctx, instance, previous.phase, phase, &next).await;
    }
    Ok(())
}

/// Writes the whole status by server-side apply.
pub async fn apply_status(
    ctx: &Context,
    instance: &OpenClawInstance,
    next: &openclaw_api::OpenClawInstanceStatus,
) -> Result<(), Error> {
    let api: Api<OpenClawInstance> = Api::namespaced(
        ctx.client.clone(),
        &instance.namespace().unwrap_or_default(),
    );
    let patch = serde_json::json!({
        "apiVersion": "openclaw.rocks/v1alpha1",
        "kind": "OpenClawInstance",
        "status": next,
    });
    api.patch_status(
        &instance.name_any(),
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(&patch),
    )
    .await?;
    ctx.metrics.api_write("OpenClawInstance/status");
    Ok(())
}

/// One Event per real phase transition (never one per resync).
async fn publish_transition(
    ctx: &Context,
    instance: &OpenClawInstance,
    from: Option<Phase>,
    to: Phase,
    status: &openclaw_api::OpenClawInstanceStatus,
) {
    let ready = status.conditions.iter().find(|c| c.type_ == "Ready");
    let type_ = match to {
        Phase::Failed | Phase::Degraded => EventType::Warning,
        _ => EventType::Normal,
    };
    let note = match (from, ready) {
        (Some(from), Some(c)) => format!("{from} → {to}: {}", c.message),
        (None, Some(c)) => format!("{to}: {}", c.message),
        _ => to.to_string(),
    };
    publish(ctx, instance, type_, to.as_str(), note).await;
}
