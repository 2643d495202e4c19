//! Pure builders: from an instance (and what it references) to the objects it owns.
//!
//! Nothing here talks to the API server. The controller dereferences what the instance names,
//! calls [`build`], and applies the result with server-side apply.

use std::collections::BTreeMap;

use k8s_openapi::api::{
    apps::v1::StatefulSet,
    core::v1::{ConfigMap, PersistentVolumeClaim, Secret, Service, ServiceAccount},
    networking::v1::{Ingress, NetworkPolicy},
    policy::v1::PodDisruptionBudget,
    rbac::v1::{Role, RoleBinding},
};
use kube::api::DynamicObject;
use openclaw_api::{OpenClawClusterDefaultsSpec, OpenClawInstance};

pub mod config;
pub mod config_check;
mod context;
pub mod ingress;
pub mod labels;
pub mod network_policy;
pub mod openclaw_config;
pub mod paths;
pub mod pdb;
pub mod plan;
pub mod pod;
pub mod rbac;
pub mod references;
pub mod resolve;
pub mod restore;
pub mod secret;
pub mod service;
pub mod service_monitor;
pub mod statefulset;
pub mod storage;
#[cfg(test)]
pub(crate) mod tests;

pub use context::{registry as image_registry, spec_image};
pub use references::{Reference, ReferenceKind, references, references_with_defaults};

/// Field manager of every server-side apply the operator makes.
pub const FIELD_MANAGER: &str = "openclaw-operator";

/// Key of the gateway token in the `<name>-gateway-token` Secret.
pub const GATEWAY_TOKEN_KEY: &str = "token";
/// Key of the supervisor control token (authenticates the operator to the pod's status port).
pub const CONTROL_TOKEN_KEY: &str = "supervisor-token";

/// Everything the builders need besides the instance itself.
#[derive(Debug, Clone)]
pub struct BuildContext<'a> {
    pub instance: &'a OpenClawInstance,
    /// Spec of the `OpenClawClusterDefaults` named `cluster`, when it exists.
    pub defaults: Option<&'a OpenClawClusterDefaultsSpec>,
    /// Image with `openclaw-init` and `openclaw-supervisor`.
    pub runtime_image: &'a str,
    /// Namespace of the operator: the only one admitted to the supervisor's status port.
    pub operator_namespace: &'a str,
    /// Content hash of every Secret and ConfigMap the instance references; goes on the pod
    /// template so that a rotation rolls the pod.
    pub inputs_hash: &'a str,
    /// Whether the Prometheus Operator's ServiceMonitor CRD exists in the cluster.
    pub service_monitor_crd: bool,
    /// What the node agent offers the pod.
    pub node_agent: NodeAgent,
    /// What auto-update asks of the pod.
    pub update: UpdateView,
}

/// What auto-update (`status.autoUpdate`) asks of the pod.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UpdateView {
    /// The tag the `openclaw` container runs instead of the spec's (`runningTag`); never applied
    /// to a digest-pinned image.
    pub tag: Option<String>,
    /// A rollback in progress: the pre-update backup to restore over the workspace.
    pub rollback_restore: Option<RollbackRestore>,
}

/// The pre-update backup a rollback restores, once per id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RollbackRestore {
    /// The rollback's id; the supervisor restores once per id.
    pub id: String,
    /// Key of the backup in the instance's bucket.
    pub key: String,
}

/// What the node agent (`openclaw-node`) offers an agent pod.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeAgent {
    /// The gateway's Localhost seccomp profile, when nodes hold this version of it: the
    /// `openclaw` and init containers run under it and the pod only goes to those nodes.
    pub localhost_profile: Option<openclaw_api::node::LocalhostProfile>,
    /// Port of the node-local download cache on the node's address, when it serves one.
    pub cache_port: Option<u16>,
}

/// The objects one instance owns (absent ones are not wanted and are deleted if they exist).
#[derive(Debug, Clone, Default)]
pub struct Children {
    pub service_account: Option<ServiceAccount>,
    pub role: Option<Role>,
    pub role_binding: Option<RoleBinding>,
    pub config_map: ConfigMap,
    pub pvc: Option<PersistentVolumeClaim>,
    pub pdb: Option<PodDisruptionBudget>,
    pub network_policy: Option<NetworkPolicy>,
    pub service: Service,
    pub stateful_set: StatefulSet,
    /// `monitoring.coreos.com/v1` ServiceMonitor, when wanted and its CRD exists.
    pub service_monitor: Option<DynamicObject>,
    /// Ingress `<name>`, when `spec.networking.ingress.enabled`.
    pub ingress: Option<Ingress>,
}

/// Why an instance cannot be turned into objects (reported as a condition, not retried hot).
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
    #[error("failed to render the runtime plan")]
    Plan(#[from] openclaw_api::plan::PlanError),
    #[error("failed to render the OpenClaw configuration")]
    Config(#[source] serde_json::Error),
}

/// Builds every object the instance owns, except the gateway-token Secret
/// (see [`secret::gateway_token`]), which is generated once and never rebuilt.
pub fn build(ctx: &BuildContext<'_>) -> Result<Children, BuildError> {
    ctx.validate()?;
    let config_map = config::config_map(ctx)?;
    let config_hash = labels::content_hash(&config_map.data);
    Ok(Children {
        service_account: rbac::service_account(ctx),
        role: rbac::role(ctx),
        role_binding: rbac::role_binding(ctx),
        pvc: storage::pvc(ctx),
        pdb: pdb::pdb(ctx),
        network_policy: network_policy::network_policy(ctx),
        service: service::service(ctx),
        stateful_set: statefulset::stateful_set(ctx, &config_hash)?,
        service_monitor: service_monitor::service_monitor(ctx),
        ingress: ingress::ingress(ctx),
        config_map,
    })
}

/// Names of the objects of an instance.
pub mod names {
    pub fn config_map(instance: &str) -> String {
        format!("{instance}-config")
    }
    pub fn pvc(instance: &str) -> String {
        format!("{instance}-data")
    }
    pub fn gateway_token(instance: &str) -> String {
        format!("{instance}-gateway-token")
    }
}

/// Standard labels of every object of an instance.
pub fn object_labels(instance: &str) -> BTreeMap<String, String> {
    labels::labels(instance)
}

/// The gateway-token Secret, for when it does not exist yet.
pub fn gateway_token_secret(instance: &OpenClawInstance, token: &str, control: &str) -> Secret {
    secret::gateway_token(instance, token, control)
}

pub use secret::{TokenRotation, token_rotation};

/// The merge patch answering a rotation request on the gateway-token Secret.
pub fn token_rotation_patch(request: &str, token: Option<&str>) -> serde_json::Value {
    secret::rotation_patch(request, token)
}
