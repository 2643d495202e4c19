//! The real node's configuration files, rendered by pure functions from the node's paths.

use std::path::{Path, PathBuf};

use super::addr::{
    BRIDGE, CLUSTER_POD_CIDR, NODE_IP, NODE_NAME, NODE_POD_CIDR, POD_RANGE_END, POD_RANGE_START,
    registry_host,
};

/// Registries containerd resolves to the local registry: the upstream names of every image the
/// chart and the operator use by default, so that pods pull them from what `cargo xtask image`
/// pushed without rewriting a single image reference (and nothing is fetched off the machine).
pub const MIRRORED_REGISTRIES: [&str; 3] = ["ghcr.io", "docker.io", "registry.k8s.io"];
/// The pod sandbox image (built from xtask/pause/pause.c).
pub fn pause_image() -> String {
    format!("{}/openclaw-dev/pause:1", registry_host())
}

/// Where the node keeps its state, all under `.cluster/node/`.
#[derive(Debug, Clone)]
pub struct NodePaths {
    pub root: PathBuf,
}

impl NodePaths {
    pub fn new(cluster_dir: &Path) -> Self {
        Self {
            root: cluster_dir.join("node"),
        }
    }
    pub fn containerd_root(&self) -> PathBuf {
        self.root.join("containerd")
    }
    pub fn containerd_state(&self) -> PathBuf {
        self.root.join("run").join("containerd")
    }
    pub fn containerd_socket(&self) -> PathBuf {
        self.root.join("run").join("containerd.sock")
    }
    pub fn containerd_config(&self) -> PathBuf {
        self.root.join("containerd.toml")
    }
    pub fn registry_hosts(&self) -> PathBuf {
        self.root.join("certs.d")
    }
    pub fn cni_conf_dir(&self) -> PathBuf {
        self.root.join("cni").join("net.d")
    }
    pub fn cni_state(&self) -> PathBuf {
        self.root.join("cni").join("state")
    }
    pub fn kubelet_root(&self) -> PathBuf {
        self.root.join("kubelet")
    }
    pub fn kubelet_config(&self) -> PathBuf {
        self.root.join("kubelet.yaml")
    }
    pub fn kubelet_kubeconfig(&self) -> PathBuf {
        self.root.join("kubelet.kubeconfig")
    }
    pub fn resolv_conf(&self) -> PathBuf {
        self.root.join("resolv.conf")
    }
    pub fn kube_proxy_config(&self) -> PathBuf {
        self.root.join("kube-proxy.yaml")
    }
    pub fn registry_config(&self) -> PathBuf {
        self.root.join("registry.yaml")
    }
    pub fn registry_storage(&self) -> PathBuf {
        self.root.join("registry")
    }
    pub fn local_path_config(&self) -> PathBuf {
        self.root.join("local-path").join("config.json")
    }
    pub fn local_path_helper(&self) -> PathBuf {
        self.root.join("local-path").join("helper-pod.yaml")
    }
    pub fn volumes(&self) -> PathBuf {
        self.root.join("volumes")
    }
    pub fn pod_logs(&self) -> PathBuf {
        self.root.join("pod-logs")
    }
}

