//! Streams an archive to one S3 object by multipart upload: the archive is written on a blocking
//! thread into a [`ChunkSender`], an async loop gathers the chunks into 5 MiB parts and uploads
//! them, two in flight by default ([`Tuning`]). No temporary file; memory is bounded by the channel and the parts in
//! flight. On any failure (S3 error, deadline, archive error) the multipart upload is aborted,
//! so no object appears; an abort that fails too (S3 is down) is kept in [`Unaborted`] and
//! retried before the next upload.

use std::{
    mem,
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};

use bytes::Bytes;
use object_store::{MultipartUpload, ObjectStoreExt, PutPayloadMut, path::Path};
use tokio::{sync::mpsc, task::JoinSet, time::Instant};

use super::{
    archive::ArchiveError,
    bridge::{CHANNEL_CHUNKS, ChunkSender, StreamDigest},
    store::{Bucket, StoreError},
};
use crate::error_chain::error_chain;

/// Size of each uploaded part by default: S3's minimum (5 MiB, except the last part), so that
/// the parts in flight plus the one being filled stay around 15 MiB whatever the workspace size.
pub const PART_SIZE: usize = 5 << 20;

/// Parts uploaded at the same time by default.
pub const PARTS_IN_FLIGHT: usize = 2;

/// How an upload is cut into parts. The defaults come from the backup benchmark (see the
/// README): on a local store larger parts or more of them in flight gained nothing measurable,
/// while each extra part in flight costs its size in memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tuning {
    /// Bytes per part (at least S3's 5 MiB minimum).
    pub part_size: usize,
    /// Parts uploading at the same time (at least 1).
    pub parts_in_flight: usize,
}

impl Default for Tuning {
    fn default() -> Self {
        Tuning {
            part_size: PART_SIZE,
            parts_in_flight: PARTS_IN_FLIGHT,
        }
    }
}

/// Time allowed to abort a failed upload (S3 may be the reason it failed).
const ABORT_BUDGET: Duration = Duration::from_secs(30);

/// Why an upload failed. The multipart upload was aborted (or the abort is reported in
/// `abort`).
#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    /// S3 refused or failed a request.
    #[error("{source}{}", abort_note(.abort.as_deref()))]
    Store {
        /// What S3 said.
        source: StoreError,
        /// Why the abort failed, when it did.
        abort: Option<String>,
    },
    /// The archive could not be written.
    #[error("failed to archive the workspace: {}{}", error_chain(.source), abort_note(.abort.as_deref()))]
    Archive {
        /// The archive's error.
        source: ArchiveError,
        /// Why the abort failed, when it did.
        abort: Option<String>,
    },
    /// The deadline passed first.
    #[error("the backup to {url} did not finish within {seconds} s{}", abort_note(.abort.as_deref()))]
    TimedOut {
        /// `s3://bucket/key`.
        url: String,
        /// The time budget.
        seconds: u64,
        /// Why the abort failed, when it did.
        abort: Option<String>,
    },
    /// The archive thread panicked or was cancelled.
    #[error("the archive thread of {url} ended abnormally: {reason}")]
    Thread {
        /// `s3://bucket/key`.
        url: String,
        /// The join error.
        reason: String,
    },
}

fn abort_note(abort: Option<&str>) -> String {
    abort.map_or_else(String::new, |reason| {
        format!(" (aborting the multipart upload also failed: {reason})")
    })
}

/// What was uploaded.
#[derive(Debug)]
pub struct Uploaded<T> {
    /// Size and checksum of the object, from the stream.
    pub digest: StreamDigest,
    /// What the archive writer returned.
    pub summary: T,
}

/// A multipart upload whose abort failed, and its key.
type Pending = (String, Box<dyn MultipartUpload>);

/// Multipart uploads whose abort failed, retried before the next upload; shared by clones.
#[derive(Debug, Clone, Default)]
pub struct Unaborted {
    uploads: Arc<Mutex<Vec<Pending>>>,
}

impl Unaborted {
    fn keep(&self, key: String, upload: Box<dyn MultipartUpload>) {
        self.uploads
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push((key, upload));
    }

    /// How many uploads wait for their abort.
    pub fn len(&self) -> usize {
        self.uploads
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// True when no upload waits for its abort.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Tries every waiting abort again; those that fail again stay.
    pub async fn retry(&self) {
        let waiting = mem::take(&mut *self.uploads.lock().unwrap_or_else(PoisonError::into_inner));
        for (key, mut upload) in waiting {
            match tokio::time::timeout(ABORT_BUDGET, upload.abort()).await {
                Ok(Ok(())) => tracing::info!(%key, "aborted an earlier failed multipart upload"),
                _ => self.keep(key, upload),
            }
        }
    }
}

/// The parts of one multipart upload: chunks gathered into parts of [`Tuning::part_size`], at
/// most [`Tuning::parts_in_flight`] uploading.
#[derive(Debug)]
struct Parts {
    upload: Box<dyn MultipartUpload>,
    buffer: PutPayloadMut,
    in_flight: JoinSet<object_store::Result<()>>,
    sent_parts: usize,
    tuning: Tuning,
}

impl Parts {
    fn new(upload: Box<dyn MultipartUpload>, tuning: Tuning) -> Parts {
        Parts {
            tuning: Tuning {
                part_size: tuning.part_size.max(PART_SIZE),
                parts_in_flight: tuning.parts_in_flight.max(1),
            },
            upload,
            buffer: PutPayloadMut::new(),
            in_flight: JoinSet::new(),
            sent_parts: 0,
        }
    }

