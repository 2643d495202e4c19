//! The OpenClawInstance controller: watches, the reconcile loop, and its shared context.

mod apply;
pub mod backup;
mod backup_status;
mod children;
mod cluster_facts;
pub(crate) mod conditions;
mod context;
pub mod dereference;
mod drill_status;
mod error;
mod events;
mod finalize;
mod reconcile;
mod references;
mod status;
mod stores;
mod supervisor;
mod supervisor_conditions;
mod update;
mod vram_fit;

use std::{collections::HashSet, sync::Arc, time::Duration};

use futures::{FutureExt, StreamExt};
use kube::{
    Api, Client, ResourceExt,
    api::ListParams,
    runtime::{
        Controller, WatchStreamExt,
        controller::Action,
        reflector::{self, ObjectRef},
        watcher,
    },
};
use openclaw_api::OpenClawInstance;

pub use context::{Context, Settings};
pub use error::Error;

/// Runs the controller until `shutdown` resolves: one over every namespace, or one per watched
/// namespace. Each of those watches only its namespace, so the operator needs (and the chart
/// grants) permissions in those namespaces only.
pub async fn run(
    client: Client,
    settings: Settings,
    metrics: Arc<crate::metrics::Metrics>,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) {
    if settings.watch_namespaces.len() <= 1 {
        let namespace = settings.watch_namespaces.first().cloned();
        return run_one(client, settings, namespace, metrics, shutdown).await;
    }
    let shutdown = shutdown.shared();
    let controllers = settings.watch_namespaces.clone().into_iter().map(|ns| {
        run_one(
            client.clone(),
            settings.clone(),
            Some(ns),
            metrics.clone(),
            shutdown.clone(),
        )
    });
    futures::future::join_all(controllers).await;
}

/// One controller, over `namespace` or (`None`) the whole cluster.
async fn run_one(
    client: Client,
    settings: Settings,
    namespace: Option<String>,
    metrics: Arc<crate::metrics::Metrics>,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) {
    let instances: Api<OpenClawInstance> = match &namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    };
    // The instances' cache drops managed fields: the operator never reads them.
    let (reader, writer) = reflector::store();
    let instance_stream = reflector::reflector(
        writer,
        watcher(instances.clone(), watcher::Config::default().any_semantic())
            .modify(|i| i.metadata.managed_fields = None),
    )
    .default_backoff()
    .applied_objects();
    let controller = Controller::for_stream(instance_stream, reader).with_config(
        kube::runtime::controller::Config::default().concurrency(settings.concurrency),
    );
    let (controller, stores) = stores::attach(controller, &client, namespace.as_deref());
    let (ref_watcher, ref_triggers) = references::RefWatcher::new(client.clone());
    let ctx = Arc::new(Context::new(client, settings, metrics, stores, ref_watcher));
    let sweeper = tokio::spawn(sweep(instances, namespace, ctx.clone()));
    controller
        .reconcile_on(ref_triggers)
        .graceful_shutdown_on(shutdown)
        .run(reconcile::reconcile, error_policy, ctx)
        .for_each(|result| async move {
            if let Err(err) = result {
                tracing::debug!(error = %err, "reconcile trigger failed");
            }
        })
        .await;
    sweeper.abort();
}

/// Instances deleted without a finalizer never reach the reconciler: every 15 s, list the
/// instances (metadata only) and drop the metric series, reference watches and apply records
/// of those that are gone.
async fn sweep(api: Api<OpenClawInstance>, namespace: Option<String>, ctx: Arc<Context>) {
    let mut tick = tokio::time::interval(Duration::from_secs(15));
    loop {
        tick.tick().await;
        // The metrics are shared by the controllers of every watched namespace: this one
        // only judges its own.
        let known: Vec<(String, String)> = ctx
            .metrics
            .instances()
            .into_iter()
            .filter(|(ns, _)| namespace.as_ref().is_none_or(|own| own == ns))
            .collect();
        if known.is_empty() {
            continue;
        }
        let Ok(list) = api.list_metadata(&ListParams::default()).await else {
            continue;
        };
        let live: HashSet<(String, String)> = list
            .items
            .iter()
            .map(|i| (i.namespace().unwrap_or_default(), i.name_any()))
            .collect();
        for (namespace, name) in known {
            if !live.contains(&(namespace.clone(), name.clone())) {
                ctx.metrics.forget(&namespace, &name);
                ctx.refs.forget(&ObjectRef::new(&name).within(&namespace));
                ctx.applied.forget_instance(&namespace, &name);
            }
        }
    }
}

/// Failed reconciles are retried with a delay that depends on what failed.
fn error_policy(instance: Arc<OpenClawInstance>, err: &Error, ctx: Arc<Context>) -> Action {
    ctx.metrics
        .error(err.category(), err.step().map_or("none", |s| s.as_str()));
    tracing::warn!(
        instance = %kube::ResourceExt::name_any(instance.as_ref()),
        namespace = %kube::ResourceExt::namespace(instance.as_ref()).unwrap_or_default(),
        error = %err,
        "reconcile failed"
    );
    Action::requeue(if err.is_api() {
        Duration::from_secs(5)
    } else {
        Duration::from_secs(30)
    })
}
