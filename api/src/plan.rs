//! The runtime plan: what the operator tells the supervisor to do in the pod, as plain data.
//!
//! The operator renders one [`RuntimePlan`] per instance into the instance's ConfigMap (never a
//! secret in it: only the names of the environment variables that carry secrets); the supervisor
//! reads it at start. A breaking change bumps [`PLAN_VERSION`], and a supervisor refuses a plan
//! version it does not know rather than guessing.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::instance::{ConfigFormat, MergeMode, RuntimeDeps, SkillRef};

/// Version of the plan format this crate reads and writes.
pub const PLAN_VERSION: u32 = 1;

/// Key of the plan in the instance's ConfigMap, and its file name where it is mounted.
pub const PLAN_FILE: &str = "plan.json";

/// The gateway's HTTP and WebSocket port. OpenClaw derives more ports from it (18790-18793 and
/// 18800-18899), so nothing else in the pod may use 18789-18899.
pub const GATEWAY_PORT: u16 = 18789;

/// Port of the supervisor's HTTP listener (probes, `/status`, `/metrics`, `POST /backup`) unless
/// `spec.observability.metrics.port` says otherwise.
pub const DEFAULT_STATUS_PORT: u16 = 9090;

/// The pod's termination grace period in seconds: the operator writes it on the pod, the
/// supervisor drains the gateway within it (less a reserve for backups and checkpoints).
pub const TERMINATION_GRACE_SECONDS: i64 = 60;

/// Environment variable carrying [`TERMINATION_GRACE_SECONDS`] to the supervisor.
pub const TERMINATION_GRACE_ENV: &str = "OPENCLAW_TERMINATION_GRACE_SECONDS";

/// Environment variable naming the runtime plan file.
pub const PLAN_PATH_ENV: &str = "OPENCLAW_PLAN";

/// Environment variable with the gateway's command line (split on whitespace).
pub const GATEWAY_COMMAND_ENV: &str = "OPENCLAW_GATEWAY_COMMAND";

/// Environment variable with the address the supervisor's status server listens on.
pub const STATUS_ADDRESS_ENV: &str = "OPENCLAW_STATUS_ADDRESS";

/// Environment variable with the status server's port (the plan's `statusPort` otherwise).
pub const STATUS_PORT_ENV: &str = "OPENCLAW_STATUS_PORT";

/// `HOME` of the supervisor and the gateway.
pub const HOME_ENV: &str = "HOME";

/// The gateway's state directory (`~/.openclaw`).
pub const STATE_DIR_ENV: &str = "OPENCLAW_STATE_DIR";

/// Environment variable carrying the gateway token into the gateway (only when the user sets it
/// in `spec.env`; the operator mounts the token as [`GATEWAY_TOKEN_FILE`] instead).
pub const GATEWAY_TOKEN_ENV: &str = "OPENCLAW_GATEWAY_TOKEN";

/// Where the gateway token Secret's `token` key is mounted in the `openclaw` container. The
/// kubelet refreshes it in place when the Secret changes; the supervisor hands the new value to
/// the running gateway (hot reload, no restart).
pub const GATEWAY_TOKEN_FILE: &str = "/etc/openclaw-gateway-token/token";

/// Environment variable carrying the token that authenticates the operator to the supervisor's
/// control endpoints; the supervisor removes it from the gateway's environment.
pub const CONTROL_TOKEN_ENV: &str = "OPENCLAW_SUPERVISOR_TOKEN";

/// Environment variables carrying the S3 credentials to the supervisor; it removes them from
/// the gateway's environment.
pub const S3_ACCESS_KEY_ID_ENV: &str = "OPENCLAW_BACKUP_ACCESS_KEY_ID";
/// See [`S3_ACCESS_KEY_ID_ENV`].
pub const S3_SECRET_ACCESS_KEY_ENV: &str = "OPENCLAW_BACKUP_SECRET_ACCESS_KEY";
/// See [`S3_ACCESS_KEY_ID_ENV`].
pub const S3_SESSION_TOKEN_ENV: &str = "OPENCLAW_BACKUP_SESSION_TOKEN";

/// Everything the supervisor needs to prepare the workspace and run the gateway.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RuntimePlan {
    /// Plan format version; [`PLAN_VERSION`].
    pub version: u32,
    /// The instance this pod belongs to.
    pub instance: InstanceRef,
    /// The OpenClaw configuration to seed.
    pub config: ConfigPlan,
    /// The private CA bundle, when the instance has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_bundle: Option<CaBundlePlan>,
    /// Skills to install, parsed from `spec.skills`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skills: Vec<SkillRef>,
    /// Plugins to install, parsed from `spec.plugins`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub plugins: Vec<SkillRef>,
    /// Runtimes to install, cluster defaults resolved.
    #[serde(default)]
    pub runtime_deps: RuntimeDeps,
    /// Models to pull into the Ollama sidecar, when it runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ollama: Option<OllamaPlan>,
    /// How to run the gateway.
    pub gateway: GatewayPlan,
    /// Port of the supervisor's own HTTP listener.
    pub status_port: u16,
    /// Backups, when an S3 target is known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup: Option<BackupPlan>,
    /// A restore to run into an empty workspace before anything else.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restore: Option<RestorePlan>,
}

