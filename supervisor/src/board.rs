//! The supervisor's shared state: what each start-up step and the gateway are doing.
//!
//! Every part of the supervisor writes here; the status server and the operator read it.

use std::{
    collections::BTreeMap,
    sync::{Arc, RwLock},
    time::Duration,
};

use openclaw_api::{
    backup::{BackupReason, BackupRecord, BackupState, DrillRecord, DrillResult},
    instance::status::{ModelPull, StepReport, StepState},
    supervisor::{GatewayReport, SupervisorReport},
};

/// Everything `/status` reports: the shared contract with the operator.
pub type Snapshot = SupervisorReport;

/// Health of the gateway child (the `gateway` part of the [`Snapshot`]).
pub type GatewayState = GatewayReport;

/// What `/metrics` reports about backups beyond the [`BackupReport`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BackupStats {
    /// Finished backups by (reason, result), e.g. `("schedule", "succeeded")`.
    pub totals: BTreeMap<(String, String), u64>,
    /// Unix time the last successful backup finished.
    pub last_success_unix: Option<i64>,
    /// Finished restore drills by result (`passed`, `failed`, `no_snapshot`).
    pub drills: BTreeMap<String, u64>,
    /// Unix time the last drill that passed finished.
    pub last_drill_pass_unix: Option<i64>,
}

/// The wire name of a backup reason (`schedule`, `request`, `deletion`, `update`).
pub fn reason_name(reason: BackupReason) -> &'static str {
    match reason {
        BackupReason::Schedule => "schedule",
        BackupReason::Request => "request",
        BackupReason::Deletion => "deletion",
        BackupReason::Update => "update",
    }
}

/// Shared, cheaply cloneable handle on the state.
#[derive(Debug, Clone, Default)]
pub struct Board {
    inner: Arc<RwLock<Snapshot>>,
    stats: Arc<RwLock<BackupStats>>,
}

impl Board {
    pub fn snapshot(&self) -> Snapshot {
        self.read().clone()
    }

    /// The counters behind the backup metrics.
    pub fn backup_stats(&self) -> BackupStats {
        self.stats
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Runs `f` with write access.
    pub fn update<R>(&self, f: impl FnOnce(&mut Snapshot) -> R) -> R {
        let mut guard = self
            .inner
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&mut guard)
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Snapshot> {
        self.inner
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Declares the steps of the pipeline, all pending.
    pub fn declare_steps(&self, names: &[&str]) {
        self.update(|s| {
            s.steps = names
                .iter()
                .map(|n| StepReport {
                    name: (*n).to_owned(),
                    state: StepState::Pending,
                    duration_ms: None,
                    skipped: false,
                    error: None,
                })
                .collect();
        });
    }

    pub fn step_running(&self, name: &str) {
        self.update(|s| {
            if let Some(step) = s.steps.iter_mut().find(|x| x.name == name) {
                step.state = StepState::Running;
            }
        });
    }

    /// Records the end of a step: ran or skipped (inputs unchanged), and its error if any.
    pub fn step_finished(&self, name: &str, took: Duration, skipped: bool, error: Option<String>) {
        self.update(|s| {
            if let Some(step) = s.steps.iter_mut().find(|x| x.name == name) {
                step.state = if error.is_some() {
                    StepState::Failed
                } else {
                    StepState::Succeeded
                };
                step.duration_ms = Some(i64::try_from(took.as_millis()).unwrap_or(i64::MAX));
                step.skipped = skipped;
                step.error = error;
            }
        });
    }

    pub fn set_gateway(&self, f: impl FnOnce(&mut GatewayState)) {
        self.update(|s| f(&mut s.gateway));
    }

    /// Records a backup that started.
    pub fn backup_started(&self, record: BackupRecord) {
        self.update(|s| s.backup.current = Some(record));
    }

    /// Updates the running backup's record (its progress).
    pub fn backup_progress(&self, f: impl FnOnce(&mut BackupRecord)) {
        self.update(|s| {
            if let Some(current) = &mut s.backup.current {
                f(current);
            }
        });
    }

    /// Records a finished restore drill.
    pub fn drill_finished(&self, record: DrillRecord) {
        {
            let mut stats = self
                .stats
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let result = match record.result {
                DrillResult::Passed => "passed",
                DrillResult::Failed => "failed",
                DrillResult::NoSnapshot => "no_snapshot",
            };
            *stats.drills.entry(result.to_owned()).or_default() += 1;
            if record.result == DrillResult::Passed {
                stats.last_drill_pass_unix = Some(chrono::Utc::now().timestamp());
            }
        }
        self.update(|s| s.backup.last_drill = Some(record));
    }

    /// Records a finished backup: no longer current, the last one, counted by reason and
    /// result; `finished_unix` is when it ended.
    pub fn backup_finished(&self, record: BackupRecord, finished_unix: i64) {
        {
            let mut stats = self
                .stats
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let result = match record.state {
                BackupState::Succeeded => "succeeded",
                BackupState::Failed | BackupState::Running => "failed",
            };
            *stats
                .totals
                .entry((reason_name(record.reason).to_owned(), result.to_owned()))
                .or_default() += 1;
            if record.state == BackupState::Succeeded {
                stats.last_success_unix = Some(finished_unix);
            }
        }
        self.update(|s| {
            s.backup.current = None;
            if record.state == BackupState::Succeeded {
                s.backup.last_success = Some(record.clone());
            }
            s.backup.last = Some(record);
        });
    }

    /// Creates or updates the progress of one model pull.
    pub fn model_pull(&self, pull: ModelPull) {
        self.update(
            |s| match s.model_pulls.iter_mut().find(|p| p.model == pull.model) {
                Some(existing) => *existing = pull,
                None => s.model_pulls.push(pull),
            },
        );
    }
}
