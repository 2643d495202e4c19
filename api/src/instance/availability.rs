//! `spec.availability` (scheduling and the PodDisruptionBudget) and `spec.probes` (tuning of
//! the liveness, readiness and startup probes).

use std::collections::BTreeMap;

use k8s_openapi::{
    api::core::v1::{Affinity, Toleration, TopologySpreadConstraint},
    apimachinery::pkg::util::intstr::IntOrString,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use kube::KubeSchema;

use crate::schema::{DNS_SUBDOMAIN, LABEL_VALUE, is_default, k8s, yes};

/// Where the agent's pod may run, and how voluntary disruptions treat it.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct AvailabilitySpec {
    /// Node labels the pod requires, for example `openclaw.rocks/nodepool: openclaw` to pin
    /// agents to dedicated nodes.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(extend(
        "maxProperties" = 64,
        "additionalProperties" = {"type": "string", "maxLength": 63, "pattern": LABEL_VALUE}
    ))]
    pub node_selector: BTreeMap<String, String>,

    /// Taints the pod tolerates (same format as a Pod's `tolerations`), for example the taint of
    /// a dedicated node pool.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "k8s::<Vec<Toleration>>", length(max = 50))]
    pub tolerations: Vec<Toleration>,

    /// Node and pod affinity rules (same format as a Pod's `affinity`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "k8s::<Affinity>")]
    pub affinity: Option<Affinity>,

    /// Topology spread constraints (same format as a Pod's `topologySpreadConstraints`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "k8s::<Vec<TopologySpreadConstraint>>", length(max = 10))]
    pub topology_spread_constraints: Vec<TopologySpreadConstraint>,

    /// RuntimeClass of the pod, for a sandboxed runtime such as gVisor or Kata Containers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253), regex(pattern = DNS_SUBDOMAIN))]
    pub runtime_class_name: Option<String>,

    /// The instance's PodDisruptionBudget.
    #[serde(default)]
    #[schemars(extend("default" = {}))]
    pub pod_disruption_budget: PodDisruptionBudgetSpec,
}

/// A PodDisruptionBudget for the agent's pod, so node drains go through the eviction API.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PodDisruptionBudgetSpec {
    /// Create the PodDisruptionBudget. Defaults to true.
    #[serde(default = "yes")]
    pub enabled: bool,

    /// How many pods (or what percentage) may be down during a voluntary disruption. Defaults
    /// to 1, which lets a drain evict the single agent pod; 0 blocks drains until you intervene.
    #[serde(default = "one")]
    pub max_unavailable: IntOrString,
}

impl Default for PodDisruptionBudgetSpec {
    fn default() -> Self {
        Self {
            enabled: true,
            max_unavailable: one(),
        }
    }
}

/// Tuning of the OpenClaw container's probes. They ask the supervisor, which knows where
/// start-up stands and checks the gateway's JSON health bodies; the operator's timings fit that,
/// so most instances leave this out.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProbesSpec {
    /// Liveness probe: a failing gateway is restarted by the supervisor first, the container
    /// only after this probe fails.
    #[serde(default, skip_serializing_if = "is_default")]
    pub liveness: ProbeSpec,

    /// Readiness probe: the pod receives traffic once the gateway answers ready.
    #[serde(default, skip_serializing_if = "is_default")]
    pub readiness: ProbeSpec,

    /// Startup probe: holds the other probes back while the supervisor installs skills, pulls
    /// models and starts the gateway.
    #[serde(default, skip_serializing_if = "is_default")]
    pub startup: ProbeSpec,
}

/// Tuning of one probe; an unset value keeps the operator's default.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProbeSpec {
    /// Run this probe. Defaults to true.
    #[serde(default = "yes")]
    pub enabled: bool,

    /// Seconds after the container starts before the first check (0 or more).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 3600))]
    pub initial_delay_seconds: Option<i32>,

    /// Seconds between checks (at least 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 3600))]
    pub period_seconds: Option<i32>,

    /// Seconds before a check times out (at least 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 3600))]
    pub timeout_seconds: Option<i32>,

    /// Consecutive failures before the probe counts as failed (at least 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 1000))]
    pub failure_threshold: Option<i32>,
}

impl Default for ProbeSpec {
    fn default() -> Self {
        Self {
            enabled: true,
            initial_delay_seconds: None,
            period_seconds: None,
            timeout_seconds: None,
            failure_threshold: None,
        }
    }
}

fn one() -> IntOrString {
    IntOrString::Int(1)
}
