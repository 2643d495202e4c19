//! The user's init containers and sidecars: taken as given, with what restricted Pod Security
//! requires filled in where unset, and the CA bundle mounted.

use k8s_openapi::api::core::v1::Container;

use super::{
    super::{BuildContext, paths},
    env::value,
    security,
    volumes::ca_mount,
};

/// `spec.initContainers`, prepared.
pub fn init_containers(ctx: &BuildContext<'_>) -> Vec<Container> {
    ctx.spec()
        .init_containers
        .iter()
        .map(|c| prepare(ctx, c))
        .collect()
}

/// `spec.sidecars`, prepared.
pub fn sidecars(ctx: &BuildContext<'_>) -> Vec<Container> {
    ctx.spec()
        .sidecars
        .iter()
        .map(|c| prepare(ctx, c))
        .collect()
}

fn prepare(ctx: &BuildContext<'_>, container: &Container) -> Container {
    let mut container = container.clone();
    security::harden(&mut container);
    if let Some(ca) = ca_mount(ctx) {
        let mounts = container.volume_mounts.get_or_insert_with(Vec::new);
        if !mounts.iter().any(|m| m.mount_path == ca.mount_path) {
            mounts.push(ca);
        }
        let env = container.env.get_or_insert_with(Vec::new);
        if !env.iter().any(|v| v.name == "NODE_EXTRA_CA_CERTS") {
            env.push(value("NODE_EXTRA_CA_CERTS", paths::CA_FILE));
        }
    }
    container
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::build::tests::{context, instance};

    #[test]
    fn hardened_and_given_the_ca_bundle() {
        let instance = instance(
            r#"
spec:
  security: {caBundle: {secretName: corp-ca}}
  sidecars:
    - name: cloudsql-proxy
      image: gcr.io/cloud-sql-connectors/cloud-sql-proxy:2
      securityContext: {runAsUser: 65532}
"#,
        );
        let sidecars = sidecars(&context(&instance));
        let proxy = &sidecars[0];
        let context = proxy.security_context.clone().unwrap_or_default();
        assert_eq!(context.run_as_user, Some(65532));
        assert_eq!(context.allow_privilege_escalation, Some(false));
        let mounts = proxy.volume_mounts.clone().unwrap_or_default();
        assert_eq!(mounts[0].mount_path, "/etc/openclaw/ca");
        let env = proxy.env.clone().unwrap_or_default();
        assert_eq!(
            env[0].value.as_deref(),
            Some("/etc/openclaw/ca/ca-bundle.crt")
        );
    }
}
