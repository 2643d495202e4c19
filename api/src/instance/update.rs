//! `spec.autoUpdate`: following new OpenClaw releases in the OCI registry, with a backup first
//! and a rollback when the new version does not become healthy.

use kube::KubeSchema;
use serde::{Deserialize, Serialize};

use crate::schema::{DURATION, duration_between, yes};

/// Registry polling interval unless told otherwise.
pub const DEFAULT_CHECK_INTERVAL: &str = "24h";

/// Health-check budget of an update unless told otherwise.
pub const DEFAULT_HEALTH_CHECK_TIMEOUT: &str = "10m";

/// Annotation that resumes a paused auto-update when it takes a new value, e.g.
/// `kubectl annotate openclawinstance my-agent openclaw.rocks/auto-update-resume="$(date +%s)" --overwrite`.
pub const RESUME_ANNOTATION: &str = "openclaw.rocks/auto-update-resume";

/// Consecutive failed updates after which auto-update pauses itself.
pub const MAX_CONSECUTIVE_ROLLBACKS: i32 = 3;

/// Automatic updates of the OpenClaw image.
///
/// When a newer stable release appears in the image's repository the operator (1) asks the
/// supervisor for a backup of the workspace, (2) rolls the pod onto the new version, (3) waits up
/// to `healthCheckTimeout` for it to become ready and (4) otherwise rolls back to the previous
/// version (and its backup). After 3 consecutive rollbacks it pauses and sets a condition. The
/// spec is never rewritten: progress lives in `status.autoUpdate`. A digest-pinned image
/// (`spec.image.digest`) is never updated.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct AutoUpdateSpec {
    /// Follow new releases. Defaults to false.
    #[serde(default)]
    pub enabled: bool,

    /// How often the registry is checked for a new release, a duration between 1m and 168h
    /// such as `12h` or `1h30m`. Defaults to `24h`.
    #[serde(default = "default_check_interval")]
    #[schemars(length(max = 32), regex(pattern = DURATION))]
    #[x_kube(validation = Rule::new(duration_between("1m", "168h"))
        .message("spec.autoUpdate.checkInterval: must be between 1m and 168h"))]
    pub check_interval: String,

    /// Back the workspace up to S3 before updating, and restore that backup on rollback.
    /// Defaults to true; needs an S3 target (`spec.backup.s3` or the cluster defaults).
    #[serde(default = "yes")]
    pub backup_before_update: bool,

    /// Roll back to the previous version when the new one is not ready within
    /// `healthCheckTimeout`. Defaults to true.
    #[serde(default = "yes")]
    pub rollback_on_failure: bool,

    /// How long a new version has to become ready before it counts as failed, a duration between
    /// 30s and 2h. Defaults to `10m`.
    #[serde(default = "default_health_check_timeout")]
    #[schemars(length(max = 32), regex(pattern = DURATION))]
    #[x_kube(validation = Rule::new(duration_between("30s", "2h"))
        .message("spec.autoUpdate.healthCheckTimeout: must be between 30s and 2h"))]
    pub health_check_timeout: String,
}

impl Default for AutoUpdateSpec {
    fn default() -> Self {
        Self {
            enabled: false,
            check_interval: default_check_interval(),
            backup_before_update: true,
            rollback_on_failure: true,
            health_check_timeout: default_health_check_timeout(),
        }
    }
}

fn default_check_interval() -> String {
    DEFAULT_CHECK_INTERVAL.to_owned()
}

fn default_health_check_timeout() -> String {
    DEFAULT_HEALTH_CHECK_TIMEOUT.to_owned()
}
