//! One reconcile as named steps, one function each: finalize (on deletion) → dereference →
//! resolve and build (pure) → apply → observe the pod → backup requests → status. A failed step
//! is named by its [`Error`] variant, in the metrics and the logs.

use std::{sync::Arc, time::Instant};

use kube::{
    Resource, ResourceExt,
    runtime::{controller::Action, reflector::ObjectRef},
};
use openclaw_api::{OpenClawClusterDefaultsSpec, OpenClawInstance, backup::BACKUP_FINALIZER};

use super::{
    Context, Error, backup, children,
    cluster_facts::NodeFacts,
    conditions::{Observations, Workload},
    dereference::{Dereferenced, dereference},
    error::Cause,
    finalize, status,
    stores::key,
    supervisor, update,
};
use crate::{
    build::{self, BuildContext, resolve::Resolved},
    metrics::{Outcome, ReconcileLabels},
};

/// How often a starting instance is looked at again.
const STARTUP_POLL: std::time::Duration = std::time::Duration::from_secs(5);

pub async fn reconcile(
    instance: Arc<OpenClawInstance>,
    ctx: Arc<Context>,
) -> Result<Action, Error> {
    let started = Instant::now();
    let result = steps(&instance, &ctx).await;
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

/// The steps, in order.
async fn steps(instance: &OpenClawInstance, ctx: &Context) -> Result<Action, Error> {
    let ns = instance.namespace().ok_or(Error::NoNamespace)?;
    let defaults = ctx
        .facts
        .cluster_defaults()
        .await
        .map_err(|e| Error::Dereference(e.into()))?;
    let defaults = defaults.as_ref();
    if instance.meta().deletion_timestamp.is_some() {
        return deleted(ctx, instance, defaults)
            .await
            .map_err(Error::Finalize);
    }
    let resolved = Resolved::of(instance, defaults);
    finalize::set_finalizer(ctx, instance, resolved.backups)
        .await
        .map_err(Error::Finalize)?;
    let found = dereference_step(ctx, instance, defaults, &resolved)
        .await
        .map_err(Error::Dereference)?;
    let mut obs = Observations {
        generation: instance.meta().generation,
        suspended: instance.spec.suspend,
        missing: found.references.missing.clone(),
        gpu_shortage: found.gpu_shortage,
        vram_fit: found.vram_fit.clone(),
        service_monitor: found.wants_monitor.then_some(found.monitor_crd),
        gateway_endpoint: Some(format!(
            "{}.{ns}.svc:{}",
            instance.name_any(),
            openclaw_api::plan::GATEWAY_PORT
        )),
        ..Default::default()
    };
    observe_pod(ctx, instance, &resolved, &mut obs).await;
    let updating = update::step(
        ctx,
        instance,
        defaults,
        resolved.status_port,
        resolved.backups,
        obs.supervisor.as_ref(),
    )
    .await;
    match build_step(ctx, instance, defaults, &found, &updating.view) {
        Ok(children) => children::apply(ctx, instance, &ns, children)
            .await
            .map_err(Error::Apply)?,
        Err(err) => obs.invalid = Some(err.to_string()),
    }
    obs.auto_update = updating.status;
    obs.update_conditions = updating.conditions;
    let backup_pending = obs.supervisor.is_some()
        && backup::serve_backup_now(ctx, instance, resolved.status_port, &mut obs).await;
    status::write(ctx, instance, &obs)
        .await
        .map_err(Error::Status)?;
    Ok(next_look(ctx, &obs, backup_pending || updating.soon))
}

/// Step `finalize` of a deleted instance: the final backup while the finalizer is on, else
/// forgetting the instance's watches, metric series and apply records.
async fn deleted(
    ctx: &Context,
    instance: &OpenClawInstance,
    defaults: Option<&OpenClawClusterDefaultsSpec>,
) -> Result<Action, Cause> {
    if instance.finalizers().iter().any(|f| f == BACKUP_FINALIZER) {
        return finalize::finalize(ctx, instance, defaults).await;
    }
    let ns = instance.namespace().unwrap_or_default();
    let name = instance.name_any();
    ctx.refs.forget(&ObjectRef::from_obj(instance));
    ctx.metrics.forget(&ns, &name);
    ctx.applied.forget_instance(&ns, &name);
    Ok(Action::await_change())
}

/// What step `dereference` found: the referenced objects and the cluster facts.
struct Found {
    references: Dereferenced,
    wants_monitor: bool,
    monitor_crd: bool,
    /// GPUs requested and the most any node can allocate, when that is not enough.
    gpu_shortage: Option<(i64, i64)>,
    /// What the node agents offer.
    node_agent: build::NodeAgent,
    /// Whether the Ollama models fit in the GPU memory of some node, with the numbers.
    vram_fit: Option<(bool, String)>,
}

/// Step `dereference`: the Secrets and ConfigMaps the instance names (watched from now on), the
/// ServiceMonitor CRD when a monitor is wanted, and the largest GPU node when GPUs are.
async fn dereference_step(
    ctx: &Context,
    instance: &OpenClawInstance,
    defaults: Option<&OpenClawClusterDefaultsSpec>,
    resolved: &Resolved,
) -> Result<Found, Cause> {
    let ns = instance.namespace().unwrap_or_default();
    let references = build::references_with_defaults(instance, defaults);
    ctx.refs
        .set(&ObjectRef::from_obj(instance), &ns, &references);
    let references = dereference(ctx, &ns, &references).await?;
    let metrics = &instance.spec.observability.metrics;
    let wants_monitor = metrics.enabled && metrics.service_monitor.enabled;
    let monitor_crd = wants_monitor && ctx.facts.service_monitor_crd().await?;
    let gpus = i64::from(resolved.gpus);
    let uses_profile = ctx.settings.seccomp == crate::cli::SeccompMode::Auto;
    let nodes = if gpus > 0 || uses_profile {
        ctx.facts.nodes().await?
    } else {
        NodeFacts::default()
    };
    let gpu_shortage = (gpus > 0 && nodes.max_gpus < gpus).then_some((gpus, nodes.max_gpus));
    let node_agent = build::NodeAgent {
        localhost_profile: (uses_profile && nodes.gateway_profile)
            .then(openclaw_api::node::LocalhostProfile::gateway),
        cache_port: ctx.settings.node_cache_port,
    };
    let ollama = &instance.spec.ollama;
    let vram_fit = ollama
        .enabled
        .then(|| super::vram_fit::check(&ollama.models, resolved.gpus, &nodes.gpus))
        .flatten();
    Ok(Found {
        references,
        wants_monitor,
        monitor_crd,
        gpu_shortage,
        node_agent,
        vram_fit,
    })
}

/// Steps `validate` and `build`, pure: the children, or why the spec cannot be rendered.
fn build_step(
    ctx: &Context,
    instance: &OpenClawInstance,
    defaults: Option<&OpenClawClusterDefaultsSpec>,
    found: &Found,
    update: &build::UpdateView,
) -> Result<build::Children, build::BuildError> {
    build::build(&BuildContext {
        instance,
        defaults,
        runtime_image: &ctx.settings.runtime_image,
        operator_namespace: &ctx.settings.operator_namespace,
        inputs_hash: &found.references.inputs_hash,
        service_monitor_crd: found.monitor_crd,
        node_agent: found.node_agent.clone(),
        update: update.clone(),
    })
}

/// The StatefulSet's state and, while the pod runs, its supervisor's report.
async fn observe_pod(
    ctx: &Context,
    instance: &OpenClawInstance,
    resolved: &Resolved,
    obs: &mut Observations,
) {
    let ns = instance.namespace().unwrap_or_default();
    let name = instance.name_any();
    let sts = ctx.stores.stateful_sets.get(&key(&ns, &name));
    obs.workload = Workload::of(sts.as_deref());
    if sts.is_some() && !instance.spec.suspend {
        obs.supervisor = supervisor::fetch(ctx, &ns, &name, resolved.status_port).await;
    }
}

/// When to look again: soon while the pod starts (model pulls, steps) or a backup runs.
fn next_look(ctx: &Context, obs: &Observations, backup_pending: bool) -> Action {
    let starting = obs.workload != Workload::Ready
        || obs
            .supervisor
            .as_ref()
            .is_some_and(openclaw_api::SupervisorReport::in_progress);
    Action::requeue(if starting || backup_pending {
        STARTUP_POLL.min(ctx.settings.resync)
    } else {
        ctx.settings.resync
    })
}
