//! `spec.storage`: the workspace volume (`data`) holding the agent's state, skills and caches.

use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use kube::KubeSchema;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::schema::{DNS_SUBDOMAIN, is_quantity, yes};

/// Size of the workspace PVC unless told otherwise.
pub const DEFAULT_SIZE: &str = "10Gi";

/// Storage of the agent's workspace.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct StorageSpec {
    /// The persistent workspace volume, mounted as the `data` volume at the OpenClaw home.
    #[serde(default)]
    #[schemars(extend("default" = {}))]
    pub persistence: PersistenceSpec,
}

/// The workspace PersistentVolumeClaim.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("!(has(self.existingClaim) && has(self.storageClass))")
    .message("spec.storage.persistence: existingClaim and storageClass are mutually exclusive"))]
pub struct PersistenceSpec {
    /// Keep the workspace on a PersistentVolumeClaim. Defaults to true. When false the workspace
    /// is an emptyDir and is lost with the pod (backups still run if configured).
    #[serde(default = "yes")]
    pub enabled: bool,

    /// Size of the claim the operator creates, for example `10Gi` (the default). A claim can grow
    /// when its StorageClass allows expansion; it never shrinks.
    #[serde(default = "default_size")]
    #[x_kube(validation = is_quantity("spec.storage.persistence.size", "10Gi"))]
    pub size: Quantity,

    /// StorageClass of the claim the operator creates; the cluster's default class when unset.
    /// Cannot change once set. Mutually exclusive with `existingClaim`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    #[x_kube(validation = Rule::new("self == oldSelf")
        .message("spec.storage.persistence.storageClass: cannot change once set"))]
    pub storage_class: Option<String>,

    /// Access modes of the claim the operator creates; `ReadWriteOnce` when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 4))]
    pub access_modes: Vec<AccessMode>,

    /// Use this existing PersistentVolumeClaim (in the instance's namespace) instead of creating
    /// one; `size`, `storageClass` and `accessModes` are then ignored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253), regex(pattern = DNS_SUBDOMAIN))]
    pub existing_claim: Option<String>,

    /// Keep the operator-created claim when the instance is deleted. Defaults to true, so that
    /// deleting an instance never deletes an agent's memory; delete the PVC yourself when done.
    #[serde(default = "yes")]
    pub orphan: bool,
}

impl Default for PersistenceSpec {
    fn default() -> Self {
        Self {
            enabled: true,
            size: default_size(),
            storage_class: None,
            access_modes: Vec::new(),
            existing_claim: None,
            orphan: true,
        }
    }
}

/// Access mode of a PersistentVolumeClaim.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
pub enum AccessMode {
    /// Mounted read-write by one node.
    ReadWriteOnce,
    /// Mounted read-write by one pod.
    ReadWriteOncePod,
    /// Mounted read-write by many nodes.
    ReadWriteMany,
    /// Mounted read-only by many nodes.
    ReadOnlyMany,
}

fn default_size() -> Quantity {
    Quantity(DEFAULT_SIZE.to_owned())
}
