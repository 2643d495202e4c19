//! The backup wire contract between the operator and the supervisor: the body of
//! `POST /backup`, the `backup` section of `/status`, and how snapshots are named in a bucket.
//!
//! One snapshot is two objects under the instance's prefix (`<prefix>/<namespace>/<name>/`):
//! `<id>.tar.zst`, the archive, and `<id>.manifest.json`, written only after the archive upload
//! completed. A snapshot without its manifest is not a snapshot (an upload that died half way),
//! so listings, restores by name and retention count only archives with a manifest.

use serde::{Deserialize, Serialize};

/// Finalizer the operator puts on an instance that has a backup target, so that deleting it
/// takes a final backup first.
pub const BACKUP_FINALIZER: &str = "openclaw.rocks/backup";

/// Annotation that deletes an instance without its final backup when set to `"true"`; the
/// operator records the skip in an Event.
pub const SKIP_BACKUP_ANNOTATION: &str = "openclaw.rocks/skip-backup";

/// Annotation that asks for a backup now: each new value is served once (the last served value
/// is `status.backup.lastRequest`), for example
/// `kubectl annotate claw my-agent openclaw.rocks/backup-now="$(date +%s)" --overwrite`.
pub const BACKUP_NOW_ANNOTATION: &str = "openclaw.rocks/backup-now";

/// Path of the supervisor's backup endpoint on its status port.
pub const BACKUP_PATH: &str = "/backup";

/// Extension of a snapshot's archive: a tar stream compressed with zstd.
pub const ARCHIVE_SUFFIX: &str = ".tar.zst";

/// Extension of a snapshot's manifest.
pub const MANIFEST_SUFFIX: &str = ".manifest.json";

/// Version of the manifest format this crate reads and writes.
pub const MANIFEST_VERSION: u32 = 1;

/// Why a backup is taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum BackupReason {
    /// `spec.backup.schedule` came due.
    Schedule,
    /// Someone asked through the `openclaw.rocks/backup-now` annotation.
    Request,
    /// The instance is being deleted; the last chance to save the workspace.
    Deletion,
    /// An auto-update is about to replace the image.
    Update,
}

/// Body of `POST /backup`.
///
/// The request is idempotent by `id`: asking again with the id of a backup that runs or ran
/// answers that backup instead of starting another, so the operator can retry freely.
///
/// Answers:
/// - `202 Accepted` with a [`BackupRecord`] in state `Running`: started (or already running with
///   this id);
/// - `200 OK` with the finished [`BackupRecord`] of this id (succeeded or failed);
/// - `409 Conflict` with the running [`BackupRecord`] when another backup runs: ask again later;
/// - `400` for a malformed body, `401` without the bearer token, `412 Precondition Failed` when
///   the plan names no S3 target, each with `{"error": "..."}`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BackupRequest {
    /// Caller-chosen identifier, 1 to 128 characters of `[A-Za-z0-9._-]`.
    pub id: String,
    /// Why.
    pub reason: BackupReason,
}

/// State of one backup.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
pub enum BackupState {
    /// Streaming to S3.
    Running,
    /// Archive and manifest are in the bucket.
    Succeeded,
    /// Nothing was kept (a multipart upload is aborted); `error` says why.
    Failed,
}

/// One backup, running or finished.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BackupRecord {
    /// The request id (`schedule-<time>` for scheduled backups).
    pub id: String,
    /// Why it was taken.
    pub reason: BackupReason,
    /// Where it stands.
    pub state: BackupState,
    /// Object key of the archive (`<prefix><snapshot>.tar.zst`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// Bytes of the compressed archive uploaded so far, or in all once finished.
    #[serde(default)]
    pub size_bytes: u64,
    /// Files archived so far.
    #[serde(default)]
    pub files: u64,
    /// `sha256:<hex>` of the archive, once finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checksum: Option<String>,
    /// RFC 3339 start time.
    pub started_at: String,
    /// RFC 3339 end time, once finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<String>,
    /// Seconds it took, once finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_seconds: Option<f64>,
    /// Why it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// State of the restore from `spec.restoreFrom`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
