//! `openclaw-operator run`: the HTTP server, leader election and the controller, with one
//! shutdown signal fanned out to all of them.

use std::{
    sync::{Arc, atomic::Ordering},
    time::Duration,
};

use anyhow::{Context as _, Result};
use kube::Client;
use kube_lease_manager::LeaseManagerBuilder;
use tokio::sync::watch;

use crate::{
    cli::RunArgs,
    controller::{self, Settings},
    http::{self, Health},
    metrics::Metrics,
    webhook::{self, CertSource, WebhookSettings, certs, managed::Managed},
};

pub async fn run(args: RunArgs) -> Result<()> {
    let client = Client::try_default()
        .await
        .context("connecting to the Kubernetes API")?;
    let version = client
        .apiserver_version()
        .await
        .context("asking the API server its version")?;
    tracing::info!(server = %version.git_version, "connected to the Kubernetes API");

    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("shutdown signal received");
        let _ = stop_tx.send(true);
    });

    let metrics = Arc::new(Metrics::default());
    let health = Arc::new(Health::default());
    let server = tokio::spawn(http::serve(
        args.metrics_bind_address,
        health.clone(),
        metrics.clone(),
        stopped(stop_rx.clone()),
    ));
    let webhook = args.webhook_bind_address.map(|bind| {
        tokio::spawn(webhook::serve(
            webhook_settings(&args, bind),
            client.clone(),
            metrics.clone(),
            health.clone(),
            stopped(stop_rx.clone()),
        ))
    });
    // Ready means connected and able to serve: a standby replica is ready too, so a rolling
    // update of the operator never waits on the lease. With the webhook, ready once its
    // certificate is served and its CA published (the webhook sets it).
    if webhook.is_none() {
        health.ready.store(true, Ordering::Relaxed);
    }

    let settings = Settings {
        runtime_image: args.runtime_image.clone(),
        operator_namespace: args.namespace.clone(),
        watch_namespaces: args.watch_namespace.clone(),
        concurrency: args.concurrency,
        resync: args.resync_interval,
        pod_name: args.pod_name.clone(),
        supervisor_address: args.supervisor_address.clone(),
        seccomp: args.seccomp_profile,
        node_cache_port: args.node_cache_port,
        insecure_registries: args.insecure_registry.clone(),
    };

    if args.leader_elect {
        run_as_leader(client, settings, metrics, &args, stop_rx).await?;
    } else {
        controller::run(client, settings, metrics, stopped(stop_rx)).await;
    }
    server.await??;
    if let Some(webhook) = webhook {
        webhook.await??;
    }
    tracing::info!("stopped");
    Ok(())
}

/// Where the webhook's certificate comes from: a mounted directory, or the operator itself.
fn webhook_settings(args: &RunArgs, bind: std::net::SocketAddr) -> WebhookSettings {
    let certs = match &args.webhook_cert_dir {
        Some(dir) => CertSource::Dir(dir.clone()),
        None => CertSource::Managed(Managed {
            namespace: args.namespace.clone(),
            secret: args.webhook_secret.clone(),
            webhook_configuration: args.webhook_configuration.clone(),
            names: certs::service_names(
                &args.webhook_service,
                &args.namespace,
                &args.webhook_hosts,
            ),
            validity: args.webhook_cert_validity,
        }),
    };
    WebhookSettings { bind, certs }
}

/// Runs the controller while this replica holds the Lease; gives the Lease up on shutdown.
async fn run_as_leader(
    client: Client,
    settings: Settings,
    metrics: Arc<Metrics>,
    args: &RunArgs,
    stop_rx: watch::Receiver<bool>,
) -> Result<()> {
    let manager = LeaseManagerBuilder::new(client.clone(), &args.leader_election_lease)
        .with_namespace(&args.namespace)
        .with_identity(&args.pod_name)
        .with_duration(15)
        .with_grace(5)
        .with_field_manager("openclaw-operator-leader")
        .build()
        .await
        .context("setting up leader election")?;
    let (mut leading, lease_task) = manager.watch().await;
    let mut stop = stop_rx.clone();
    loop {
        tracing::info!(lease = %args.leader_election_lease, "waiting to lead");
        tokio::select! {
            _ = stop.wait_for(|s| *s) => break,
            changed = leading.wait_for(|l| *l) => if changed.is_err() { break },
        }
        tracing::info!("leading: starting the controller");
        let (lost_tx, lost_rx) = watch::channel(false);
        let mut watch_lease = leading.clone();
        let mut stop_inner = stop_rx.clone();
        let lost = tokio::spawn(async move {
            tokio::select! {
                _ = watch_lease.wait_for(|l| !*l) => {},
                _ = stop_inner.wait_for(|s| *s) => {},
            }
            let _ = lost_tx.send(true);
        });
        controller::run(
            client.clone(),
            settings.clone(),
            metrics.clone(),
            stopped(lost_rx),
        )
        .await;
        lost.abort();
        if *stop.borrow() {
            break;
        }
        tracing::warn!("lost the lease: controller stopped");
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    drop(leading);
    // Dropping the receiver makes the manager release the Lease so a standby takes over at once.
    let _ = tokio::time::timeout(Duration::from_secs(5), lease_task).await;
    Ok(())
}

async fn stopped(mut rx: watch::Receiver<bool>) {
    let _ = rx.wait_for(|s| *s).await;
}

async fn wait_for_signal() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {},
        _ = terminate => {},
    }
}
