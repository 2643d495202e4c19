//! `OpenClawInstance.status`: the phase and conditions the operator writes, and the reports it
//! copies from the supervisor's `/status` endpoint (the same types serve both).

use std::{collections::BTreeMap, fmt};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::schema::k8s;

/// Condition types the operator sets. `Ready` feeds the `READY` column of `kubectl get`.
pub mod condition {
    /// The gateway is up and answering ready; the pod receives traffic.
    pub const READY: &str = "Ready";
    /// The configuration was found and is valid.
    pub const CONFIG_VALID: &str = "ConfigValid";
    /// Every referenced Secret exists.
    pub const SECRETS_READY: &str = "SecretsReady";
    /// The workspace volume is bound.
    pub const STORAGE_READY: &str = "StorageReady";
    /// The last backup succeeded.
    pub const BACKUP_COMPLETE: &str = "BackupComplete";
    /// The restore from `spec.restoreFrom` succeeded.
    pub const RESTORE_COMPLETE: &str = "RestoreComplete";
    /// The last restore drill (`spec.backup.drill`) restored and verified the newest snapshot.
    pub const BACKUP_RESTORABLE: &str = "BackupRestorable";
    /// A newer release than the running one exists.
    pub const AUTO_UPDATE_AVAILABLE: &str = "AutoUpdateAvailable";
    /// Auto-update paused itself after repeated rollbacks.
    pub const AUTO_UPDATE_PAUSED: &str = "AutoUpdatePaused";
    /// Every configured channel (Telegram, Slack…) is healthy; `False` names the failing ones.
    /// The pod stays Ready: the other channels still carry traffic.
    pub const CHANNELS_HEALTHY: &str = "ChannelsHealthy";
    /// Every Ollama model sits entirely in GPU memory; `False` gives the numbers.
    pub const MODELS_ON_GPU: &str = "ModelsOnGPU";
    /// The gateway was not OOM-killed repeatedly; `False` after the second OOM kill.
    pub const GATEWAY_MEMORY_SUFFICIENT: &str = "GatewayMemorySufficient";
}

/// Observed state of an OpenClaw instance, written by the operator only.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct OpenClawInstanceStatus {
    /// Where the instance stands: Provisioning, Running, Updating, BackingUp, Restoring,
    /// Degraded, Failed, Suspended or Terminating.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<Phase>,

    /// Standard conditions, one per type (`Ready`, `ConfigValid`, `SecretsReady`,
    /// `StorageReady`, `BackupComplete`, `RestoreComplete`, `BackupRestorable`, `AutoUpdateAvailable`,
    /// `AutoUpdatePaused`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(
        schema_with = "k8s::<Vec<Condition>>",
        extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"])
    )]
    pub conditions: Vec<Condition>,

    /// The `metadata.generation` of the spec this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,

    /// In-cluster address of the gateway, `<name>.<namespace>.svc:18789`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway_endpoint: Option<String>,

    /// The supervisor's last report: start-up steps, gateway health, versions, model pulls.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supervisor: Option<SupervisorStatus>,

    /// Skills installed on the workspace, with the version and archive checksum installed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skills: Vec<InstalledSkill>,

    /// Each configured messaging channel (Telegram, WhatsApp, Slack, Discord…), healthy or
    /// failing, as the gateway reports it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["name"]))]
    pub channels: Vec<ChannelHealth>,

    /// Where each Ollama model runs: bytes in GPU memory against the model's size.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["name"]))]
    pub models: Vec<ModelPlacement>,

    /// The last successful backup.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup: Option<BackupStatus>,

    /// The backup this instance's workspace was restored from (`spec.restoreFrom` once done); a
    /// restore runs once, into an empty workspace only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restored_from: Option<String>,

    /// Auto-update progress.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_update: Option<AutoUpdateStatus>,
}

/// Lifecycle phase of an instance.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize, Serialize, JsonSchema)]
pub enum Phase {
    /// Objects are being created, or the pod is starting.
    Provisioning,
    /// The gateway is ready.
    Running,
    /// An auto-update is rolling out or being health-checked.
    Updating,
    /// A backup is running.
    BackingUp,
    /// The workspace is being restored from a backup.
    Restoring,
    /// Running with a problem (a failed optional part, a rollback).
    Degraded,
    /// Cannot run until the spec or a referenced object is fixed.
    Failed,
    /// `spec.suspend` is true: scaled to zero, objects kept.
    Suspended,
    /// Being deleted (final backup, clean-up).
    Terminating,
}

impl Phase {
    /// Every phase, in lifecycle order.
    pub const ALL: [Phase; 9] = [
        Phase::Provisioning,
        Phase::Running,
        Phase::Updating,
        Phase::BackingUp,
        Phase::Restoring,
        Phase::Degraded,
        Phase::Failed,
        Phase::Suspended,
        Phase::Terminating,
    ];