pub enum RestoreState {
    /// Downloading and verifying into the staging directory.
    Running,
    /// Verified and switched over into the workspace.
    Succeeded,
    /// Refused or failed; the workspace was left as it was.
    Failed,
    /// Not run: the workspace already holds data (a restore never overwrites it).
    SkippedNotEmpty,
}

/// What the restore did.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RestoreRecord {
    /// `s3://<bucket>/<key>` read.
    pub source: String,
    /// Where it stands.
    pub state: RestoreState,
    /// Files restored.
    #[serde(default)]
    pub files: u64,
    /// Bytes restored (uncompressed).
    #[serde(default)]
    pub bytes: u64,
    /// Whether a manifest was found and every file's sha256 checked against it (archives made by
    /// other tools have none; their structure and compression checksums are still checked).
    #[serde(default)]
    pub verified_manifest: bool,
    /// RFC 3339 end time, once finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<String>,
    /// Why it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The rollback id of a restore that replaced the workspace (the plan's `replace`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replace: Option<String>,
}

/// The `backup` section of the supervisor's `/status`.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", default)]
pub struct BackupReport {
    /// An S3 target is configured (backups possible).
    pub enabled: bool,
    /// The backup running now.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current: Option<BackupRecord>,
    /// The last finished backup, succeeded or failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last: Option<BackupRecord>,
    /// The last backup that succeeded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_success: Option<BackupRecord>,
    /// RFC 3339 time of the next scheduled backup.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_scheduled: Option<String>,
    /// The restore, when the plan asked for one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restore: Option<RestoreRecord>,
    /// The last finished restore drill.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_drill: Option<DrillRecord>,
    /// RFC 3339 time of the next restore drill.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_drill: Option<String>,
}

/// How a restore drill ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema)]
pub enum DrillResult {
    /// The newest snapshot restored, every checksum matched, every database passed
    /// `PRAGMA integrity_check`.
    Passed,
    /// Something did not: `error` says what.
    Failed,
    /// No complete snapshot to drill yet.
    NoSnapshot,
}

/// One restore drill: the newest snapshot restored into scratch space, checked, and deleted.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DrillRecord {
    /// How it ended.
    pub result: DrillResult,
    /// Object key of the archive drilled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// Files restored and checked against the manifest.
    #[serde(default)]
    pub files: u64,
    /// SQLite databases that passed `PRAGMA integrity_check`.
    #[serde(default)]
    pub databases: u64,
    /// RFC 3339 end time.
    pub finished_at: String,
    /// Seconds it took.
    #[serde(default)]
    pub duration_seconds: f64,
    /// Why it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// One file of a snapshot, as listed in its manifest.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ManifestEntry {
    /// Path relative to the workspace, `/`-separated.
    pub path: String,
    /// `file`, `dir` or `symlink`.
    pub kind: EntryKind,
    /// Size in bytes (0 for directories and links).
    pub size: u64,
    /// Unix permission bits.
    pub mode: u32,
    /// Hex sha256 of the content (files only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// Target of a symlink.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
}

/// Kind of a manifest entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EntryKind {
    /// A regular file (SQLite databases are captured through the online backup API).
    File,
    /// A directory.
    Dir,
    /// A symbolic link.
    Symlink,
}

/// The manifest written next to each archive after it completed.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    /// [`MANIFEST_VERSION`].
    pub version: u32,
    /// `<namespace>/<name>` of the instance backed up.
    pub instance: String,
    /// Version of the supervisor that wrote it.
    pub tool_version: String,
    /// RFC 3339 time the archive completed.
    pub created_at: String,
    /// Object key of the archive.
    pub archive_key: String,
    /// `sha256:<hex>` of the compressed archive.
    pub archive_checksum: String,
    /// Size of the compressed archive.
    pub archive_size: u64,
    /// Every entry, in archive order.
    pub entries: Vec<ManifestEntry>,
}

/// The snapshot id of a backup finished at `unix_seconds`: `YYYYMMDDTHHMMSSZ`, which sorts
/// like time.
pub fn snapshot_id(unix_seconds: i64) -> String {
    let days = unix_seconds.div_euclid(86_400);
    let secs = unix_seconds.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z",
        secs / 3600,
        (secs % 3600) / 60,
        secs % 60
    )
}

