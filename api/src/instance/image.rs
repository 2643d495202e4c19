//! Container images: the OpenClaw image (`spec.image`), the built-in sidecars' images, and how a
//! registry mirror and the cluster defaults fill them in.

use k8s_openapi::api::core::v1::LocalObjectReference;
use kube::KubeSchema;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::schema::{DIGEST, IMAGE_REPOSITORY, IMAGE_TAG, k8s};

/// Repository of the OpenClaw image when neither the instance nor the cluster defaults name one.
pub const DEFAULT_REPOSITORY: &str = "ghcr.io/openclaw/openclaw";

/// Tag of the OpenClaw image when neither the instance nor the cluster defaults pin a tag or digest.
pub const DEFAULT_TAG: &str = "latest";

/// The OpenClaw gateway image the agent runs.
///
/// Every field is optional: an unset field falls back to `OpenClawClusterDefaults` (object
/// `cluster`), then to the built-in value. The apiserver does not fill these in, so cluster
/// defaults still apply to instances that set only part of the image.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("!(has(self.tag) && has(self.digest))")
    .message("spec.image: digest and tag are mutually exclusive; set one of them"))]
pub struct ImageSpec {
    /// Image repository, with its registry host, for example `ghcr.io/openclaw/openclaw`
    /// (the default). `spec.registry` replaces the host part when set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 255), regex(pattern = IMAGE_REPOSITORY))]
    pub repository: Option<String>,

    /// Image tag, for example `2026.9.6`. Defaults to `latest` when neither tag nor digest is set.
    /// Auto-update (`spec.autoUpdate`) moves the running version forward from this tag without
    /// rewriting the spec. Mutually exclusive with `digest`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = IMAGE_TAG))]
    pub tag: Option<String>,

    /// Image digest, `sha256:` followed by 64 hex digits. Pins the exact image
    /// (`repository@digest`); auto-update never changes a digest-pinned instance. Mutually
    /// exclusive with `tag`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = DIGEST))]
    pub digest: Option<String>,

    /// When the kubelet pulls the image: `Always`, `IfNotPresent` (the default) or `Never`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pull_policy: Option<PullPolicy>,

    /// Secrets in the instance's namespace holding credentials for a private registry. Each entry
    /// names one `kubernetes.io/dockerconfigjson` Secret.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "k8s::<Vec<LocalObjectReference>>", length(max = 10))]
    pub pull_secrets: Vec<LocalObjectReference>,
}

/// Image of a built-in sidecar (Chromium, Ollama, Tailscale); unset fields take that sidecar's
/// built-in default.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SidecarImage {
    /// Image repository, with its registry host. `spec.registry` replaces the host part when set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 255), regex(pattern = IMAGE_REPOSITORY))]
    pub repository: Option<String>,

    /// Image tag. Mutually exclusive with `digest`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = IMAGE_TAG))]
    pub tag: Option<String>,

    /// Image digest, `sha256:` followed by 64 hex digits; pins the exact image. Mutually exclusive
    /// with `tag`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = DIGEST))]
    pub digest: Option<String>,
}

/// Image pull policy, as in a Pod's container.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
pub enum PullPolicy {
    /// Pull on every container start.
    Always,
    /// Pull only when the image is not on the node.
    #[default]
    IfNotPresent,
    /// Never pull; the image must already be on the node.
    Never,
}

impl PullPolicy {
    /// The value Kubernetes expects in `imagePullPolicy`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Always => "Always",
            Self::IfNotPresent => "IfNotPresent",
            Self::Never => "Never",
        }
    }
}

impl ImageSpec {
    /// This image with every unset field taken from `fallback` (the cluster defaults' image).
    ///
    /// A tag or digest set here wins over both of the fallback's; pull secrets are taken from the
    /// fallback only when this list is empty.
    pub fn or(&self, fallback: &ImageSpec) -> ImageSpec {
        let pinned_here = self.tag.is_some() || self.digest.is_some();
        ImageSpec {
            repository: self
                .repository
                .clone()
                .or_else(|| fallback.repository.clone()),
            tag: if pinned_here {
                self.tag.clone()
            } else {
                fallback.tag.clone()
            },
            digest: if pinned_here {
                self.digest.clone()
            } else {
                fallback.digest.clone()
            },
            pull_policy: self.pull_policy.or(fallback.pull_policy),
            pull_secrets: if self.pull_secrets.is_empty() {
                fallback.pull_secrets.clone()
            } else {
                self.pull_secrets.clone()
            },
        }
    }

