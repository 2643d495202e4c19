//! The environment of the `openclaw` container: what the supervisor and the gateway need, the
//! sidecars' addresses, the secrets (as references, never values), then the user's variables.
//!
//! What the supervisor decides for the gateway is not set here: `OPENCLAW_NO_RESPAWN`, the V8
//! heap cap in `NODE_OPTIONS` (from the container's cgroup limit) and the CA variables (from the
//! `ca-bundle` step) are the supervisor's, which overrides them in the gateway's environment.

use k8s_openapi::api::core::v1::{EnvVar, EnvVarSource, ObjectFieldSelector, SecretKeySelector};
use openclaw_api::{
    instance::{backup::S3_CREDENTIAL_KEYS, sidecars::OLLAMA_HOST},
    node::{NODE_CACHE_ENV, NODE_IP_ENV},
    plan::{
        CONTROL_TOKEN_ENV, GATEWAY_COMMAND_ENV, HOME_ENV, S3_ACCESS_KEY_ID_ENV,
        S3_SECRET_ACCESS_KEY_ENV, S3_SESSION_TOKEN_ENV, STATE_DIR_ENV, STATUS_ADDRESS_ENV,
        STATUS_PORT_ENV, TERMINATION_GRACE_ENV, TERMINATION_GRACE_SECONDS,
    },
};

use super::super::{BuildContext, CONTROL_TOKEN_KEY, names, paths};

/// Variables the user cannot replace: the supervisor's layout and its secrets.
pub const PROTECTED: [&str; 10] = [
    HOME_ENV,
    STATE_DIR_ENV,
    // The supervisor's own settings: a user value would break the probes or the gateway start.
    GATEWAY_COMMAND_ENV,
    STATUS_ADDRESS_ENV,
    STATUS_PORT_ENV,
    TERMINATION_GRACE_ENV,
    CONTROL_TOKEN_ENV,
    S3_ACCESS_KEY_ID_ENV,
    S3_SECRET_ACCESS_KEY_ENV,
    S3_SESSION_TOKEN_ENV,
];

/// The container's environment. A user variable (cluster defaults, then `spec.env`) replaces
/// one of the operator's of the same name in place, except the [`PROTECTED`] ones.
pub fn env(ctx: &BuildContext<'_>) -> Vec<EnvVar> {
    let spec = ctx.spec();
    let mut env = vec![
        value(HOME_ENV, paths::HOME),
        value(STATE_DIR_ENV, paths::STATE_DIR),
        value(
            TERMINATION_GRACE_ENV,
            &TERMINATION_GRACE_SECONDS.to_string(),
        ),
        value("OPENCLAW_DISABLE_BONJOUR", "1"),
        // The operator rolls out new versions; the gateway must not update itself.
        value("OPENCLAW_NO_AUTO_UPDATE", "1"),
        secret(
            CONTROL_TOKEN_ENV,
            &names::gateway_token(ctx.name()),
            CONTROL_TOKEN_KEY,
            false,
        ),
    ];
    if spec.chromium.enabled {
        env.push(value("OPENCLAW_CHROMIUM_CDP", paths::CDP_URL));
        env.push(value("CHROMIUM_URL", paths::CDP_URL));
    }
    if spec.ollama.enabled {
        env.push(value("OLLAMA_HOST", OLLAMA_HOST));
    }
    env.push(value("NPM_CONFIG_PREFIX", paths::LOCAL_PREFIX));
    let system_path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
    let path = if spec.tailscale.enabled {
        format!(
            "{}/bin:{}:{system_path}",
            paths::LOCAL_PREFIX,
            paths::TAILSCALE_BIN_DIR
        )
    } else {
        format!("{}/bin:{system_path}", paths::LOCAL_PREFIX)
    };
    env.push(value("PATH", &path));
    if spec.tailscale.enabled {
        env.push(value("TS_SOCKET", paths::TAILSCALE_SOCKET));
    }
    if let Some(port) = ctx.node_agent.cache_port {
        // The node's address, then the cache on it: the pod reaches the node agent over the
        // network, never through a hostPath. A user's OPENCLAW_MIRROR_* variables still win
        // over it, source by source (the supervisor decides).
        env.push(field(NODE_IP_ENV, "status.hostIP"));
        env.push(value(
            NODE_CACHE_ENV,
            &format!("http://$({NODE_IP_ENV}):{port}"),
        ));
    }
    if let Some(credentials) = ctx.s3_credentials_secret() {
        let names = [
            S3_ACCESS_KEY_ID_ENV,
            S3_SECRET_ACCESS_KEY_ENV,
            S3_SESSION_TOKEN_ENV,
        ];
        for (i, (name, key)) in names.iter().zip(S3_CREDENTIAL_KEYS).enumerate() {
            // The session token is the only optional key.
            env.push(secret(name, &credentials, key, i == 2));
        }
    }
    overlay(env, ctx.user_env())
}

/// The Secret holding the gateway token: `spec.gateway.existingSecret`, else the instance's.
pub fn gateway_token_secret(ctx: &BuildContext<'_>) -> String {
    ctx.spec()
        .gateway
        .existing_secret
        .clone()
        .unwrap_or_else(|| names::gateway_token(ctx.name()))
}

