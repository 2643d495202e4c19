//! Step `restore`: restores the workspace from a backup in S3, first in the graph and only into
//! an empty workspace. The archive is downloaded and verified into a staging directory and
//! switched over only when all is verified; `/status` reports what was restored, and a record
//! on the volume keeps saying so after a restart.

use std::{fs, io, path::Path};

use openclaw_api::{
    backup::{RestoreRecord, RestoreState},
    plan::RestorePlan,
};

use super::step::{BoxFuture, Done, Step, StepCtx, StepError, StepOutput, names};
use crate::backup::{
    self,
    restore::{RestoreError as FetchError, Restored},
    schedule::{now, rfc3339},
    store::Bucket,
};

/// Where the outcome of a completed restore is recorded, under the state directory.
pub const RECORD_FILE: &str = ".supervisor/restore.json";

/// What to do about `restoreFrom`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RestoreDecision {
    /// The plan asks for no restore.
    NotRequested,
    /// The workspace already holds data; a restore never overwrites it.
    WorkspaceNotEmpty,
    /// Restore from this source.
    Restore(String),
}

/// Decides from the plan, the state of the workspace and the rollback restore done last (the
/// `replace` id of the recorded restore).
pub fn decide(
    plan: Option<&RestorePlan>,
    workspace_empty: bool,
    replaced: Option<&str>,
) -> RestoreDecision {
    match plan {
        None => RestoreDecision::NotRequested,
        // A rollback replaces the workspace once per id, whatever it holds.
        Some(restore) if restore.replace.is_some() => {
            if restore.replace.as_deref() == replaced {
                RestoreDecision::WorkspaceNotEmpty
            } else {
                RestoreDecision::Restore(restore.source.clone())
            }
        }
        Some(_) if !workspace_empty => RestoreDecision::WorkspaceNotEmpty,
        Some(restore) => RestoreDecision::Restore(restore.source.clone()),
    }
}

/// Entries that do not make a workspace non-empty: the supervisor's own records and the
/// file system's `lost+found`.
const IGNORED: [&str; 2] = [".supervisor", "lost+found"];

/// Whether the state directory holds nothing but [`IGNORED`] entries (a missing one is empty).
pub fn workspace_empty(state_dir: &Path) -> io::Result<bool> {
    let entries = match fs::read_dir(state_dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(true),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let name = entry?.file_name();
        if !IGNORED.iter().any(|i| name == *i) {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Why the restore step failed.
#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    /// The restore was refused or failed; the workspace was left as it was.
    #[error("restore from {source_url} failed, the workspace was left as it was: {reason}")]
    Failed {
        /// `spec.restoreFrom` as written.
        source_url: String,
        /// Why.
        reason: String,
    },
    /// The workspace could not be listed.
    #[error("failed to list the workspace {path}")]
    ReadWorkspace {
        path: String,
        #[source]
        error: io::Error,
    },
}

/// The `restore` step.
#[derive(Debug)]
pub struct RestoreStep;

impl Step for RestoreStep {
    fn name(&self) -> &'static str {
        names::RESTORE
    }

    fn deps(&self) -> Vec<&'static str> {
        Vec::new()
    }

    /// Never cached: whether the workspace is empty is checked at every start.
    fn inputs<'a>(
        &'a self,
        _ctx: &'a StepCtx,
    ) -> BoxFuture<'a, Result<Option<Vec<u8>>, StepError>> {
        Box::pin(async { Ok(None) })
    }

    fn run<'a>(&'a self, ctx: &'a StepCtx) -> BoxFuture<'a, Result<Done, StepError>> {
        Box::pin(async move {
            let state_dir = &ctx.env.state_dir;
            let empty = match &ctx.plan.restore {
                None => true,
                Some(_) => {
                    workspace_empty(state_dir).map_err(|error| RestoreError::ReadWorkspace {
                        path: state_dir.display().to_string(),
                        error,
                    })?
                }
            };
            let previous = read_record(state_dir);
            let replaced = previous.as_ref().and_then(|r| r.replace.as_deref());
            match (
                decide(ctx.plan.restore.as_ref(), empty, replaced),
                &ctx.plan.restore,
            ) {
                (RestoreDecision::NotRequested, _) | (_, None) => {
                    Ok(Done::Skipped(StepOutput::summary("no restore requested")))
                }
                (RestoreDecision::WorkspaceNotEmpty, Some(plan)) => {
                    let record = match previous {
                        Some(done) if done.source == plan.source => done,
                        _ => record(plan, RestoreState::SkippedNotEmpty),
                    };
                    let summary = if record.state == RestoreState::Succeeded {
                        format!("restored earlier from {}", plan.source)
                    } else {
                        "workspace not empty; a restore only runs into an empty workspace"
                            .to_owned()
                    };
                    ctx.board.update(|s| s.backup.restore = Some(record));
                    Ok(Done::Skipped(StepOutput::summary(summary)))
                }
                (RestoreDecision::Restore(_), Some(plan)) => restore(ctx, plan).await,
            }
        })
    }
}

