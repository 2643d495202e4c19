//! The Ollama sidecar: local models on `127.0.0.1:11434`, as a non-root user with a read-only
//! root filesystem (the anchor ran it as root), NVIDIA GPUs when asked.

use k8s_openapi::{
    api::core::v1::{Container, PersistentVolumeClaimVolumeSource, Volume},
    apimachinery::pkg::api::resource::Quantity,
};
use openclaw_api::instance::sidecars::OLLAMA_IMAGE;

use super::{
    super::{BuildContext, paths, plan::gpus},
    env::value,
    resources, security,
    volumes::{ca_mount, empty_dir, mount},
};

/// Name of the container.
pub const NAME: &str = "ollama";
/// The extended resource of an NVIDIA GPU.
pub const GPU_RESOURCE: &str = "nvidia.com/gpu";
/// Size limit of the emptyDir models volume unless told otherwise.
pub const DEFAULT_MODELS_SIZE: &str = "20Gi";
const HOME_VOLUME: &str = "openclaw-ollama-home";
const TMP_VOLUME: &str = "openclaw-ollama-tmp";

/// The container, when `spec.ollama.enabled`.
pub fn container(ctx: &BuildContext<'_>) -> Option<Container> {
    let spec = &ctx.spec().ollama;
    if !spec.enabled {
        return None;
    }
    let (repository, tag) = OLLAMA_IMAGE;
    let mut resources = resources::or_default(spec.resources.as_ref(), resources::OLLAMA);
    let gpus = gpus(ctx);
    if gpus > 0 {
        let quantity = Quantity(gpus.to_string());
        for list in [&mut resources.requests, &mut resources.limits] {
            list.get_or_insert_with(Default::default)
                .insert(GPU_RESOURCE.to_owned(), quantity.clone());
        }
    }
    let mut env = vec![
        value("HOME", paths::OLLAMA_HOME),
        value("OLLAMA_HOST", &format!("127.0.0.1:{}", paths::OLLAMA_PORT)),
        value("OLLAMA_MODELS", paths::OLLAMA_MODELS),
    ];
    if ctx.spec().security.ca_bundle.is_some() {
        // Go reads it: model pulls through a TLS-intercepting proxy.
        env.push(value("SSL_CERT_FILE", paths::CA_FILE));
    }
    let mut mounts = vec![
        mount(HOME_VOLUME, paths::OLLAMA_HOME, false),
        mount(paths::OLLAMA_MODELS_VOLUME, paths::OLLAMA_DATA, false),
        mount(TMP_VOLUME, "/tmp", false),
    ];
    mounts.extend(ca_mount(ctx));
    Some(Container {
        name: NAME.to_owned(),
        image: Some(
            spec.image
                .reference(repository, tag, ctx.registry().as_deref()),
        ),
        env: Some(env),
        resources: Some(resources),
        security_context: Some(security::restricted(None)),
        volume_mounts: Some(mounts),
        ..Container::default()
    })
}

/// Ollama's volumes, when it runs: its home, scratch space, and the models (an emptyDir of
/// `storage.sizeLimit`, 20Gi by default, or `storage.existingClaim`).
pub fn volumes(ctx: &BuildContext<'_>) -> Vec<Volume> {
    let spec = &ctx.spec().ollama;
    if !spec.enabled {
        return Vec::new();
    }
    let models = match &spec.storage.existing_claim {
        Some(claim) => Volume {
            name: paths::OLLAMA_MODELS_VOLUME.to_owned(),
            persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
                claim_name: claim.clone(),
                read_only: None,
            }),
            ..Volume::default()
        },
        None => empty_dir(
            paths::OLLAMA_MODELS_VOLUME,
            Some(
                spec.storage
                    .size_limit
                    .clone()
                    .unwrap_or_else(|| Quantity(DEFAULT_MODELS_SIZE.to_owned())),
            ),
        ),
    };
    vec![
        empty_dir(HOME_VOLUME, None),
        models,
        empty_dir(TMP_VOLUME, None),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::build::tests::{context, instance};

    #[test]
    fn gpu_in_requests_and_limits_and_loopback_only() {
        let instance = instance(
            "spec:\n  ollama: {enabled: true, gpu: 1, resources: {requests: {cpu: '2', memory: 4Gi}}}\n",
        );
        let ctx = context(&instance);
        let container = container(&ctx).unwrap_or_default();
        let resources = container.resources.unwrap_or_default();
        assert_eq!(resources.requests.unwrap_or_default()[GPU_RESOURCE].0, "1");
        assert_eq!(resources.limits.unwrap_or_default()[GPU_RESOURCE].0, "1");
        let env = container.env.unwrap_or_default();
        let host = env
            .iter()
            .find(|v| v.name == "OLLAMA_HOST")
            .and_then(|v| v.value.clone());
        assert_eq!(host.as_deref(), Some("127.0.0.1:11434"));
        assert_eq!(container.image.as_deref(), Some("ollama/ollama:latest"));
        assert!(container.ports.is_none());
        let models = &volumes(&ctx)[1];
        assert_eq!(
            models
                .empty_dir
                .clone()
                .and_then(|e| e.size_limit)
                .map(|q| q.0)
                .as_deref(),
            Some("20Gi")
        );
    }

    #[test]
    fn cpu_only_by_default_and_models_on_a_claim() {
        let instance = instance(
            "spec:\n  ollama: {enabled: true, storage: {existingClaim: ollama-models-pvc}}\n",
        );
        let ctx = context(&instance);
        let resources = container(&ctx)
            .and_then(|c| c.resources)
            .unwrap_or_default();
        assert!(
            !resources
                .limits
                .unwrap_or_default()
                .contains_key(GPU_RESOURCE)
        );
        assert_eq!(
            volumes(&ctx)[1]
                .persistent_volume_claim
                .clone()
                .map(|p| p.claim_name)
                .as_deref(),
            Some("ollama-models-pvc")
        );
    }
}