/// Identity of the instance.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InstanceRef {
    /// `metadata.name`.
    pub name: String,
    /// `metadata.namespace`.
    pub namespace: String,
}

/// The OpenClaw configuration, as the operator rendered it.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConfigPlan {
    /// The configuration object (from `spec.config.raw`, plus what the operator adds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw: Option<Map<String, Value>>,
    /// Path of a mounted file holding the user's configuration (from `spec.config.configMapRef`),
    /// read at start and combined with `raw`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// Overwrite the file on the workspace or deep-merge into it.
    pub merge_mode: MergeMode,
    /// Syntax of `file`.
    pub format: ConfigFormat,
}

/// Where the CA bundle is mounted.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CaBundlePlan {
    /// Path of the PEM file; `NODE_EXTRA_CA_CERTS` points here.
    pub path: String,
}

/// The Ollama sidecar's models.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OllamaPlan {
    /// Base URL of the Ollama API ([`crate::instance::sidecars::OLLAMA_HOST`]).
    pub host: String,
    /// Models to pull before the gateway starts.
    pub models: Vec<String>,
    /// GPUs assigned to the sidecar; when above 0 the supervisor checks that Ollama sees one.
    pub gpu: u32,
}

/// How the gateway runs.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GatewayPlan {
    /// Listening port; [`GATEWAY_PORT`].
    pub port: u16,
    /// Listening address.
    pub bind: GatewayBind,
    /// Environment variable holding the gateway token ([`GATEWAY_TOKEN_ENV`]).
    pub token_env: String,
    /// File holding the gateway token ([`GATEWAY_TOKEN_FILE`]), refreshed in place on rotation.
    /// When set, the supervisor gives the gateway its token through a file SecretRef in the
    /// config (never the token itself) and rotates it without restarting the gateway.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_file: Option<String>,
}

/// The gateway's listening address (`gateway.bind`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum GatewayBind {
    /// 127.0.0.1 only: reached through a sidecar (Tailscale serve).
    Loopback,
    /// Every interface of the pod: reached through the Service (token auth required).
    Lan,
}

/// How to reach an S3-compatible store. Credentials travel as environment variables named here,
/// never in the plan.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct S3Connection {
    /// S3 endpoint URL; AWS when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// Region.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// Path-style bucket addressing.
    #[serde(default)]
    pub path_style: bool,
    /// Names of the environment variables holding the credentials; `None` for workload identity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials: Option<S3CredentialsEnv>,
}

/// Where and how to back the workspace up.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BackupPlan {
    /// The store.
    #[serde(flatten)]
    pub connection: S3Connection,
    /// Bucket name.
    pub bucket: String,
    /// Key prefix of this instance's backups, ending in `<namespace>/<name>/`.
    pub prefix: String,
    /// Cron schedule (five fields, UTC) of periodic backups.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<String>,
    /// Backups to keep.
    pub retention: u32,
    /// Time budget of one backup, in seconds.
    pub timeout_seconds: u64,
    /// zstd level of the archives (1 to 19).
    #[serde(default = "default_compression_level")]
    pub compression_level: i32,
    /// Restore drills, when asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drill: Option<DrillPlan>,
}

fn default_compression_level() -> i32 {
    crate::instance::backup::DEFAULT_COMPRESSION_LEVEL
}

/// Restore drills of the newest snapshot.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DrillPlan {
    /// Cron schedule (five fields, UTC).
    pub schedule: String,
    /// Scratch directory the snapshot is restored into and deleted from; never inside the
    /// workspace (the supervisor refuses one that is).
    pub scratch_dir: String,
}

/// Names of the environment variables holding S3 credentials.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct S3CredentialsEnv {
    /// Variable holding the access key id ([`S3_ACCESS_KEY_ID_ENV`]).
    pub access_key_id: String,
    /// Variable holding the secret access key ([`S3_SECRET_ACCESS_KEY_ENV`]).
    pub secret_access_key: String,
    /// Variable holding a session token, when the Secret has one ([`S3_SESSION_TOKEN_ENV`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_token: Option<String>,
}

impl Default for S3CredentialsEnv {
    fn default() -> Self {
        Self {
            access_key_id: S3_ACCESS_KEY_ID_ENV.to_owned(),
            secret_access_key: S3_SECRET_ACCESS_KEY_ENV.to_owned(),
            session_token: Some(S3_SESSION_TOKEN_ENV.to_owned()),
        }
    }
}

/// A restore into an empty workspace (or, for a rollback, replacing it), resolved and
/// authorized by the operator.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RestorePlan {
    /// `spec.restoreFrom` as written: `s3://bucket/key`, a key in the backup bucket, or a
    /// snapshot id of the instance's own prefix.
    pub source: String,
    /// The store to read from (the instance's backup target, its own credentials).
    #[serde(flatten)]
    pub connection: S3Connection,
    /// Bucket of the archive.
    pub bucket: String,
    /// Key of the archive: `.tar.zst`, or `.tar.gz`/`.tgz` (detected by magic bytes, not by name).
    pub key: String,
    /// Set by auto-update's rollback: restore even into a workspace that holds data, replacing
    /// it (the new version migrated it one way), once per id. The archive is verified before
    /// the workspace is touched; the replaced state is set aside until the switch-over is done.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replace: Option<String>,
}

