//! Takes one snapshot: the workspace archived and streamed to `<prefix><id>.tar.zst`, then its
//! manifest written next to it, then retention applied to the prefix.

use std::{
    path::{Path, PathBuf},
    time::Duration,
};

use openclaw_api::{
    backup::{ARCHIVE_SUFFIX, MANIFEST_VERSION, Manifest, manifest_key},
    plan::{BackupPlan, RuntimePlan},
};
use tokio::time::Instant;

use super::{
    archive::{self, Progress, WriteOptions},
    manifest_file, retention,
    schedule::{now, rfc3339},
    store::{Bucket, StoreError},
    upload::{self, UploadError},
};

/// Scratch space of the archive writer (SQLite copies), under the state directory.
pub const SCRATCH_DIR: &str = ".supervisor/backup-scratch";

/// The gateway's temporary directory under the state directory (`tmp/openclaw-<uid>/`): its
/// owner lease and lock files, which name a process of the pod that wrote them. Restored into
/// another pod they would make the gateway wait on a lease nobody holds (seen on the real node:
/// "Another Gateway owner lease is still active for this state directory").
pub const GATEWAY_TMP_DIR: &str = "tmp";

/// Directories under the state directory never archived: the writer's scratch space, a
/// restore's staging directory and the gateway's runtime locks.
pub const EXCLUDED: [&str; 3] = [SCRATCH_DIR, super::restore::STAGING_DIR, GATEWAY_TMP_DIR];

/// Where and how this instance's snapshots are taken.
#[derive(Debug, Clone)]
pub struct Target {
    /// The bucket.
    pub bucket: Bucket,
    /// Key prefix, ending in `/`.
    pub prefix: String,
    /// `<namespace>/<name>`.
    pub instance: String,
    /// The workspace (OpenClaw's state directory).
    pub workspace: PathBuf,
    /// Time budget of one backup.
    pub timeout: Duration,
    /// Complete snapshots to keep.
    pub retention: u32,
    /// zstd level of the archives.
    pub compression_level: i32,
    /// Part size and parts in flight of the uploads.
    pub tuning: upload::Tuning,
    /// Multipart uploads of failed backups whose abort failed, retried before the next one.
    pub unaborted: upload::Unaborted,
}

impl Target {
    /// The target of `plan`'s backup section, credentials read through `lookup`.
    pub fn from_plan(
        plan: &RuntimePlan,
        backup: &BackupPlan,
        workspace: &Path,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Target, StoreError> {
        Ok(Target {
            bucket: Bucket::open(&backup.connection, &backup.bucket, lookup)?,
            prefix: backup.prefix.clone(),
            instance: format!("{}/{}", plan.instance.namespace, plan.instance.name),
            workspace: workspace.to_owned(),
            timeout: Duration::from_secs(backup.timeout_seconds.max(1)),
            retention: backup.retention,
            compression_level: backup.compression_level.clamp(1, 19),
            tuning: upload::Tuning::default(),
            unaborted: upload::Unaborted::default(),
        })
    }

    /// Key of the archive of snapshot `id`.
    pub fn archive_key(&self, id: &str) -> String {
        format!("{}{id}{ARCHIVE_SUFFIX}", self.prefix)
    }
}

/// File of the scratch directory where the archive writer spills the manifest's entries.
const ENTRIES_FILE: &str = "manifest-entries.jsonl";

/// Why a snapshot was not taken.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// The scratch directory could not be created.
    #[error("failed to create the backup scratch directory {path}")]
    Scratch {
        /// The directory.
        path: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// Streaming the archive failed (the multipart upload was aborted).
    #[error(transparent)]
    Upload(#[from] UploadError),
    /// The manifest could not be written (the archive was deleted again).
    #[error("the archive was uploaded but its manifest could not be written: {source}")]
    Manifest {
        /// What failed.
        source: UploadError,
    },
    /// The manifest could not be serialized.
    #[error("failed to serialize the manifest")]
    Serialize(#[source] serde_json::Error),
}

/// A snapshot in the bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Taken {
    /// Key of the archive.
    pub key: String,
    /// Size of the archive.
    pub size: u64,
    /// `sha256:<hex>` of the archive.
    pub checksum: String,
    /// Regular files archived.
    pub files: u64,
}

/// Takes snapshot `id` of the target's workspace; `on_sent` sees the bytes uploaded so far and
/// `on_files` the files archived so far.
pub async fn take(
    target: &Target,
    id: &str,
    on_files: impl Fn(u64) + Send + Sync + 'static,
    on_sent: impl Fn(u64),
) -> Result<Taken, SnapshotError> {
    target.unaborted.retry().await;
    let key = target.archive_key(id);
    let deadline = Instant::now() + target.timeout;
    let workspace = target.workspace.clone();
    let progress: Progress = Box::new(move |files, _bytes| on_files(files));
    let scratch = workspace.join(SCRATCH_DIR);
    std::fs::create_dir_all(&scratch).map_err(|source| SnapshotError::Scratch {
        path: scratch.display().to_string(),
        source,
    })?;
    let entries_file = scratch.join(ENTRIES_FILE);
    let options = WriteOptions {
        exclude: EXCLUDED.iter().map(PathBuf::from).collect(),
        progress: Some(progress),
        entries_file: Some(entries_file.clone()),
        level: target.compression_level,
        ..WriteOptions::new(scratch)
    };
    let uploaded = upload::upload(
        &target.bucket,
        &key,
        move |out| archive::write_archive(&workspace, out, &options),
        upload::Deadline {
            at: deadline,
            budget: target.timeout,
        },
        target.tuning,
        &target.unaborted,
        on_sent,
    )
    .await?;
    let summary = uploaded.summary;
    let header = Manifest {
        version: MANIFEST_VERSION,
        instance: target.instance.clone(),
        tool_version: env!("CARGO_PKG_VERSION").to_owned(),
        created_at: rfc3339(now()),
        archive_key: key.clone(),
        archive_checksum: uploaded.digest.checksum.clone(),
        archive_size: uploaded.digest.size,
        entries: Vec::new(),
    };
    // Streamed like the archive: a manifest of a million files never sits in memory.
    let written = upload::upload(
        &target.bucket,
        &manifest_key(&key),
        {
            let entries_file = entries_file.clone();
            move |out| manifest_file::write_manifest(out, &header, &entries_file)
        },
        upload::Deadline {
            at: deadline,
            budget: target.timeout,
        },
        target.tuning,
        &target.unaborted,
        |_| {},
    )
    .await;
    let _ = std::fs::remove_file(&entries_file);
    if let Err(source) = written {
        // Without its manifest the archive is not a snapshot; do not leave it behind.
        if let Err(error) = target.bucket.delete(&key).await {
            tracing::warn!(%key, error = %error, "failed to delete an archive whose manifest failed");
        }
        return Err(SnapshotError::Manifest { source });
    }
    Ok(Taken {
        key,
        size: uploaded.digest.size,
        checksum: uploaded.digest.checksum,
        files: summary.files,
    })
}

/// Applies retention to the target's prefix; returns the keys deleted.
pub async fn prune(target: &Target) -> Result<Vec<String>, StoreError> {
    let keys = target.bucket.list(&target.prefix).await?;
    let doomed = retention::to_delete(
        &target.prefix,
        keys.iter().map(String::as_str),
        target.retention,
    );
    for key in &doomed {
        target.bucket.delete(key).await?;
    }
    Ok(doomed)
}
