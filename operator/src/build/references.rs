//! Every Secret and ConfigMap an instance references, so the controller can watch exactly those
//! (never all of them) and hash their content onto the pod template.
//!
//! Not listed: the instance's own gateway-token Secret and ConfigMap (the operator writes them)
//! and image pull secrets (the kubelet reads them; a rotation needs no restart).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Container, EnvFromSource, EnvVar, Volume};
use openclaw_api::{OpenClawClusterDefaultsSpec, OpenClawInstance};

use super::BuildContext;

/// Kind of a referenced object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ReferenceKind {
    Secret,
    ConfigMap,
}

/// A Secret or ConfigMap in the instance's namespace that the instance names.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Reference {
    pub kind: ReferenceKind,
    pub name: String,
    /// The user marked every use of it optional: the pod starts without it.
    pub optional: bool,
    /// A change of its content rolls the pod. False only for what the pod reads in place and
    /// hands on without a restart (the gateway token Secret, mounted as a file).
    pub rolls: bool,
}

/// What the instance itself references (without the cluster defaults; see
/// [`references_with_defaults`]).
pub fn references(instance: &OpenClawInstance) -> Vec<Reference> {
    references_with_defaults(instance, None)
}

/// What the instance references, the cluster defaults applied: their `env` and their S3
/// credentials Secret (which must exist in the instance's namespace). Sorted by kind and name;
/// an object used both optionally and not is not optional.
pub fn references_with_defaults(
    instance: &OpenClawInstance,
    defaults: Option<&OpenClawClusterDefaultsSpec>,
) -> Vec<Reference> {
    let ctx = BuildContext {
        instance,
        defaults,
        runtime_image: "",
        operator_namespace: "",
        inputs_hash: "",
        service_monitor_crd: false,
        node_agent: super::NodeAgent::default(),
        update: super::UpdateView::default(),
    };
    let spec = &instance.spec;
    let mut found = Found::default();
    found.env_from(&spec.env_from);
    found.env(&ctx.user_env());
    found.env(&spec.chromium.extra_env);
    for container in spec.init_containers.iter().chain(&spec.sidecars) {
        found.container(container);
    }
    for volume in spec.extra_volumes.iter().chain(&spec.sidecar_volumes) {
        found.volume(volume);
    }
    if let Some(ca) = &spec.security.ca_bundle {
        if let Some(name) = &ca.config_map_name {
            found.add(ReferenceKind::ConfigMap, name, false);
        }
        if let Some(name) = &ca.secret_name {
            found.add(ReferenceKind::Secret, name, false);
        }
    }
    if let Some(source) = &spec.config.config_map_ref {
        found.add(ReferenceKind::ConfigMap, &source.name, false);
    }
    if spec.tailscale.enabled
        && let Some(secret) = &spec.tailscale.auth_key_secret_ref
    {
        found.add(ReferenceKind::Secret, &secret.name, false);
    }
    if let Some(name) = &spec.gateway.existing_secret {
        if ctx.gateway_token_from_user_env() {
            found.add(ReferenceKind::Secret, name, false);
        } else {
            found.add_live(ReferenceKind::Secret, name);
        }
    }
    if let Some(name) = ctx.s3_credentials_secret() {
        found.add(ReferenceKind::Secret, &name, false);
    }
    found.into_references()
}

/// Seen references: (kind, name) → (optional everywhere so far, rolls the pod).
#[derive(Default)]
struct Found(BTreeMap<(ReferenceKind, String), (bool, bool)>);

impl Found {
    fn add(&mut self, kind: ReferenceKind, name: &str, optional: bool) {
        self.insert(kind, name, optional, true);
    }

    /// Required, read in place by the pod: watched, but its content does not roll the pod.
    fn add_live(&mut self, kind: ReferenceKind, name: &str) {
        self.insert(kind, name, false, false);
    }

    fn insert(&mut self, kind: ReferenceKind, name: &str, optional: bool, rolls: bool) {
        if name.is_empty() {
            return;
        }
        self.0
            .entry((kind, name.to_owned()))
            .and_modify(|(all_optional, any_rolls)| {
                *all_optional &= optional;
                *any_rolls |= rolls;
            })
            .or_insert((optional, rolls));
    }

    fn env_from(&mut self, sources: &[EnvFromSource]) {
        for source in sources {
            if let Some(secret) = &source.secret_ref {
                self.add(
                    ReferenceKind::Secret,
                    &secret.name,
                    secret.optional == Some(true),
                );
            }
            if let Some(map) = &source.config_map_ref {
                self.add(
                    ReferenceKind::ConfigMap,
                    &map.name,
                    map.optional == Some(true),
                );
            }
        }
    }

    fn env(&mut self, vars: &[EnvVar]) {
        for source in vars.iter().filter_map(|var| var.value_from.as_ref()) {
            if let Some(key) = &source.secret_key_ref {
                self.add(ReferenceKind::Secret, &key.name, key.optional == Some(true));
            }
            if let Some(key) = &source.config_map_key_ref {
                self.add(
                    ReferenceKind::ConfigMap,
                    &key.name,
                    key.optional == Some(true),
                );
            }
        }
    }

    fn container(&mut self, container: &Container) {
        self.env_from(container.env_from.as_deref().unwrap_or_default());
        self.env(container.env.as_deref().unwrap_or_default());
    }