/// containerd 2.x (config version 3): CRI with runc (cgroupfs, the machine has cgroup v1),
/// overlayfs, the CNI bridge, registry hosts from `certs.d`.
pub fn containerd_toml(paths: &NodePaths, runc: &Path, cni_bin: &Path) -> String {
    format!(
        r#"version = 3
root = "{root}"
state = "{state}"

[grpc]
  address = "{socket}"

[plugins."io.containerd.cri.v1.images"]
  snapshotter = "overlayfs"
  [plugins."io.containerd.cri.v1.images".pinned_images]
    sandbox = "{pause}"
  [plugins."io.containerd.cri.v1.images".registry]
    config_path = "{hosts}"

[plugins."io.containerd.cri.v1.runtime"]
  enable_selinux = false
  disable_apparmor = true
  netns_mounts_under_state_dir = true
  # Lowering a process's oom_score_adj needs CAP_SYS_RESOURCE, which sandboxed machines (this
  # kind among them) withhold even from root: keep every container at or above containerd's.
  restrict_oom_score_adj = true
  [plugins."io.containerd.cri.v1.runtime".containerd]
    default_runtime_name = "runc"
    [plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc.options]
        BinaryName = "{runc}"
        SystemdCgroup = false
  [plugins."io.containerd.cri.v1.runtime".cni]
    bin_dirs = ["{cni_bin}"]
    conf_dir = "{cni_conf}"
    max_conf_num = 1

[plugins."io.containerd.grpc.v1.cri"]
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
"#,
        root = paths.containerd_root().display(),
        state = paths.containerd_state().display(),
        socket = paths.containerd_socket().display(),
        pause = pause_image(),
        hosts = paths.registry_hosts().display(),
        runc = runc.display(),
        cni_bin = cni_bin.display(),
        cni_conf = paths.cni_conf_dir().display(),
    )
}

/// `certs.d/<registry>/hosts.toml`: the registry resolves to the local one over plain HTTP, and
/// to nothing else (no fallback to the real upstream: there is no way off the machine).
pub fn registry_hosts_toml() -> String {
    let local = registry_host();
    format!(
        r#"server = "http://{local}"

[host."http://{local}"]
  capabilities = ["pull", "resolve"]
"#
    )
}

/// The CNI network: a bridge with host-local IPAM on the node's pod subnet, no IP masquerade
/// (pods never get NAT to the outside), hairpin for Services that point back at the same pod,
/// and portmap for hostPort.
pub fn cni_conflist(paths: &NodePaths) -> String {
    format!(
        r#"{{
  "cniVersion": "1.0.0",
  "name": "openclaw-dev",
  "plugins": [
    {{
      "type": "bridge",
      "bridge": "{BRIDGE}",
      "isGateway": true,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {{
        "type": "host-local",
        "dataDir": "{state}",
        "ranges": [[{{
          "subnet": "{NODE_POD_CIDR}",
          "rangeStart": "{POD_RANGE_START}",
          "rangeEnd": "{POD_RANGE_END}",
          "gateway": "{NODE_IP}"
        }}]],
        "routes": [{{ "dst": "0.0.0.0/0" }}]
      }}
    }},
    {{ "type": "portmap", "capabilities": {{ "portMappings": true }} }}
  ]
}}
"#,
        state = paths.cni_state().display(),
    )
}

/// The kubelet: cgroupfs driver on cgroup v1 (allowed explicitly with `failCgroupV1: false`),
/// webhook authentication and authorization against the API server, serving on the bridge only,
/// no read-only port, generous eviction thresholds (a shared development disk), no swap check.
pub fn kubelet_yaml(paths: &NodePaths, pki: &Path) -> String {
    format!(
        r#"apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
failCgroupV1: false
cgroupDriver: cgroupfs
containerRuntimeEndpoint: unix://{socket}
address: {NODE_IP}
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
tlsCertFile: {pki}/kubelet.crt
tlsPrivateKeyFile: {pki}/kubelet.key
authentication:
  anonymous:
    enabled: false
  webhook:
    enabled: true
  x509:
    clientCAFile: {pki}/ca.crt
authorization:
  mode: Webhook
clusterDomain: cluster.local
resolvConf: {resolv}
podLogsDir: {logs}
failSwapOn: false
cgroupsPerQOS: true
enforceNodeAllocatable: ["pods"]
serializeImagePulls: false
maxPods: 60
imageGCHighThresholdPercent: 100
evictionHard:
  memory.available: "100Mi"
  nodefs.available: "1%"
  imagefs.available: "1%"
  nodefs.inodesFree: "1%"
nodeStatusReportFrequency: 10s
syncFrequency: 10s
fileCheckFrequency: 10s
shutdownGracePeriod: 0s
localStorageCapacityIsolation: true
"#,
        socket = paths.containerd_socket().display(),
        pki = pki.display(),
        resolv = paths.resolv_conf().display(),
        logs = paths.pod_logs().display(),
    )
}

