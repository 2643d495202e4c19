//! The `openclaw` container: the upstream OpenClaw image with the supervisor as PID 1.

use k8s_openapi::api::core::v1::{Container, ContainerPort, VolumeMount};
use openclaw_api::{instance::WORKSPACE_VOLUME, plan::GATEWAY_PORT};

use super::{
    super::{BuildContext, paths, service::GATEWAY_PORT_NAME},
    env, probes, resources, security,
    volumes::mount,
};

/// Name of the container.
pub const NAME: &str = "openclaw";
/// Name of the supervisor's status port on the container.
pub const STATUS_PORT_NAME: &str = "status";

/// The container.
pub fn container(ctx: &BuildContext<'_>) -> Container {
    let spec = ctx.spec();
    let image = ctx.image();
    let resources = resources::or_default(spec.resources.as_ref(), resources::OPENCLAW);
    let probes = probes::probes(ctx);
    Container {
        name: NAME.to_owned(),
        image: Some(image.reference(ctx.registry().as_deref())),
        image_pull_policy: Some(image.pull_policy().as_str().to_owned()),
        command: Some(vec![
            paths::SUPERVISOR.to_owned(),
            "run".to_owned(),
            "--plan".to_owned(),
            paths::PLAN.to_owned(),
        ]),
        ports: Some(vec![
            port(GATEWAY_PORT_NAME, i32::from(GATEWAY_PORT)),
            port(STATUS_PORT_NAME, i32::from(ctx.status_port())),
        ]),
        env: Some(env::env(ctx)),
        env_from: (!spec.env_from.is_empty()).then(|| spec.env_from.clone()),
        resources: Some(resources),
        security_context: Some(security::openclaw(ctx)),
        startup_probe: probes.startup,
        liveness_probe: probes.liveness,
        readiness_probe: probes.readiness,
        volume_mounts: Some(mounts(ctx)),
        ..Container::default()
    }
}

fn mounts(ctx: &BuildContext<'_>) -> Vec<VolumeMount> {
    let spec = ctx.spec();
    let mut mounts = vec![
        mount(paths::HOME_VOLUME, paths::HOME, false),
        mount(WORKSPACE_VOLUME, paths::STATE_DIR, false),
        mount(paths::RUNTIME_VOLUME, paths::RUNTIME_DIR, true),
        mount(paths::CONFIG_VOLUME, paths::CONFIG_DIR, true),
        mount(paths::TMP_VOLUME, "/tmp", false),
    ];
    if !ctx.gateway_token_from_user_env() {
        mounts.push(mount(
            paths::GATEWAY_TOKEN_VOLUME,
            paths::GATEWAY_TOKEN_DIR,
            true,
        ));
    }
    if spec.tailscale.enabled {
        mounts.extend(super::tailscale::openclaw_mounts());
    }
    mounts.extend(spec.extra_volume_mounts.iter().cloned());
    mounts
}

fn port(name: &str, number: i32) -> ContainerPort {
    ContainerPort {
        name: Some(name.to_owned()),
        container_port: number,
        protocol: Some("TCP".to_owned()),
        ..ContainerPort::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::build::tests::{context, instance};

    #[test]
    fn runs_the_supervisor_in_the_upstream_image() {
        let instance = instance("spec:\n  image: {tag: 2026.9.6}\n  registry: mirror.corp:5000\n");
        let container = container(&context(&instance));
        assert_eq!(
            container.image.as_deref(),
            Some("mirror.corp:5000/openclaw/openclaw:2026.9.6")
        );
        assert_eq!(container.image_pull_policy.as_deref(), Some("IfNotPresent"));
        assert_eq!(
            container.command.unwrap_or_default(),
            [
                "/openclaw-runtime/openclaw-supervisor",
                "run",
                "--plan",
                "/etc/openclaw/plan.json"
            ]
        );
        let ports: Vec<(Option<String>, i32)> = container
            .ports
            .unwrap_or_default()
            .into_iter()
            .map(|p| (p.name, p.container_port))
            .collect();
        assert_eq!(
            ports,
            [
                (Some("gateway".into()), 18789),
                (Some("status".into()), 9090)
            ]
        );
        let mounts: Vec<(String, String, Option<bool>)> = container
            .volume_mounts
            .unwrap_or_default()
            .into_iter()
            .map(|m| (m.name, m.mount_path, m.read_only))
            .collect();
        assert_eq!(
            mounts,
            [
                ("openclaw-home".into(), "/home/node".into(), None),
                ("data".into(), "/home/node/.openclaw".into(), None),
                (
                    "openclaw-runtime".into(),
                    "/openclaw-runtime".into(),
                    Some(true)
                ),
                ("openclaw-config".into(), "/etc/openclaw".into(), Some(true)),
                ("openclaw-tmp".into(), "/tmp".into(), None),
                (
                    "openclaw-gateway-token".into(),
                    "/etc/openclaw-gateway-token".into(),
                    Some(true)
                ),
            ]
        );
        // The plan's token file is in that mount, under the Secret's key.
        assert_eq!(
            openclaw_api::plan::GATEWAY_TOKEN_FILE,
            format!(
                "{}/{}",
                paths::GATEWAY_TOKEN_DIR,
                crate::build::GATEWAY_TOKEN_KEY
            )
        );
    }

    #[test]
    fn resources_default_or_from_spec() {
        let default = instance("spec: {}");
        let limits = container(&context(&default))
            .resources
            .and_then(|r| r.limits)
            .unwrap_or_default();
        assert_eq!(
            (limits["cpu"].0.as_str(), limits["memory"].0.as_str()),
            ("2", "4Gi")
        );
        let instance = instance(
            "spec:\n  resources: {requests: {cpu: 100m, memory: 1Gi}, limits: {memory: 8Gi}}\n",
        );
        let container = container(&context(&instance));
        let limits = container
            .resources
            .and_then(|r| r.limits)
            .unwrap_or_default();
        assert_eq!(limits["memory"].0, "8Gi");
    }
}
