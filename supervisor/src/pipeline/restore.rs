//! Step `restore`: the seam where a restore from backup runs, first in the graph and only into an
//! empty workspace. This build cannot restore yet, and says so whenever a restore is asked for.

use std::{fs, io, path::Path};

use openclaw_api::plan::RestorePlan;

use super::step::{BoxFuture, Done, Step, StepCtx, StepError, StepOutput, names};

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

/// Decides from the plan and the state of the workspace.
pub fn decide(plan: Option<&RestorePlan>, workspace_empty: bool) -> RestoreDecision {
    match plan {
        None => RestoreDecision::NotRequested,
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
    /// A restore was asked for, and this build has none.
    #[error("restore is not implemented in this build (restoreFrom: {restore_from})")]
    NotImplemented { restore_from: String },
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
            match decide(ctx.plan.restore.as_ref(), empty) {
                RestoreDecision::NotRequested => {
                    Ok(Done::Skipped(StepOutput::summary("no restore requested")))
                }
                RestoreDecision::WorkspaceNotEmpty => Ok(Done::Skipped(StepOutput::summary(
                    "workspace not empty; a restore only runs into an empty workspace",
                ))),
                RestoreDecision::Restore(restore_from) => {
                    Err(RestoreError::NotImplemented { restore_from }.into())
                }
            }
        })
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
        };
        assert_eq!(decide(None, true), RestoreDecision::NotRequested);
        assert_eq!(
            decide(Some(&plan), false),
            RestoreDecision::WorkspaceNotEmpty
        );
        assert_eq!(
            decide(Some(&plan), true),
            RestoreDecision::Restore("s3://agents/a.tar.zst".into())
        );
        let message = RestoreError::NotImplemented {
            restore_from: plan.source,
        }
        .to_string();
        assert!(
            message.starts_with("restore is not implemented in this build"),
            "{message}"
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
