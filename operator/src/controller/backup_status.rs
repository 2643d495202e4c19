//! The backup part of an instance's status, from the `backup` section of its supervisor's
//! `/status`: `status.backup`, `status.restoredFrom`, and the `BackupComplete` and
//! `RestoreComplete` conditions. Pure.
//!
//! The supervisor forgets its records when it restarts; what the instance status said before is
//! kept until the supervisor reports something newer.

use k8s_openapi::{
    apimachinery::pkg::apis::meta::v1::{Condition, Time},
    jiff::Timestamp,
};
use openclaw_api::{
    backup::{BackupReport, BackupState, RestoreState},
    instance::{
        OpenClawInstanceStatus,
        status::{BackupStatus, condition},
    },
};

use super::conditions::cond;

/// `status.backup`: the last successful backup, or what the status said before.
pub fn status(previous: Option<&BackupStatus>, report: &BackupReport) -> Option<BackupStatus> {
    let Some(last) = &report.last_success else {
        return previous.cloned();
    };
    Some(BackupStatus {
        last_key: last.key.clone(),
        last_size: i64::try_from(last.size_bytes).ok(),
        last_duration: last.duration_seconds.map(|s| format!("{s:.1}s")),
        last_checksum: last.checksum.clone(),
        last_time: last
            .finished_at
            .as_deref()
            .and_then(|t| t.parse::<Timestamp>().ok())
            .map(Time),
        last_request: previous.and_then(|p| p.last_request.clone()),
        last_drill: previous.and_then(|p| p.last_drill.clone()),
    })
}

/// `status.restoredFrom`: the source once a restore succeeded.
pub fn restored_from(previous: &OpenClawInstanceStatus, report: &BackupReport) -> Option<String> {
    match &report.restore {
        Some(restore) if restore.state == RestoreState::Succeeded => Some(restore.source.clone()),
        _ => previous.restored_from.clone(),
    }
}

/// The `BackupComplete` and `RestoreComplete` conditions.
pub fn conditions(previous: &OpenClawInstanceStatus, report: &BackupReport) -> Vec<Condition> {
    let kept = |type_: &str| {
        previous
            .conditions
            .iter()
            .find(|c| c.type_ == type_)
            .cloned()
    };
    let mut out = Vec::new();
    let backup = match &report.last {
        Some(last) if last.state == BackupState::Succeeded => Some(cond(
            condition::BACKUP_COMPLETE,
            true,
            "BackupSucceeded",
            format!(
                "backup {} ({} bytes, {} files) finished at {}",
                last.key.as_deref().unwrap_or("?"),
                last.size_bytes,
                last.files,
                last.finished_at.as_deref().unwrap_or("?")
            ),
        )),
        Some(last) if last.state == BackupState::Failed => Some(cond(
            condition::BACKUP_COMPLETE,
            false,
            "BackupFailed",
            format!(
                "backup {} ({:?}) failed: {}",
                last.id,
                last.reason,
                last.error.as_deref().unwrap_or("unknown error")
            ),
        )),
        _ => kept(condition::BACKUP_COMPLETE),
    };
    out.extend(backup);
    let restore = match &report.restore {
        Some(r) if r.state == RestoreState::Succeeded => Some(cond(
            condition::RESTORE_COMPLETE,
            true,
            "Restored",
            format!(
                "restored {} files ({} bytes) from {}{}",
                r.files,
                r.bytes,
                r.source,
                if r.verified_manifest {
                    ", every file checked against its manifest"
                } else {
                    " (no manifest: archive structure and compression checksums checked)"
                }
            ),
        )),
        Some(r) if r.state == RestoreState::Failed => Some(cond(
            condition::RESTORE_COMPLETE,
            false,
            "RestoreFailed",
            format!(
                "restore from {} refused, the workspace was left as it was: {}",
                r.source,
                r.error.as_deref().unwrap_or("unknown error")
            ),
        )),
        Some(r) if r.state == RestoreState::Running => Some(cond(
            condition::RESTORE_COMPLETE,
            false,
            "Restoring",
            format!("downloading and verifying {}", r.source),
        )),
        Some(r) if previous.restored_from.as_deref() != Some(r.source.as_str()) => Some(cond(
            condition::RESTORE_COMPLETE,
            false,
            "WorkspaceNotEmpty",
            format!(
                "not restored from {}: the workspace already holds data and a restore never \
                 overwrites it",
                r.source
            ),
        )),
        _ => kept(condition::RESTORE_COMPLETE),
    };
    out.extend(restore);
    out
}

