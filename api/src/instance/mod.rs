//! `OpenClawInstance` (`openclawinstances.openclaw.rocks/v1alpha1`): one OpenClaw agent, its
//! spec (one file per part) and its status.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    Container, EnvFromSource, EnvVar, ResourceRequirements, Volume, VolumeMount,
};
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::schema::{
    DNS_SUBDOMAIN, INSTANCE_NAME, is_default, k8s, named, requests_within_limits,
    resource_requirements, resources_are_quantities,
};

pub mod availability;
pub mod backup;
pub mod config;
pub mod image;
pub mod networking;
pub mod observability;
pub mod security;
pub mod sidecars;
pub mod skills;
pub mod status;
pub mod storage;
pub mod update;

pub use availability::{AvailabilitySpec, PodDisruptionBudgetSpec, ProbeSpec, ProbesSpec};
pub use backup::{BackupSpec, DrillSpec, S3Spec};
pub use config::{ConfigFormat, ConfigMapKeyRef, ConfigSpec, MergeMode};
pub use image::{ImageSpec, PullPolicy, SidecarImage};
pub use networking::{GatewaySpec, IngressSpec, NetworkingSpec, ServiceSpec, ServiceType};
pub use observability::{MetricsSpec, ObservabilitySpec, ServiceMonitorSpec};
pub use security::{
    CaBundleSpec, ContainerSecuritySpec, NetworkPolicySpec, PodSecuritySpec, RbacSpec, SecuritySpec,
};
pub use sidecars::{ChromiumSpec, OllamaSpec, OllamaStorageSpec, TailscaleMode, TailscaleSpec};
pub use skills::{RuntimeDeps, RuntimeDepsSpec, SkillRef, SkillSource};
pub use status::{OpenClawInstanceStatus, Phase, SupervisorStatus};
pub use storage::{PersistenceSpec, StorageSpec};
pub use update::AutoUpdateSpec;

/// Container names the operator uses itself; `spec.sidecars` and `spec.initContainers` may not
/// take them, nor any name starting with [`RESERVED_PREFIX`].
pub const RESERVED_CONTAINER_NAMES: [&str; 4] = ["openclaw", "chromium", "ollama", "tailscale"];

/// Prefix reserved for the operator's own containers and volumes.
pub const RESERVED_PREFIX: &str = "openclaw-";

/// Annotation on an instance asking the operator for a new gateway token: each new value
/// rotates the token of the instance's own Secret once; the running gateway takes it without a
/// restart. Ignored (with a Warning Event) when `spec.gateway.existingSecret` holds the token.
pub const ROTATE_GATEWAY_TOKEN_ANNOTATION: &str = "openclaw.rocks/rotate-gateway-token";

/// Annotation on the gateway-token Secret: the value of [`ROTATE_GATEWAY_TOKEN_ANNOTATION`] it
/// last answered.
pub const GATEWAY_TOKEN_ROTATED_FOR_ANNOTATION: &str = "openclaw.rocks/gateway-token-rotated-for";

/// Name of the workspace volume; user containers may mount it, user volumes may not take it.
pub const WORKSPACE_VOLUME: &str = "data";

/// Grammar of `spec.skills` and `spec.plugins` entries.
const SKILL: &str = skills::SKILL_PATTERN;

