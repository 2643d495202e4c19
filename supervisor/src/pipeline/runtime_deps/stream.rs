//! Unpacking a download while it arrives: the body's chunks are handed to a blocking thread that
//! hashes them and reads the archive as a stream, so the network, the hash, the decompression and
//! the disk work at the same time instead of one after another. What the archive yields is only
//! staged (temporary files); the caller commits it once the hash matched.

use std::{
    fs::{self, OpenOptions},
    io::{self, Read, Write},
    os::unix::fs::{OpenOptionsExt, PermissionsExt},
    path::{Path, PathBuf},
};

use bytes::Bytes;
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;

use crate::pipeline::{fsutil, http::HttpError};

/// Why a streamed download failed.
#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    /// The download.
    #[error(transparent)]
    Http(#[from] HttpError),
    /// Reading the archive or writing what it holds.
    #[error("failed to unpack the download")]
    Io(#[source] io::Error),
}

/// The body's chunks, read as a [`Read`] on the blocking side.
struct Chunks {
    rx: mpsc::Receiver<Bytes>,
    current: Bytes,
}

impl Read for Chunks {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.current.is_empty() {
            match self.rx.blocking_recv() {
                Some(chunk) => self.current = chunk,
                // The sender is gone: the end of the body (or a failure the caller reports).
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current.split_to(n));
        Ok(n)
    }
}

/// Hashes everything read through it.
pub struct Sha256Reader<R> {
    inner: R,
    hasher: Sha256,
}

impl<R: Read> Sha256Reader<R> {
    /// Wraps `inner`.
    pub fn new(inner: R) -> Sha256Reader<R> {
        Sha256Reader {
            inner,
            hasher: Sha256::new(),
        }
    }

    /// Reads what is left (so the hash covers the whole body) and returns the hex digest.
    pub fn finish(mut self) -> io::Result<String> {
        io::copy(&mut self, &mut io::sink())?;
        Ok(hex::encode(self.hasher.finalize()))
    }
}

impl<R: Read> Read for Sha256Reader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

/// Feeds `response`'s body (at most `limit` bytes) to `consume`, run on a blocking thread as the
/// chunks arrive; returns what `consume` returned.
pub async fn consume_body<T: Send + 'static>(
    mut response: reqwest::Response,
    limit: u64,
    consume: impl FnOnce(&mut dyn Read) -> io::Result<T> + Send + 'static,
) -> Result<T, StreamError> {
    let url = response.url().to_string();
    let (tx, rx) = mpsc::channel::<Bytes>(64);
    let worker = tokio::task::spawn_blocking(move || {
        let mut chunks = Chunks {
            rx,
            current: Bytes::new(),
        };
        consume(&mut chunks)
    });
    let mut received = 0u64;
    let fed = loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                received += chunk.len() as u64;
                if received > limit {
                    break Err(HttpError::TooLarge { url, limit });
                }
                // A closed channel: the worker stopped early; its error says why.
                if tx.send(chunk).await.is_err() {
                    break Ok(());
                }
            }
            Ok(None) => break Ok(()),
            Err(source) => break Err(HttpError::Body { url, source }),
        }
    };
    drop(tx);
    let consumed = worker
        .await
        .map_err(|e| StreamError::Io(io::Error::other(e)))?;
    fed?;
    consumed.map_err(StreamError::Io)
}

/// Bytes written between two flushes of a staged file.
const SYNC_EVERY: usize = 8 * 1024 * 1024;

/// Binaries written to temporary files beside their final names, not yet in place.
#[derive(Debug, Default)]
pub struct Staged(Vec<(PathBuf, PathBuf)>);

impl Staged {
    /// Writes `name` from `content` into a temporary file in `dir` (mode 0755, flushed to disk).
    pub fn add(&mut self, dir: &Path, name: &str, content: &mut impl Read) -> io::Result<()> {
        fs::create_dir_all(dir)?;
        let target = dir.join(name);
        let temp = fsutil::sibling(&target, "tmp");
        self.0.push((temp.clone(), target));
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o755)
            .open(&temp)?;
        // Flushed every few megabytes, so the disk works while the rest downloads and the final
        // sync has little left to write.
        let mut buffer = vec![0u8; 256 * 1024];
        let mut unsynced = 0usize;
        loop {
            let n = content.read(&mut buffer)?;
            if n == 0 {
                break;
            }
            file.write_all(&buffer[..n])?;
            unsynced += n;
            if unsynced >= SYNC_EVERY {
                file.sync_data()?;
                unsynced = 0;
            }
        }
        file.set_permissions(fs::Permissions::from_mode(0o755))?;
        file.sync_all()
    }

    /// Names staged, in order.
    pub fn names(&self) -> Vec<String> {
        self.0
            .iter()
            .filter_map(|(_, t)| Some(t.file_name()?.to_string_lossy().into_owned()))
            .collect()
    }

    /// Moves every file over its final name; returns the final paths.
    pub fn commit(mut self) -> io::Result<Vec<PathBuf>> {
        let files = std::mem::take(&mut self.0);
        let mut placed = Vec::with_capacity(files.len());
        for (temp, target) in files {
            fs::rename(&temp, &target)?;
            placed.push(target);
        }
        if let Some(dir) = placed.first().and_then(|p| p.parent()) {
            fs::File::open(dir)?.sync_all()?;
        }
        Ok(placed)
    }
}

impl Drop for Staged {
    /// What was not committed is removed.
    fn drop(&mut self) {
        for (temp, _) in &self.0 {
            let _ = fs::remove_file(temp);
        }
    }
}
