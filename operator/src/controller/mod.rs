//! The OpenClawInstance controller: watches, the reconcile loop, and its shared context.

mod apply;
mod cluster_facts;
mod context;
mod dereference;
mod error;
mod reconcile;
mod references;
mod status;
mod stores;

use std::{sync::Arc, time::Duration};

use futures::StreamExt;
use kube::{
    Api, Client,
    runtime::{Controller, controller::Action, watcher},
};
use openclaw_api::OpenClawInstance;

pub use context::{Context, Settings};
pub use error::Error;

/// Runs the controller until `shutdown` resolves.
pub async fn run(
    client: Client,
    settings: Settings,
    metrics: Arc<crate::metrics::Metrics>,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) {
    let instances: Api<OpenClawInstance> = match &settings.watch_namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    };
    let controller = Controller::new(instances, watcher::Config::default().any_semantic())
        .with_config(
            kube::runtime::controller::Config::default().concurrency(settings.concurrency),
        );
    let (controller, stores) =
        stores::attach(controller, &client, settings.watch_namespace.as_deref());
    let (ref_watcher, ref_triggers) = references::RefWatcher::new(client.clone());
    let ctx = Arc::new(Context::new(client, settings, metrics, stores, ref_watcher));
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
}

/// Failed reconciles are retried with a delay that depends on what failed.
fn error_policy(instance: Arc<OpenClawInstance>, err: &Error, ctx: Arc<Context>) -> Action {
    ctx.metrics.error(err.category());
    tracing::warn!(
        instance = %kube::ResourceExt::name_any(instance.as_ref()),
        namespace = %kube::ResourceExt::namespace(instance.as_ref()).unwrap_or_default(),
        error = %err,
        "reconcile failed"
    );
    Action::requeue(match err {
        Error::Kube(_) => Duration::from_secs(5),
        _ => Duration::from_secs(30),
    })
}