/// Why a plan could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// The text is not a plan.
    #[error("failed to parse the runtime plan")]
    Parse(#[source] serde_json::Error),
    /// The plan could not be serialized.
    #[error("failed to serialize the runtime plan")]
    Serialize(#[source] serde_json::Error),
    /// The plan was written for another format version.
    #[error("unsupported runtime plan version {found} (this build reads version {PLAN_VERSION})")]
    UnsupportedVersion {
        /// The version the plan declares.
        found: u32,
    },
}

impl RuntimePlan {
    /// Reads a plan, refusing any version but [`PLAN_VERSION`].
    pub fn from_json(text: &str) -> Result<RuntimePlan, PlanError> {
        #[derive(Deserialize)]
        struct Versioned {
            version: u32,
        }
        let Versioned { version } = serde_json::from_str(text).map_err(PlanError::Parse)?;
        if version != PLAN_VERSION {
            return Err(PlanError::UnsupportedVersion { found: version });
        }
        serde_json::from_str(text).map_err(PlanError::Parse)
    }

    /// Writes the plan as pretty JSON (stable key order, so its hash only changes with it).
    pub fn to_json(&self) -> Result<String, PlanError> {
        serde_json::to_string_pretty(self).map_err(PlanError::Serialize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::instance::SkillSource;

    fn sample() -> RuntimePlan {
        let raw = serde_json::json!({"agents": {"defaults": {"model": {"primary": "anthropic/claude-sonnet-4-20250514"}}}});
        RuntimePlan {
            version: PLAN_VERSION,
            instance: InstanceRef {
                name: "production-agent".into(),
                namespace: "openclaw".into(),
            },
            config: ConfigPlan {
                raw: raw.as_object().cloned(),
                file: None,
                merge_mode: MergeMode::Merge,
                format: ConfigFormat::Json,
            },
            ca_bundle: Some(CaBundlePlan {
                path: "/etc/openclaw/ca/ca-bundle.crt".into(),
            }),
            skills: vec![SkillRef {
                source: SkillSource::ClawHub {
                    owner: Some("anthropic".into()),
                    slug: "mcp-server-fetch".into(),
                },
                version: None,
                sha256: None,
            }],
            plugins: Vec::new(),
            runtime_deps: RuntimeDeps {
                pnpm: true,
                python: false,
            },
            ollama: Some(OllamaPlan {
                host: "http://localhost:11434".into(),
                models: vec!["llama3.2".into()],
                gpu: 1,
            }),
            gateway: GatewayPlan {
                port: GATEWAY_PORT,
                bind: GatewayBind::Lan,
                token_env: GATEWAY_TOKEN_ENV.into(),
                token_file: Some(GATEWAY_TOKEN_FILE.into()),
            },
            status_port: DEFAULT_STATUS_PORT,
            backup: Some(BackupPlan {
                connection: S3Connection {
                    endpoint: Some("http://seaweed.storage:8333".into()),
                    region: None,
                    path_style: true,
                    credentials: Some(S3CredentialsEnv::default()),
                },
                bucket: "agents".into(),
                prefix: "openclaw/production-agent/".into(),
                schedule: Some("0 3 * * *".into()),
                retention: 7,
                timeout_seconds: 1800,
                compression_level: 3,
                drill: None,
            }),
            restore: None,
        }
    }

    #[test]
    fn json_round_trip_is_lossless() -> Result<(), PlanError> {
        let plan = sample();
        let text = plan.to_json()?;
        assert_eq!(RuntimePlan::from_json(&text)?, plan);
        let value: Value = serde_json::from_str(&text).map_err(PlanError::Parse)?;
        assert_eq!(value["gateway"]["bind"], "lan");
        assert_eq!(value["config"]["mergeMode"], "merge");
        assert_eq!(value["skills"][0]["source"]["kind"], "clawHub");
        assert_eq!(
            value["backup"]["credentials"]["accessKeyId"],
            S3_ACCESS_KEY_ID_ENV
        );
        Ok(())
    }

    #[test]
    fn carries_no_secret_values() -> Result<(), PlanError> {
        let text = sample().to_json()?;
        for word in ["password", "secretAccessKey\": \"AKIA", "token\": \"sk-"] {
            assert!(!text.contains(word), "{word} in {text}");
        }
        Ok(())
    }

    #[test]
    fn refuses_another_version() {
        let mut plan = serde_json::to_value(sample()).unwrap_or_default();
        plan["version"] = 2.into();
        let error = RuntimePlan::from_json(&plan.to_string()).err();
        assert!(
            matches!(error, Some(PlanError::UnsupportedVersion { found: 2 })),
            "{error:?}"
        );
        assert!(matches!(
            RuntimePlan::from_json("{}"),
            Err(PlanError::Parse(_))
        ));
    }
}
