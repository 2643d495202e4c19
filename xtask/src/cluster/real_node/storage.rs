//! Dynamic volumes: Rancher's local-path provisioner (a real external provisioner, run as a host
//! process) behind the cluster's one default StorageClass `local-path`.
//!
//! Claims are bound when their pod is scheduled (`WaitForFirstConsumer`); the provisioner then
//! runs a helper pod on the chosen node that creates the volume's directory. On `node-0` that
//! pod really runs (from the OpenClaw image's Debian base, which has a shell); on the KWOK nodes
//! the project's Stage `local-path-helper` completes it, so KWOK-scheduled instances get the same
//! kind of PersistentVolume without a disk.

use std::{fs, path::Path, time::Duration};

use anyhow::Result;

use super::{NodeTools, addr::NODE_NAME, config::NodePaths, procs::Daemon, wait_for};
use crate::cluster::{kubectl_output, kubectl_quiet};

/// The provisioner's namespace (Pod Security `privileged`: its helper pods mount the host).
pub const NAMESPACE: &str = "local-path-storage";
/// The provisioner's name in StorageClasses and PersistentVolumes.
pub const PROVISIONER: &str = "rancher.io/local-path";
/// The image of the helper pods: anything with `sh`, `mkdir` and `rm`.
pub const HELPER_IMAGE: &str = "ghcr.io/openclaw/openclaw:2026.9.6";

pub fn start(dir: &Path, paths: &NodePaths, node: &NodeTools) -> Result<()> {
    println!(
        "==> local-path provisioner v{} (default StorageClass local-path)",
        super::tools::LOCAL_PATH_VERSION
    );
    let manifest = paths.root.join("local-path").join("objects.yaml");
    fs::write(&manifest, objects(&paths.volumes()))?;
    fs::write(paths.local_path_config(), config_json(&paths.volumes()))?;
    fs::write(paths.local_path_helper(), HELPER_POD)?;
    kubectl_quiet(dir, &["apply", "-f", &manifest.display().to_string()])?;
    Daemon::new("local-path-provisioner", &node.local_path)
        .args([
            "start".into(),
            format!("--config={}", paths.local_path_config().display()),
            format!("--helper-pod-file={}", paths.local_path_helper().display()),
            format!("--namespace={NAMESPACE}"),
            format!("--provisioner-name={PROVISIONER}"),
            format!("--helper-image={HELPER_IMAGE}"),
            "--service-account-name=default".into(),
            format!("--kubeconfig={}", dir.join("kubeconfig").display()),
        ])
        .spawn(dir)?;
    wait_for(
        dir,
        "the local-path StorageClass",
        Duration::from_secs(30),
        || kubectl_output(dir, &["get", "storageclass", "local-path", "-o", "name"]).is_ok(),
    )
}

/// Where volumes live on each node (on node-0, under the node's directory).
fn config_json(volumes: &Path) -> String {
    format!(
        r#"{{"nodePathMap":[{{"node":"DEFAULT_PATH_FOR_NON_LISTED_NODES","paths":["{v}"]}},{{"node":"{NODE_NAME}","paths":["{v}"]}}]}}"#,
        v = volumes.display()
    )
}

fn objects(volumes: &Path) -> String {
    format!(
        r#"apiVersion: v1
kind: Namespace
metadata:
  name: {NAMESPACE}
  labels:
    pod-security.kubernetes.io/enforce: privileged
  annotations:
    # Helper pods are bound to their node by name; no namespace node selector applies.
    scheduler.alpha.kubernetes.io/node-selector: ""
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: local-path-config
  namespace: {NAMESPACE}
data:
  config.json: '{config}'
  setup: |-
    #!/bin/sh
    set -eu
    mkdir -m 0777 -p "$VOL_DIR"
  teardown: |-
    #!/bin/sh
    set -eu
    rm -rf "$VOL_DIR"
  helperPod.yaml: |-
{helper}
---
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata:
  name: local-path
  annotations:
    storageclass.kubernetes.io/is-default-class: "true"
provisioner: {PROVISIONER}
reclaimPolicy: Delete
volumeBindingMode: WaitForFirstConsumer
"#,
        config = config_json(volumes),
        helper = HELPER_POD
            .lines()
            .map(|l| format!("    {l}"))
            .collect::<Vec<_>>()
            .join("\n"),
    )
}

/// The helper pod template (the provisioner adds the volume, the script and the node).
const HELPER_POD: &str = "apiVersion: v1
kind: Pod
metadata:
  name: helper-pod
  labels:
    app.kubernetes.io/name: local-path-helper
spec:
  securityContext:
    runAsUser: 0
  containers:
  - name: helper-pod
    image: ghcr.io/openclaw/openclaw:2026.9.6
    imagePullPolicy: IfNotPresent
";
