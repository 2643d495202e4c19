//! Security contexts that pass Pod Security `restricted`: the pod's, the `openclaw` container's
//! (tunable from `spec.security`), the built-in containers', and the defaults filled into the
//! user's containers.

use k8s_openapi::api::core::v1::{
    Capabilities, Container, PodSecurityContext, SeccompProfile, SecurityContext,
};
use openclaw_api::instance::security::{AddableCapability, FsGroupChangePolicy};

use super::super::BuildContext;

/// UID and GID of the Chromium sidecar.
pub const CHROMIUM_UID: i64 = 1001;

/// The pod's security context: non-root UID/GID 1000 (or the spec's), volumes owned by the
/// `fsGroup` and re-owned only when their root does not match, seccomp RuntimeDefault.
pub fn pod(ctx: &BuildContext<'_>) -> PodSecurityContext {
    let spec = &ctx.spec().security.pod_security_context;
    let change_policy = match spec.fs_group_change_policy {
        Some(FsGroupChangePolicy::Always) => "Always",
        Some(FsGroupChangePolicy::OnRootMismatch) | None => "OnRootMismatch",
    };
    PodSecurityContext {
        run_as_user: Some(spec.run_as_user),
        run_as_group: Some(spec.run_as_group),
        fs_group: Some(spec.fs_group),
        fs_group_change_policy: Some(change_policy.to_owned()),
        run_as_non_root: Some(true),
        seccomp_profile: Some(runtime_default()),
        ..PodSecurityContext::default()
    }
}

/// A container of the operator's: no privilege escalation, read-only root filesystem, no
/// capability, seccomp RuntimeDefault, non-root (as `user` when given, else the pod's user).
pub fn restricted(user: Option<i64>) -> SecurityContext {
    SecurityContext {
        allow_privilege_escalation: Some(false),
        read_only_root_filesystem: Some(true),
        run_as_non_root: Some(true),
        run_as_user: user,
        run_as_group: user,
        capabilities: Some(Capabilities {
            drop: Some(vec!["ALL".to_owned()]),
            add: None,
        }),
        seccomp_profile: Some(runtime_default()),
        ..SecurityContext::default()
    }
}

/// The `openclaw` container: [`restricted`], with what `spec.security.containerSecurityContext`
/// may change (a writable root filesystem, a UID, `NET_BIND_SERVICE`, more dropped capabilities).
pub fn openclaw(ctx: &BuildContext<'_>) -> SecurityContext {
    let security = &ctx.spec().security;
    let spec = &security.container_security_context;
    let mut drop = vec!["ALL".to_owned()];
    for capability in &spec.capabilities.drop {
        if !drop.contains(capability) {
            drop.push(capability.clone());
        }
    }
    let add: Vec<String> = spec
        .capabilities
        .add
        .iter()
        .map(|capability| match capability {
            AddableCapability::NetBindService => "NET_BIND_SERVICE".to_owned(),
        })
        .collect();
    SecurityContext {
        read_only_root_filesystem: Some(spec.read_only_root_filesystem),
        run_as_user: Some(
            spec.run_as_user
                .unwrap_or(security.pod_security_context.run_as_user),
        ),
        run_as_group: Some(security.pod_security_context.run_as_group),
        capabilities: Some(Capabilities {
            drop: Some(drop),
            add: (!add.is_empty()).then_some(add),
        }),
        seccomp_profile: Some(gateway_seccomp(ctx)),
        ..restricted(None)
    }
}

/// The init container's context: [`restricted`] under the gateway's seccomp profile.
pub fn init(ctx: &BuildContext<'_>) -> SecurityContext {
    SecurityContext {
        seccomp_profile: Some(gateway_seccomp(ctx)),
        ..restricted(None)
    }
}

/// The seccomp profile of the `openclaw` and init containers: the gateway's Localhost profile
/// where the node agent installed it (the pod is then kept to those nodes, see
/// [`super::placement`]), RuntimeDefault otherwise. The other containers (Chromium, Ollama,
/// Tailscale, the user's) keep RuntimeDefault: the profile was written for Node, npm, git and
/// Python, not for them.
pub fn gateway_seccomp(ctx: &BuildContext<'_>) -> SeccompProfile {
    match &ctx.node_agent.localhost_profile {
        Some(profile) => SeccompProfile {
            type_: "Localhost".to_owned(),
            localhost_profile: Some(profile.localhost_path()),
        },
        None => runtime_default(),
    }
}

