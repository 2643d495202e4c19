//! `spec.backup`: streamed tar+zstd backups of the workspace to S3-compatible storage, taken
//! by the supervisor in the pod on a schedule, before updates and before deletion.

use kube::KubeSchema;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::SecretRef;
use crate::schema::{DURATION, duration_between};

/// Backups kept unless told otherwise.
pub const DEFAULT_RETENTION: i32 = 7;

/// Time budget of one backup unless told otherwise.
pub const DEFAULT_BACKUP_TIMEOUT: &str = "30m";

/// zstd level of the archives unless told otherwise (the `zstd` command line's default).
pub const DEFAULT_COMPRESSION_LEVEL: i32 = 3;

/// Keys the credentials Secret may hold; the supervisor reads them and never passes them on to
/// the gateway.
pub const S3_CREDENTIAL_KEYS: [&str; 3] = [
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
];

/// Backups of the workspace. Without a schedule, backups are still taken before an auto-update
/// and when the instance is deleted, as long as an S3 target is known (here or in
/// `OpenClawClusterDefaults`).
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct BackupSpec {
    /// Cron schedule of periodic backups, five fields in the pod's time zone (UTC), for example
    /// `0 3 * * *` for every night at 03:00. No periodic backups when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        length(max = 128),
        regex(pattern = r"^([0-9A-Za-z*/,?-]+ +){4}[0-9A-Za-z*/,?-]+$")
    )]
    pub schedule: Option<String>,

    /// How many backups of this instance to keep; older ones are deleted after each successful
    /// backup. 1 to 1000, defaults to 7.
    #[serde(default = "default_retention")]
    #[schemars(range(min = 1, max = 1000))]
    pub retention: i32,

    /// Where backups go. Unset fields fall back, one by one, to `OpenClawClusterDefaults`
    /// `spec.backup.s3`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub s3: Option<S3Spec>,

    /// Time budget of one backup, a duration between 1m and 24h; defaults to 30m. A deletion
    /// waits at most this long for its final backup.
    #[serde(default = "default_timeout")]
    #[schemars(length(max = 32), regex(pattern = DURATION))]
    #[x_kube(validation = Rule::new(duration_between("1m", "24h"))
        .message("spec.backup.timeout: must be between 1m and 24h"))]
    pub timeout: String,

    /// zstd level of the archives, 1 (fastest) to 19 (smallest); defaults to 3. The README's
    /// benchmark gives the speed and size at each level.
    #[serde(default = "default_compression_level")]
    #[schemars(range(min = 1, max = 19))]
    pub compression_level: i32,

    /// Restore drills: the newest snapshot restored into scratch space in the pod, checked and
    /// thrown away. Off when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drill: Option<DrillSpec>,
}

impl Default for BackupSpec {
    fn default() -> Self {
        Self {
            schedule: None,
            retention: DEFAULT_RETENTION,
            s3: None,
            timeout: default_timeout(),
            compression_level: DEFAULT_COMPRESSION_LEVEL,
            drill: None,
        }
    }
}

/// `spec.backup.drill`: proves on a schedule that the newest snapshot restores. The supervisor
/// downloads it into a scratch directory of the pod (never the workspace), checks every file
/// against the manifest's sha256, runs `PRAGMA integrity_check` on each SQLite database
/// (opened read-only), then deletes the copy. The result is `status.backup.lastDrill` and the
/// `BackupRestorable` condition; a failed drill also emits a Warning Event.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DrillSpec {
    /// Cron schedule of the drills, five fields in UTC, for example `30 4 * * 0` for Sundays
    /// at 04:30.
    #[schemars(
        length(max = 128),
        regex(pattern = r"^([0-9A-Za-z*/,?-]+ +){4}[0-9A-Za-z*/,?-]+$")
    )]
    pub schedule: String,
}

/// An S3-compatible bucket (AWS S3, MinIO, SeaweedFS, Ceph RGW, GCS interoperability).
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct S3Spec {
    /// Endpoint URL, for example `https://s3.eu-west-3.amazonaws.com` or
    /// `http://minio.storage:9000`; AWS's regional endpoint when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 2048), regex(pattern = r"^https?://[^\s]+$"))]
    pub endpoint: Option<String>,

    /// Bucket name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        length(min = 3, max = 63),
        regex(pattern = r"^[a-z0-9][a-z0-9.-]*[a-z0-9]$")
    )]
    pub bucket: Option<String>,

    /// Region, for example `eu-west-3`; `us-east-1` when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 64))]
    pub region: Option<String>,

    /// Key prefix under which this instance's backups go; `<namespace>/<name>/` is always
    /// appended, so instances sharing a bucket never overwrite each other.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 512), regex(pattern = r"^[^\s]*$"))]
    pub prefix: Option<String>,

    /// Address the bucket in the path (`endpoint/bucket/key`) rather than as a virtual host; most
    /// self-hosted stores need true. Defaults to false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path_style: Option<bool>,

    /// Secret in the instance's namespace with the keys `AWS_ACCESS_KEY_ID` and
    /// `AWS_SECRET_ACCESS_KEY` (and optionally `AWS_SESSION_TOKEN`). Only the supervisor reads
    /// them; the agent never sees them. Leave unset to use workload identity (IRSA).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials_secret_ref: Option<SecretRef>,
}

impl S3Spec {
    /// This target with every unset field taken from `fallback` (the cluster defaults).
    pub fn or(&self, fallback: &S3Spec) -> S3Spec {
        S3Spec {
            endpoint: self.endpoint.clone().or_else(|| fallback.endpoint.clone()),
            bucket: self.bucket.clone().or_else(|| fallback.bucket.clone()),
            region: self.region.clone().or_else(|| fallback.region.clone()),
            prefix: self.prefix.clone().or_else(|| fallback.prefix.clone()),
            path_style: self.path_style.or(fallback.path_style),
            credentials_secret_ref: self
                .credentials_secret_ref
                .clone()
                .or_else(|| fallback.credentials_secret_ref.clone()),
        }
    }
}

fn default_retention() -> i32 {
    DEFAULT_RETENTION
}

fn default_compression_level() -> i32 {
    DEFAULT_COMPRESSION_LEVEL
}

fn default_timeout() -> String {
    DEFAULT_BACKUP_TIMEOUT.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_target_fills_unset_fields_only() {
        let cluster = S3Spec {
            endpoint: Some("http://seaweed.storage:8333".into()),
            bucket: Some("agents".into()),
            path_style: Some(true),
            credentials_secret_ref: Some(SecretRef {
                name: "backup-s3".into(),
            }),
            ..S3Spec::default()
        };
        let instance = S3Spec {
            bucket: Some("team-a".into()),
            path_style: Some(false),
            ..S3Spec::default()
        };
        let merged = instance.or(&cluster);
        assert_eq!(merged.bucket.as_deref(), Some("team-a"));
        assert_eq!(
            merged.endpoint.as_deref(),
            Some("http://seaweed.storage:8333")
        );
        assert_eq!(merged.path_style, Some(false));
        assert_eq!(
            merged.credentials_secret_ref,
            cluster.credentials_secret_ref
        );
    }
}
