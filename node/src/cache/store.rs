//! The content-addressed blob store: every download and every upstream document is a file
//! named by its SHA-256 under `<dir>/blobs/sha256/`, and `<dir>/index.json` maps request keys
//! (an npm tarball path, a packument and its Accept variant, a ClawHub slug and version …) onto
//! those blobs.
//!
//! Crash safety: a blob is written to `<dir>/tmp/`, fsynced and renamed into place, so a blob
//! file is always whole; the index is written the same way. `open` empties `tmp/` (the
//! half-written leftovers of a crash), drops index entries whose blob is missing or has the
//! wrong size, and adopts blob files the index does not know (a crash between a blob's rename
//! and the index's). A blob is hashed in full before it is first served after a restart (bit
//! rot, a tampered hostPath), so opening stays cheap even with hundreds of GiB of models.
//!
//! Size: the store keeps at most `max_bytes` of blobs, evicting the least recently used first
//! (never the one just stored). A blob larger than the whole budget is served from an unlinked
//! temporary file and not kept. Recency is a logical clock, persisted with the index whenever
//! the index is written (each store or eviction), so a restart keeps a recent-enough order
//! without writing the index on every hit.

use std::{
    collections::{BTreeMap, HashSet},
    io::Read,
    path::{Path, PathBuf},
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::{SystemTime, UNIX_EPOCH},
};

use bytes::Bytes;
use futures::{Stream, StreamExt};
use serde::{Deserialize, Serialize};
use sha2::Digest;
use tokio::io::AsyncWriteExt;

use super::{
    error::CacheError,
    metrics::Metrics,
    verify::{Checker, Mismatch, is_sha256_hex},
};

/// What the index records for one request key.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Entry {
    /// The blob holding the answer.
    pub sha256: String,
    /// For documents that change upstream: when it was fetched (Unix milliseconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fetched_at_ms: Option<u64>,
    /// The upstream's `Content-Type`, served back as it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    /// For artifacts: the digest the upstream's document promised (see `verify::Expected`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct BlobMeta {
    size: u64,
    /// The logical clock when last used; smallest is evicted first.
    last_used: u64,
}

/// The on-disk index.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Index {
    #[serde(default)]
    clock: u64,
    #[serde(default)]
    blobs: BTreeMap<String, BlobMeta>,
    #[serde(default)]
    entries: BTreeMap<String, Entry>,
    /// Facts that must outlive the blobs they describe: the first SHA-256 seen for an
    /// immutable ClawHub version, the original URL of a PyPI file.
    #[serde(default)]
    pins: BTreeMap<String, String>,
}

#[derive(Debug, Default)]
struct State {
    index: Index,
    /// Blobs hashed (or written) by this process: served without hashing again.
    verified: HashSet<String>,
    total: u64,
}

/// A download written to `tmp/`, hashed, not yet in the store.
#[derive(Debug)]
pub(crate) struct Staged {
    path: PathBuf,
    pub sha256: String,
    pub size: u64,
}

impl Staged {
    /// Opens the staged file for reading. The handle stays valid after the file is renamed
    /// into the store, evicted, or not kept, so the request that fetched it can always serve it.
    pub async fn open(&self) -> std::io::Result<tokio::fs::File> {
        tokio::fs::File::open(&self.path).await
    }
}

/// Why staging a download failed.
#[derive(Debug)]
pub(crate) enum StageError {
    /// The download broke off.
    Upstream(String),
    /// Writing the temporary file failed.
    Io(std::io::Error),
    /// The bytes are not what was expected (the temporary file is already gone).
    Mismatch(Mismatch),
}

/// The blob store and its index.
#[derive(Debug)]
pub(crate) struct Store {
    dir: PathBuf,
    max_bytes: u64,
    state: Mutex<State>,
    persist_lock: tokio::sync::Mutex<()>,
    temp_counter: AtomicU64,
    metrics: Arc<Metrics>,
}

/// Milliseconds since the Unix epoch.
pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

impl Store {
    /// Opens (or creates) the store in `dir`; see the module documentation for what is checked.
    pub async fn open(
        dir: PathBuf,
        max_bytes: u64,
        metrics: Arc<Metrics>,
    ) -> Result<Store, CacheError> {
        tokio::task::spawn_blocking(move || Store::open_blocking(dir, max_bytes, metrics))
            .await
            .map_err(|e| CacheError::Io {
                path: "cache directory".into(),
                source: std::io::Error::other(e),
            })?
    }

