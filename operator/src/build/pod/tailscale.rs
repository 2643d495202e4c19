//! The Tailscale sidecar (userspace networking, non-root, state in an emptyDir, serve
//! configuration from the instance's ConfigMap), and the init step that gives the `openclaw`
//! container the `tailscale` CLI for tailnet identity (`tailscale whois`, authSSO).

use k8s_openapi::api::core::v1::{
    ConfigMapVolumeSource, Container, KeyToPath, Volume, VolumeMount,
};
use openclaw_api::instance::sidecars::TAILSCALE_IMAGE;

use super::{
    super::{BuildContext, names, paths},
    env::{secret, value},
    resources, security,
    volumes::{ca_mount, empty_dir, mount},
};

/// Name of the sidecar.
pub const NAME: &str = "tailscale";
/// Name of the init container copying the CLI.
pub const CLI_NAME: &str = "openclaw-tailscale-cli";
const TMP_VOLUME: &str = "openclaw-tailscale-tmp";
const SOCKET_VOLUME: &str = "openclaw-tailscale-socket";
const SERVE_VOLUME: &str = "openclaw-tailscale-serve";
const BIN_VOLUME: &str = "openclaw-tailscale-bin";

/// The sidecar, when `spec.tailscale.enabled`.
pub fn container(ctx: &BuildContext<'_>) -> Option<Container> {
    let spec = &ctx.spec().tailscale;
    if !spec.enabled {
        return None;
    }
    let mut env = Vec::new();
    if let Some(auth) = &spec.auth_key_secret_ref {
        env.push(secret(
            "TS_AUTHKEY",
            &auth.name,
            &spec.auth_key_secret_key,
            false,
        ));
    }
    env.extend([
        value(
            "TS_HOSTNAME",
            spec.hostname.as_deref().unwrap_or(ctx.name()),
        ),
        value("TS_USERSPACE", "true"),
        value("TS_STATE_DIR", "/tmp/tailscale"),
        value("TS_SOCKET", paths::TAILSCALE_SOCKET),
        value(
            "TS_SERVE_CONFIG",
            &format!(
                "{}/{}",
                paths::TAILSCALE_SERVE_DIR,
                paths::TAILSCALE_SERVE_JSON
            ),
        ),
        // Without it the container keeps its state in a Secret through the API, which this pod
        // has no token for.
        value("TS_KUBE_SECRET", ""),
        value("HOME", "/tmp"),
    ]);
    if ctx.spec().security.ca_bundle.is_some() {
        env.push(value("SSL_CERT_FILE", paths::CA_FILE));
    }
    let mut mounts = vec![
        mount(TMP_VOLUME, "/tmp", false),
        mount(SOCKET_VOLUME, paths::TAILSCALE_SOCKET_DIR, false),
        mount(SERVE_VOLUME, paths::TAILSCALE_SERVE_DIR, true),
    ];
    mounts.extend(ca_mount(ctx));
    Some(Container {
        name: NAME.to_owned(),
        image: Some(image(ctx)),
        env: Some(env),
        resources: Some(resources::or_default(
            spec.resources.as_ref(),
            resources::TAILSCALE,
        )),
        security_context: Some(security::restricted(None)),
        volume_mounts: Some(mounts),
        ..Container::default()
    })
}

/// The init container copying the `tailscale` CLI for the `openclaw` container.
pub fn cli_container(ctx: &BuildContext<'_>) -> Option<Container> {
    if !ctx.spec().tailscale.enabled {
        return None;
    }
    let mut mounts = vec![mount(BIN_VOLUME, paths::TAILSCALE_BIN_DIR, false)];
    mounts.extend(ca_mount(ctx));
    Some(Container {
        name: CLI_NAME.to_owned(),
        image: Some(image(ctx)),
        command: Some(vec![
            "cp".to_owned(),
            "/usr/local/bin/tailscale".to_owned(),
            format!("{}/tailscale", paths::TAILSCALE_BIN_DIR),
        ]),
        resources: Some(resources::sized(resources::INIT)),
        security_context: Some(security::restricted(None)),
        volume_mounts: Some(mounts),
        ..Container::default()
    })
}

