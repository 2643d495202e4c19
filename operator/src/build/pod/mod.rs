//! The agent's pod template: `openclaw-init`, the built-in sidecars the spec asks for, the
//! `openclaw` container, the user's containers, and every volume they mount. Every container
//! passes Pod Security `restricted`.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::{
    api::core::v1::{Container, LocalObjectReference, PodSpec, PodTemplateSpec},
    apimachinery::pkg::apis::meta::v1::ObjectMeta,
};

use super::{BuildContext, BuildError, context::invalid, labels, rbac};

pub mod chromium;
pub mod env;
pub mod init;
pub mod ollama;
pub mod openclaw;
pub mod placement;
pub mod probes;
pub mod resources;
pub mod security;
pub mod tailscale;
pub mod user;
pub mod volumes;

/// Lets `kubectl logs` and `kubectl exec` pick the agent among the pod's containers.
const DEFAULT_CONTAINER_ANNOTATION: &str = "kubectl.kubernetes.io/default-container";

/// The pod template; `config_hash` is the content hash of the instance's ConfigMap.
pub fn template(ctx: &BuildContext<'_>, config_hash: &str) -> Result<PodTemplateSpec, BuildError> {
    let mut annotations: BTreeMap<String, String> = ctx.spec().pod_annotations.clone();
    annotations.extend([
        (
            labels::CONFIG_HASH_ANNOTATION.to_owned(),
            config_hash.to_owned(),
        ),
        (
            labels::INPUTS_HASH_ANNOTATION.to_owned(),
            ctx.inputs_hash.to_owned(),
        ),
        (
            DEFAULT_CONTAINER_ANNOTATION.to_owned(),
            openclaw::NAME.to_owned(),
        ),
    ]);
    Ok(PodTemplateSpec {
        metadata: Some(ObjectMeta {
            labels: Some(labels::labels(ctx.name())),
            annotations: Some(annotations),
            ..ObjectMeta::default()
        }),
        spec: Some(pod_spec(ctx)?),
    })
}

/// The pod's spec.
pub fn pod_spec(ctx: &BuildContext<'_>) -> Result<PodSpec, BuildError> {
    let spec = ctx.spec();
    let availability = &spec.availability;

    let mut init_containers = vec![init::container(ctx)];
    init_containers.extend(tailscale::cli_container(ctx));
    init_containers.extend(chromium::container(ctx));
    init_containers.extend(user::init_containers(ctx));

    let mut containers = vec![openclaw::container(ctx)];
    containers.extend(ollama::container(ctx));
    containers.extend(tailscale::container(ctx));
    containers.extend(user::sidecars(ctx));

    let mut volumes = volumes::core(ctx);
    volumes.extend(chromium::volumes(ctx));
    volumes.extend(ollama::volumes(ctx));
    volumes.extend(tailscale::volumes(ctx));
    volumes.extend(spec.extra_volumes.iter().cloned());
    volumes.extend(spec.sidecar_volumes.iter().cloned());

    let pull_secrets: Vec<LocalObjectReference> = ctx.image().pull_secrets;
    let pod = PodSpec {
        service_account_name: Some(rbac::service_account_name(ctx)),
        automount_service_account_token: Some(false),
        enable_service_links: Some(false),
        security_context: Some(security::pod(ctx)),
        termination_grace_period_seconds: Some(openclaw_api::plan::TERMINATION_GRACE_SECONDS),
        image_pull_secrets: (!pull_secrets.is_empty()).then_some(pull_secrets),
        node_selector: (!availability.node_selector.is_empty())
            .then(|| availability.node_selector.clone()),
        tolerations: (!availability.tolerations.is_empty())
            .then(|| availability.tolerations.clone()),
        affinity: placement::affinity(availability.affinity.clone(), ctx),
        topology_spread_constraints: (!availability.topology_spread_constraints.is_empty())
            .then(|| availability.topology_spread_constraints.clone()),
        runtime_class_name: availability.runtime_class_name.clone(),
        init_containers: Some(init_containers),
        containers,
        volumes: Some(volumes),
        ..PodSpec::default()
    };
    check_names(&pod)?;
    Ok(pod)
}

/// Refuses what the API server would refuse later with a less helpful message: two containers
/// or two volumes of the same name, a mount of a volume that does not exist.
fn check_names(pod: &PodSpec) -> Result<(), BuildError> {
    let all: Vec<&Container> = pod
        .init_containers
        .iter()
        .flatten()
        .chain(&pod.containers)
        .collect();
    let mut seen = BTreeSet::new();
    for container in &all {
        if !seen.insert(container.name.as_str()) {
            return Err(invalid(
                "spec.sidecars",
                format!(
                    "container name {:?} is used twice in the pod",
                    container.name
                ),
            ));
        }
    }
    let mut volumes = BTreeSet::new();
    for volume in pod.volumes.iter().flatten() {
        if !volumes.insert(volume.name.as_str()) {
            return Err(invalid(
                "spec.extraVolumes",
                format!("volume name {:?} is used twice in the pod", volume.name),
            ));
        }
    }
    for container in all {
        for mount in container.volume_mounts.iter().flatten() {
            if !volumes.contains(mount.name.as_str()) {
                return Err(invalid(
                    "spec.extraVolumeMounts",
                    format!(
                        "container {:?} mounts volume {:?}, which the pod does not have",
                        container.name, mount.name
                    ),
                ));
            }
        }
    }
    Ok(())
}
