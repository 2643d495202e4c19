//! Configuration files of the local control plane: kubeconfig, admission, KWOK stages, the node.

use std::{fs, path::Path};

use anyhow::{Context, Result};

use super::{APISERVER_PORT, pki::ADMIN_TOKEN, real_node::addr::NODE_IP};
use crate::tools::{Tools, repo_root};

pub const NODE_NAME: &str = "kwok-node-0";
pub const GPU_NODE_NAME: &str = "kwok-gpu-0";

pub fn write_all(dir: &Path, tools: &Tools, real: bool) -> Result<()> {
    let host = if real { NODE_IP } else { "127.0.0.1" };
    fs::write(dir.join("kubeconfig"), kubeconfig(dir, host))?;
    let mut admission = ADMISSION.to_owned();
    if real {
        admission.push_str(&format!(
            "- name: PodNodeSelector\n  path: {}\n",
            dir.join("podnodeselector.yaml").display()
        ));
        fs::write(dir.join("podnodeselector.yaml"), POD_NODE_SELECTOR)?;
    }
    fs::write(dir.join("admission.yaml"), admission)?;
    fs::write(dir.join("node.yaml"), NODE)?;
    fs::write(dir.join("namespace.yaml"), namespace("openclaw", real))?;
    // With the real node the default StorageClass is local-path (real_node/storage.rs).
    let class = if real {
        STORAGE_CLASS.replace("\"true\"", "\"false\"")
    } else {
        STORAGE_CLASS.to_owned()
    };
    fs::write(dir.join("storageclass.yaml"), class)?;
    fs::write(dir.join("kwok.yaml"), kwok_stages(tools)?)?;
    Ok(())
}

/// The kubelet's kubeconfig: the node's client certificate (user `system:node:node-0` in group
/// `system:nodes`, what the Node authorizer and NodeRestriction expect).
pub fn node_kubeconfig(dir: &Path) -> String {
    let pki = dir.join("pki");
    kubeconfig_for(
        dir,
        NODE_IP,
        "node-0",
        &format!(
            "client-certificate: {}\n    client-key: {}",
            pki.join("kubelet-client.crt").display(),
            pki.join("kubelet-client.key").display()
        ),
    )
}

/// The admin's kubeconfig (a static token), what every tool and test of the project uses.
fn kubeconfig(dir: &Path, host: &str) -> String {
    kubeconfig_for(dir, host, "local-admin", &format!("token: {ADMIN_TOKEN}"))
}

/// A kubeconfig for `user` with `credentials` (lines of its `user:` block) against the local
/// API server at `host`.
fn kubeconfig_for(dir: &Path, host: &str, user: &str, credentials: &str) -> String {
    format!(
        "apiVersion: v1
kind: Config
clusters:
- name: openclaw-local
  cluster:
    server: https://{host}:{APISERVER_PORT}
    certificate-authority: {ca}
users:
- name: {user}
  user:
    {credentials}
contexts:
- name: openclaw-local
  context:
    cluster: openclaw-local
    user: {user}
    namespace: default
current-context: openclaw-local
",
        ca = dir.join("pki").join("ca.crt").display()
    )
}

/// Pod Security `restricted` is enforced on every namespace but kube-system, so every
/// pod the project generates meets the real admission, not only labelled test namespaces.
const ADMISSION: &str = "apiVersion: apiserver.config.k8s.io/v1
kind: AdmissionConfiguration
plugins:
- name: PodSecurity
  configuration:
    apiVersion: pod-security.admission.config.k8s.io/v1
    kind: PodSecurityConfiguration
    defaults:
      enforce: restricted
      enforce-version: latest
      audit: restricted
      audit-version: latest
      warn: restricted
      warn-version: latest
    exemptions:
      namespaces: [kube-system]
";

/// Default StorageClass whose claims KWOK's volume stages bind at once (no real disk).
const STORAGE_CLASS: &str = "apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata:
  name: kwok-volume
  annotations:
    storageclass.kubernetes.io/is-default-class: \"true\"
provisioner: kwok.x-k8s.io/volume
reclaimPolicy: Delete
volumeBindingMode: Immediate
";

/// Pods go to the KWOK nodes unless their namespace says otherwise (PodNodeSelector): the real
/// node runs only what a namespace annotated for it asks, never the hundreds of KWOK instances.
const POD_NODE_SELECTOR: &str = "podNodeSelectorPluginConfig:
  clusterDefaultNodeSelector: type=kwok
";

/// A namespace under Pod Security `restricted`; with the real node, annotated so that its pods
/// run there (the guide's namespace, the operator's).
pub fn namespace(name: &str, real: bool) -> String {
    let mut yaml = format!(
        "apiVersion: v1
kind: Namespace
metadata:
  name: {name}
  labels:
    pod-security.kubernetes.io/enforce: restricted
    pod-security.kubernetes.io/enforce-version: latest
"
    );
    if real {
        yaml.push_str(
            "  annotations:
    scheduler.alpha.kubernetes.io/node-selector: type=real
",
        );
    }
    yaml
}

/// Two fake nodes: a general one, and a GPU node labelled like the guide's dedicated pool
/// (`openclaw.rocks/nodepool=openclaw`). It is not tainted, so that the guide's GPU example
/// without tolerations can schedule too.
const NODE: &str = "apiVersion: v1
kind: Node
metadata:
  name: kwok-node-0
  annotations:
    kwok.x-k8s.io/node: fake
    node.alpha.kubernetes.io/ttl: \"0\"
  labels:
    kubernetes.io/hostname: kwok-node-0
    kubernetes.io/os: linux
    kubernetes.io/arch: amd64
    type: kwok
spec: {}
status:
  allocatable: {cpu: \"1000\", memory: 4Ti, pods: \"1000\", ephemeral-storage: 100Ti}
  capacity: {cpu: \"1000\", memory: 4Ti, pods: \"1000\", ephemeral-storage: 100Ti}
---
apiVersion: v1
kind: Node
metadata:
  name: kwok-gpu-0
  annotations:
    kwok.x-k8s.io/node: fake
    node.alpha.kubernetes.io/ttl: \"0\"
  labels:
    kubernetes.io/hostname: kwok-gpu-0
    kubernetes.io/os: linux
    kubernetes.io/arch: amd64
    type: kwok
    openclaw.rocks/nodepool: openclaw
    nvidia.com/gpu.present: \"true\"
spec: {}
status:
  allocatable: {cpu: \"1000\", memory: 4Ti, pods: \"1000\", ephemeral-storage: 100Ti, nvidia.com/gpu: \"2\"}
  capacity: {cpu: \"1000\", memory: 4Ti, pods: \"1000\", ephemeral-storage: 100Ti, nvidia.com/gpu: \"2\"}
";

/// KWOK's own node stages (from the module it was built from) plus the project's pod stages.
fn kwok_stages(tools: &Tools) -> Result<String> {
    let mut docs = Vec::new();
    for name in [
        "node-initialize.yaml",
        "node-heartbeat-with-lease.yaml",
        "pvc-provision.yaml",
        "pvc-delete.yaml",
        "pv-bind.yaml",
        "pv-delete.yaml",
    ] {
        let path = tools.kwok_stages.join(name);
        docs.push(
            fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?,
        );
    }
    let ours = repo_root()?.join("xtask").join("stages");
    for name in [
        "pod-ready.yaml",
        "pod-unready.yaml",
        "pod-delete.yaml",
        "local-path-helper.yaml",
    ] {
        let path = ours.join(name);
        docs.push(
            fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?,
        );
    }
    Ok(docs.join("\n---\n"))
}