/// Fills what restricted Pod Security requires into a user's container, where the user left it
/// unset: no privilege escalation, non-root, `ALL` capabilities dropped, seccomp RuntimeDefault.
/// A value the user set is kept (admission then judges it).
pub fn harden(container: &mut Container) {
    let context = container
        .security_context
        .get_or_insert_with(SecurityContext::default);
    context.allow_privilege_escalation.get_or_insert(false);
    context.run_as_non_root.get_or_insert(true);
    context.seccomp_profile.get_or_insert_with(runtime_default);
    let drop = context
        .capabilities
        .get_or_insert_with(Capabilities::default)
        .drop
        .get_or_insert_with(Vec::new);
    if !drop.iter().any(|capability| capability == "ALL") {
        drop.push("ALL".to_owned());
    }
}

fn runtime_default() -> SeccompProfile {
    SeccompProfile {
        type_: "RuntimeDefault".to_owned(),
        localhost_profile: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::build::tests::{context, instance};

    #[test]
    fn pod_defaults_are_uid_1000_and_seccomp() {
        let instance = instance("spec: {}");
        let pod = pod(&context(&instance));
        assert_eq!(
            (pod.run_as_user, pod.run_as_group, pod.fs_group),
            (Some(1000), Some(1000), Some(1000))
        );
        assert_eq!(pod.run_as_non_root, Some(true));
        assert_eq!(
            pod.fs_group_change_policy.as_deref(),
            Some("OnRootMismatch")
        );
        assert_eq!(
            pod.seccomp_profile.map(|p| p.type_).as_deref(),
            Some("RuntimeDefault")
        );
    }

    #[test]
    fn openclaw_context_follows_the_spec() {
        let instance = instance(
            r#"
spec:
  security:
    podSecurityContext: {runAsUser: 2000, runAsGroup: 3000, fsGroup: 4000, fsGroupChangePolicy: Always}
    containerSecurityContext:
      readOnlyRootFilesystem: false
      capabilities: {add: [NET_BIND_SERVICE], drop: [NET_RAW, ALL]}
"#,
        );
        let ctx = context(&instance);
        let context = openclaw(&ctx);
        assert_eq!(context.run_as_user, Some(2000));
        assert_eq!(context.run_as_group, Some(3000));
        assert_eq!(context.read_only_root_filesystem, Some(false));
        assert_eq!(context.allow_privilege_escalation, Some(false));
        let capabilities = context.capabilities.unwrap_or_default();
        assert_eq!(
            capabilities.drop,
            Some(vec!["ALL".to_owned(), "NET_RAW".to_owned()])
        );
        assert_eq!(capabilities.add, Some(vec!["NET_BIND_SERVICE".to_owned()]));
        assert_eq!(pod(&ctx).fs_group_change_policy.as_deref(), Some("Always"));
    }

    #[test]
    fn harden_fills_only_what_is_unset() {
        let mut container = Container {
            security_context: Some(SecurityContext {
                run_as_user: Some(65532),
                read_only_root_filesystem: Some(false),
                capabilities: Some(Capabilities {
                    drop: Some(vec!["NET_RAW".to_owned()]),
                    add: None,
                }),
                ..SecurityContext::default()
            }),
            ..Container::default()
        };
        harden(&mut container);
        let context = container.security_context.unwrap_or_default();
        assert_eq!(context.run_as_user, Some(65532));
        assert_eq!(context.read_only_root_filesystem, Some(false));
        assert_eq!(context.allow_privilege_escalation, Some(false));
        assert_eq!(context.run_as_non_root, Some(true));
        assert_eq!(
            context.capabilities.and_then(|c| c.drop),
            Some(vec!["NET_RAW".to_owned(), "ALL".to_owned()])
        );
    }
}
