//! Streams an archive from S3 into a fresh staging directory, verifies it, and only then
//! switches it over into the workspace. The download runs as an async task feeding a bounded
//! channel; the extraction reads it through a [`ChunkReceiver`] on a blocking thread. Any
//! failure removes the staging directory and leaves the workspace as it was. With a manifest
//! next to the archive, every entry and the archive's own sha256 and size are checked against it.

use std::{
    io,
    path::{Path, PathBuf},
};

use futures::StreamExt;
use object_store::{ObjectStoreExt, path::Path as ObjectPath};
use openclaw_api::backup::{Manifest, manifest_key};
use tokio::sync::mpsc;

use super::{
    archive::{self, ArchiveError, ExtractSummary},
    bridge::{CHANNEL_CHUNKS, ChunkReceiver, Piece},
    store::{Bucket, StoreError},
};
use crate::error_chain::error_chain;

/// Where an archive is unpacked before it is switched over, under the state directory.
pub const STAGING_DIR: &str = ".supervisor/restore-staging";

/// Where a replacing restore (a rollback) sets the live data aside until the switch-over is
/// done, under the state directory.
pub const REPLACED_DIR: &str = ".supervisor/replaced";

/// What a restore did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Restored {
    /// Files restored.
    pub files: u64,
    /// Bytes restored (uncompressed).
    pub bytes: u64,
    /// A manifest was found and every file checked against it.
    pub verified_manifest: bool,
}

/// Why a restore was refused or failed; the workspace was left as it was.
#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    /// S3 refused or failed a request.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The manifest next to the archive is not a manifest.
    #[error("the manifest {url} is not valid: {reason}")]
    Manifest {
        /// `s3://bucket/key` of the manifest.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The archive is corrupt, truncated, tampered with or unsafe.
    #[error("refused the archive {url}: {}", error_chain(.source))]
    Archive {
        /// `s3://bucket/key`.
        url: String,
        /// What the extraction found.
        source: ArchiveError,
    },
    /// The verified tree could not be moved into the workspace.
    #[error("failed to move the restored files into {workspace}: {}", error_chain(.source))]
    SwitchOver {
        /// The workspace.
        workspace: String,
        /// What failed.
        source: ArchiveError,
    },
    /// The staging directory could not be prepared.
    #[error("failed to prepare the staging directory {path}")]
    Staging {
        /// The staging directory.
        path: String,
        #[source]
        source: io::Error,
    },
    /// The extraction thread panicked or was cancelled.
    #[error("the extraction of {url} ended abnormally: {reason}")]
    Thread {
        /// `s3://bucket/key`.
        url: String,
        /// The join error.
        reason: String,
    },
}

/// The staging directory of `state_dir`.
pub fn staging_dir(state_dir: &Path) -> PathBuf {
    state_dir.join(STAGING_DIR)
}

/// Restores `key` of `bucket` into `state_dir`: into an empty workspace (which the caller found
/// empty), or, with `replace`, over the data it holds (auto-update's rollback). Either way the
/// archive is downloaded and verified before the workspace is touched.
pub async fn restore(
    bucket: &Bucket,
    key: &str,
    state_dir: &Path,
    replace: bool,
) -> Result<Restored, RestoreError> {
    let staging = staging_dir(state_dir);
    let result = restore_into(bucket, key, state_dir, &staging, replace).await;
    let cleanup = staging.clone();
    let removed = tokio::task::spawn_blocking(move || remove_dir(&cleanup)).await;
    if let Ok(Err(error)) | Err(error) = removed.map_err(io::Error::other) {
        tracing::warn!(path = %staging.display(), %error, "failed to remove the restore staging directory");
    }
    result
}

pub(crate) fn remove_dir(path: &Path) -> io::Result<()> {
    match std::fs::remove_dir_all(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

async fn restore_into(
    bucket: &Bucket,
    key: &str,
    state_dir: &Path,
    staging: &Path,
    replace: bool,
) -> Result<Restored, RestoreError> {
    let url = bucket.url(key);
    let manifest = read_manifest(bucket, key).await?;
    let summary = download_verified(bucket, key, manifest, staging).await?;
    let (from, into) = (staging.to_owned(), state_dir.to_owned());
    let aside = state_dir.join(REPLACED_DIR);
    tokio::task::spawn_blocking(move || {
        if replace {
            archive::switch_over_replacing(&from, &into, &aside)
        } else {
            archive::switch_over(&from, &into)
        }
    })
    .await
    .map_err(|join| RestoreError::Thread {
        url: url.clone(),
        reason: join.to_string(),
    })?
    .map_err(|source| RestoreError::SwitchOver {
        workspace: state_dir.display().to_string(),
        source,
    })?;
    Ok(Restored {
        files: summary.files,
        bytes: summary.bytes,
        verified_manifest: summary.verified_manifest,
    })
}

/// Streams `key` of `bucket` into `staging` (emptied first), checking every entry and the
/// archive itself against `manifest` when given. On error `staging` holds a partial tree.
pub async fn download_verified(
    bucket: &Bucket,
    key: &str,
    manifest: Option<Manifest>,
    staging: &Path,
) -> Result<ExtractSummary, RestoreError> {
    let url = bucket.url(key);
    // Fresh: whatever an interrupted restore left is removed; the extraction creates it.
    remove_dir(staging).map_err(|source| RestoreError::Staging {
        path: staging.display().to_string(),
        source,
    })?;
    let object = bucket
        .store()
        .get(&ObjectPath::from(key))
        .await
        .map_err(|e| bucket.error("read", key, &e))?;

    let (sender, receiver) = mpsc::channel::<Piece>(CHANNEL_CHUNKS);
    let download_key = key.to_owned();
    let download_bucket = bucket.clone();
    let download = tokio::spawn(async move {
        let mut stream = object.into_stream();
        while let Some(item) = stream.next().await {
            let piece = match item {
                Ok(bytes) => Piece::Chunk(bytes),
                Err(e) => {
                    Piece::Failed(download_bucket.error("read", &download_key, &e).to_string())
                }
            };
            let failed = matches!(piece, Piece::Failed(_));
            if sender.send(piece).await.is_err() || failed {
                return;
            }
        }
        let _ = sender.send(Piece::End).await;
    });

    let target = staging.to_owned();
    let extracted = tokio::task::spawn_blocking(move || {
        let mut reader = ChunkReceiver::new(receiver);
        archive::extract_verified(&mut reader, manifest.as_ref(), &target)
    })
    .await;
    download.abort();
    match extracted {
        Ok(Ok(summary)) => Ok(summary),
        Ok(Err(source)) => Err(RestoreError::Archive { url, source }),
        Err(join) => Err(RestoreError::Thread {
            url,
            reason: join.to_string(),
        }),
    }
}

/// The manifest next to `key`, when there is one.
pub async fn read_manifest(bucket: &Bucket, key: &str) -> Result<Option<Manifest>, RestoreError> {
    let manifest_key = manifest_key(key);
    if manifest_key == key {
        return Ok(None);
    }
    let Some(body) = bucket.get_small(&manifest_key).await? else {
        return Ok(None);
    };
    serde_json::from_slice(&body)
        .map(Some)
        .map_err(|e| RestoreError::Manifest {
            url: bucket.url(&manifest_key),
            reason: e.to_string(),
        })
}
