//! One backup at a time: requests by id (idempotent, the last [`REMEMBERED`] finished ones
//! remembered), scheduled backups from the plan's cron, retention after each success, and the
//! board's `backup` report kept current.

use std::{
    collections::VecDeque,
    future::Future,
    path::Path,
    sync::{Arc, Mutex, PoisonError},
    time::Instant,
};

use openclaw_api::{
    backup::{
        BackupReason, BackupRecord, BackupRequest, BackupState, DrillRecord, snapshot_id,
        valid_request_id,
    },
    plan::{DrillPlan, RuntimePlan},
};
use tokio::sync::watch;

use super::{
    drill,
    schedule::{every, now, rfc3339},
    snapshot::{self, Target},
};
use crate::board::Board;

/// Finished backups remembered by id, so a retried request answers the same record.
pub const REMEMBERED: usize = 32;

/// What a request gets.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    /// Started now (202).
    Started(BackupRecord),
    /// This id runs already (202).
    Running(BackupRecord),
    /// This id finished (200).
    Finished(BackupRecord),
    /// Another backup runs (409).
    Busy(BackupRecord),
    /// The plan names no S3 target (412).
    Disabled,
    /// The id is not acceptable (400).
    InvalidId,
}

/// What to do with a request, from what runs and what ran. Pure.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// Start a backup.
    Start,
    /// Answer with this record (running or finished with the same id).
    Same(BackupRecord),
    /// Another backup runs.
    Busy(BackupRecord),
}

/// Decides on a request for `id`.
pub fn decide<'a>(
    running: Option<&BackupRecord>,
    finished: impl IntoIterator<Item = &'a BackupRecord>,
    id: &str,
) -> Decision {
    if let Some(running) = running {
        return if running.id == id {
            Decision::Same(running.clone())
        } else {
            Decision::Busy(running.clone())
        };
    }
    finished
        .into_iter()
        .find(|r| r.id == id)
        .map_or(Decision::Start, |r| Decision::Same(r.clone()))
}

/// The snapshot id of a backup starting at `now_unix`, after one that used `last` (ids are
/// unique even for two backups within one second).
pub fn next_snapshot_id(now_unix: i64, last: Option<i64>) -> (String, i64) {
    let at = last.map_or(now_unix, |last| now_unix.max(last + 1));
    (snapshot_id(at), at)
}

#[derive(Debug, Default)]
struct Book {
    running: Option<BackupRecord>,
    finished: VecDeque<BackupRecord>,
    last_snapshot: Option<i64>,
}

#[derive(Debug)]
struct Inner {
    /// `None`: no backup in the plan; `Some(Err)`: configured but unusable (the reason).
    target: Option<Result<Target, String>>,
    schedule: Option<String>,
    drill: Option<DrillPlan>,
    board: Board,
    book: Mutex<Book>,
    busy: watch::Sender<bool>,
}

/// Handle on the backup manager; cheap to clone.
#[derive(Debug, Clone)]
pub struct BackupManager {
    inner: Arc<Inner>,
}

impl BackupManager {
    /// A manager without a target: every request answers [`Answer::Disabled`].
    pub fn disabled(board: Board) -> BackupManager {
        BackupManager::with_target(None, None, None, board)
    }