    /// Waits until at most `limit` parts upload; the first failure ends the upload.
    async fn settle(&mut self, limit: usize) -> object_store::Result<()> {
        while self.in_flight.len() > limit {
            match self.in_flight.join_next().await {
                Some(Ok(Ok(()))) | None => {}
                Some(Ok(Err(e))) => return Err(e),
                Some(Err(join)) => {
                    return Err(object_store::Error::JoinError { source: join });
                }
            }
        }
        Ok(())
    }

    fn send(&mut self) {
        let part = mem::take(&mut self.buffer).freeze();
        self.in_flight.spawn(self.upload.put_part(part));
        self.sent_parts += 1;
    }

    async fn put(&mut self, chunk: Bytes) -> object_store::Result<()> {
        self.buffer.push(chunk);
        if self.buffer.content_length() >= self.tuning.part_size {
            self.settle(self.tuning.parts_in_flight - 1).await?;
            self.send();
        }
        Ok(())
    }

    async fn finish(&mut self) -> object_store::Result<()> {
        if self.buffer.content_length() > 0 || self.sent_parts == 0 {
            self.send();
        }
        self.settle(0).await?;
        self.upload.complete().await.map(|_| ())
    }
}

/// When an upload must be over, and the budget that deadline came from (for the error).
#[derive(Debug, Clone, Copy)]
pub struct Deadline {
    /// The deadline.
    pub at: Instant,
    /// The time budget it was computed from.
    pub budget: Duration,
}

/// Uploads what `write` produces to `key`, by `deadline`. `write` runs on a blocking thread
/// and must write the whole archive into the sender it is given; `on_sent` sees the bytes
/// uploaded so far after each chunk. Failed aborts go to `unaborted`.
pub async fn upload<T, W>(
    bucket: &Bucket,
    key: &str,
    write: W,
    deadline: Deadline,
    tuning: Tuning,
    unaborted: &Unaborted,
    on_sent: impl Fn(u64),
) -> Result<Uploaded<T>, UploadError>
where
    T: Send + 'static,
    W: FnOnce(&mut ChunkSender) -> Result<T, ArchiveError> + Send + 'static,
{
    let Deadline {
        at: deadline,
        budget,
    } = deadline;
    let url = bucket.url(key);
    let timed_out = |abort| UploadError::TimedOut {
        url: url.clone(),
        seconds: budget.as_secs(),
        abort,
    };
    // Created first: refused credentials or an unreachable store fail before any archiving.
    let upload =
        match tokio::time::timeout_at(deadline, bucket.store().put_multipart(&Path::from(key)))
            .await
        {
            Err(_) => return Err(timed_out(None)),
            Ok(Err(e)) => {
                return Err(UploadError::Store {
                    source: bucket.error("start the upload of", key, &e),
                    abort: None,
                });
            }
            Ok(Ok(upload)) => upload,
        };
    let mut parts = Parts::new(upload, tuning);

    let (sender, mut chunks) = mpsc::channel::<Bytes>(CHANNEL_CHUNKS);
    let archive = tokio::task::spawn_blocking(move || {
        let mut out = ChunkSender::new(sender);
        let summary = write(&mut out)?;
        let digest = out
            .finish()
            .map_err(|e| ArchiveError::from_stream(None, e))?;
        Ok::<_, ArchiveError>((summary, digest))
    });

    let pump = async {
        let mut sent = 0u64;
        while let Some(chunk) = chunks.recv().await {
            sent += chunk.len() as u64;
            parts.put(chunk).await?;
            on_sent(sent);
        }
        Ok::<_, object_store::Error>(())
    };
    let pumped = tokio::time::timeout_at(deadline, pump).await;
    // From here on the archive thread either finished or fails at its next send.
    drop(chunks);
    let archived = archive.await;

    let failure = match (pumped, archived) {
        (Err(_), _) => timed_out(None),
        (Ok(Err(e)), _) => UploadError::Store {
            source: bucket.error("upload a part of", key, &e),
            abort: None,
        },
        (Ok(Ok(())), Err(join)) => UploadError::Thread {
            url: url.clone(),
            reason: join.to_string(),
        },
        (Ok(Ok(())), Ok(Err(source))) => UploadError::Archive {
            source,
            abort: None,
        },
        (Ok(Ok(())), Ok(Ok((summary, digest)))) => {
            match tokio::time::timeout_at(deadline, parts.finish()).await {
                Ok(Ok(())) => return Ok(Uploaded { digest, summary }),
                Ok(Err(e)) => UploadError::Store {
                    source: bucket.error("complete the upload of", key, &e),
                    abort: None,
                },
                Err(_) => timed_out(None),
            }
        }
    };
    parts.in_flight.shutdown().await;
    let mut upload = parts.upload;
    let abort = match tokio::time::timeout(ABORT_BUDGET, upload.abort()).await {
        Ok(Ok(())) => None,
        Ok(Err(e)) => Some(bucket.error("abort the upload of", key, &e).to_string()),
        Err(_) => Some(format!("no answer within {} s", ABORT_BUDGET.as_secs())),
    };
    if let Some(reason) = &abort {
        tracing::warn!(%url, %reason, "failed to abort a multipart upload; retried before the next backup");
        unaborted.keep(key.to_owned(), upload);
    }
    Err(failure.with_abort(abort.map(|reason| format!("{reason}; retried before the next backup"))))
}

impl UploadError {
    /// The same error, noting why the abort failed.
    fn with_abort(mut self, note: Option<String>) -> UploadError {
        match &mut self {
            UploadError::Store { abort, .. }
            | UploadError::Archive { abort, .. }
            | UploadError::TimedOut { abort, .. } => *abort = note,
            UploadError::Thread { .. } => {}
        }
        self
    }
}