/// kube-proxy in iptables mode: NodePorts only on the bridge address, conntrack sysctls left
/// alone, health and metrics on loopback.
pub fn kube_proxy_yaml(kubeconfig: &Path) -> String {
    format!(
        r#"apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: iptables
clientConnection:
  kubeconfig: {kubeconfig}
hostnameOverride: {NODE_NAME}
clusterCIDR: {CLUSTER_POD_CIDR}
nodePortAddresses: ["{NODE_IP}/32"]
bindAddress: 127.0.0.1
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
conntrack:
  maxPerCore: 0
  min: 0
  tcpEstablishedTimeout: 0s
  tcpCloseWaitTimeout: 0s
"#,
        kubeconfig = kubeconfig.display(),
    )
}

/// distribution's configuration: storage in the node's directory, delete enabled (tags and
/// digests behave as on any registry), listening on the node's bridge address only.
pub fn registry_yaml(paths: &NodePaths) -> String {
    format!(
        r#"version: 0.1
log:
  level: warn
  accesslog:
    disabled: false
storage:
  filesystem:
    rootdirectory: {storage}
  delete:
    enabled: true
http:
  addr: {addr}
"#,
        storage = paths.registry_storage().display(),
        addr = registry_host(),
    )
}

/// The pods' resolv.conf: no resolver is reachable (no DNS server runs on this test node and
/// nothing leaves the machine), so lookups fail fast instead of hanging.
pub const RESOLV_CONF: &str = "nameserver 127.0.0.1\noptions timeout:1 attempts:1\n";

/// The Node object created before the kubelet starts, so that `node-0` has its pod CIDR
/// (immutable once set) and the labels that tell it from the KWOK nodes.
pub fn node_yaml() -> String {
    format!(
        r#"apiVersion: v1
kind: Node
metadata:
  name: {NODE_NAME}
  labels:
    kubernetes.io/hostname: {NODE_NAME}
    kubernetes.io/os: linux
    kubernetes.io/arch: amd64
    type: real
spec:
  podCIDR: {NODE_POD_CIDR}
  podCIDRs: ["{NODE_POD_CIDR}"]
"#
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn containerd_points_at_the_node_paths_and_runc() {
        let paths = NodePaths::new(Path::new("/c"));
        let toml = containerd_toml(&paths, Path::new("/t/runc"), Path::new("/t/cni"));
        assert!(toml.contains(r#"address = "/c/node/run/containerd.sock""#));
        assert!(toml.contains(r#"BinaryName = "/t/runc""#));
        assert!(toml.contains("SystemdCgroup = false"));
        assert!(toml.contains(r#"bin_dirs = ["/t/cni"]"#));
        assert!(toml.contains(&format!(r#"sandbox = "{}""#, pause_image())));
    }

    #[test]
    fn cni_never_masquerades_and_stays_on_the_node_subnet() {
        let conf: serde_json::Value =
            serde_json::from_str(&cni_conflist(&NodePaths::new(Path::new("/c")))).unwrap();
        let bridge = &conf["plugins"][0];
        assert_eq!(bridge["ipMasq"], false);
        assert_eq!(bridge["bridge"], BRIDGE);
        assert_eq!(bridge["ipam"]["ranges"][0][0]["subnet"], NODE_POD_CIDR);
    }

    #[test]
    fn kubelet_accepts_cgroup_v1_and_listens_on_the_bridge_only() {
        let yaml = kubelet_yaml(&NodePaths::new(Path::new("/c")), Path::new("/c/pki"));
        assert!(yaml.contains("failCgroupV1: false"));
        assert!(yaml.contains(&format!("address: {NODE_IP}")));
        assert!(yaml.contains("readOnlyPort: 0"));
        assert!(yaml.contains("anonymous:\n    enabled: false"));
    }
}