    /// The manager of `plan`'s backups of `workspace`, credentials read through `lookup`.
    pub fn from_plan(
        plan: &RuntimePlan,
        workspace: &Path,
        board: Board,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> BackupManager {
        let Some(backup) = &plan.backup else {
            return BackupManager::disabled(board);
        };
        let target = Target::from_plan(plan, backup, workspace, lookup).map_err(|e| {
            let reason = e.to_string();
            tracing::error!(%reason, "backups are configured but cannot run");
            reason
        });
        BackupManager::with_target(
            Some(target),
            backup.schedule.clone(),
            backup.drill.clone(),
            board,
        )
    }

    fn with_target(
        target: Option<Result<Target, String>>,
        schedule: Option<String>,
        drill: Option<DrillPlan>,
        board: Board,
    ) -> BackupManager {
        if target.is_some() {
            board.update(|s| s.backup.enabled = true);
        }
        BackupManager {
            inner: Arc::new(Inner {
                target,
                schedule,
                drill,
                board,
                book: Mutex::new(Book::default()),
                busy: watch::Sender::new(false),
            }),
        }
    }

    /// Answers a request, starting a backup when it is new and nothing runs.
    pub fn request(&self, request: &BackupRequest) -> Answer {
        if self.inner.target.is_none() {
            return Answer::Disabled;
        }
        if !valid_request_id(&request.id) {
            return Answer::InvalidId;
        }
        let mut book = self.inner.book();
        let record = match decide(book.running.as_ref(), &book.finished, &request.id) {
            Decision::Same(record) if record.state == BackupState::Running => {
                return Answer::Running(record);
            }
            Decision::Same(record) => return Answer::Finished(record),
            Decision::Busy(record) => return Answer::Busy(record),
            Decision::Start => {
                let started = now();
                let (id, at) = next_snapshot_id(started.timestamp(), book.last_snapshot);
                book.last_snapshot = Some(at);
                let key = self
                    .inner
                    .target
                    .as_ref()
                    .and_then(|t| t.as_ref().ok())
                    .map(|t| t.archive_key(&id));
                let record = BackupRecord {
                    id: request.id.clone(),
                    reason: request.reason,
                    state: BackupState::Running,
                    key,
                    size_bytes: 0,
                    files: 0,
                    checksum: None,
                    started_at: rfc3339(started),
                    finished_at: None,
                    duration_seconds: None,
                    error: None,
                };
                book.running = Some(record.clone());
                self.inner.busy.send_replace(true);
                self.inner.board.backup_started(record.clone());
                tokio::spawn(Arc::clone(&self.inner).run(record.clone(), id));
                record
            }
        };
        Answer::Started(record)
    }

    /// Resolves once no backup runs.
    pub async fn idle(&self) {
        let mut busy = self.inner.busy.subscribe();
        let _ = busy.wait_for(|busy| !*busy).await;
    }

    /// Starts the plan's scheduled backups until `shutdown` resolves; returns at once without
    /// a schedule.
    pub async fn run_schedule(&self, shutdown: impl Future<Output = ()>) {
        let Some(expression) = self.inner.schedule.clone() else {
            return;
        };
        let board = &self.inner.board;
        let announce = |next| board.update(|s| s.backup.next_scheduled = Some(rfc3339(next)));
        let act = |next: chrono::DateTime<chrono::Utc>| {
            let request = BackupRequest {
                id: format!("schedule-{}", snapshot_id(next.timestamp())),
                reason: BackupReason::Schedule,
            };
            if let Answer::Busy(running) = self.request(&request) {
                tracing::warn!(running = %running.id, "skipped a scheduled backup: another backup runs");
            }
            std::future::ready(())
        };
        every(&expression, "scheduled backups", shutdown, announce, act).await;
    }

    /// Runs one restore drill of the newest snapshot now (waiting for a running backup first)
    /// and records it on the board; `None` without a usable target or a drill in the plan.
    pub async fn drill_now(&self) -> Option<DrillRecord> {
        let plan = self.inner.drill.as_ref()?;
        let target = self.inner.target.as_ref()?.as_ref().ok()?;
        self.idle().await;
        let record = drill::run(target, Path::new(&plan.scratch_dir)).await;
        self.inner.board.drill_finished(record.clone());
        Some(record)
    }

    /// Runs the plan's restore drills on their schedule until `shutdown` resolves; returns at
    /// once without drills.
    pub async fn run_drills(&self, shutdown: impl Future<Output = ()>) {
        let Some(plan) = self.inner.drill.clone() else {
            return;
        };
        let board = &self.inner.board;
        let announce = |next| board.update(|s| s.backup.next_drill = Some(rfc3339(next)));
        let act = |_| async {
            self.drill_now().await;
        };
        every(&plan.schedule, "restore drills", shutdown, announce, act).await;
    }
}

impl Inner {
    fn book(&self) -> std::sync::MutexGuard<'_, Book> {
        self.book.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs the backup of `record` as snapshot `id`, then records how it ended.
    async fn run(self: Arc<Inner>, mut record: BackupRecord, id: String) {
        let started = Instant::now();
        tracing::info!(id = %record.id, reason = ?record.reason, "backup started");
        let outcome = match &self.target {
            Some(Ok(target)) => {
                let board = self.board.clone();
                let on_files = move |files| board.backup_progress(|r| r.files = files);
                let on_sent = |sent| self.board.backup_progress(|r| r.size_bytes = sent);
                let result = snapshot::take(target, &id, on_files, on_sent)
                    .await
                    .map_err(|e| crate::error_chain::error_chain(&e));
                if result.is_ok() {
                    match snapshot::prune(target).await {
                        Ok(deleted) if !deleted.is_empty() => {
                            tracing::info!(?deleted, "retention pruned old snapshots");
                        }
                        Ok(_) => {}
                        Err(error) => {
                            tracing::warn!(error = %error, "retention failed; old snapshots stay");
                        }
                    }
                }
                result
            }
            Some(Err(reason)) => Err(reason.clone()),
            None => Err("no backup target".to_owned()),
        };
        let finished = now();
        record.finished_at = Some(rfc3339(finished));
        record.duration_seconds = Some(started.elapsed().as_secs_f64());
        match outcome {
            Ok(taken) => {
                tracing::info!(id = %record.id, key = %taken.key, size = taken.size, "backup succeeded");
                record.state = BackupState::Succeeded;
                record.key = Some(taken.key);
                record.size_bytes = taken.size;
                record.files = taken.files;
                record.checksum = Some(taken.checksum);
            }
            Err(error) => {
                tracing::error!(id = %record.id, %error, "backup failed");
                record.state = BackupState::Failed;
                record.error = Some(error);
            }
        }
        {
            let mut book = self.book();
            book.running = None;
            book.finished.push_front(record.clone());
            book.finished.truncate(REMEMBERED);
        }
        self.board.backup_finished(record, finished.timestamp());
        self.busy.send_replace(false);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: &str, state: BackupState) -> BackupRecord {
        BackupRecord {
            id: id.into(),
            reason: BackupReason::Request,
            state,
            key: None,
            size_bytes: 0,
            files: 0,
            checksum: None,
            started_at: "2026-11-26T00:00:00Z".into(),
            finished_at: None,
            duration_seconds: None,
            error: None,
        }
    }

