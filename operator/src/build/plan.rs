//! The runtime plan of an instance: what its supervisor prepares and runs, as plain data
//! (never a secret: only the names of the environment variables that carry them).

use serde_json::{Map, Value};

use openclaw_api::{
    instance::{S3Spec, SkillRef, sidecars::OLLAMA_HOST},
    plan::{
        BackupPlan, CaBundlePlan, ConfigPlan, DrillPlan, GATEWAY_PORT, GATEWAY_TOKEN_ENV,
        GATEWAY_TOKEN_FILE, GatewayBind, GatewayPlan, InstanceRef, OllamaPlan, PLAN_VERSION,
        RuntimePlan, S3Connection, S3CredentialsEnv,
    },
};

use super::{BuildContext, BuildError, context::invalid, paths};

/// The plan, with `config` the rendered OpenClaw configuration.
pub fn runtime_plan(
    ctx: &BuildContext<'_>,
    config: Map<String, Value>,
) -> Result<RuntimePlan, BuildError> {
    let spec = ctx.spec();
    let bind = match config
        .get("gateway")
        .and_then(|gateway| gateway.get("bind"))
        .and_then(Value::as_str)
    {
        Some("loopback") => GatewayBind::Loopback,
        _ => GatewayBind::Lan,
    };
    Ok(RuntimePlan {
        version: PLAN_VERSION,
        instance: InstanceRef {
            name: ctx.name().to_owned(),
            namespace: ctx.namespace().to_owned(),
        },
        config: ConfigPlan {
            raw: Some(config),
            file: spec
                .config
                .config_map_ref
                .as_ref()
                .map(|source| user_config_file(&source.key)),
            merge_mode: spec.config.merge_mode,
            format: spec.config.format,
        },
        ca_bundle: spec.security.ca_bundle.as_ref().map(|_| CaBundlePlan {
            path: paths::CA_FILE.to_owned(),
        }),
        skills: parse_all("spec.skills", &spec.skills, str::parse)?,
        plugins: parse_all("spec.plugins", &spec.plugins, SkillRef::parse_plugin)?,
        runtime_deps: spec.runtime_deps.resolve(
            &ctx.defaults
                .map(|d| d.runtime_deps.clone())
                .unwrap_or_default(),
        ),
        ollama: spec.ollama.enabled.then(|| OllamaPlan {
            host: OLLAMA_HOST.to_owned(),
            models: spec.ollama.models.clone(),
            gpu: gpus(ctx),
        }),
        gateway: GatewayPlan {
            port: GATEWAY_PORT,
            bind,
            token_env: GATEWAY_TOKEN_ENV.to_owned(),
            token_file: (!ctx.gateway_token_from_user_env()).then(|| GATEWAY_TOKEN_FILE.to_owned()),
        },
        status_port: ctx.status_port(),
        backup: backup(ctx)?,
        restore: match &ctx.update.rollback_restore {
            Some(rollback) => super::restore::rollback_plan(ctx, rollback, connection),
            None => super::restore::restore_plan(ctx, connection)?,
        },
    })
}

/// Where the user's `configMapRef` key is mounted in the `openclaw` container.
pub fn user_config_file(key: &str) -> String {
    format!("{}/{}/{key}", paths::CONFIG_DIR, paths::USER_CONFIG_SUBDIR)
}

/// GPUs of the Ollama sidecar (0 when it does not run).
pub fn gpus(ctx: &BuildContext<'_>) -> u32 {
    ctx.resolved().gpus
}

fn parse_all<E: std::fmt::Display>(
    field: &str,
    entries: &[String],
    parse: impl Fn(&str) -> Result<SkillRef, E>,
) -> Result<Vec<SkillRef>, BuildError> {
    entries
        .iter()
        .enumerate()
        .map(|(i, entry)| parse(entry).map_err(|e| invalid(format!("{field}[{i}]"), e.to_string())))
        .collect()
}

/// Backups, when a bucket is known (the instance's or the cluster's).
fn backup(ctx: &BuildContext<'_>) -> Result<Option<BackupPlan>, BuildError> {
    let Some(s3) = ctx.s3() else { return Ok(None) };
    let Some(bucket) = s3.bucket.clone() else {
        return Ok(None);
    };
    let spec = &ctx.spec().backup;
    let timeout = humantime::parse_duration(&spec.timeout)
        .map_err(|e| invalid("spec.backup.timeout", e.to_string()))?;
    let retention = u32::try_from(spec.retention)
        .map_err(|_| invalid("spec.backup.retention", "must be 1 or more"))?;
    Ok(Some(BackupPlan {
        connection: connection(&s3),
        bucket,
        prefix: backup_prefix(s3.prefix.as_deref(), ctx.namespace(), ctx.name()),
        schedule: spec.schedule.clone(),
        retention,
        timeout_seconds: timeout.as_secs(),
        compression_level: spec.compression_level.clamp(1, 19),
        drill: spec.drill.as_ref().map(|drill| DrillPlan {
            schedule: drill.schedule.clone(),
            scratch_dir: DRILL_SCRATCH_DIR.to_owned(),
        }),
    }))
}

