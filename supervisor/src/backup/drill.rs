//! Restore drills: the newest complete snapshot of the instance restored into a scratch
//! directory of the pod (never the workspace), every file checked against its manifest's
//! sha256 and the archive against its own, every SQLite database opened read-only for
//! `PRAGMA integrity_check`, then the copy deleted, whatever the outcome.

use std::{
    fs, io,
    path::{Path, PathBuf},
    time::Instant,
};

use openclaw_api::backup::{DrillRecord, DrillResult, SnapshotPart, snapshot_of};

use super::{
    archive,
    restore::{self, RestoreError},
    schedule::{now, rfc3339},
    snapshot::Target,
    store::StoreError,
};

/// Why a drill failed.
#[derive(Debug, thiserror::Error)]
pub enum DrillError {
    /// The scratch directory is the workspace or inside it.
    #[error("the drill's scratch directory {scratch} is inside the workspace {workspace}")]
    ScratchInWorkspace {
        /// The scratch directory.
        scratch: String,
        /// The workspace.
        workspace: String,
    },
    /// The scratch directory could not be prepared or read.
    #[error("the drill's scratch directory {path}: {source}")]
    Scratch {
        /// The path.
        path: String,
        /// What failed.
        #[source]
        source: io::Error,
    },
    /// Listing the bucket failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The snapshot has no readable manifest (nothing to verify against).
    #[error("the snapshot {url} has no manifest")]
    NoManifest {
        /// `s3://bucket/key` of the archive.
        url: String,
    },
    /// Downloading or verifying the archive failed.
    #[error(transparent)]
    Restore(Box<RestoreError>),
    /// A restored SQLite database failed `PRAGMA integrity_check`.
    #[error("the database {path} failed integrity_check: {detail}")]
    Database {
        /// Path relative to the workspace.
        path: String,
        /// What SQLite said.
        detail: String,
    },
    /// The check thread panicked.
    #[error("the database check ended abnormally: {0}")]
    Thread(String),
}

impl From<RestoreError> for DrillError {
    fn from(error: RestoreError) -> Self {
        DrillError::Restore(Box::new(error))
    }
}

/// What a passed drill checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Drilled {
    /// Key of the archive.
    pub key: String,
    /// Files verified against the manifest.
    pub files: u64,
    /// Databases that passed `integrity_check`.
    pub databases: u64,
}

/// Key of the archive of the newest complete snapshot (archive and manifest) under `prefix`.
pub fn newest<'a>(prefix: &str, keys: impl IntoIterator<Item = &'a str>) -> Option<String> {
    let mut archives = std::collections::BTreeMap::new();
    let mut manifests = std::collections::BTreeSet::new();
    for key in keys {
        match snapshot_of(prefix, key) {
            Some((id, SnapshotPart::Archive)) => {
                archives.insert(id.to_owned(), key.to_owned());
            }
            Some((id, SnapshotPart::Manifest)) => {
                manifests.insert(id.to_owned());
            }
            None => {}
        }
    }
    archives
        .into_iter()
        .rev()
        .find(|(id, _)| manifests.contains(id))
        .map(|(_, key)| key)
}

/// Runs one drill of `target`'s newest snapshot under `scratch_root` and reports it.
pub async fn run(target: &Target, scratch_root: &Path) -> DrillRecord {
    let started = Instant::now();
    let outcome = drill(target, scratch_root).await;
    let mut record = DrillRecord {
        result: DrillResult::Passed,
        key: None,
        files: 0,
        databases: 0,
        finished_at: rfc3339(now()),
        duration_seconds: started.elapsed().as_secs_f64(),
        error: None,
    };
    match outcome {
        Ok(Some(drilled)) => {
            tracing::info!(key = %drilled.key, files = drilled.files, databases = drilled.databases, "restore drill passed");
            record.key = Some(drilled.key);
            record.files = drilled.files;
            record.databases = drilled.databases;
        }
        Ok(None) => {
            tracing::info!("restore drill: no complete snapshot yet");
            record.result = DrillResult::NoSnapshot;
        }
        Err((key, error)) => {
            let error = crate::error_chain::error_chain(&error);
            tracing::error!(key = key.as_deref().unwrap_or(""), %error, "restore drill failed");
            record.result = DrillResult::Failed;
            record.key = key;
            record.error = Some(error);
        }
    }
    record
}

type Failed = (Option<String>, DrillError);