    fn open_blocking(
        dir: PathBuf,
        max_bytes: u64,
        metrics: Arc<Metrics>,
    ) -> Result<Store, CacheError> {
        let blobs_dir = dir.join("blobs").join("sha256");
        let tmp_dir = dir.join("tmp");
        std::fs::create_dir_all(&blobs_dir).map_err(CacheError::io(&blobs_dir))?;
        std::fs::create_dir_all(&tmp_dir).map_err(CacheError::io(&tmp_dir))?;
        for leftover in std::fs::read_dir(&tmp_dir).map_err(CacheError::io(&tmp_dir))? {
            let leftover = leftover.map_err(CacheError::io(&tmp_dir))?.path();
            tracing::info!(file = %leftover.display(), "removing a half-written download");
            let removed = if leftover.is_dir() {
                std::fs::remove_dir_all(&leftover)
            } else {
                std::fs::remove_file(&leftover)
            };
            removed.map_err(CacheError::io(&leftover))?;
        }
        let index_path = dir.join("index.json");
        let mut index = match std::fs::read(&index_path) {
            Ok(bytes) => serde_json::from_slice::<Index>(&bytes).unwrap_or_else(|error| {
                tracing::warn!(%error, "the cache index is unreadable; starting from the blobs alone");
                Index::default()
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Index::default(),
            Err(e) => return Err(CacheError::io(&index_path)(e)),
        };
        let mut on_disk = BTreeMap::new();
        for file in std::fs::read_dir(&blobs_dir).map_err(CacheError::io(&blobs_dir))? {
            let file = file.map_err(CacheError::io(&blobs_dir))?;
            let name = file.file_name().to_string_lossy().into_owned();
            let meta = file.metadata().map_err(CacheError::io(&file.path()))?;
            if is_sha256_hex(&name) && meta.is_file() {
                on_disk.insert(name, meta.len());
            } else {
                tracing::warn!(file = %file.path().display(), "removing a stray file from the blob store");
                std::fs::remove_file(file.path())
                    .or_else(|_| std::fs::remove_dir_all(file.path()))
                    .map_err(CacheError::io(&file.path()))?;
            }
        }
        index.blobs.retain(|hex, meta| match on_disk.get(hex) {
            Some(size) if *size == meta.size => true,
            _ => {
                tracing::warn!(blob = %hex, "dropping a blob that is missing or has the wrong size");
                false
            }
        });
        for (hex, size) in &on_disk {
            if !index.blobs.contains_key(hex) {
                index.blobs.insert(
                    hex.clone(),
                    BlobMeta {
                        size: *size,
                        last_used: 0,
                    },
                );
            }
        }
        let blobs = &index.blobs;
        index
            .entries
            .retain(|_, entry| blobs.contains_key(&entry.sha256));
        let total = index.blobs.values().map(|b| b.size).sum();
        metrics.set_stored_bytes(total);
        let store = Store {
            dir,
            max_bytes,
            state: Mutex::new(State {
                index,
                verified: HashSet::new(),
                total,
            }),
            persist_lock: tokio::sync::Mutex::new(()),
            temp_counter: AtomicU64::new(0),
            metrics,
        };
        let evicted = store.evict(None);
        store.remove_files(&evicted);
        store
            .write_index_blocking()
            .map_err(CacheError::io(&index_path))?;
        Ok(store)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn blob_path(&self, hex: &str) -> PathBuf {
        self.dir.join("blobs").join("sha256").join(hex)
    }

    fn temp_path(&self) -> PathBuf {
        let n = self.temp_counter.fetch_add(1, Ordering::Relaxed);
        self.dir
            .join("tmp")
            .join(format!("{}-{n}", std::process::id()))
    }

    /// Bytes of blobs held.
    pub fn stored_bytes(&self) -> u64 {
        self.lock().total
    }

    /// The entry of `key`, if its blob is still held.
    pub fn entry(&self, key: &str) -> Option<Entry> {
        self.lock().index.entries.get(key).cloned()
    }

    /// A pinned fact.
    pub fn pin(&self, key: &str) -> Option<String> {
        self.lock().index.pins.get(key).cloned()
    }

    /// Records pinned facts (those already known with the same value cost nothing).
    pub async fn set_pins(&self, pins: Vec<(String, String)>) -> std::io::Result<()> {
        let changed = {
            let mut state = self.lock();
            let mut changed = false;
            for (key, value) in pins {
                if state.index.pins.get(&key) != Some(&value) {
                    state.index.pins.insert(key, value);
                    changed = true;
                }
            }
            changed
        };
        if changed {
            self.persist().await?;
        }
        Ok(())
    }

    /// Marks a blob used (for LRU); false when it is not held.
    fn touch(&self, hex: &str) -> bool {
        let mut state = self.lock();
        state.index.clock += 1;
        let clock = state.index.clock;
        match state.index.blobs.get_mut(hex) {
            Some(meta) => {
                meta.last_used = clock;
                true
            }
            None => false,
        }
    }

    /// Whether `hex` was verified by this process; if not, hashes the file and drops the blob
    /// (and the entries that name it) when it does not match.
    async fn ensure_verified(&self, hex: &str) -> bool {
        if self.lock().verified.contains(hex) {
            return true;
        }
        let path = self.blob_path(hex);
        let actual = tokio::task::spawn_blocking(move || -> std::io::Result<String> {
            let mut file = std::fs::File::open(path)?;
            let mut hasher = sha2::Sha256::new();
            let mut buffer = vec![0u8; 256 * 1024];
            loop {
                let n = file.read(&mut buffer)?;
                if n == 0 {
                    break;
                }
                hasher.update(&buffer[..n]);
            }
            Ok(hex::encode(hasher.finalize()))
        })
        .await;
        match actual {
            Ok(Ok(actual)) if actual == hex => {
                self.lock().verified.insert(hex.to_owned());
                true
            }
            Ok(Ok(actual)) => {
                tracing::warn!(blob = %hex, %actual, "a stored blob is corrupt; dropping it");
                self.drop_blob(hex).await;
                false
            }
            _ => {
                tracing::warn!(blob = %hex, "a stored blob is unreadable; dropping it");
                self.drop_blob(hex).await;
                false
            }
        }
    }

    /// Forgets a blob and every entry naming it, and deletes its file.
    pub async fn drop_blob(&self, hex: &str) {
        {
            let mut state = self.lock();
            if let Some(meta) = state.index.blobs.remove(hex) {
                state.total -= meta.size;
            }
            state.verified.remove(hex);
            state.index.entries.retain(|_, e| e.sha256 != hex);
            self.metrics.set_stored_bytes(state.total);
        }
        let _ = tokio::fs::remove_file(self.blob_path(hex)).await;
        if let Err(error) = self.persist().await {
            tracing::warn!(%error, "failed to write the cache index");
        }
    }

    /// Reads a whole (small) blob: documents. `None` when not held or corrupt.
    pub async fn read(&self, hex: &str) -> Option<Bytes> {
        if !self.touch(hex) || !self.ensure_verified(hex).await {
            return None;
        }
        tokio::fs::read(self.blob_path(hex))
            .await
            .ok()
            .map(Bytes::from)
    }

    /// Opens a blob to stream it: the file and its size. `None` when not held or corrupt.
    pub async fn open_blob(&self, hex: &str) -> Option<(tokio::fs::File, u64)> {
        if !self.touch(hex) || !self.ensure_verified(hex).await {
            return None;
        }
        let file = tokio::fs::File::open(self.blob_path(hex)).await.ok()?;
        let size = file.metadata().await.ok()?.len();
        Some((file, size))
    }

    /// Writes a download to `tmp/` as it streams in, hashing it with SHA-256 and with
    /// `checker` when given; on a mismatch the temporary file is removed.
    pub async fn stage<S, E>(
        &self,
        mut body: S,
        mut checker: Option<Checker>,
    ) -> Result<Staged, StageError>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let path = self.temp_path();
        let result = async {
            let mut file = tokio::fs::File::create(&path)
                .await
                .map_err(StageError::Io)?;
            let mut sha256 = sha2::Sha256::new();
            let mut size = 0u64;
            while let Some(chunk) = body.next().await {
                let chunk = chunk.map_err(|e| StageError::Upstream(e.to_string()))?;
                sha256.update(&chunk);
                if let Some(checker) = checker.as_mut() {
                    checker.update(&chunk);
                }
                size += chunk.len() as u64;
                file.write_all(&chunk).await.map_err(StageError::Io)?;
            }
            if let Some(checker) = checker.take() {
                checker.finish().map_err(StageError::Mismatch)?;
            }
            file.flush().await.map_err(StageError::Io)?;
            file.sync_all().await.map_err(StageError::Io)?;
            Ok((hex::encode(sha256.finalize()), size))
        }
        .await;
        match result {
            Ok((sha256, size)) => Ok(Staged { path, sha256, size }),
            Err(error) => {
                let _ = tokio::fs::remove_file(&path).await;
                Err(error)
            }
        }
    }

    /// Stages bytes already in memory (documents).
    pub async fn stage_bytes(&self, bytes: Bytes) -> Result<Staged, StageError> {
        let stream = futures::stream::iter([Ok::<_, std::convert::Infallible>(bytes)]);
        self.stage(stream, None).await
    }

    /// Discards a staged download.
    pub async fn discard(&self, staged: Staged) {
        let _ = tokio::fs::remove_file(&staged.path).await;
    }

    /// Moves a staged download into the store under its SHA-256, records `entry` for `key`,
    /// evicts least-recently-used blobs down to the budget, and writes the index. A download
    /// larger than the whole budget is not kept (false): whoever opened it with
    /// [`Staged::open`] still reads it from the unlinked file.
    pub async fn commit(
        &self,
        staged: Staged,
        entry: Option<(String, Entry)>,
    ) -> std::io::Result<bool> {
        if staged.size > self.max_bytes {
            tokio::fs::remove_file(&staged.path).await?;
            tracing::info!(
                blob = %staged.sha256,
                size = staged.size,
                max = self.max_bytes,
                "serving a download larger than the whole cache without keeping it"
            );
            return Ok(false);
        }
        let target = self.blob_path(&staged.sha256);
        tokio::fs::rename(&staged.path, &target).await?;
        let blobs_dir = self.dir.join("blobs").join("sha256");
        tokio::task::spawn_blocking(move || std::fs::File::open(blobs_dir)?.sync_all())
            .await
            .map_err(std::io::Error::other)??;
        let evicted = {
            let mut state = self.lock();
            state.index.clock += 1;
            let clock = state.index.clock;
            let previous = state.index.blobs.insert(
                staged.sha256.clone(),
                BlobMeta {
                    size: staged.size,
                    last_used: clock,
                },
            );
            state.total = state.total - previous.map_or(0, |p| p.size) + staged.size;
            state.verified.insert(staged.sha256.clone());
            if let Some((key, entry)) = entry {
                state.index.entries.insert(key, entry);
            }
            drop(state);
            self.evict(Some(&staged.sha256))
        };
        self.remove_files(&evicted);
        self.persist().await?;
        Ok(true)
    }

    /// Evicts least-recently-used blobs (never `keep`) until the total fits; returns their names.
    fn evict(&self, keep: Option<&str>) -> Vec<String> {
        let mut state = self.lock();
        if state.total <= self.max_bytes {
            self.metrics.set_stored_bytes(state.total);
            return Vec::new();
        }
        let mut candidates: Vec<(u64, String, u64)> = state
            .index
            .blobs
            .iter()
            .filter(|(hex, _)| Some(hex.as_str()) != keep)
            .map(|(hex, meta)| (meta.last_used, hex.clone(), meta.size))
            .collect();
        candidates.sort();
        let mut evicted = Vec::new();
        for (_, hex, size) in candidates {
            if state.total <= self.max_bytes {
                break;
            }
            state.index.blobs.remove(&hex);
            state.verified.remove(&hex);
            state.total -= size;
            evicted.push(hex);
        }
        let gone: HashSet<&String> = evicted.iter().collect();
        state.index.entries.retain(|_, e| !gone.contains(&e.sha256));
        self.metrics.set_stored_bytes(state.total);
        self.metrics.evicted(evicted.len() as u64);
        evicted
    }

    fn remove_files(&self, evicted: &[String]) {
        for hex in evicted {
            tracing::debug!(blob = %hex, "evicted");
            let _ = std::fs::remove_file(self.blob_path(hex));
        }
    }

    /// Writes the index (temp file, fsync, rename, fsync of the directory). Writers queue so
    /// that the last snapshot taken is the last written.
    pub async fn persist(&self) -> std::io::Result<()> {
        let _guard = self.persist_lock.lock().await;
        let snapshot = serde_json::to_vec(&self.lock().index).map_err(std::io::Error::other)?;
        let temp = self.temp_path();
        let dir = self.dir.clone();
        tokio::task::spawn_blocking(move || write_atomically(&dir, &temp, &snapshot))
            .await
            .map_err(std::io::Error::other)?
    }

    fn write_index_blocking(&self) -> std::io::Result<()> {
        let snapshot = serde_json::to_vec(&self.lock().index).map_err(std::io::Error::other)?;
        write_atomically(&self.dir, &self.temp_path(), &snapshot)
    }
}

fn write_atomically(dir: &Path, temp: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut file = std::fs::File::create(temp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    std::fs::rename(temp, dir.join("index.json"))?;
    std::fs::File::open(dir)?.sync_all()
}
