//! `spec.security`: pod and container security contexts, the NetworkPolicy, the ServiceAccount
//! and a private CA bundle. Secure by default: every default here is the hardened choice.

use std::collections::BTreeMap;

use k8s_openapi::api::networking::v1::NetworkPolicyEgressRule;
use kube::KubeSchema;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::schema::{DATA_KEY, DNS_LABEL, DNS_SUBDOMAIN, is_default, k8s, yes};

/// UID and GID the agent runs as unless told otherwise.
pub const DEFAULT_UID: i64 = 1000;

/// Key read from the CA bundle ConfigMap or Secret when none is given.
pub const DEFAULT_CA_BUNDLE_KEY: &str = "ca-bundle.crt";

/// Security settings of the agent's pod. Omitted, every part takes its hardened default.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecuritySpec {
    /// Pod-level security context. Root is refused: `runAsUser` must not be 0 and `runAsNonRoot`
    /// must not be false.
    #[serde(default)]
    #[schemars(extend("default" = {}))]
    pub pod_security_context: PodSecuritySpec,

    /// Security context of the OpenClaw container. All Linux capabilities are always dropped and
    /// the RuntimeDefault (or the node's OpenClaw Localhost) seccomp profile is always set.
    #[serde(default)]
    #[schemars(extend("default" = {}))]
    pub container_security_context: ContainerSecuritySpec,

    /// The per-instance NetworkPolicy: deny by default; egress to DNS (53) and HTTPS (443);
    /// ingress to the gateway from the instance's namespace and to the status port from the
    /// operator.
    #[serde(default)]
    #[schemars(extend("default" = {}))]
    pub network_policy: NetworkPolicySpec,

    /// The ServiceAccount of the pod: one per instance by default, with no Kubernetes permissions;
    /// its API token is never mounted into the pod.
    #[serde(default)]
    #[schemars(extend("default" = {}))]
    pub rbac: RbacSpec,

    /// A private CA bundle (for a TLS-intercepting proxy, an internal registry), mounted into
    /// every container; `NODE_EXTRA_CA_CERTS` points at it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_bundle: Option<CaBundleSpec>,
}

/// Pod-level security context of the agent's pod.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct PodSecuritySpec {
    /// UID of every process in the pod. Defaults to 1000; 0 (root) is refused.
    #[serde(default = "default_uid")]
    #[schemars(range(min = 0, max = 2147483647))]
    #[x_kube(validation = Rule::new("self != 0")
        .message("spec.security.podSecurityContext.runAsUser: 0 (root) is not allowed"))]
    pub run_as_user: i64,

    /// Primary GID of every process in the pod. Defaults to 1000.
    #[serde(default = "default_uid")]
    #[schemars(range(min = 0, max = 2147483647))]
    pub run_as_group: i64,

    /// GID that owns the mounted volumes (the workspace PVC). Defaults to 1000.
    #[serde(default = "default_uid")]
    #[schemars(range(min = 0, max = 2147483647))]
    pub fs_group: i64,

    /// When the kubelet re-owns volume files to `fsGroup`: `OnRootMismatch` (fast on large
    /// workspaces) or `Always`. Unset, the operator uses `OnRootMismatch`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fs_group_change_policy: Option<FsGroupChangePolicy>,

    /// Makes the kubelet refuse to start a container as root. Defaults to true; false is refused.
    #[serde(default = "yes")]
    #[x_kube(validation = Rule::new("self == true")
        .message("spec.security.podSecurityContext.runAsNonRoot: must not be false; OpenClaw never runs as root"))]
    pub run_as_non_root: bool,
}

impl Default for PodSecuritySpec {
    fn default() -> Self {
        Self {
            run_as_user: DEFAULT_UID,
            run_as_group: DEFAULT_UID,
            fs_group: DEFAULT_UID,
            fs_group_change_policy: None,
            run_as_non_root: true,
        }
    }
}

/// Policy for re-owning volume files to `fsGroup`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
pub enum FsGroupChangePolicy {
    /// Re-own only when the volume root does not match.
    OnRootMismatch,
    /// Re-own on every mount.
    Always,
}

/// Security context of the OpenClaw container.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct ContainerSecuritySpec {
    /// Whether a process may gain more privileges than its parent (setuid binaries). Defaults to
    /// false; true is refused (restricted Pod Security forbids it).
    #[serde(default)]
    #[x_kube(validation = Rule::new("self == false")
        .message("spec.security.containerSecurityContext.allowPrivilegeEscalation: must be false (restricted Pod Security)"))]
    pub allow_privilege_escalation: bool,

    /// Mount the container's root filesystem read-only. Defaults to true; the workspace, `/tmp`
    /// and the caches are separate writable volumes.
    #[serde(default = "yes")]
    pub read_only_root_filesystem: bool,

    /// Overrides the pod's `runAsNonRoot` for this container; false is refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self == true")
        .message("spec.security.containerSecurityContext.runAsNonRoot: must not be false; OpenClaw never runs as root"))]
    pub run_as_non_root: Option<bool>,

    /// Overrides the pod's `runAsUser` for this container; 0 (root) is refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 2147483647))]
    #[x_kube(validation = Rule::new("self != 0")
        .message("spec.security.containerSecurityContext.runAsUser: 0 (root) is not allowed"))]
    pub run_as_user: Option<i64>,

    /// Linux capabilities. `ALL` is always dropped; the only one that may be added back is
    /// `NET_BIND_SERVICE` (what restricted Pod Security allows).
    #[serde(default, skip_serializing_if = "is_default")]
    pub capabilities: CapabilitiesSpec,
}

