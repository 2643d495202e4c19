//! One round of the agent's work, repeated: put the profiles in place, find the versions no pod
//! uses any more and remove them, read the GPU facts, and make the Node say so. A round that
//! fails is logged and counted; the next one starts from the disk and the Node as they are.

use std::{
    collections::BTreeSet,
    path::PathBuf,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use k8s_openapi::api::core::v1::{Node, Pod, PodSpec};
use kube::{
    Api, Client,
    api::{ListParams, Patch, PatchParams},
};

use crate::{
    metrics::Metrics,
    node_patch,
    seccomp::{self, Shipped},
};

/// What a round needs.
#[derive(Clone)]
pub struct Agent {
    pub client: Client,
    pub node_name: String,
    pub seccomp_dir: PathBuf,
    pub host_root: PathBuf,
    pub metrics: Arc<Metrics>,
    /// Set once a round put the profiles in place and labelled the Node.
    pub ready: Arc<AtomicBool>,
}

impl std::fmt::Debug for Agent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Agent")
            .field("node_name", &self.node_name)
            .field("seccomp_dir", &self.seccomp_dir)
            .field("host_root", &self.host_root)
            .finish_non_exhaustive()
    }
}

/// Why a round failed.
#[derive(Debug, thiserror::Error)]
pub enum RoundError {
    #[error(transparent)]
    Install(#[from] seccomp::InstallError),
    #[error("failed to remove the stale profile {file}")]
    Remove {
        file: String,
        #[source]
        source: std::io::Error,
    },
    #[error("Kubernetes API error while {doing}")]
    Api {
        doing: &'static str,
        #[source]
        source: kube::Error,
    },
}

impl Agent {
    /// Runs rounds every `interval`, forever.
    pub async fn run(self, interval: Duration) {
        loop {
            match self.round().await {
                Ok(()) => self.ready.store(true, Ordering::Relaxed),
                Err(err) => {
                    self.metrics.round_errors.inc();
                    tracing::error!(error = %crate::error_chain(&err), "node agent round failed");
                }
            }
            tokio::time::sleep(interval).await;
        }
    }

    /// One round.
    pub async fn round(&self) -> Result<(), RoundError> {
        let shipped = Shipped::all();
        let written = seccomp::install(&self.seccomp_dir, &shipped)?;
        if written > 0 {
            self.metrics.profile_writes.inc_by(written as u64);
            tracing::info!(dir = %seccomp::profile_dir(&self.seccomp_dir).display(), written, "seccomp profiles written");
        }
        let in_use = self.profiles_in_use().await?;
        for old in seccomp::stale(&seccomp::present(&self.seccomp_dir), &shipped, &in_use) {
            seccomp::remove(&self.seccomp_dir, &old).map_err(|source| RoundError::Remove {
                file: old.file_name(),
                source,
            })?;
            tracing::info!(profile = %old.file_name(), "removed a seccomp profile no pod on the node uses");
        }
        let installed = seccomp::present(&self.seccomp_dir);
        self.metrics.profiles_installed.set(installed.len() as i64);
        let gpus = openclaw_api::gpu::node_facts(&self.host_root);
        self.metrics
            .gpus
            .set(gpus.as_ref().map_or(0, |f| f.gpus.len() as i64));
        self.label_node(&installed, gpus.as_ref()).await
    }

    async fn label_node(
        &self,
        installed: &[openclaw_api::node::LocalhostProfile],
        gpus: Option<&openclaw_api::supervisor::NodeGpuFacts>,
    ) -> Result<(), RoundError> {
        let nodes: Api<Node> = Api::all(self.client.clone());
        let node = nodes
            .get(&self.node_name)
            .await
            .map_err(|source| RoundError::Api {
                doing: "reading this agent's Node",
                source,
            })?;
        let labels = node.metadata.labels.unwrap_or_default();
        let annotations = node.metadata.annotations.unwrap_or_default();
        let Some(patch) = node_patch::patch(&labels, &annotations, installed, gpus) else {
            return Ok(());
        };
        nodes
            .patch(
                &self.node_name,
                &PatchParams::default(),
                &Patch::Merge(&patch),
            )
            .await
            .map_err(|source| RoundError::Api {
                doing: "labelling this agent's Node",
                source,
            })?;
        self.metrics.node_patches.inc();
        tracing::info!(node = %self.node_name, %patch, "node labels and annotations updated");
        Ok(())
    }

    /// `localhostProfile` paths named by the pods on this node (pod and container level).
    async fn profiles_in_use(&self) -> Result<BTreeSet<String>, RoundError> {
        let pods: Api<Pod> = Api::all(self.client.clone());
        let params = ListParams::default().fields(&format!("spec.nodeName={}", self.node_name));
        let list = pods.list(&params).await.map_err(|source| RoundError::Api {
            doing: "listing the pods of this node",
            source,
        })?;
        Ok(list
            .items
            .iter()
            .filter_map(|pod| pod.spec.as_ref())
            .flat_map(localhost_profiles)
            .collect())
    }
}

/// Every `localhostProfile` a pod spec names.
pub fn localhost_profiles(spec: &PodSpec) -> Vec<String> {
    let pod = spec
        .security_context
        .as_ref()
        .and_then(|c| c.seccomp_profile.as_ref());
    let containers = spec
        .containers
        .iter()
        .chain(spec.init_containers.iter().flatten())
        .filter_map(|c| c.security_context.as_ref()?.seccomp_profile.as_ref());
    let ephemeral = spec
        .ephemeral_containers
        .iter()
        .flatten()
        .filter_map(|c| c.security_context.as_ref()?.seccomp_profile.as_ref());
    pod.into_iter()
        .chain(containers)
        .chain(ephemeral)
        .filter_map(|p| p.localhost_profile.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_profiles_at_every_level() -> anyhow::Result<()> {
        let spec: PodSpec = serde_json::from_value(serde_json::json!({
            "securityContext": {"seccompProfile": {"type": "Localhost", "localhostProfile": "openclaw/a.json"}},
            "initContainers": [{"name": "i", "securityContext": {"seccompProfile": {"type": "Localhost", "localhostProfile": "openclaw/b.json"}}}],
            "containers": [
                {"name": "c", "securityContext": {"seccompProfile": {"type": "RuntimeDefault"}}},
                {"name": "d"}
            ],
            "ephemeralContainers": [{"name": "e", "securityContext": {"seccompProfile": {"type": "Localhost", "localhostProfile": "openclaw/c.json"}}}]
        }))?;
        assert_eq!(
            localhost_profiles(&spec),
            ["openclaw/a.json", "openclaw/b.json", "openclaw/c.json"]
        );
        Ok(())
    }
}
