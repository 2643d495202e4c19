//! The `openclaw-init` init container: installs the supervisor from the operator's runtime image
//! into the shared `openclaw-runtime` volume. One small static binary, one copy, no network.

use k8s_openapi::api::core::v1::Container;
use openclaw_api::instance::image::with_registry;

use super::{
    super::{BuildContext, paths},
    resources, security,
    volumes::{ca_mount, mount},
};

/// Name of the init container.
pub const NAME: &str = "openclaw-init";

/// The init container.
pub fn container(ctx: &BuildContext<'_>) -> Container {
    let image = match ctx.registry() {
        Some(registry) => with_registry(ctx.runtime_image, &registry),
        None => ctx.runtime_image.to_owned(),
    };
    let mut mounts = vec![mount(paths::RUNTIME_VOLUME, paths::RUNTIME_DIR, false)];
    mounts.extend(ca_mount(ctx));
    Container {
        name: NAME.to_owned(),
        image: Some(image),
        image_pull_policy: Some("IfNotPresent".to_owned()),
        command: Some(vec![
            "/openclaw-init".to_owned(),
            "install".to_owned(),
            "--to".to_owned(),
            paths::RUNTIME_DIR.to_owned(),
        ]),
        resources: Some(resources::sized(resources::INIT)),
        security_context: Some(security::init(ctx)),
        volume_mounts: Some(mounts),
        ..Container::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::build::tests::{context, instance};

    #[test]
    fn installs_from_the_runtime_image_through_the_mirror() {
        let instance = instance("spec:\n  registry: mirror.corp\n");
        let container = container(&context(&instance));
        assert_eq!(
            container.image.as_deref(),
            Some("mirror.corp/openclaw-rocks/openclaw-runtime:0.1.0")
        );
        assert_eq!(
            container.command.unwrap_or_default(),
            ["/openclaw-init", "install", "--to", "/openclaw-runtime"]
        );
        let limits = container
            .resources
            .and_then(|r| r.limits)
            .unwrap_or_default();
        assert_eq!(
            (limits["cpu"].0.as_str(), limits["memory"].0.as_str()),
            ("100m", "64Mi")
        );
    }
}
