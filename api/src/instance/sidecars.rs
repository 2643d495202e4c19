//! The built-in sidecars: Chromium (`spec.chromium`), Ollama (`spec.ollama`) and Tailscale
//! (`spec.tailscale`).

use k8s_openapi::{
    api::core::v1::{EnvVar, ResourceRequirements},
    apimachinery::pkg::api::resource::Quantity,
};
use kube::KubeSchema;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{SecretRef, image::SidecarImage};
use crate::schema::{
    DATA_KEY, DNS_LABEL, DNS_SUBDOMAIN, is_default, is_quantity, k8s, requests_within_limits,
    resource_requirements, resources_are_quantities,
};

/// Chromium image when `spec.chromium.image` names none.
pub const CHROMIUM_IMAGE: (&str, &str) = ("chromedp/headless-shell", "stable");

/// Ollama image when `spec.ollama.image` names none.
pub const OLLAMA_IMAGE: (&str, &str) = ("ollama/ollama", "latest");

/// Tailscale image when `spec.tailscale.image` names none.
pub const TAILSCALE_IMAGE: (&str, &str) = ("ghcr.io/tailscale/tailscale", "latest");

/// Where the OpenClaw container reaches the Ollama sidecar (`OLLAMA_HOST`).
pub const OLLAMA_HOST: &str = "http://localhost:11434";

/// Key read from the Tailscale auth key Secret when none is given.
pub const DEFAULT_TAILSCALE_AUTH_KEY: &str = "authkey";

/// Most models `spec.ollama.models` may hold.
pub const MAX_OLLAMA_MODELS: usize = 10;

/// A hardened headless Chromium in the same pod, for browsing, screenshots and page automation.
/// It runs as UID 1001 with a read-only root filesystem; its DevTools endpoint listens on
/// localhost only and the operator points OpenClaw at it (`CHROMIUM_URL`).
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("!has(self.image) || !(has(self.image.tag) && has(self.image.digest))")
    .message("spec.chromium.image: digest and tag are mutually exclusive; set one of them"))]
pub struct ChromiumSpec {
    /// Run the Chromium sidecar. Defaults to false.
    #[serde(default)]
    pub enabled: bool,

    /// Chromium image; defaults to `chromedp/headless-shell:stable`.
    #[serde(default, skip_serializing_if = "is_default")]
    pub image: SidecarImage,

    /// CPU and memory of the Chromium container; the operator's defaults (requests 250m / 512Mi,
    /// limits 1 CPU / 2Gi) when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "resource_requirements")]
    #[x_kube(validation = resources_are_quantities("spec.chromium.resources"))]
    #[x_kube(validation = requests_within_limits("spec.chromium.resources"))]
    pub resources: Option<ResourceRequirements>,

    /// Extra command-line flags for Chromium, added to the hardened defaults (a flag given here
    /// replaces a default flag of the same name).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 50), inner(length(min = 1, max = 256)))]
    pub extra_args: Vec<String>,

    /// Extra environment variables of the Chromium container.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(
        schema_with = "k8s::<Vec<EnvVar>>",
        length(max = 50),
        extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["name"])
    )]
    pub extra_env: Vec<EnvVar>,
}

/// Local models served by an Ollama sidecar. The listed models are pulled before the agent
/// starts (with progress in `status.supervisor.modelPulls`), and `OLLAMA_HOST` points the
/// agent at `http://localhost:11434`.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("!has(self.image) || !(has(self.image.tag) && has(self.image.digest))")
    .message("spec.ollama.image: digest and tag are mutually exclusive; set one of them"))]
pub struct OllamaSpec {
    /// Run the Ollama sidecar. Defaults to false.
    #[serde(default)]
    pub enabled: bool,

    /// Ollama image; defaults to `ollama/ollama:latest`.
    #[serde(default, skip_serializing_if = "is_default")]
    pub image: SidecarImage,

    /// Models to pull before the agent starts, as Ollama names them: `llama3.2`,
    /// `nomic-embed-text`, `qwen2.5:7b`, `hf.co/<user>/<repo>`. At most 10, no duplicates.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(
        length(max = 10),
        inner(length(min = 1, max = 200), regex(pattern = r"^[A-Za-z0-9][A-Za-z0-9._:/@-]*$")),
        extend("x-kubernetes-list-type" = "set")
    )]
    pub models: Vec<String>,

    /// NVIDIA GPUs for the Ollama container (`nvidia.com/gpu` request and limit), 0 to 16.
    /// Unset or 0: inference runs on CPU. The supervisor checks that the GPU is visible before
    /// pulling models.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 16))]
    pub gpu: Option<i32>,

    /// CPU and memory of the Ollama container; the operator's defaults (requests 500m / 1Gi,
    /// limits 2 CPU / 4Gi) when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "resource_requirements")]
    #[x_kube(validation = resources_are_quantities("spec.ollama.resources"))]
    #[x_kube(validation = requests_within_limits("spec.ollama.resources"))]
    pub resources: Option<ResourceRequirements>,

    /// Where models are stored.
    #[serde(default, skip_serializing_if = "is_default")]
    pub storage: OllamaStorageSpec,
}