    /// The image reference the pod runs, built-in defaults applied and the host replaced by
    /// `registry` when given: `repository@digest` or `repository:tag`.
    pub fn reference(&self, registry: Option<&str>) -> String {
        reference(
            self.repository.as_deref().unwrap_or(DEFAULT_REPOSITORY),
            self.tag.as_deref(),
            self.digest.as_deref(),
            DEFAULT_TAG,
            registry,
        )
    }

    /// The effective pull policy.
    pub fn pull_policy(&self) -> PullPolicy {
        self.pull_policy.unwrap_or_default()
    }
}

impl SidecarImage {
    /// The image reference, falling back to `default_repository:default_tag`, with the host
    /// replaced by `registry` when given.
    pub fn reference(
        &self,
        default_repository: &str,
        default_tag: &str,
        registry: Option<&str>,
    ) -> String {
        reference(
            self.repository.as_deref().unwrap_or(default_repository),
            self.tag.as_deref(),
            self.digest.as_deref(),
            default_tag,
            registry,
        )
    }
}

fn reference(
    repository: &str,
    tag: Option<&str>,
    digest: Option<&str>,
    default_tag: &str,
    registry: Option<&str>,
) -> String {
    let repository = match registry {
        Some(registry) => with_registry(repository, registry),
        None => repository.to_owned(),
    };
    match (digest, tag) {
        (Some(digest), _) => format!("{repository}@{digest}"),
        (None, Some(tag)) => format!("{repository}:{tag}"),
        (None, None) => format!("{repository}:{default_tag}"),
    }
}

/// `repository` with its registry host replaced by `registry` (a host, optionally with a port
/// and a path prefix). A repository without a host (`ollama/ollama`, a Docker Hub name) gets
/// `registry` prepended.
pub fn with_registry(repository: &str, registry: &str) -> String {
    let registry = registry.trim_end_matches('/');
    let path = match repository.split_once('/') {
        Some((first, rest)) if is_registry_host(first) => rest,
        _ => repository,
    };
    format!("{registry}/{path}")
}

/// Docker's rule: the first path component is a registry host when it has a dot or a port, or
/// is `localhost`.
fn is_registry_host(component: &str) -> bool {
    component.contains('.') || component.contains(':') || component == "localhost"
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIGEST_VALUE: &str =
        "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn reference_applies_defaults_tag_and_digest() {
        assert_eq!(
            ImageSpec::default().reference(None),
            "ghcr.io/openclaw/openclaw:latest"
        );
        let tagged = ImageSpec {
            tag: Some("2026.9.6".into()),
            ..ImageSpec::default()
        };
        assert_eq!(tagged.reference(None), "ghcr.io/openclaw/openclaw:2026.9.6");
        let pinned = ImageSpec {
            digest: Some(DIGEST_VALUE.into()),
            ..ImageSpec::default()
        };
        assert_eq!(
            pinned.reference(None),
            format!("ghcr.io/openclaw/openclaw@{DIGEST_VALUE}")
        );
    }

    #[test]
    fn registry_replaces_the_host_or_prefixes_a_hostless_name() {
        assert_eq!(
            with_registry("ghcr.io/openclaw/openclaw", "mirror.local:5000"),
            "mirror.local:5000/openclaw/openclaw"
        );
        assert_eq!(
            with_registry("ollama/ollama", "mirror.local/hub/"),
            "mirror.local/hub/ollama/ollama"
        );
        assert_eq!(with_registry("localhost/x", "m.io"), "m.io/x");
        let image = SidecarImage::default();
        assert_eq!(
            image.reference("ollama/ollama", "latest", Some("m.io")),
            "m.io/ollama/ollama:latest"
        );
    }

    #[test]
    fn cluster_fallback_fills_only_unset_fields() {
        let cluster = ImageSpec {
            repository: Some("mirror.local/openclaw".into()),
            tag: Some("2026.9.1".into()),
            pull_policy: Some(PullPolicy::Always),
            ..ImageSpec::default()
        };
        let pinned = ImageSpec {
            digest: Some(DIGEST_VALUE.into()),
            ..ImageSpec::default()
        };
        let merged = pinned.or(&cluster);
        assert_eq!(merged.tag, None, "a digest here keeps the cluster tag out");
        assert_eq!(merged.digest.as_deref(), Some(DIGEST_VALUE));
        assert_eq!(merged.repository.as_deref(), Some("mirror.local/openclaw"));
        assert_eq!(merged.pull_policy(), PullPolicy::Always);
        assert_eq!(
            ImageSpec::default().or(&cluster).tag.as_deref(),
            Some("2026.9.1")
        );
    }
}