/// Desired state of one OpenClaw agent. Everything is optional: `spec: {}` runs a hardened agent
/// with the default image, a 10Gi workspace, a deny-by-default NetworkPolicy, a
/// PodDisruptionBudget and a generated gateway token.
// Two printer columns share `type_ = "string"`, which clippy mistakes for a repeated attribute.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, KubeSchema, Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[kube(
    group = "openclaw.rocks",
    version = "v1alpha1",
    kind = "OpenClawInstance",
    plural = "openclawinstances",
    namespaced,
    status = "OpenClawInstanceStatus",
    shortname = "claw",
    category = "openclaw",
    derive = "PartialEq",
    derive = "Default",
    validation = Rule::new(INSTANCE_NAME).message(
        "metadata.name: at most 52 characters, lowercase letters, digits and '-', starting with a letter (it names the StatefulSet, whose pods' controller-revision-hash label adds 11 characters, and the Service, a DNS label)"
    ),
    doc = "An OpenClaw AI agent gateway run by the OpenClaw operator: a hardened pod with its workspace volume, network policy, service account, probes, backups and auto-update.",
    printcolumn(
        name = "Phase",
        type_ = "string",
        json_path = ".status.phase",
        description = "Lifecycle phase"
    ),
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = r#".status.conditions[?(@.type=="Ready")].status"#,
        description = "Whether the gateway is ready"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct OpenClawInstanceSpec {
    /// Registry host (optionally with a port and path prefix, for example `mirror.corp:5000/hub`)
    /// that replaces the registry of every image of the pod: OpenClaw, the built-in sidecars and
    /// the operator's init image. For air-gapped clusters and pull-through mirrors.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        length(min = 1, max = 255),
        regex(
            pattern = r"^[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:[0-9]{1,5})?(/[a-z0-9]([a-z0-9._/-]*[a-z0-9])?)?$"
        )
    )]
    pub registry: Option<String>,

    /// The OpenClaw image: repository, tag or digest, pull policy and pull secrets.
    #[serde(default, skip_serializing_if = "is_default")]
    pub image: ImageSpec,

    /// The OpenClaw configuration (`openclaw.json`): inline or from a ConfigMap, overwritten or
    /// merged at each start.
    #[serde(default)]
    #[schemars(extend("default" = {}))]
    pub config: ConfigSpec,

    /// Skills installed before the agent starts, at most 20: a ClawHub slug (`weather`,
    /// `@owner/slug`) or an npm package (`npm:<package>`), optionally with `@<version>` and a
    /// `#sha256:<64 hex digits>` pin of the downloaded archive, which the supervisor verifies
    /// (for example `weather@1.2.0#sha256:...`). Installs are cached on the workspace volume.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(
        length(max = 20),
        inner(length(min = 1, max = 256), regex(pattern = SKILL)),
        extend("x-kubernetes-list-type" = "set")
    )]
    pub skills: Vec<String>,

    /// OpenClaw plugins installed before the agent starts, at most 20: npm packages, with or
    /// without the `npm:` prefix, optionally with `@<version>` and a `#sha256:<hex>` pin.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(
        length(max = 20),
        inner(length(min = 1, max = 256), regex(pattern = SKILL)),
        extend("x-kubernetes-list-type" = "set")
    )]
    pub plugins: Vec<String>,

    /// Runtimes installed on the workspace volume for skills and MCP servers: pnpm, Python + uv.
    #[serde(default, skip_serializing_if = "is_default")]
    pub runtime_deps: RuntimeDepsSpec,

    /// Sources of environment variables for the agent, usually the Secret holding your AI
    /// provider keys (`ANTHROPIC_API_KEY`, `OPENAI_API_KEY`, ...) and channel tokens
    /// (`TELEGRAM_BOT_TOKEN`, ...). Rotating a referenced Secret rolls the pod.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "k8s::<Vec<EnvFromSource>>", length(max = 50))]
    pub env_from: Vec<EnvFromSource>,

    /// Environment variables of the agent, added after the operator's own (so a name given here
    /// wins, except the variables the supervisor needs).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(
        schema_with = "k8s::<Vec<EnvVar>>",
        length(max = 100),
        extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["name"])
    )]
    pub env: Vec<EnvVar>,

    /// CPU and memory of the OpenClaw container. Unset, the operator requests 500m CPU and 1Gi
    /// and limits at 2 CPU and 4Gi; the gateway's Node.js heap is capped from the memory limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "resource_requirements")]
    #[x_kube(validation = resources_are_quantities("spec.resources"))]
    #[x_kube(validation = requests_within_limits("spec.resources"))]
    pub resources: Option<ResourceRequirements>,

    /// Security settings. Secure by default, with nothing to set: UID 1000, root refused, all
    /// capabilities dropped, seccomp on, read-only root filesystem, a deny-by-default
    /// NetworkPolicy (DNS and HTTPS egress only), a ServiceAccount without an API token.
    #[serde(default)]
    #[schemars(extend("default" = {}))]
    pub security: SecuritySpec,

    /// The workspace volume `data`: the agent's state, skills, runtimes and caches, on a 10Gi
    /// PersistentVolumeClaim by default.
    #[serde(default)]
    #[schemars(extend("default" = {}))]
    pub storage: StorageSpec,

    /// A hardened headless Chromium sidecar for browsing, screenshots and page automation: UID
    /// 1001, read-only root filesystem, DevTools on localhost only. The operator points OpenClaw
    /// at it (`CHROMIUM_URL`).
    #[serde(default, skip_serializing_if = "is_default")]
    pub chromium: ChromiumSpec,

    /// Local models through an Ollama sidecar: the listed models are pulled before the agent
    /// starts, `OLLAMA_HOST=http://localhost:11434` is injected, and `gpu` NVIDIA GPUs are
    /// requested for the sidecar.
    #[serde(default, skip_serializing_if = "is_default")]
    pub ollama: OllamaSpec,

    /// Access from your tailnet through a Tailscale sidecar, without Ingress, load balancer or
    /// public IP. The operator injects `TS_AUTHKEY` and `TS_HOSTNAME`, merges
    /// `gateway.tailscale.mode` and `gateway.tailscale.resetOnExit` into the configuration, and
    /// allows STUN and WireGuard egress.
    #[serde(default, skip_serializing_if = "is_default")]
    pub tailscale: TailscaleSpec,

    /// Extra init containers (same format as a Pod's), at most 10. They run after the
    /// operator's own init step, and may mount the workspace volume `data`. Names `openclaw`,
    /// `chromium`, `ollama`, `tailscale` and `openclaw-*` are reserved.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "named::<Vec<Container>>", length(max = 10))]
    #[x_kube(validation = Rule::new("self.all(c, !(c.name in ['openclaw', 'chromium', 'ollama', 'tailscale']) && !c.name.startsWith('openclaw-'))")
        .message("spec.initContainers: the names openclaw, chromium, ollama, tailscale and openclaw-* are reserved"))]
    pub init_containers: Vec<Container>,

    /// Extra containers in the agent's pod (same format as a Pod's), at most 10: a database
    /// proxy, a log shipper. Names `openclaw`, `chromium`, `ollama`, `tailscale` and `openclaw-*`
    /// are reserved.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "named::<Vec<Container>>", length(max = 10))]
    #[x_kube(validation = Rule::new("self.all(c, !(c.name in ['openclaw', 'chromium', 'ollama', 'tailscale']) && !c.name.startsWith('openclaw-'))")
        .message("spec.sidecars: the names openclaw, chromium, ollama, tailscale and openclaw-* are reserved"))]
    pub sidecars: Vec<Container>,

    /// Volumes for `sidecars` and `initContainers` (same format as a Pod's), at most 20. The
    /// names `data` and `openclaw-*` are reserved.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "named::<Vec<Volume>>", length(max = 20))]
    #[x_kube(validation = Rule::new("self.all(v, v.name != 'data' && !v.name.startsWith('openclaw-'))")
        .message("spec.sidecarVolumes: the names data and openclaw-* are reserved"))]
    pub sidecar_volumes: Vec<Volume>,

    /// Extra volumes of the pod, to mount into the OpenClaw container with `extraVolumeMounts`;
    /// at most 10. The names `data` and `openclaw-*` are reserved.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "named::<Vec<Volume>>", length(max = 10))]
    #[x_kube(validation = Rule::new("self.all(v, v.name != 'data' && !v.name.startsWith('openclaw-'))")
        .message("spec.extraVolumes: the names data and openclaw-* are reserved"))]
    pub extra_volumes: Vec<Volume>,

    /// Extra mounts in the OpenClaw container, of `extraVolumes`; at most 10.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "k8s::<Vec<VolumeMount>>", length(max = 10))]
    pub extra_volume_mounts: Vec<VolumeMount>,

    /// The Service and an optional Ingress.
    #[serde(default, skip_serializing_if = "is_default")]
    pub networking: NetworkingSpec,

    /// Tuning of the liveness, readiness and startup probes, which ask the supervisor (it knows
    /// where start-up stands and checks the gateway's JSON health). Most instances leave this out.
    #[serde(default, skip_serializing_if = "is_default")]
    pub probes: ProbesSpec,

    /// Metrics and ServiceMonitor.
    #[serde(default, skip_serializing_if = "is_default")]
    pub observability: ObservabilitySpec,

    /// Scheduling (node selector, tolerations, affinity, spread, runtime class) and the
    /// PodDisruptionBudget.
    #[serde(default)]
    #[schemars(extend("default" = {}))]
    pub availability: AvailabilitySpec,

    /// Stop the agent: the pod is scaled to zero, the workspace and every other object are kept.
    /// Defaults to false.
    #[serde(default)]
    pub suspend: bool,

    /// Workspace backups to S3-compatible storage, streamed as tar+zstd by the supervisor in the
    /// pod: on `schedule`, before an auto-update, and before the instance is deleted.
    #[serde(default, skip_serializing_if = "is_default")]
    pub backup: BackupSpec,

    /// Restore the workspace from this backup before the first start: an object key in the
    /// instance's backup bucket, or `s3://<bucket>/<key>` read with the instance's own S3
    /// credentials. The restore runs once, only into an empty workspace, and is recorded in
    /// `status.restoredFrom`; the spec is never rewritten.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        length(min = 1, max = 1024),
        regex(pattern = r"^(s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]/\S+|[^\s/]\S*)$")
    )]
    pub restore_from: Option<String>,

    /// The gateway's token Secret and extra Control UI origins.
    #[serde(default, skip_serializing_if = "is_default")]
    pub gateway: GatewaySpec,

    /// Automatic updates to new OpenClaw releases. When a newer stable release appears in the
    /// image's repository, the operator backs the workspace up, rolls the pod onto the new
    /// version, waits up to `healthCheckTimeout` for it to become ready, and otherwise rolls
    /// back; after 3 consecutive rollbacks it pauses and sets the `AutoUpdatePaused` condition.
    /// The spec is never rewritten (progress is in `status.autoUpdate`), and a digest-pinned
    /// image (`spec.image.digest`) is never updated.
    #[serde(default, skip_serializing_if = "is_default")]
    pub auto_update: AutoUpdateSpec,

    /// Annotations added to the agent's pod. The operator's own annotations (content hashes)
    /// win over these.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(extend("maxProperties" = 64))]
    pub pod_annotations: BTreeMap<String, String>,
}

/// A reference to a Secret in the instance's namespace.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretRef {
    /// Name of the Secret.
    #[schemars(length(min = 1, max = 253), regex(pattern = DNS_SUBDOMAIN))]
    pub name: String,
}