    fn volume(&mut self, volume: &Volume) {
        if let Some(secret) = &volume.secret
            && let Some(name) = &secret.secret_name
        {
            self.add(ReferenceKind::Secret, name, secret.optional == Some(true));
        }
        if let Some(map) = &volume.config_map {
            self.add(
                ReferenceKind::ConfigMap,
                &map.name,
                map.optional == Some(true),
            );
        }
        let sources = volume.projected.as_ref().and_then(|p| p.sources.as_deref());
        for source in sources.unwrap_or_default() {
            if let Some(secret) = &source.secret {
                self.add(
                    ReferenceKind::Secret,
                    &secret.name,
                    secret.optional == Some(true),
                );
            }
            if let Some(map) = &source.config_map {
                self.add(
                    ReferenceKind::ConfigMap,
                    &map.name,
                    map.optional == Some(true),
                );
            }
        }
    }

    fn into_references(self) -> Vec<Reference> {
        self.0
            .into_iter()
            .map(|((kind, name), (optional, rolls))| Reference {
                kind,
                name,
                optional,
                rolls,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use openclaw_api::instance::{S3Spec, SecretRef};

    use super::*;
    use crate::build::tests::instance;

    fn listed(references: &[Reference]) -> Vec<(ReferenceKind, &str, bool)> {
        references
            .iter()
            .map(|r| (r.kind, r.name.as_str(), r.optional))
            .collect()
    }

    #[test]
    fn lists_every_source_once_sorted() {
        let instance = instance(
            r#"
spec:
  envFrom:
    - secretRef: {name: openclaw-api-keys}
    - secretRef: {name: openclaw-channel-keys, optional: true}
    - configMapRef: {name: settings}
  env:
    - {name: A, valueFrom: {secretKeyRef: {name: openclaw-api-keys, key: X, optional: true}}}
    - {name: B, valueFrom: {configMapKeyRef: {name: flags, key: Y, optional: true}}}
  security: {caBundle: {configMapName: corporate-ca-bundle}}
  config: {configMapRef: {name: my-config}}
  tailscale: {enabled: true, authKeySecretRef: {name: tailscale-authkey}}
  gateway: {existingSecret: my-token}
  backup: {s3: {bucket: agents, credentialsSecretRef: {name: backup-s3}}}
  sidecars:
    - name: proxy
      image: proxy:1
      envFrom: [{secretRef: {name: proxy-creds}}]
  sidecarVolumes:
    - {name: certs, secret: {secretName: proxy-certs}}
    - name: both
      projected: {sources: [{configMap: {name: proj-cm}}, {secret: {name: proj-secret, optional: true}}]}
"#,
        );
        let found = references(&instance);
        assert_eq!(
            listed(&found),
            [
                (ReferenceKind::Secret, "backup-s3", false),
                (ReferenceKind::Secret, "my-token", false),
                (ReferenceKind::Secret, "openclaw-api-keys", false),
                (ReferenceKind::Secret, "openclaw-channel-keys", true),
                (ReferenceKind::Secret, "proj-secret", true),
                (ReferenceKind::Secret, "proxy-certs", false),
                (ReferenceKind::Secret, "proxy-creds", false),
                (ReferenceKind::Secret, "tailscale-authkey", false),
                (ReferenceKind::ConfigMap, "corporate-ca-bundle", false),
                (ReferenceKind::ConfigMap, "flags", true),
                (ReferenceKind::ConfigMap, "my-config", false),
                (ReferenceKind::ConfigMap, "proj-cm", false),
                (ReferenceKind::ConfigMap, "settings", false),
            ]
        );
    }

    #[test]
    fn the_gateway_token_secret_is_watched_but_does_not_roll_the_pod() {
        let rolls = |yaml: &str| {
            references(&instance(yaml))
                .iter()
                .find(|r| r.name == "my-token")
                .map(|r| (r.optional, r.rolls))
        };
        // Mounted as a file: the supervisor hands a rotated token to the running gateway.
        assert_eq!(
            rolls("spec:\n  gateway: {existingSecret: my-token}\n"),
            Some((false, false))
        );
        // Also used in a variable: that copy only changes with a restart.
        assert_eq!(
            rolls(
                "spec:\n  gateway: {existingSecret: my-token}\n  env:\n    - {name: X, valueFrom: {secretKeyRef: {name: my-token, key: token}}}\n"
            ),
            Some((false, true))
        );
        // The user's own OPENCLAW_GATEWAY_TOKEN: the gateway reads the variable.
        assert_eq!(
            rolls(
                "spec:\n  gateway: {existingSecret: my-token}\n  env:\n    - {name: OPENCLAW_GATEWAY_TOKEN, value: t}\n"
            ),
            Some((false, true))
        );
    }

    #[test]
    fn cluster_defaults_add_their_credentials_and_env() {
        let instance = instance("spec: {}");
        assert!(references(&instance).is_empty());
        let defaults = OpenClawClusterDefaultsSpec {
            env: vec![EnvVar {
                name: "HTTPS_PROXY".into(),
                value_from: serde_json::from_value(serde_json::json!(
                    {"secretKeyRef": {"name": "proxy", "key": "url"}}
                ))
                .ok(),
                ..EnvVar::default()
            }],
            backup: openclaw_api::defaults::ClusterBackupDefaults {
                s3: Some(S3Spec {
                    bucket: Some("agents".into()),
                    credentials_secret_ref: Some(SecretRef {
                        name: "backup-s3".into(),
                    }),
                    ..S3Spec::default()
                }),
                ..openclaw_api::defaults::ClusterBackupDefaults::default()
            },
            ..OpenClawClusterDefaultsSpec::default()
        };
        assert_eq!(
            listed(&references_with_defaults(&instance, Some(&defaults))),
            [
                (ReferenceKind::Secret, "backup-s3", false),
                (ReferenceKind::Secret, "proxy", false)
            ]
        );
    }
}