    /// The phase as written in `status.phase`.
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Provisioning => "Provisioning",
            Phase::Running => "Running",
            Phase::Updating => "Updating",
            Phase::BackingUp => "BackingUp",
            Phase::Restoring => "Restoring",
            Phase::Degraded => "Degraded",
            Phase::Failed => "Failed",
            Phase::Suspended => "Suspended",
            Phase::Terminating => "Terminating",
        }
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the supervisor in the pod reports (its `/status` body).
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SupervisorStatus {
    /// Start-up steps (restore, config, CA bundle, skills, pnpm, Python, model pulls, gateway),
    /// in the order they started.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<StepReport>,

    /// Whether the gateway answered its last health check with a healthy JSON body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway_healthy: Option<bool>,

    /// Versions of what runs in the pod, by component (`openclaw`, `supervisor`, `node`, `pnpm`,
    /// `python`, `ollama`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub versions: BTreeMap<String, String>,

    /// Progress of the Ollama model pulls.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub model_pulls: Vec<ModelPull>,

    /// The gateway process: restarts, last exit, OOM kills.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<GatewayStatus>,
}

/// The gateway process as the supervisor saw it.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GatewayStatus {
    /// Restarts since the supervisor started.
    #[serde(default)]
    pub restarts: i64,

    /// How the gateway last exited, e.g. `exit 78 (configuration error)`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_exit: Option<String>,

    /// Times the kernel's OOM killer killed the gateway since the supervisor started.
    #[serde(default)]
    pub oom_kills: i64,
}

/// Health of one configured messaging channel.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChannelHealth {
    /// Channel id as in the gateway's `channels` config, e.g. `telegram`.
    pub name: String,

    /// The gateway does not list the channel among its failing checks.
    pub healthy: bool,

    /// Why the channel is failing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Where one Ollama model runs, measured after loading it once.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ModelPlacement {
    /// Model name, as in `spec.ollama.models`.
    pub name: String,

    /// Bytes the loaded model takes; absent when Ollama did not list it after loading.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size_bytes: Option<i64>,

    /// Of which in GPU memory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vram_bytes: Option<i64>,

    /// Share in GPU memory, 0 to 100; 100 only when all of it is.
    pub percent_in_vram: i32,
}

/// One start-up step of the supervisor.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct StepReport {
    /// Step name, for example `skills` or `config`.
    pub name: String,

    /// Pending, Running, Succeeded or Failed.
    pub state: StepState,

    /// Wall-clock time the step took, in milliseconds, once finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<i64>,

    /// True when the step's inputs were unchanged since the last start and its cached result
    /// was reused.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub skipped: bool,

    /// Why the step failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// State of a start-up step.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
pub enum StepState {
    /// Waiting for the steps it depends on.
    Pending,
    /// In progress.
    Running,
    /// Done (or skipped, see `skipped`).
    Succeeded,
    /// Failed; see `error`.
    Failed,
}

/// Progress of one Ollama model pull.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ModelPull {
    /// Model name, as in `spec.ollama.models`.
    pub model: String,

    /// Pending, Running, Succeeded or Failed.
    pub state: StepState,

    /// Bytes downloaded so far, over all layers.
    #[serde(default)]
    pub completed_bytes: i64,

    /// Total bytes of all layers, once Ollama announced them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_bytes: Option<i64>,

    /// The error Ollama reported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A skill installed on the workspace.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct InstalledSkill {
    /// The skill as named in `spec.skills`, without version or pin.
    pub name: String,

    /// Installed version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,

    /// SHA-256 (hex) fingerprint of the installed skill: the clawhub CLI's content fingerprint for
    /// ClawHub skills, the tarball hash for `npm:` packages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
}

/// The last successful backup.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BackupStatus {
    /// Object key of the backup in the bucket; usable as `spec.restoreFrom`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_key: Option<String>,

    /// Size of the compressed archive, in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_size: Option<i64>,

    /// How long the backup took, as a duration such as `42.5s`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_duration: Option<String>,

    /// `sha256:<hex>` of the archive as uploaded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_checksum: Option<String>,

    /// When the backup finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_time: Option<Time>,

    /// The value of the `openclaw.rocks/backup-now` annotation last served; a new value asks
    /// for another backup.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_request: Option<String>,

    /// The last restore drill (`spec.backup.drill`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_drill: Option<crate::backup::DrillRecord>,
}