#[cfg(test)]
mod tests {
    use openclaw_api::backup::{BackupReason, BackupRecord, RestoreRecord};

    use super::*;

    fn record(state: BackupState) -> BackupRecord {
        BackupRecord {
            id: "schedule-1".into(),
            reason: BackupReason::Schedule,
            state,
            key: Some("openclaw/a/20261126T030000Z.tar.zst".into()),
            size_bytes: 2048,
            files: 3,
            checksum: Some("sha256:ab".into()),
            started_at: "2026-11-26T03:00:00Z".into(),
            finished_at: Some("2026-11-26T03:00:02Z".into()),
            duration_seconds: Some(2.04),
            error: (state == BackupState::Failed).then(|| "S3 unreachable".into()),
        }
    }

    #[test]
    fn last_success_fills_status_backup_and_keeps_the_served_request() {
        let previous = BackupStatus {
            last_request: Some("1".into()),
            ..BackupStatus::default()
        };
        let report = BackupReport {
            last_success: Some(record(BackupState::Succeeded)),
            ..BackupReport::default()
        };
        let status = status(Some(&previous), &report).unwrap_or_default();
        assert_eq!(
            status.last_key.as_deref(),
            Some("openclaw/a/20261126T030000Z.tar.zst")
        );
        assert_eq!(status.last_size, Some(2048));
        assert_eq!(status.last_duration.as_deref(), Some("2.0s"));
        assert_eq!(status.last_request.as_deref(), Some("1"));
        assert!(status.last_time.is_some());
        assert_eq!(
            super::status(Some(&previous), &BackupReport::default()),
            Some(previous)
        );
    }

    #[test]
    fn failed_backup_and_restore_say_why() {
        let report = BackupReport {
            last: Some(record(BackupState::Failed)),
            restore: Some(RestoreRecord {
                source: "s3://b/k.tar.zst".into(),
                state: RestoreState::Failed,
                files: 0,
                bytes: 0,
                verified_manifest: false,
                finished_at: None,
                error: Some("checksum mismatch for memory/main.sqlite".into()),
                replace: None,
            }),
            ..BackupReport::default()
        };
        let conditions = conditions(&OpenClawInstanceStatus::default(), &report);
        let find = |t: &str| {
            conditions
                .iter()
                .find(|c| c.type_ == t)
                .cloned()
                .unwrap_or_else(|| panic!("no {t}"))
        };
        let backup = find(condition::BACKUP_COMPLETE);
        assert_eq!(backup.status, "False");
        assert!(
            backup.message.contains("S3 unreachable"),
            "{}",
            backup.message
        );
        let restore = find(condition::RESTORE_COMPLETE);
        assert_eq!(restore.status, "False");
        assert!(restore.message.contains("memory/main.sqlite"));
    }

    #[test]
    fn a_restarted_pod_keeps_what_was_restored() {
        let source = "s3://b/k.tar.zst";
        let done = BackupReport {
            restore: Some(RestoreRecord {
                source: source.into(),
                state: RestoreState::Succeeded,
                files: 4,
                bytes: 100,
                verified_manifest: true,
                finished_at: None,
                error: None,
                replace: None,
            }),
            ..BackupReport::default()
        };
        let mut previous = OpenClawInstanceStatus::default();
        previous.conditions = conditions(&previous, &done);
        previous.restored_from = restored_from(&previous, &done);
        assert_eq!(previous.restored_from.as_deref(), Some(source));
        // After a restart the workspace is not empty: the restore is skipped, still complete.
        let mut skipped = done.clone();
        if let Some(r) = skipped.restore.as_mut() {
            r.state = RestoreState::SkippedNotEmpty;
        }
        let again = conditions(&previous, &skipped);
        assert_eq!(again.len(), 1);
        assert_eq!(again[0].status, "True");
        assert_eq!(restored_from(&previous, &skipped).as_deref(), Some(source));
    }
}