async fn drill(target: &Target, scratch_root: &Path) -> Result<Option<Drilled>, Failed> {
    let staging = staging_dir(&target.workspace, scratch_root).map_err(|e| (None, e))?;
    let keys = target
        .bucket
        .list(&target.prefix)
        .await
        .map_err(|e| (None, e.into()))?;
    let Some(key) = newest(&target.prefix, keys.iter().map(String::as_str)) else {
        return Ok(None);
    };
    let result = verify(target, &key, &staging).await;
    let cleanup = staging.clone();
    let removed = tokio::task::spawn_blocking(move || restore::remove_dir(&cleanup)).await;
    if let Ok(Err(error)) | Err(error) = removed.map_err(io::Error::other) {
        tracing::warn!(path = %staging.display(), %error, "failed to remove the drill's scratch copy");
    }
    result.map(Some).map_err(|e| (Some(key), e))
}

/// `<scratch_root>/drill`, refused when it would be the workspace or inside it.
fn staging_dir(workspace: &Path, scratch_root: &Path) -> Result<PathBuf, DrillError> {
    let scratch = |source| DrillError::Scratch {
        path: scratch_root.display().to_string(),
        source,
    };
    fs::create_dir_all(scratch_root).map_err(scratch)?;
    let root = fs::canonicalize(scratch_root).map_err(scratch)?;
    let workspace = fs::canonicalize(workspace).unwrap_or_else(|_| workspace.to_owned());
    if root.starts_with(&workspace) {
        return Err(DrillError::ScratchInWorkspace {
            scratch: root.display().to_string(),
            workspace: workspace.display().to_string(),
        });
    }
    Ok(root.join("drill"))
}

/// Downloads and verifies `key` into `staging`, then checks its databases.
async fn verify(target: &Target, key: &str, staging: &Path) -> Result<Drilled, DrillError> {
    let Some(manifest) = restore::read_manifest(&target.bucket, key).await? else {
        return Err(DrillError::NoManifest {
            url: target.bucket.url(key),
        });
    };
    let summary = restore::download_verified(&target.bucket, key, Some(manifest), staging).await?;
    let root = staging.to_owned();
    let databases = tokio::task::spawn_blocking(move || check_databases(&root))
        .await
        .map_err(|join| DrillError::Thread(join.to_string()))??;
    Ok(Drilled {
        key: key.to_owned(),
        files: summary.files,
        databases,
    })
}

/// Runs `integrity_check` on every SQLite database under `root`; returns how many passed.
pub fn check_databases(root: &Path) -> Result<u64, DrillError> {
    let mut passed = 0;
    let mut dirs = vec![root.to_owned()];
    let io = |path: &Path| {
        let path = path.display().to_string();
        move |source| DrillError::Scratch { path, source }
    };
    while let Some(dir) = dirs.pop() {
        for entry in fs::read_dir(&dir).map_err(io(&dir))? {
            let entry = entry.map_err(io(&dir))?;
            let path = entry.path();
            let kind = entry.file_type().map_err(io(&path))?;
            if kind.is_dir() {
                dirs.push(path);
            } else if kind.is_file() && archive::is_database(&path).map_err(io(&path))? {
                archive::integrity_check(&path).map_err(|detail| DrillError::Database {
                    path: path
                        .strip_prefix(root)
                        .unwrap_or(&path)
                        .display()
                        .to_string(),
                    detail,
                })?;
                passed += 1;
            }
        }
    }
    Ok(passed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_newest_complete_snapshot_is_drilled() {
        let p = "ns/a/";
        let keys = [
            "ns/a/20261101T000000Z.tar.zst",
            "ns/a/20261101T000000Z.manifest.json",
            "ns/a/20261102T000000Z.tar.zst",
            "ns/a/20261102T000000Z.manifest.json",
            // Still uploading: no manifest yet.
            "ns/a/20261103T000000Z.tar.zst",
            "ns/a/other.txt",
        ];
        assert_eq!(
            newest(p, keys).as_deref(),
            Some("ns/a/20261102T000000Z.tar.zst")
        );
        assert_eq!(newest(p, ["ns/a/20261103T000000Z.tar.zst"]), None);
    }

    #[test]
    fn the_scratch_directory_is_never_the_workspace() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let workspace = dir.path().join("ws");
        fs::create_dir_all(&workspace).unwrap_or_else(|e| panic!("{e}"));
        for inside in [workspace.clone(), workspace.join(".supervisor/drill")] {
            let refused = staging_dir(&workspace, &inside);
            assert!(
                matches!(refused, Err(DrillError::ScratchInWorkspace { .. })),
                "{refused:?}"
            );
        }
        let ok = staging_dir(&workspace, &dir.path().join("tmp")).unwrap_or_else(|e| panic!("{e}"));
        assert!(!ok.starts_with(&workspace));
    }
}