/// Where restore drills unpack: the `openclaw` container's `/tmp` emptyDir, off the workspace
/// volume (a drill never writes to the workspace).
pub const DRILL_SCRATCH_DIR: &str = "/tmp/openclaw-drill";

/// How the supervisor reaches the store; credentials by environment variable name only.
fn connection(s3: &S3Spec) -> S3Connection {
    S3Connection {
        endpoint: s3.endpoint.clone(),
        region: s3.region.clone(),
        path_style: s3.path_style.unwrap_or(false),
        credentials: s3
            .credentials_secret_ref
            .as_ref()
            .map(|_| S3CredentialsEnv::default()),
    }
}

/// `<prefix>/<namespace>/<name>/`: instances sharing a bucket never overwrite each other.
pub fn backup_prefix(prefix: Option<&str>, namespace: &str, name: &str) -> String {
    match prefix
        .map(|p| p.trim_matches('/'))
        .filter(|p| !p.is_empty())
    {
        Some(prefix) => format!("{prefix}/{namespace}/{name}/"),
        None => format!("{namespace}/{name}/"),
    }
}

#[cfg(test)]
mod tests {
    use openclaw_api::{
        OpenClawClusterDefaultsSpec,
        defaults::ClusterBackupDefaults,
        instance::{S3Spec, SecretRef, SkillSource},
        plan::S3_ACCESS_KEY_ID_ENV,
    };

    use super::*;
    use crate::build::tests::{context, instance};

    #[test]
    fn parses_skills_and_plugins() -> Result<(), BuildError> {
        let instance = instance(
            "spec:\n  skills: ['@anthropic/mcp-server-fetch', 'npm:left-pad@1.3.0']\n  plugins: ['@openclaw/matrix']\n",
        );
        let plan = runtime_plan(&context(&instance), Map::new())?;
        assert_eq!(
            plan.skills[0].source,
            SkillSource::ClawHub {
                owner: Some("anthropic".into()),
                slug: "mcp-server-fetch".into()
            }
        );
        assert_eq!(plan.skills[1].version.as_deref(), Some("1.3.0"));
        assert_eq!(
            plan.plugins[0].source,
            SkillSource::Npm {
                package: "@openclaw/matrix".into()
            }
        );
        Ok(())
    }

    #[test]
    fn the_gateway_token_is_a_file_unless_the_user_passes_the_variable() -> Result<(), BuildError> {
        use crate::build::pod::volumes;
        let mounted = instance("spec:\n  gateway: {existingSecret: my-token}\n");
        let ctx = context(&mounted);
        let plan = runtime_plan(&ctx, Map::new())?;
        assert_eq!(plan.gateway.token_file.as_deref(), Some(GATEWAY_TOKEN_FILE));
        let secret = volumes::gateway_token(&ctx)
            .and_then(|v| v.secret)
            .unwrap_or_default();
        assert_eq!(secret.secret_name.as_deref(), Some("my-token"));
        assert_eq!(secret.default_mode, Some(0o440));
        let items = secret.items.unwrap_or_default();
        assert_eq!(
            items
                .iter()
                .map(|i| (i.key.as_str(), i.path.as_str()))
                .collect::<Vec<_>>(),
            [("token", "token")]
        );

        let own = instance(
            "spec:\n  env: [{name: OPENCLAW_GATEWAY_TOKEN, valueFrom: {secretKeyRef: {name: t, key: k}}}]\n",
        );
        let ctx = context(&own);
        assert_eq!(runtime_plan(&ctx, Map::new())?.gateway.token_file, None);
        assert!(volumes::gateway_token(&ctx).is_none());
        Ok(())
    }

    #[test]
    fn a_bad_skill_is_an_invalid_field() {
        let instance = instance("spec:\n  skills: ['Bad Skill']\n");
        let error = runtime_plan(&context(&instance), Map::new()).err();
        assert!(
            matches!(&error, Some(BuildError::Invalid { field, .. }) if field == "spec.skills[0]"),
            "{error:?}"
        );
    }