/// A record of `plan` in `state`, finished now unless running.
fn record(plan: &RestorePlan, state: RestoreState) -> RestoreRecord {
    RestoreRecord {
        source: plan.source.clone(),
        state,
        files: 0,
        bytes: 0,
        verified_manifest: false,
        finished_at: (state != RestoreState::Running).then(|| rfc3339(now())),
        error: None,
        replace: plan.replace.clone(),
    }
}

/// The record of an earlier completed restore, if any.
fn read_record(state_dir: &Path) -> Option<RestoreRecord> {
    let text = fs::read(state_dir.join(RECORD_FILE)).ok()?;
    serde_json::from_slice(&text).ok()
}

/// Downloads, verifies and switches over; reports on the board either way.
async fn restore(ctx: &StepCtx, plan: &RestorePlan) -> Result<Done, StepError> {
    let state_dir = &ctx.env.state_dir;
    ctx.board
        .update(|s| s.backup.restore = Some(record(plan, RestoreState::Running)));
    tracing::info!(source = %plan.source, bucket = %plan.bucket, key = %plan.key, "restoring the workspace");
    let outcome = match Bucket::open(&plan.connection, &plan.bucket, |name| {
        std::env::var(name).ok()
    }) {
        Ok(bucket) => {
            backup::restore::restore(&bucket, &plan.key, state_dir, plan.replace.is_some()).await
        }
        Err(error) => Err(FetchError::Store(error)),
    };
    match outcome {
        Ok(Restored {
            files,
            bytes,
            verified_manifest,
        }) => {
            let done = RestoreRecord {
                files,
                bytes,
                verified_manifest,
                ..record(plan, RestoreState::Succeeded)
            };
            let path = state_dir.join(RECORD_FILE);
            if let Err(error) = serde_json::to_vec_pretty(&done)
                .map_err(io::Error::other)
                .and_then(|text| fs::write(&path, text))
            {
                tracing::warn!(path = %path.display(), %error, "failed to record the restore");
            }
            ctx.board.update(|s| s.backup.restore = Some(done));
            // The snapshot's locks and leases belong to the pod that took it.
            match crate::process::recovery::after_restore(state_dir, nix::unistd::getuid().as_raw())
            {
                Ok(cleared) => tracing::info!(
                    locks = cleared.locks.len(),
                    leases = cleared.leases,
                    "released the snapshot's gateway locks and leases"
                ),
                Err(error) => tracing::warn!(
                    error = &error as &dyn std::error::Error,
                    "failed to release the snapshot's gateway locks and leases"
                ),
            }
            let manifest = if verified_manifest {
                "every file verified against the manifest"
            } else {
                "no manifest"
            };
            Ok(Done::Ran(StepOutput::summary(format!(
                "restored {files} files ({bytes} bytes) from {}; {manifest}",
                plan.source
            ))))
        }
        Err(error) => {
            let reason = crate::error_chain::error_chain(&error);
            tracing::error!(source = %plan.source, %reason, "restore failed");
            let failed = RestoreRecord {
                error: Some(reason.clone()),
                ..record(plan, RestoreState::Failed)
            };
            ctx.board.update(|s| s.backup.restore = Some(failed));
            Err(RestoreError::Failed {
                source_url: plan.source.clone(),
                reason,
            }
            .into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restores_only_when_asked_and_empty() {
        let plan = RestorePlan {
            source: "s3://agents/a.tar.zst".into(),
            connection: openclaw_api::plan::S3Connection::default(),
            bucket: "agents".into(),
            key: "a.tar.zst".into(),
            replace: None,
        };
        assert_eq!(decide(None, true, None), RestoreDecision::NotRequested);
        assert_eq!(
            decide(Some(&plan), false, None),
            RestoreDecision::WorkspaceNotEmpty
        );
        assert_eq!(
            decide(Some(&plan), true, None),
            RestoreDecision::Restore("s3://agents/a.tar.zst".into())
        );
        // A rollback replaces a workspace that holds data, once per id.
        let rollback = RestorePlan {
            replace: Some("rollback-2026-9-7-1".into()),
            ..plan.clone()
        };
        assert_eq!(
            decide(Some(&rollback), false, None),
            RestoreDecision::Restore("s3://agents/a.tar.zst".into())
        );
        assert_eq!(
            decide(Some(&rollback), false, Some("rollback-2026-9-7-0")),
            RestoreDecision::Restore("s3://agents/a.tar.zst".into())
        );
        assert_eq!(
            decide(Some(&rollback), false, Some("rollback-2026-9-7-1")),
            RestoreDecision::WorkspaceNotEmpty
        );
        let message = RestoreError::Failed {
            source_url: plan.source,
            reason: "archive corrupt".into(),
        }
        .to_string();
        assert_eq!(
            message,
            "restore from s3://agents/a.tar.zst failed, the workspace was left as it was: archive corrupt"
        );
    }

    #[test]
    fn own_records_and_lost_found_do_not_count() -> io::Result<()> {
        let dir = tempfile::tempdir()?;
        assert!(workspace_empty(&dir.path().join("missing"))?);
        fs::create_dir_all(dir.path().join(".supervisor/steps"))?;
        fs::create_dir_all(dir.path().join("lost+found"))?;
        assert!(workspace_empty(dir.path())?);
        fs::write(dir.path().join("openclaw.json"), "{}")?;
        assert!(!workspace_empty(dir.path())?);
        Ok(())
    }
}