/// Auto-update progress. The spec is never written: the version the pod runs instead of the
/// spec's tag lives here (`runningTag`), so GitOps tools see no drift, and a change of the
/// spec's own tag starts over from it (the user's tag always wins).
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AutoUpdateStatus {
    /// The tag the spec (or the cluster defaults) asked for when this progress began; when the
    /// spec's tag changes, auto-update starts over from the new one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_tag: Option<String>,

    /// The tag the pod runs instead of `baseTag`, chosen by auto-update; unset while the pod
    /// runs the spec's own tag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub running_tag: Option<String>,

    /// Version (tag) running now, confirmed healthy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_version: Option<String>,

    /// Newest stable version found in the registry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latest_version: Option<String>,

    /// Version being checked, backed up for, rolled out or health-checked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_version: Option<String>,

    /// Digest of `pendingVersion` in the registry when the update began; the new pod counts
    /// only when its image ID is this digest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_digest: Option<String>,

    /// Where the update stands: `CheckingConfig`, `BackingUp`, `RollingOut` or `RollingBack`;
    /// unset when idle.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update_phase: Option<UpdatePhase>,

    /// When `updatePhase` began.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update_phase_since: Option<Time>,

    /// Version that ran before the update in progress; the rollback target.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_version: Option<String>,

    /// Key of the backup taken before the last update (restored on its rollback); kept once the
    /// update is over, until the next one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pre_update_backup: Option<String>,

    /// Last version that failed; not tried again until a newer one appears.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed_version: Option<String>,

    /// How `failedVersion` failed: `ConfigRefused` (its image refused the configuration,
    /// nothing was rolled) or `Unhealthy` (it did not become ready).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed_reason: Option<String>,

    /// Consecutive failed updates; auto-update pauses at 3 and the count resets on a successful
    /// update or a resume.
    #[serde(default)]
    pub rollback_count: i32,

    /// Auto-update is paused (after 3 consecutive failures, or a failed rollback restore) until
    /// the spec changes or the `openclaw.rocks/auto-update-resume` annotation takes a new value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paused: Option<UpdatePause>,

    /// When the registry was last checked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_check_time: Option<Time>,

    /// Why the last check or update failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

/// A step of an update in progress.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
pub enum UpdatePhase {
    /// The new image checks the configuration rendered for it (`openclaw config validate`, in
    /// a short Job); a refusal stops the update before anything is rolled.
    CheckingConfig,
    /// The supervisor takes the pre-update backup.
    BackingUp,
    /// The pod rolls onto the new version, which must become ready within `healthCheckTimeout`.
    RollingOut,
    /// The new version failed: the pod rolls back to the previous version, restoring the
    /// pre-update backup as it starts.
    RollingBack,
}

/// Why and since when auto-update is paused.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct UpdatePause {
    /// Why it paused.
    pub reason: String,
    /// The spec generation it paused at; a new one resumes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generation: Option<i64>,
    /// The `openclaw.rocks/auto-update-resume` value when it paused; a new one resumes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resume_annotation: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A status as a real apiserver stored it after a status patch written from these types.
    const STORED: &str = r#"{
        "autoUpdate": {"currentVersion": "1", "lastCheckTime": "2026-11-26T21:00:00Z", "rollbackCount": 0},
        "backup": {"lastChecksum": "sha256:ab", "lastDuration": "1.5s", "lastKey": "k", "lastSize": 10,
                   "lastTime": "2026-11-26T21:00:00Z"},
        "conditions": [{"lastTransitionTime": "2026-11-26T21:00:00Z", "message": "ok", "reason": "GatewayReady",
                        "status": "True", "type": "Ready"}],
        "gatewayEndpoint": "seed-01.api-check.svc:18789",
        "observedGeneration": 1,
        "phase": "Running",
        "skills": [{"name": "weather", "sha256": "ab", "version": "1.0.0"}],
        "supervisor": {"gatewayHealthy": true,
                       "modelPulls": [{"completedBytes": 100, "model": "llama3.2", "state": "Running", "totalBytes": 1000}],
                       "steps": [{"durationMs": 12, "name": "skills", "skipped": true, "state": "Succeeded"}],
                       "versions": {"openclaw": "2026.9.6"}}
    }"#;

    #[test]
    fn stored_status_round_trips() -> Result<(), serde_json::Error> {
        let stored: serde_json::Value = serde_json::from_str(STORED)?;
        let status: OpenClawInstanceStatus = serde_json::from_value(stored.clone())?;
        assert_eq!(status.phase, Some(Phase::Running));
        assert_eq!(status.conditions[0].type_, condition::READY);
        assert_eq!(
            status.supervisor.as_ref().map(|s| s.steps[0].skipped),
            Some(true)
        );
        assert_eq!(serde_json::to_value(&status)?, stored);
        Ok(())
    }

    #[test]
    fn phases_print_as_serialized() -> Result<(), serde_json::Error> {
        for phase in Phase::ALL {
            assert_eq!(serde_json::to_value(phase)?, phase.to_string());
        }
        Ok(())
    }
}
