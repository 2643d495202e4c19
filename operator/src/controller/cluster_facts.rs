//! Facts about the cluster that reconciles consult, cached briefly to spare the API server.

use std::{
    sync::Mutex,
    time::{Duration, Instant},
};

use k8s_openapi::{
    api::core::v1::Node,
    apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition,
};
use kube::{Api, Client, api::ListParams};
use openclaw_api::{
    OpenClawClusterDefaults, OpenClawClusterDefaultsSpec, defaults::CLUSTER_DEFAULTS_NAME,
};

const TTL: Duration = Duration::from_secs(30);
const SERVICE_MONITOR_CRD: &str = "servicemonitors.monitoring.coreos.com";
const GPU_RESOURCE: &str = "nvidia.com/gpu";

#[derive(Debug, Default)]
struct Cached<T> {
    value: Option<(Instant, T)>,
}

impl<T: Clone> Cached<T> {
    fn fresh(&self) -> Option<T> {
        self.value
            .as_ref()
            .filter(|(at, _)| at.elapsed() < TTL)
            .map(|(_, v)| v.clone())
    }
}

/// Cached cluster facts.
pub struct ClusterFacts {
    client: Client,
    service_monitor: Mutex<Cached<bool>>,
    gpus: Mutex<Cached<i64>>,
    defaults: Mutex<Cached<Option<OpenClawClusterDefaultsSpec>>>,
}

impl std::fmt::Debug for ClusterFacts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClusterFacts")
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl ClusterFacts {
    pub fn new(client: Client) -> Self {
        Self {
            client,
            service_monitor: Mutex::default(),
            gpus: Mutex::default(),
            defaults: Mutex::default(),
        }
    }

    /// Whether the Prometheus Operator's ServiceMonitor CRD is installed.
    pub async fn service_monitor_crd(&self) -> Result<bool, kube::Error> {
        if let Some(v) = lock(&self.service_monitor).fresh() {
            return Ok(v);
        }
        let api: Api<CustomResourceDefinition> = Api::all(self.client.clone());
        let present = api.get_opt(SERVICE_MONITOR_CRD).await?.is_some();
        lock(&self.service_monitor).value = Some((Instant::now(), present));
        Ok(present)
    }

    /// The most `nvidia.com/gpu` any single node can allocate.
    pub async fn max_node_gpus(&self) -> Result<i64, kube::Error> {
        if let Some(v) = lock(&self.gpus).fresh() {
            return Ok(v);
        }
        let nodes: Api<Node> = Api::all(self.client.clone());
        let max = nodes
            .list(&ListParams::default())
            .await?
            .items
            .iter()
            .filter_map(|node| {
                node.status
                    .as_ref()?
                    .allocatable
                    .as_ref()?
                    .get(GPU_RESOURCE)
            })
            .filter_map(|q| q.0.parse::<i64>().ok())
            .max()
            .unwrap_or(0);
        lock(&self.gpus).value = Some((Instant::now(), max));
        Ok(max)
    }

    /// The spec of the `OpenClawClusterDefaults` named `cluster`, if any.
    pub async fn cluster_defaults(
        &self,
    ) -> Result<Option<OpenClawClusterDefaultsSpec>, kube::Error> {
        if let Some(v) = lock(&self.defaults).fresh() {
            return Ok(v);
        }
        let api: Api<OpenClawClusterDefaults> = Api::all(self.client.clone());
        let spec = match api.get_opt(CLUSTER_DEFAULTS_NAME).await {
            Ok(found) => found.map(|d| d.spec),
            // The CRD may be missing from a partial installation: no defaults, not a failure.
            Err(kube::Error::Api(status)) if status.code == 404 => None,
            Err(err) => return Err(err),
        };
        lock(&self.defaults).value = Some((Instant::now(), spec.clone()));
        Ok(spec)
    }
}