impl Default for ContainerSecuritySpec {
    fn default() -> Self {
        Self {
            allow_privilege_escalation: false,
            read_only_root_filesystem: true,
            run_as_non_root: None,
            run_as_user: None,
            capabilities: CapabilitiesSpec::default(),
        }
    }
}

/// Linux capabilities of the OpenClaw container.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CapabilitiesSpec {
    /// Capabilities to add back after dropping `ALL`: only `NET_BIND_SERVICE`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 1))]
    pub add: Vec<AddableCapability>,

    /// Capabilities to drop. `ALL` is always dropped whatever this says; the field exists so
    /// that manifests written for other operators apply unchanged.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64), inner(length(max = 64)))]
    pub drop: Vec<String>,
}

/// A capability that restricted Pod Security lets a container add.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
pub enum AddableCapability {
    /// Bind ports below 1024.
    #[serde(rename = "NET_BIND_SERVICE")]
    NetBindService,
}

/// The per-instance NetworkPolicy. With the defaults the pod may resolve DNS (53) and reach
/// HTTPS (443) anywhere; ingress is limited to the gateway port from the instance's namespace
/// and to the status port from the operator.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct NetworkPolicySpec {
    /// Create and maintain the NetworkPolicy. Defaults to true. Turning it off leaves the pod
    /// open to the whole cluster (the admission webhook warns).
    #[serde(default = "yes")]
    pub enabled: bool,

    /// Allow DNS egress (UDP and TCP 53) to any destination. Defaults to true.
    #[serde(default = "yes", rename = "allowDNS")]
    pub allow_dns: bool,

    /// Extra CIDR blocks (for example `192.168.0.0/16`) allowed to reach the gateway port.
    #[serde(
        default,
        rename = "allowedIngressCIDRs",
        skip_serializing_if = "Vec::is_empty"
    )]
    #[schemars(length(max = 50), inner(length(max = 64)))]
    #[x_kube(validation = Rule::new("self.all(c, isCIDR(c))")
        .message("spec.security.networkPolicy.allowedIngressCIDRs: each entry must be a CIDR such as 10.0.0.0/8"))]
    pub allowed_ingress_cidrs: Vec<String>,

    /// Extra namespaces whose pods may reach the gateway port (an ingress controller's namespace,
    /// for example).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 50), inner(length(min = 1, max = 63), regex(pattern = DNS_LABEL)))]
    pub allowed_ingress_namespaces: Vec<String>,

    /// Extra egress rules, in the NetworkPolicy egress rule format (`to`, `ports`), added to the
    /// DNS and HTTPS defaults: a database, a message queue, an internal API.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "k8s::<Vec<NetworkPolicyEgressRule>>", length(max = 50))]
    pub additional_egress: Vec<NetworkPolicyEgressRule>,
}

impl Default for NetworkPolicySpec {
    fn default() -> Self {
        Self {
            enabled: true,
            allow_dns: true,
            allowed_ingress_cidrs: Vec::new(),
            allowed_ingress_namespaces: Vec::new(),
            additional_egress: Vec::new(),
        }
    }
}

/// The ServiceAccount the agent's pod runs as.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("!has(self.createServiceAccount) || self.createServiceAccount || has(self.serviceAccountName)")
    .message("spec.security.rbac.serviceAccountName: required when createServiceAccount is false"))]
pub struct RbacSpec {
    /// Create a ServiceAccount named after the instance. Defaults to true. It is granted no
    /// Kubernetes permissions and its token is not mounted.
    #[serde(default = "yes")]
    pub create_service_account: bool,

    /// An existing ServiceAccount to run as instead; used only when `createServiceAccount` is
    /// false, and then required.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253), regex(pattern = DNS_SUBDOMAIN))]
    pub service_account_name: Option<String>,

    /// Annotations on the created ServiceAccount, for cloud workload identity: AWS IRSA
    /// (`eks.amazonaws.com/role-arn`) or GKE Workload Identity (`iam.gke.io/gcp-service-account`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(extend("maxProperties" = 64))]
    pub service_account_annotations: BTreeMap<String, String>,
}

impl Default for RbacSpec {
    fn default() -> Self {
        Self {
            create_service_account: true,
            service_account_name: None,
            service_account_annotations: BTreeMap::new(),
        }
    }
}

/// Where the private CA bundle comes from: exactly one of `configMapName` or `secretName`, in
/// the instance's namespace.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("has(self.configMapName) != has(self.secretName)")
    .message("spec.security.caBundle: set exactly one of configMapName or secretName"))]
pub struct CaBundleSpec {
    /// ConfigMap holding the PEM bundle.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253), regex(pattern = DNS_SUBDOMAIN))]
    pub config_map_name: Option<String>,

    /// Secret holding the PEM bundle.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253), regex(pattern = DNS_SUBDOMAIN))]
    pub secret_name: Option<String>,

    /// Key of the PEM bundle in the ConfigMap or Secret. Defaults to `ca-bundle.crt`.
    #[serde(default = "default_ca_key")]
    #[schemars(length(min = 1, max = 253), regex(pattern = DATA_KEY))]
    pub key: String,
}

fn default_uid() -> i64 {
    DEFAULT_UID
}

fn default_ca_key() -> String {
    DEFAULT_CA_BUNDLE_KEY.to_owned()
}