/// The `openclaw` container's view of Tailscale: the daemon's socket and the CLI.
pub fn openclaw_mounts() -> [VolumeMount; 2] {
    [
        mount(SOCKET_VOLUME, paths::TAILSCALE_SOCKET_DIR, true),
        mount(BIN_VOLUME, paths::TAILSCALE_BIN_DIR, true),
    ]
}

/// Tailscale's volumes, when it runs.
pub fn volumes(ctx: &BuildContext<'_>) -> Vec<Volume> {
    if !ctx.spec().tailscale.enabled {
        return Vec::new();
    }
    let serve = Volume {
        name: SERVE_VOLUME.to_owned(),
        config_map: Some(ConfigMapVolumeSource {
            name: names::config_map(ctx.name()),
            items: Some(vec![KeyToPath {
                key: paths::TAILSCALE_SERVE_JSON.to_owned(),
                path: paths::TAILSCALE_SERVE_JSON.to_owned(),
                mode: None,
            }]),
            ..ConfigMapVolumeSource::default()
        }),
        ..Volume::default()
    };
    vec![
        empty_dir(TMP_VOLUME, None),
        empty_dir(SOCKET_VOLUME, None),
        serve,
        empty_dir(BIN_VOLUME, None),
    ]
}

fn image(ctx: &BuildContext<'_>) -> String {
    let (repository, tag) = TAILSCALE_IMAGE;
    ctx.spec()
        .tailscale
        .image
        .reference(repository, tag, ctx.registry().as_deref())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::build::tests::{context, instance};

    #[test]
    fn auth_key_hostname_and_userspace() {
        let instance = instance(
            "spec:\n  tailscale: {enabled: true, mode: serve, authKeySecretRef: {name: tailscale-authkey}, hostname: my-agent}\n",
        );
        let ctx = context(&instance);
        let container = container(&ctx).unwrap_or_default();
        let env = container.env.unwrap_or_default();
        let get = |name: &str| {
            env.iter()
                .find(|v| v.name == name)
                .cloned()
                .unwrap_or_default()
        };
        let key = get("TS_AUTHKEY")
            .value_from
            .and_then(|s| s.secret_key_ref)
            .unwrap_or_default();
        assert_eq!(
            (key.name.as_str(), key.key.as_str()),
            ("tailscale-authkey", "authkey")
        );
        assert_eq!(get("TS_HOSTNAME").value.as_deref(), Some("my-agent"));
        assert_eq!(get("TS_USERSPACE").value.as_deref(), Some("true"));
        assert_eq!(get("TS_STATE_DIR").value.as_deref(), Some("/tmp/tailscale"));
        assert_eq!(
            get("TS_SERVE_CONFIG").value.as_deref(),
            Some("/etc/tailscale/tailscale-serve.json")
        );
        assert_eq!(get("TS_KUBE_SECRET").value.as_deref(), Some(""));
        assert_eq!(
            container.image.as_deref(),
            Some("ghcr.io/tailscale/tailscale:latest")
        );
        assert_eq!(volumes(&ctx).len(), 4);
        assert!(cli_container(&ctx).is_some());
    }

    #[test]
    fn hostname_defaults_to_the_instance() {
        let instance =
            instance("spec:\n  tailscale: {enabled: true, authKeySecretRef: {name: ts}}\n");
        let env = container(&context(&instance))
            .and_then(|c| c.env)
            .unwrap_or_default();
        let hostname = env
            .iter()
            .find(|v| v.name == "TS_HOSTNAME")
            .and_then(|v| v.value.clone());
        assert_eq!(hostname.as_deref(), Some("my-agent"));
    }
}