/// Model storage of the Ollama sidecar: an emptyDir (lost with the pod, models pulled again) or
/// an existing PersistentVolumeClaim (models kept across restarts).
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("!(has(self.sizeLimit) && has(self.existingClaim))")
    .message("spec.ollama.storage: sizeLimit and existingClaim are mutually exclusive"))]
pub struct OllamaStorageSpec {
    /// Size limit of the emptyDir models volume, for example `30Gi`; 20Gi when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = is_quantity("spec.ollama.storage.sizeLimit", "30Gi"))]
    pub size_limit: Option<Quantity>,

    /// An existing PersistentVolumeClaim (in the instance's namespace) for the models, so they
    /// survive restarts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253), regex(pattern = DNS_SUBDOMAIN))]
    pub existing_claim: Option<String>,
}

/// Exposes the agent on your tailnet through a Tailscale sidecar: no Ingress, load balancer or
/// public IP. The operator injects `TS_AUTHKEY` and `TS_HOSTNAME`, merges
/// `gateway.tailscale.mode` and `gateway.tailscale.resetOnExit` into the OpenClaw configuration,
/// and allows STUN and WireGuard egress in the NetworkPolicy.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new("!has(self.enabled) || !self.enabled || has(self.authKeySecretRef)")
        .message("spec.tailscale.authKeySecretRef: required when spec.tailscale.enabled is true"),
    validation = Rule::new("!has(self.image) || !(has(self.image.tag) && has(self.image.digest))")
        .message("spec.tailscale.image: digest and tag are mutually exclusive; set one of them"),
)]
pub struct TailscaleSpec {
    /// Run the Tailscale sidecar. Defaults to false.
    #[serde(default)]
    pub enabled: bool,

    /// `serve` (the default): only members of your tailnet reach the agent. `funnel`: Tailscale
    /// publishes it on the public Internet with automatic HTTPS.
    #[serde(default)]
    pub mode: TailscaleMode,

    /// Secret (in the instance's namespace) holding the Tailscale auth key; use an ephemeral,
    /// reusable key. Required when `enabled` is true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_key_secret_ref: Option<SecretRef>,

    /// Key of the auth key in that Secret. Defaults to `authkey`.
    #[serde(default = "default_auth_key")]
    #[schemars(length(min = 1, max = 253), regex(pattern = DATA_KEY))]
    pub auth_key_secret_key: String,

    /// Machine name on the tailnet; the instance's name when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 63), regex(pattern = DNS_LABEL))]
    pub hostname: Option<String>,

    /// Let tailnet members in without the gateway token (sets
    /// `gateway.auth.allowTailscale=true` in the OpenClaw configuration). Defaults to false.
    #[serde(default, rename = "authSSO")]
    pub auth_sso: bool,

    /// Tailscale image; defaults to `ghcr.io/tailscale/tailscale:latest`.
    #[serde(default, skip_serializing_if = "is_default")]
    pub image: SidecarImage,

    /// CPU and memory of the Tailscale container; the operator's defaults (requests 50m / 64Mi,
    /// limits 200m / 256Mi) when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "resource_requirements")]
    #[x_kube(validation = resources_are_quantities("spec.tailscale.resources"))]
    #[x_kube(validation = requests_within_limits("spec.tailscale.resources"))]
    pub resources: Option<ResourceRequirements>,
}

impl Default for TailscaleSpec {
    fn default() -> Self {
        Self {
            enabled: false,
            mode: TailscaleMode::default(),
            auth_key_secret_ref: None,
            auth_key_secret_key: default_auth_key(),
            hostname: None,
            auth_sso: false,
            image: SidecarImage::default(),
            resources: None,
        }
    }
}

/// How Tailscale exposes the agent.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum TailscaleMode {
    /// Tailnet members only.
    #[default]
    Serve,
    /// The public Internet, through Tailscale Funnel.
    Funnel,
}

fn default_auth_key() -> String {
    DEFAULT_TAILSCALE_AUTH_KEY.to_owned()
}