/// `ours` with each user variable replacing the one of the same name in place (unless
/// protected), the others appended in their order.
fn overlay(mut ours: Vec<EnvVar>, user: Vec<EnvVar>) -> Vec<EnvVar> {
    for var in user {
        if PROTECTED.contains(&var.name.as_str()) {
            continue;
        }
        match ours.iter_mut().find(|own| own.name == var.name) {
            Some(own) => *own = var,
            None => ours.push(var),
        }
    }
    ours
}

/// A plain variable.
pub fn value(name: &str, value: &str) -> EnvVar {
    EnvVar {
        name: name.to_owned(),
        value: Some(value.to_owned()),
        ..EnvVar::default()
    }
}

/// A variable from the downward API (`fieldPath`).
pub fn field(name: &str, path: &str) -> EnvVar {
    EnvVar {
        name: name.to_owned(),
        value_from: Some(EnvVarSource {
            field_ref: Some(ObjectFieldSelector {
                field_path: path.to_owned(),
                api_version: None,
            }),
            ..EnvVarSource::default()
        }),
        ..EnvVar::default()
    }
}

/// A variable read from a Secret's key.
pub fn secret(name: &str, secret: &str, key: &str, optional: bool) -> EnvVar {
    EnvVar {
        name: name.to_owned(),
        value_from: Some(EnvVarSource {
            secret_key_ref: Some(SecretKeySelector {
                name: secret.to_owned(),
                key: key.to_owned(),
                optional: optional.then_some(true),
            }),
            ..EnvVarSource::default()
        }),
        ..EnvVar::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::build::tests::{context, instance};

    fn names(env: &[EnvVar]) -> Vec<&str> {
        env.iter().map(|v| v.name.as_str()).collect()
    }

    fn get<'e>(env: &'e [EnvVar], name: &str) -> Option<&'e EnvVar> {
        env.iter().find(|v| v.name == name)
    }

    #[test]
    fn default_environment_in_order() {
        let instance = instance("spec: {}");
        let env = env(&context(&instance));
        assert_eq!(
            names(&env),
            [
                "HOME",
                "OPENCLAW_STATE_DIR",
                "OPENCLAW_TERMINATION_GRACE_SECONDS",
                "OPENCLAW_DISABLE_BONJOUR",
                "OPENCLAW_NO_AUTO_UPDATE",
                "OPENCLAW_SUPERVISOR_TOKEN",
                "NPM_CONFIG_PREFIX",
                "PATH"
            ]
        );
        assert_eq!(
            get(&env, "OPENCLAW_TERMINATION_GRACE_SECONDS").and_then(|v| v.value.as_deref()),
            Some("60")
        );
        // The gateway token is a file (`volumes::gateway_token`), so a rotation needs no restart.
        assert!(get(&env, "OPENCLAW_GATEWAY_TOKEN").is_none());
    }

    #[test]
    fn user_wins_except_on_protected_names() {
        let instance = instance(
            r#"
spec:
  gateway: {existingSecret: my-token}
  env:
    - {name: NODE_OPTIONS, value: "--max-old-space-size=1000"}
    - {name: HOME, value: /root}
    - {name: OPENCLAW_SUPERVISOR_TOKEN, value: stolen}
    - {name: EXTRA, value: "1"}
"#,
        );
        let env = env(&context(&instance));
        // Passed on: the supervisor keeps the user's Node options and sets only the heap cap.
        assert_eq!(
            get(&env, "NODE_OPTIONS").and_then(|v| v.value.as_deref()),
            Some("--max-old-space-size=1000")
        );
        assert_eq!(
            get(&env, "HOME").and_then(|v| v.value.as_deref()),
            Some("/home/node")
        );
        assert!(get(&env, "OPENCLAW_SUPERVISOR_TOKEN").is_some_and(|v| v.value.is_none()));
        assert_eq!(names(&env).last(), Some(&"EXTRA"));
        let control = get(&env, "OPENCLAW_SUPERVISOR_TOKEN")
            .and_then(|v| v.value_from.clone())
            .and_then(|s| s.secret_key_ref)
            .unwrap_or_default();
        assert_eq!(
            (control.name.as_str(), control.key.as_str()),
            ("my-agent-gateway-token", "supervisor-token")
        );
    }

    #[test]
    fn s3_credentials_come_from_the_secret_by_reference() {
        let instance = instance(
            "spec:\n  backup: {s3: {bucket: agents, credentialsSecretRef: {name: backup-s3}}}\n",
        );
        let env = env(&context(&instance));
        let refs: Vec<(String, String, Option<bool>)> = env
            .iter()
            .filter(|v| v.name.starts_with("OPENCLAW_BACKUP_"))
            .filter_map(|v| v.value_from.clone()?.secret_key_ref)
            .map(|s| (s.name, s.key, s.optional))
            .collect();
        assert_eq!(
            refs,
            [
                ("backup-s3".into(), "AWS_ACCESS_KEY_ID".into(), None),
                ("backup-s3".into(), "AWS_SECRET_ACCESS_KEY".into(), None),
                ("backup-s3".into(), "AWS_SESSION_TOKEN".into(), Some(true)),
            ]
        );
    }
}
