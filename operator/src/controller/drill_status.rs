//! The restore-drill part of an instance's status: the `BackupRestorable` condition from the
//! supervisor's last drill, and which drill deserves a Warning Event. Pure.
//!
//! The supervisor forgets its last drill when it restarts; the condition then stays as it was
//! until the next drill reports.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use openclaw_api::{
    backup::{BackupReport, DrillRecord, DrillResult},
    instance::{OpenClawInstanceStatus, status::condition},
};

use super::conditions::cond;

/// The `BackupRestorable` condition, when a drill ran (now or before).
pub fn condition(previous: &OpenClawInstanceStatus, report: &BackupReport) -> Option<Condition> {
    let Some(drill) = &report.last_drill else {
        return previous
            .conditions
            .iter()
            .find(|c| c.type_ == condition::BACKUP_RESTORABLE)
            .cloned();
    };
    let key = drill.key.as_deref().unwrap_or("?");
    Some(match drill.result {
        DrillResult::Passed => cond(
            condition::BACKUP_RESTORABLE,
            true,
            "DrillPassed",
            format!(
                "restore drill of {key} at {}: {} files matched the manifest, {} SQLite \
                 databases passed integrity_check",
                drill.finished_at, drill.files, drill.databases
            ),
        ),
        DrillResult::NoSnapshot => cond(
            condition::BACKUP_RESTORABLE,
            false,
            "NoSnapshot",
            format!(
                "restore drill at {}: no complete snapshot to restore yet",
                drill.finished_at
            ),
        ),
        DrillResult::Failed => cond(
            condition::BACKUP_RESTORABLE,
            false,
            "DrillFailed",
            format!(
                "restore drill of {key} at {} failed: {}",
                drill.finished_at,
                drill.error.as_deref().unwrap_or("unknown error")
            ),
        ),
    })
}

/// The drill of `next` that failed and was not in `previous`: one Warning Event per failed
/// drill, never one per resync.
pub fn newly_failed<'a>(
    previous: &OpenClawInstanceStatus,
    next: &'a OpenClawInstanceStatus,
) -> Option<&'a DrillRecord> {
    let drill = next.backup.as_ref()?.last_drill.as_ref()?;
    let before = previous.backup.as_ref().and_then(|b| b.last_drill.as_ref());
    (drill.result == DrillResult::Failed && before != Some(drill)).then_some(drill)
}

#[cfg(test)]
mod tests {
    use openclaw_api::instance::status::BackupStatus;

    use super::*;

    fn drill(result: DrillResult, at: &str) -> DrillRecord {
        DrillRecord {
            result,
            key: Some("openclaw/a/20261126T030000Z.tar.zst".into()),
            files: 12,
            databases: 1,
            finished_at: at.into(),
            duration_seconds: 0.5,
            error: (result == DrillResult::Failed)
                .then(|| "checksum mismatch for state/openclaw.sqlite".into()),
        }
    }

    fn with(drill: DrillRecord) -> OpenClawInstanceStatus {
        OpenClawInstanceStatus {
            backup: Some(BackupStatus {
                last_drill: Some(drill),
                ..BackupStatus::default()
            }),
            ..OpenClawInstanceStatus::default()
        }
    }

    #[test]
    fn the_condition_follows_the_last_drill_and_survives_a_restart() {
        let none = OpenClawInstanceStatus::default();
        let passed = BackupReport {
            last_drill: Some(drill(DrillResult::Passed, "2026-11-26T04:30:01Z")),
            ..BackupReport::default()
        };
        let ok = condition(&none, &passed).unwrap_or_else(|| panic!("a condition"));
        assert_eq!(
            (ok.status.as_str(), ok.reason.as_str()),
            ("True", "DrillPassed")
        );
        assert!(ok.message.contains("12 files"), "{}", ok.message);

        let failed = BackupReport {
            last_drill: Some(drill(DrillResult::Failed, "2026-11-27T04:30:01Z")),
            ..BackupReport::default()
        };
        let bad = condition(&none, &failed).unwrap_or_else(|| panic!("a condition"));
        assert_eq!(bad.status, "False");
        assert!(
            bad.message.contains("state/openclaw.sqlite"),
            "{}",
            bad.message
        );

        // A restarted supervisor reports no drill: the condition stays.
        let mut previous = OpenClawInstanceStatus::default();
        previous.conditions.push(bad.clone());
        assert_eq!(condition(&previous, &BackupReport::default()), Some(bad));
        assert_eq!(condition(&none, &BackupReport::default()), None);
    }

    #[test]
    fn a_failed_drill_is_announced_once() {
        let first = with(drill(DrillResult::Failed, "2026-11-27T04:30:01Z"));
        let none = OpenClawInstanceStatus::default();
        assert!(newly_failed(&none, &first).is_some());
        assert!(
            newly_failed(&first, &first).is_none(),
            "not again on resync"
        );
        let next = with(drill(DrillResult::Failed, "2026-11-28T04:30:01Z"));
        assert!(
            newly_failed(&first, &next).is_some(),
            "the next failed drill is"
        );
        let passed = with(drill(DrillResult::Passed, "2026-11-29T04:30:01Z"));
        assert!(newly_failed(&next, &passed).is_none());
    }
}