    #[test]
    fn requests_are_idempotent_by_id_and_one_at_a_time() {
        let running = record("a", BackupState::Running);
        let done = [
            record("b", BackupState::Succeeded),
            record("c", BackupState::Failed),
        ];
        assert_eq!(
            decide(Some(&running), &done, "a"),
            Decision::Same(running.clone())
        );
        assert_eq!(
            decide(Some(&running), &done, "b"),
            Decision::Busy(running.clone())
        );
        assert_eq!(decide(None, &done, "c"), Decision::Same(done[1].clone()));
        assert_eq!(decide(None, &done, "d"), Decision::Start);
    }

    #[test]
    fn snapshot_ids_never_repeat() {
        assert_eq!(next_snapshot_id(100, None), (snapshot_id(100), 100));
        assert_eq!(next_snapshot_id(100, Some(100)), (snapshot_id(101), 101));
        assert_eq!(next_snapshot_id(200, Some(100)), (snapshot_id(200), 200));
    }

    #[tokio::test]
    async fn without_a_target_every_request_is_refused() {
        let board = Board::default();
        let manager = BackupManager::disabled(board.clone());
        let request = BackupRequest {
            id: "x".into(),
            reason: BackupReason::Request,
        };
        assert_eq!(manager.request(&request), Answer::Disabled);
        assert!(!board.snapshot().backup.enabled);
        manager.idle().await;
    }

    #[tokio::test]
    async fn an_unusable_target_fails_the_backup_with_its_reason() {
        let board = Board::default();
        let manager = BackupManager::with_target(
            Some(Err("the S3 credential variable K is not set".into())),
            None,
            None,
            board.clone(),
        );
        let bad = BackupRequest {
            id: "a/b".into(),
            reason: BackupReason::Request,
        };
        assert_eq!(manager.request(&bad), Answer::InvalidId);
        let request = BackupRequest {
            id: "r1".into(),
            reason: BackupReason::Deletion,
        };
        assert!(matches!(manager.request(&request), Answer::Started(_)));
        manager.idle().await;
        let Answer::Finished(done) = manager.request(&request) else {
            panic!("the same id answers the finished record");
        };
        assert_eq!(done.state, BackupState::Failed);
        assert_eq!(
            done.error.as_deref(),
            Some("the S3 credential variable K is not set")
        );
        let report = board.snapshot().backup;
        assert!(report.enabled);
        assert!(report.current.is_none());
        assert_eq!(report.last, Some(done));
        assert_eq!(
            board
                .backup_stats()
                .totals
                .get(&("deletion".into(), "failed".into())),
            Some(&1)
        );
    }
}
