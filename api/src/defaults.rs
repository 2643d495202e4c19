//! `OpenClawClusterDefaults` (`openclawclusterdefaults.openclaw.rocks/v1alpha1`): cluster-wide
//! defaults for every instance, and how they combine with an instance's own settings.
//!
//! Only the object named `cluster` is honoured; the schema refuses any other name, so a typo
//! fails at `kubectl apply` instead of being silently ignored.

use k8s_openapi::api::core::v1::EnvVar;
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::{
    instance::{ImageSpec, RuntimeDeps, RuntimeDepsSpec, S3Spec},
    schema::{is_default, k8s},
};

/// The name of the one `OpenClawClusterDefaults` the operator reads.
pub const CLUSTER_DEFAULTS_NAME: &str = "cluster";

/// Defaults the platform team sets once for every OpenClaw instance in the cluster. An instance
/// value always wins; these fill in what an instance leaves unset.
#[derive(CustomResource, KubeSchema, Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[kube(
    group = "openclaw.rocks",
    version = "v1alpha1",
    kind = "OpenClawClusterDefaults",
    plural = "openclawclusterdefaults",
    shortname = "occd",
    category = "openclaw",
    derive = "PartialEq",
    derive = "Default",
    doc = "Cluster-wide defaults for every OpenClawInstance. Only the object named cluster is honoured (other names are refused); an instance's own settings always win.",
    validation = Rule::new("self.metadata.name == 'cluster'")
        .message("metadata.name: must be cluster; only the OpenClawClusterDefaults named cluster is honoured"),
    printcolumn(name = "Registry", type_ = "string", json_path = ".spec.registry", description = "Registry mirror"),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp")
)]
#[serde(rename_all = "camelCase")]
pub struct OpenClawClusterDefaultsSpec {
    /// Registry mirror for instances that set no `spec.registry`: replaces the registry host of
    /// every image of their pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        length(min = 1, max = 255),
        regex(
            pattern = r"^[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:[0-9]{1,5})?(/[a-z0-9]([a-z0-9._/-]*[a-z0-9])?)?$"
        )
    )]
    pub registry: Option<String>,

    /// OpenClaw image defaults, field by field: repository, pull policy and pull secrets fill
    /// what an instance leaves unset; tag and digest apply only to instances that pin neither.
    #[serde(default, skip_serializing_if = "is_default")]
    pub image: ImageSpec,

    /// Environment variables given to every instance before its own `env`; an instance variable
    /// of the same name replaces the default one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(
        schema_with = "k8s::<Vec<EnvVar>>",
        length(max = 100),
        extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["name"])
    )]
    pub env: Vec<EnvVar>,

    /// Runtime dependencies for instances that do not choose: an instance's explicit `false`
    /// opts out of a default `true`.
    #[serde(default, skip_serializing_if = "is_default")]
    pub runtime_deps: RuntimeDepsSpec,

    /// Backup defaults.
    #[serde(default, skip_serializing_if = "is_default")]
    pub backup: ClusterBackupDefaults,
}

/// Backup defaults for every instance.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClusterBackupDefaults {
    /// S3 target for instances that do not name one, field by field. A `credentialsSecretRef`
    /// here names a Secret that must exist in each instance's own namespace: credentials are
    /// never copied between namespaces.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub s3: Option<S3Spec>,

    /// Sources outside an instance's own namespace that any instance may restore from, each an
    /// `s3://<bucket>/<key prefix>` (for example `s3://agents/archive/`). By default an
    /// instance restores only from `<prefix>/<its namespace>/` of its own backup bucket, so one
    /// tenant cannot read another's workspace.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(
        length(max = 100),
        inner(
            length(max = 1100),
            regex(pattern = r"^s3://[a-z0-9][a-z0-9.-]*[a-z0-9](/[^\s]*)?$")
        )
    )]
    pub allowed_restore_sources: Vec<String>,
}

