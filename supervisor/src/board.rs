//! The supervisor's shared state: what each start-up step and the gateway are doing.
//!
//! Every part of the supervisor writes here; the status server and the operator read it.

use std::{
    collections::BTreeMap,
    sync::{Arc, RwLock},
    time::Duration,
};

use openclaw_api::{
    backup::{BackupReason, BackupRecord, BackupReport, BackupState, DrillRecord, DrillResult},
    instance::status::{InstalledSkill, ModelPull, StepReport, StepState},
};
use serde::{Deserialize, Serialize};

/// Health of the gateway child as the supervisor last saw it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct GatewayState {
    /// The child process is running.
    pub running: bool,
    /// pid of the child, when running.
    pub pid: Option<u32>,
    /// The gateway's own `/readyz` answered 200 with `"ready": true`.
    pub ready: bool,
    /// The gateway's `/healthz` answered 200 with `"ok": true`.
    pub live: bool,
    /// Restarts since the supervisor started.
    pub restarts: u32,
    /// Last exit, e.g. `exit 78 (configuration error)`.
    pub last_exit: Option<String>,
    /// The gateway exited with a configuration error and is not restarted until fixed.
    pub config_error: bool,
}

/// Everything `/status` reports (served by the status server, read back by `status`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Snapshot {
    pub steps: Vec<StepReport>,
    /// Every step finished (ran or skipped) without failing.
    pub pipeline_done: bool,
    /// A step failed; the gateway is not started.
    pub pipeline_failed: bool,
    pub gateway: GatewayState,
    pub model_pulls: Vec<ModelPull>,
    pub skills: Vec<InstalledSkill>,
    pub versions: BTreeMap<String, String>,
    /// Set when the previous run did not stop cleanly (OOM kill, node loss) and what was done.
    pub recovered_from_unclean_stop: Option<String>,
    /// GPU facts of the node and the Ollama VRAM check, when relevant.
    pub gpu: Option<serde_json::Value>,
    /// Backups and the restore.
    pub backup: BackupReport,
    /// Counters behind the backup metrics (not part of `/status`).
    #[serde(skip)]
    pub backup_stats: BackupStats,
}

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
}

impl Board {
    pub fn snapshot(&self) -> Snapshot {
        self.read().clone()
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

    /// Records a finished backup: no longer current, the last one, counted by reason and
    /// result; `finished_unix` is when it ended.
    /// Records a finished restore drill.
    pub fn drill_finished(&self, record: DrillRecord) {
        self.update(|s| {
            let result = match record.result {
                DrillResult::Passed => "passed",
                DrillResult::Failed => "failed",
                DrillResult::NoSnapshot => "no_snapshot",
            };
            *s.backup_stats.drills.entry(result.to_owned()).or_default() += 1;
            if record.result == DrillResult::Passed {
                s.backup_stats.last_drill_pass_unix = Some(chrono::Utc::now().timestamp());
            }
            s.backup.last_drill = Some(record);
        });
    }

    pub fn backup_finished(&self, record: BackupRecord, finished_unix: i64) {
        self.update(|s| {
            s.backup.current = None;
            let result = match record.state {
                BackupState::Succeeded => "succeeded",
                BackupState::Failed | BackupState::Running => "failed",
            };
            *s.backup_stats
                .totals
                .entry((reason_name(record.reason).to_owned(), result.to_owned()))
                .or_default() += 1;
            if record.state == BackupState::Succeeded {
                s.backup.last_success = Some(record.clone());
                s.backup_stats.last_success_unix = Some(finished_unix);
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