    #[test]
    fn backup_takes_the_cluster_bucket_and_isolates_the_instance() -> Result<(), BuildError> {
        let instance = instance(
            "spec:\n  backup:\n    schedule: '0 3 * * *'\n    timeout: 1h\n    compressionLevel: 9\n    drill: {schedule: '30 4 * * 0'}\n    s3: {prefix: /team-a/}\n",
        );
        let defaults = OpenClawClusterDefaultsSpec {
            backup: ClusterBackupDefaults {
                s3: Some(S3Spec {
                    bucket: Some("agents".into()),
                    endpoint: Some("http://seaweed.storage:8333".into()),
                    credentials_secret_ref: Some(SecretRef {
                        name: "backup-s3".into(),
                    }),
                    ..S3Spec::default()
                }),
                ..ClusterBackupDefaults::default()
            },
            ..OpenClawClusterDefaultsSpec::default()
        };
        let mut ctx = context(&instance);
        ctx.defaults = Some(&defaults);
        let plan = runtime_plan(&ctx, Map::new())?;
        let backup = plan.backup.unwrap_or_else(|| panic!("no backup plan"));
        assert_eq!(backup.bucket, "agents");
        assert_eq!(backup.prefix, "team-a/openclaw/my-agent/");
        assert_eq!(backup.timeout_seconds, 3600);
        assert_eq!(backup.compression_level, 9);
        assert_eq!(
            backup.drill,
            Some(DrillPlan {
                schedule: "30 4 * * 0".into(),
                scratch_dir: DRILL_SCRATCH_DIR.into(),
            })
        );
        assert_eq!(backup.retention, 7);
        assert_eq!(
            backup
                .connection
                .credentials
                .map(|c| c.access_key_id)
                .as_deref(),
            Some(S3_ACCESS_KEY_ID_ENV)
        );
        assert_eq!(
            runtime_plan(&context(&instance), Map::new())?.backup,
            None,
            "no bucket, no backups"
        );
        Ok(())
    }

    #[test]
    fn restore_from_another_area_needs_a_cluster_allowance() -> Result<(), BuildError> {
        let instance = instance("spec:\n  restoreFrom: s3://bucket/path/to/backup.tar.gz\n");
        let refused = runtime_plan(&context(&instance), Map::new())
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(refused.contains("spec.restoreFrom"), "{refused}");
        assert!(refused.contains("allowedRestoreSources"), "{refused}");
        let defaults = OpenClawClusterDefaultsSpec {
            backup: ClusterBackupDefaults {
                allowed_restore_sources: vec!["s3://bucket/path/".into()],
                ..ClusterBackupDefaults::default()
            },
            ..OpenClawClusterDefaultsSpec::default()
        };
        let mut ctx = context(&instance);
        ctx.defaults = Some(&defaults);
        let restore = runtime_plan(&ctx, Map::new())?.restore;
        let restore = restore.unwrap_or_else(|| panic!("no restore plan"));
        assert_eq!(
            (restore.bucket.as_str(), restore.key.as_str()),
            ("bucket", "path/to/backup.tar.gz")
        );
        Ok(())
    }

    #[test]
    fn restore_within_the_namespace_is_allowed_and_others_are_not() -> Result<(), BuildError> {
        let own = "spec:\n  backup: {s3: {bucket: agents, prefix: team}}\n  restoreFrom: ";
        let sibling = instance(&format!(
            "{own}team/openclaw/old-agent/20261125T234203Z.tar.zst\n"
        ));
        let restore = runtime_plan(&context(&sibling), Map::new())?.restore;
        assert_eq!(
            restore.map(|r| r.key).as_deref(),
            Some("team/openclaw/old-agent/20261125T234203Z.tar.zst")
        );
        let by_id = instance(&format!("{own}20261125T234203Z\n"));
        let restore = runtime_plan(&context(&by_id), Map::new())?.restore;
        assert_eq!(
            restore.map(|r| r.key).as_deref(),
            Some("team/openclaw/my-agent/20261125T234203Z.tar.zst")
        );
        for other in [
            "team/other-ns/agent/x.tar.zst",
            "s3://elsewhere/team/openclaw/a.tar.zst",
        ] {
            let foreign = instance(&format!("{own}{other}\n"));
            assert!(
                runtime_plan(&context(&foreign), Map::new()).is_err(),
                "{other}"
            );
        }
        Ok(())
    }

    #[test]
    fn ollama_and_status_port() -> Result<(), BuildError> {
        let instance = instance(
            "spec:\n  ollama: {enabled: true, models: [llama3.2], gpu: 2}\n  observability: {metrics: {port: 9100}}\n",
        );
        let plan = runtime_plan(&context(&instance), Map::new())?;
        let ollama = plan.ollama.unwrap_or_else(|| panic!("no ollama plan"));
        assert_eq!(
            (ollama.host.as_str(), ollama.gpu),
            ("http://localhost:11434", 2)
        );
        assert_eq!(plan.status_port, 9100);
        assert_eq!(plan.gateway.bind, GatewayBind::Lan);
        Ok(())
    }
}