impl OpenClawClusterDefaultsSpec {
    /// The registry mirror an instance uses: its own, else this one.
    pub fn registry<'a>(&'a self, instance: Option<&'a str>) -> Option<&'a str> {
        instance.or(self.registry.as_deref())
    }

    /// The image an instance runs, unset fields taken from these defaults.
    pub fn image(&self, instance: &ImageSpec) -> ImageSpec {
        instance.or(&self.image)
    }

    /// The environment of an instance: these defaults first, each replaced by an instance
    /// variable of the same name, then the instance's other variables in their order.
    pub fn env(&self, instance: &[EnvVar]) -> Vec<EnvVar> {
        let mut merged: Vec<EnvVar> = self
            .env
            .iter()
            .map(|default| {
                instance
                    .iter()
                    .find(|own| own.name == default.name)
                    .unwrap_or(default)
                    .clone()
            })
            .collect();
        merged.extend(
            instance
                .iter()
                .filter(|own| !self.env.iter().any(|d| d.name == own.name))
                .cloned(),
        );
        merged
    }

    /// The runtime dependencies of an instance.
    pub fn runtime_deps(&self, instance: &RuntimeDepsSpec) -> RuntimeDeps {
        instance.resolve(&self.runtime_deps)
    }

    /// The S3 target of an instance, unset fields taken from these defaults, even without a
    /// bucket (a restore needs only credentials); `None` when neither has an S3 section.
    pub fn s3(&self, instance: Option<&S3Spec>) -> Option<S3Spec> {
        match (instance, &self.backup.s3) {
            (Some(own), Some(default)) => Some(own.or(default)),
            (Some(one), None) | (None, Some(one)) => Some(one.clone()),
            (None, None) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn var(name: &str, value: &str) -> EnvVar {
        EnvVar {
            name: name.into(),
            value: Some(value.into()),
            ..EnvVar::default()
        }
    }

    #[test]
    fn instance_env_replaces_defaults_by_name_and_appends_the_rest() {
        let defaults = OpenClawClusterDefaultsSpec {
            env: vec![var("HTTPS_PROXY", "http://proxy:3128"), var("TZ", "UTC")],
            ..Default::default()
        };
        let merged = defaults.env(&[var("EXTRA", "1"), var("TZ", "Europe/Paris")]);
        let pairs: Vec<(&str, Option<&str>)> = merged
            .iter()
            .map(|v| (v.name.as_str(), v.value.as_deref()))
            .collect();
        assert_eq!(
            pairs,
            [
                ("HTTPS_PROXY", Some("http://proxy:3128")),
                ("TZ", Some("Europe/Paris")),
                ("EXTRA", Some("1"))
            ]
        );
    }

    #[test]
    fn s3_target_needs_a_bucket_from_either_side() {
        let defaults = OpenClawClusterDefaultsSpec {
            backup: ClusterBackupDefaults {
                s3: Some(S3Spec {
                    bucket: Some("agents".into()),
                    ..S3Spec::default()
                }),
                ..ClusterBackupDefaults::default()
            },
            ..Default::default()
        };
        let own = S3Spec {
            prefix: Some("team-a".into()),
            ..S3Spec::default()
        };
        let merged = defaults.s3(Some(&own));
        assert_eq!(
            merged.as_ref().and_then(|s| s.bucket.as_deref()),
            Some("agents")
        );
        assert_eq!(
            merged.as_ref().and_then(|s| s.prefix.as_deref()),
            Some("team-a")
        );
        assert_eq!(
            OpenClawClusterDefaultsSpec::default().s3(Some(&own)),
            Some(own),
            "no bucket: still the instance's own section"
        );
    }

    #[test]
    fn registry_of_the_instance_wins() {
        let defaults = OpenClawClusterDefaultsSpec {
            registry: Some("mirror.corp".into()),
            ..Default::default()
        };
        assert_eq!(defaults.registry(None), Some("mirror.corp"));
        assert_eq!(defaults.registry(Some("other.corp")), Some("other.corp"));
    }
}
