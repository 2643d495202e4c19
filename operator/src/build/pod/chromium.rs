//! The Chromium sidecar: a native sidecar (an init container that keeps running) so it is up
//! before the gateway, as UID 1001 with a read-only root filesystem, DevTools on loopback only.

use k8s_openapi::api::core::v1::{Container, EnvVar, ExecAction, Probe, Volume};
use openclaw_api::instance::sidecars::CHROMIUM_IMAGE;

use super::{
    super::{BuildContext, paths},
    resources, security,
    volumes::{ca_mount, empty_dir, memory_dir, mount},
};

/// Name of the container.
pub const NAME: &str = "chromium";
const TMP_VOLUME: &str = "openclaw-chromium-tmp";
const SHM_VOLUME: &str = "openclaw-chromium-shm";

/// Flags the user cannot replace: DevTools stays on the pod's loopback, on the known port.
const FIXED_ARGS: [&str; 2] = [
    "--remote-debugging-address=127.0.0.1",
    "--remote-debugging-port=9222",
];

/// Hardened defaults; a user flag of the same name replaces one.
const DEFAULT_ARGS: [&str; 5] = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--user-data-dir=/tmp/chromium",
];

/// The container, when `spec.chromium.enabled`.
pub fn container(ctx: &BuildContext<'_>) -> Option<Container> {
    let spec = &ctx.spec().chromium;
    if !spec.enabled {
        return None;
    }
    let (repository, tag) = CHROMIUM_IMAGE;
    let default_image = spec
        .image
        .repository
        .as_deref()
        .is_none_or(|r| r.ends_with(repository));
    let mut env = vec![EnvVar {
        name: "HOME".to_owned(),
        value: Some("/tmp".to_owned()),
        ..EnvVar::default()
    }];
    env.extend(spec.extra_env.iter().cloned());
    let mut mounts = vec![
        mount(TMP_VOLUME, "/tmp", false),
        mount(SHM_VOLUME, "/dev/shm", false),
    ];
    mounts.extend(ca_mount(ctx));
    Some(Container {
        name: NAME.to_owned(),
        image: Some(
            spec.image
                .reference(repository, tag, ctx.registry().as_deref()),
        ),
        // The image's entrypoint binds DevTools to every interface: call the browser directly.
        command: default_image.then(|| vec!["/headless-shell/headless-shell".to_owned()]),
        args: Some(args(&spec.extra_args)),
        env: Some(env),
        restart_policy: Some("Always".to_owned()),
        resources: Some(resources::or_default(
            spec.resources.as_ref(),
            resources::CHROMIUM,
        )),
        security_context: Some(security::restricted(Some(security::CHROMIUM_UID))),
        // The kubelet cannot reach a loopback port, so the check runs inside the container
        // (bash is in the default image; a custom image gets no probe).
        startup_probe: default_image.then(|| Probe {
            exec: Some(ExecAction {
                command: Some(vec![
                    "bash".to_owned(),
                    "-c".to_owned(),
                    format!("exec 3<>/dev/tcp/127.0.0.1/{}", paths::CDP_PORT),
                ]),
            }),
            period_seconds: Some(1),
            timeout_seconds: Some(2),
            failure_threshold: Some(60),
            ..Probe::default()
        }),
        volume_mounts: Some(mounts),
        ..Container::default()
    })
}

/// Chromium's volumes, when it runs: scratch space and a 1Gi shared-memory area.
pub fn volumes(ctx: &BuildContext<'_>) -> Vec<Volume> {
    if !ctx.spec().chromium.enabled {
        return Vec::new();
    }
    vec![empty_dir(TMP_VOLUME, None), memory_dir(SHM_VOLUME, "1Gi")]
}

/// The fixed flags, the defaults with the user's replacements, then the user's other flags.
fn args(extra: &[String]) -> Vec<String> {
    let key = |flag: &str| flag.split('=').next().unwrap_or_default().to_owned();
    let mut args: Vec<String> = FIXED_ARGS.iter().map(|a| (*a).to_owned()).collect();
    args.extend(DEFAULT_ARGS.iter().map(|a| (*a).to_owned()));
    for flag in extra {
        if FIXED_ARGS.iter().any(|fixed| key(fixed) == key(flag)) {
            continue;
        }
        match args.iter_mut().find(|arg| key(arg) == key(flag)) {
            Some(arg) => *arg = flag.clone(),
            None => args.push(flag.clone()),
        }
    }
    args
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::build::tests::{context, instance};

    #[test]
    fn native_sidecar_as_1001_with_cdp_on_loopback() {
        let instance = instance(
            r#"
spec:
  chromium:
    enabled: true
    extraArgs: ["--remote-debugging-address=0.0.0.0", "--user-data-dir=/tmp/profile", "--lang=fr"]
"#,
        );
        let ctx = context(&instance);
        let container = container(&ctx).unwrap_or_default();
        assert_eq!(container.restart_policy.as_deref(), Some("Always"));
        assert_eq!(
            container.image.as_deref(),
            Some("chromedp/headless-shell:stable")
        );
        let context = container.security_context.unwrap_or_default();
        assert_eq!(
            (context.run_as_user, context.run_as_group),
            (Some(1001), Some(1001))
        );
        assert_eq!(context.read_only_root_filesystem, Some(true));
        let args = container.args.unwrap_or_default();
        assert!(args.contains(&"--remote-debugging-address=127.0.0.1".to_owned()));
        assert!(!args.contains(&"--remote-debugging-address=0.0.0.0".to_owned()));
        assert!(args.contains(&"--user-data-dir=/tmp/profile".to_owned()));
        assert!(!args.contains(&"--user-data-dir=/tmp/chromium".to_owned()));
        assert_eq!(args.last().map(String::as_str), Some("--lang=fr"));
        let limits = container
            .resources
            .and_then(|r| r.limits)
            .unwrap_or_default();
        assert_eq!(
            (limits["cpu"].0.as_str(), limits["memory"].0.as_str()),
            ("1", "2Gi")
        );
        assert!(container.startup_probe.and_then(|p| p.exec).is_some());
        let volumes = volumes(&ctx);
        let shm = volumes[1].empty_dir.clone().unwrap_or_default();
        assert_eq!(shm.medium.as_deref(), Some("Memory"));
        assert_eq!(shm.size_limit.map(|q| q.0).as_deref(), Some("1Gi"));
    }

    #[test]
    fn a_custom_image_keeps_its_entrypoint() {
        let instance = instance(
            "spec:\n  chromium: {enabled: true, image: {repository: corp/chrome, tag: '1'}}\n",
        );
        let container = container(&context(&instance)).unwrap_or_default();
        assert!(container.command.is_none());
        assert!(container.startup_probe.is_none());
        let off = crate::build::tests::instance("spec: {}");
        assert!(super::container(&context(&off)).is_none());
    }
}