/// Days since 1970-01-01 to a civil date (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (
        y,
        u32::try_from(m).unwrap_or(1),
        u32::try_from(d).unwrap_or(1),
    )
}

/// The snapshot id of an archive or manifest key under `prefix`, `None` for other objects.
pub fn snapshot_of<'a>(prefix: &str, key: &'a str) -> Option<(&'a str, SnapshotPart)> {
    let name = key.strip_prefix(prefix)?;
    if name.contains('/') {
        return None;
    }
    if let Some(id) = name.strip_suffix(ARCHIVE_SUFFIX) {
        return Some((id, SnapshotPart::Archive));
    }
    name.strip_suffix(MANIFEST_SUFFIX)
        .map(|id| (id, SnapshotPart::Manifest))
}

/// Which object of a snapshot a key is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SnapshotPart {
    /// `<id>.tar.zst`.
    Archive,
    /// `<id>.manifest.json`.
    Manifest,
}

/// The manifest key of an archive key: `x.tar.zst` → `x.manifest.json`; other archives
/// (`.tar.gz`, `.tgz`, `.tar`) map the same way, without their extension.
pub fn manifest_key(archive_key: &str) -> String {
    let stem = [ARCHIVE_SUFFIX, ".tar.gz", ".tgz", ".tar"]
        .iter()
        .find_map(|suffix| archive_key.strip_suffix(suffix))
        .unwrap_or(archive_key);
    format!("{stem}{MANIFEST_SUFFIX}")
}

/// Whether `id` may name a backup request.
pub fn valid_request_id(id: &str) -> bool {
    (1..=128).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_ids_sort_like_time() {
        assert_eq!(snapshot_id(0), "19700101T000000Z");
        assert_eq!(snapshot_id(1_795_650_123), "20261125T234203Z");
        assert_eq!(snapshot_id(951_782_400), "20000229T000000Z");
        assert!(snapshot_id(1_795_650_123) < snapshot_id(1_795_650_124));
    }

    #[test]
    fn keys_map_to_snapshots() {
        let prefix = "team/openclaw/a/";
        assert_eq!(
            snapshot_of(prefix, "team/openclaw/a/20261125T234203Z.tar.zst"),
            Some(("20261125T234203Z", SnapshotPart::Archive))
        );
        assert_eq!(
            snapshot_of(prefix, "team/openclaw/a/20261125T234203Z.manifest.json"),
            Some(("20261125T234203Z", SnapshotPart::Manifest))
        );
        assert_eq!(snapshot_of(prefix, "team/openclaw/ab/x.tar.zst"), None);
        assert_eq!(snapshot_of(prefix, "team/openclaw/a/sub/x.tar.zst"), None);
        assert_eq!(manifest_key("p/x.tar.zst"), "p/x.manifest.json");
        assert_eq!(
            manifest_key("path/to/backup.tar.gz"),
            "path/to/backup.manifest.json"
        );
    }

    #[test]
    fn request_ids_are_restricted() {
        assert!(valid_request_id("deletion-6f1c-22"));
        assert!(!valid_request_id(""));
        assert!(!valid_request_id("a/b"));
        assert!(!valid_request_id(&"x".repeat(129)));
    }

    #[test]
    fn records_round_trip_in_camel_case() {
        let record = BackupRecord {
            id: "r1".into(),
            reason: BackupReason::Deletion,
            state: BackupState::Succeeded,
            key: Some("k.tar.zst".into()),
            size_bytes: 10,
            files: 2,
            checksum: Some("sha256:00".into()),
            started_at: "2026-11-26T00:00:00Z".into(),
            finished_at: Some("2026-11-26T00:00:01Z".into()),
            duration_seconds: Some(1.0),
            error: None,
        };
        let json = serde_json::to_value(&record).unwrap();
        assert_eq!(json["reason"], "deletion");
        assert_eq!(json["sizeBytes"], 10);
        assert_eq!(json["state"], "Succeeded");
        let back: BackupRecord = serde_json::from_value(json).unwrap();
        assert_eq!(back, record);
    }
}
