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
    OpenClawClusterDefaults, OpenClawClusterDefaultsSpec,
    defaults::CLUSTER_DEFAULTS_NAME,
    node::{LocalhostProfile, gpu_facts},
    supervisor::NodeGpuFacts,
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

/// What the Nodes say, as far as agent pods are concerned.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeFacts {
    /// The most `nvidia.com/gpu` any single node can allocate.
    pub max_gpus: i64,
    /// Whether some node holds this build's version of the gateway's Localhost profile.
    pub gateway_profile: bool,
    /// The GPU facts the node agents published, by node.
    pub gpus: Vec<NodeGpus>,
}

/// One node's GPUs, as its node agent published them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeGpus {
    pub node: String,
    /// `nvidia.com/gpu` the node can allocate.
    pub allocatable: i64,
    pub facts: NodeGpuFacts,
}

impl NodeFacts {
    /// The facts of a list of Nodes.
    pub fn of(nodes: &[Node]) -> Self {
        let label = LocalhostProfile::gateway().node_label();
        let allocatable = |node: &Node| {
            node.status
                .as_ref()
                .and_then(|s| s.allocatable.as_ref()?.get(GPU_RESOURCE))
                .and_then(|q| q.0.parse::<i64>().ok())
                .unwrap_or(0)
        };
        Self {
            max_gpus: nodes.iter().map(allocatable).max().unwrap_or(0),
            gateway_profile: nodes.iter().any(|node| {
                node.metadata
                    .labels
                    .as_ref()
                    .is_some_and(|labels| labels.contains_key(&label))
            }),
            gpus: nodes
                .iter()
                .filter_map(|node| {
                    Some(NodeGpus {
                        node: node.metadata.name.clone()?,
                        allocatable: allocatable(node),
                        facts: gpu_facts(node.metadata.annotations.as_ref()?)?,
                    })
                })
                .collect(),
        }
    }
}

/// Cached cluster facts.
pub struct ClusterFacts {
    client: Client,
    service_monitor: Mutex<Cached<bool>>,
    nodes: Mutex<Cached<NodeFacts>>,
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
            nodes: Mutex::default(),
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

    /// What the Nodes say (GPUs, the node agents' labels and annotations).
    pub async fn nodes(&self) -> Result<NodeFacts, kube::Error> {
        if let Some(v) = lock(&self.nodes).fresh() {
            return Ok(v);
        }
        let nodes: Api<Node> = Api::all(self.client.clone());
        let facts = NodeFacts::of(&nodes.list(&ListParams::default()).await?.items);
        lock(&self.nodes).value = Some((Instant::now(), facts.clone()));
        Ok(facts)
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
