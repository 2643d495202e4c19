//! Runs the operator's controller in-process against the local control plane, limited to one
//! test namespace, so that tests run in parallel without seeing each other.

use std::{sync::Arc, time::Duration};

use openclaw_operator::{
    controller::{self, Settings},
    metrics::Metrics,
};
use tokio::{sync::watch, task::JoinHandle};

use crate::TestCluster;

/// A running controller; stopped when dropped.
#[derive(Debug)]
pub struct OperatorHandle {
    pub metrics: Arc<Metrics>,
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

/// Resync interval of test operators: short, so that drift repair and steady state are quick to see.
pub const TEST_RESYNC: Duration = Duration::from_secs(3);

impl OperatorHandle {
    /// Starts a controller for `namespace`.
    pub fn start(cluster: &TestCluster, namespace: &str) -> Self {
        Self::start_with(cluster, namespace, TEST_RESYNC)
    }

    pub fn start_with(cluster: &TestCluster, namespace: &str, resync: Duration) -> Self {
        Self::start_with_client(cluster.client.clone(), namespace, resync)
    }

    /// Starts a controller that reads every pod's supervisor at `address` (a supervisor run
    /// locally, since KWOK runs no containers).
    pub fn start_with_supervisor(cluster: &TestCluster, namespace: &str, address: &str) -> Self {
        Self::start_full(
            cluster.client.clone(),
            namespace,
            TEST_RESYNC,
            Some(address.to_owned()),
        )
    }

    /// Starts a controller that talks to the API server through `client`.
    pub fn start_with_client(client: kube::Client, namespace: &str, resync: Duration) -> Self {
        Self::start_full(client, namespace, resync, None)
    }

    fn start_full(
        client: kube::Client,
        namespace: &str,
        resync: Duration,
        supervisor_address: Option<String>,
    ) -> Self {
        let metrics = Arc::new(Metrics::default());
        let (stop, rx) = watch::channel(false);
        let settings = Settings {
            runtime_image: "ghcr.io/openclaw-rocks/openclaw-runtime:test".into(),
            operator_namespace: "openclaw-operator-system".into(),
            // `a,b` watches both, as the operator's flag does.
            watch_namespaces: namespace.split(',').map(str::to_owned).collect(),
            concurrency: 8,
            resync,
            pod_name: format!("test-operator-{namespace}"),
            supervisor_address,
            // The KWOK nodes never hold the profile; a real node labelled by another test's
            // node agent must not draw these pods to it.
            seccomp: openclaw_operator::cli::SeccompMode::RuntimeDefault,
            node_cache_port: None,
            // The tests' registries listen on loopback without TLS.
            insecure_registries: vec!["127.0.0.1".into(), "localhost".into()],
        };
        let mut rx2 = rx.clone();
        let task = tokio::spawn(controller::run(
            client,
            settings,
            metrics.clone(),
            async move {
                let _ = rx2.wait_for(|s| *s).await;
            },
        ));
        drop(rx);
        Self {
            metrics,
            stop,
            task: Some(task),
        }
    }

    /// Stops the controller and waits for it to finish.
    pub async fn stop(mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            let _ = tokio::time::timeout(Duration::from_secs(10), task).await;
        }
    }

    /// Kills the controller at once, as a crash would (no graceful shutdown).
    pub fn kill(mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }

    /// Write requests the controller sent so far.
    pub fn writes(&self) -> u64 {
        let text = self.metrics.encode();
        text.lines()
            .filter(|l| l.starts_with("openclaw_api_writes_total{"))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
            .sum()
    }
}

impl Drop for OperatorHandle {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}
