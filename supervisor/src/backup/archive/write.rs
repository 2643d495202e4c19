//! Writes a workspace as a tar stream compressed with zstd: a sorted walk, every regular file
//! read once through a fixed buffer and hashed on the way, SQLite databases through their
//! online backup, and the manifest's entries collected as it goes.

use std::{
    ffi::OsString,
    fmt,
    fs::{self, File, Metadata},
    io::{self, BufWriter, Read, Write},
    os::unix::{ffi::OsStrExt, fs::MetadataExt},
    path::{Path, PathBuf},
    thread,
};

use openclaw_api::backup::{EntryKind, ManifestEntry};
use sha2::{Digest, Sha256};
use tar::{EntryType, Header};
use zstd::stream::raw::CParameter;

use super::{
    ArchiveError, BUFFER_SIZE, MODE_MASK, ZSTD_LEVEL, hashing,
    sqlite::{self, Copied},
};

/// Called now and then with the files and uncompressed bytes archived so far.
pub type Progress = Box<dyn Fn(u64, u64) + Send + Sync>;

/// zstd job size: each worker compresses jobs of this many bytes. zstd's default for level 3
/// (8 MiB) costs about 50 MiB of buffers per worker on incompressible data; 2 MiB keeps a
/// 4-worker archive under 35 MiB of growth (see `tests/backup_archive.rs`).
const JOB_SIZE: u32 = 2 << 20;

/// At most this many zstd workers by default: more would cost memory (each holds jobs in and
/// out) for throughput the single reading and hashing thread could not feed anyway.
const MAX_THREADS: u32 = 4;

/// Report progress at least every this many bytes ...
const PROGRESS_BYTES: u64 = 16 << 20;
/// ... or this many files.
const PROGRESS_FILES: u64 = 1000;

/// How to write an archive.
pub struct WriteOptions {
    /// Where SQLite databases are copied before being archived (created when needed; each
    /// copy is removed right after it was archived). Should be on a disk with room for the
    /// largest database, and excluded from the walk when inside the workspace.
    pub scratch_dir: PathBuf,
    /// Paths relative to the workspace that are left out with everything below them.
    pub exclude: Vec<PathBuf>,
    /// zstd level (1 to 19; [`ZSTD_LEVEL`] by default).
    pub level: i32,
    /// zstd worker threads; `None` uses the number of CPUs available to the process, at most
    /// four.
    pub threads: Option<u32>,
    /// Progress callback.
    pub progress: Option<Progress>,
    /// Write the manifest's entries to this file, one JSON object per line, instead of
    /// keeping them in [`WriteSummary::entries`]: memory then stays flat whatever the number
    /// of files.
    pub entries_file: Option<PathBuf>,
}

impl WriteOptions {
    /// Options with a scratch directory and nothing else.
    pub fn new(scratch_dir: impl Into<PathBuf>) -> Self {
        Self {
            scratch_dir: scratch_dir.into(),
            exclude: Vec::new(),
            level: ZSTD_LEVEL,
            threads: None,
            progress: None,
            entries_file: None,
        }
    }
}

impl fmt::Debug for WriteOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WriteOptions")
            .field("scratch_dir", &self.scratch_dir)
            .field("exclude", &self.exclude)
            .field("level", &self.level)
            .field("threads", &self.threads)
            .field("progress", &self.progress.is_some())
            .field("entries_file", &self.entries_file)
            .finish()
    }
}

/// What was archived.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WriteSummary {
    /// Every entry in archive order: the manifest's entries (empty when
    /// [`WriteOptions::entries_file`] received them).
    pub entries: Vec<ManifestEntry>,
    /// How many entries were archived.
    pub entry_count: u64,
    /// Regular files archived.
    pub files: u64,
    /// Their bytes (uncompressed).
    pub bytes: u64,
    /// Entries left out: sockets, fifos and devices, and files that vanished during the walk.
    pub skipped: u64,
}

/// Archives the contents of `workspace` (paths relative to it) into `out` as tar compressed
/// with zstd, and returns the manifest's entries. `out` receives the compressed bytes only;
/// wrap it in a [`super::HashingWriter`] for the archive's checksum and size.
pub fn write_archive(
    workspace: &Path,
    out: impl Write,
    opts: &WriteOptions,
) -> Result<WriteSummary, ArchiveError> {
    let threads = opts.threads.unwrap_or_else(|| {
        thread::available_parallelism()
            .map_or(1, |n| u32::try_from(n.get()).unwrap_or(1))
            .min(MAX_THREADS)
    });
    let stream = |e| ArchiveError::Stream {
        path: String::new(),
        source: e,
    };
    let mut encoder = zstd::stream::write::Encoder::new(out, opts.level).map_err(stream)?;
    encoder.multithread(threads).map_err(stream)?;
    encoder.include_checksum(true).map_err(stream)?;
    encoder
        .set_parameter(CParameter::JobSize(JOB_SIZE))
        .map_err(stream)?;
    let spill = match &opts.entries_file {
        Some(path) => Some(BufWriter::new(fs::File::create(path).map_err(
            |source| ArchiveError::Io {
                path: path.display().to_string(),
                source,
            },
        )?)),
        None => None,
    };
    let mut walker = Walker {
        spill,
        last: None,
        tar: tar::Builder::new(BufWriter::with_capacity(BUFFER_SIZE, encoder)),
        buf: vec![0; BUFFER_SIZE],
        opts,
        summary: WriteSummary::default(),
        reported: (0, 0),
    };
    let names = list(workspace)?.unwrap_or_default();
    walker.walk(workspace, Path::new(""), names)?;

    if let (Some(mut spill), Some(path)) = (walker.spill.take(), &opts.entries_file) {
        spill.flush().map_err(|source| ArchiveError::Io {
            path: path.display().to_string(),
            source,
        })?;
    }
    let last = walker.last.clone();
    let stream = |e| ArchiveError::Stream {
        path: last.clone().unwrap_or_default(),
        source: e,
    };
    let buffered = walker.tar.into_inner().map_err(stream)?;
    let encoder = buffered.into_inner().map_err(|e| stream(e.into_error()))?;
    encoder
        .finish()
        .and_then(|mut out| out.flush())
        .map_err(stream)?;
    if let Some(progress) = &opts.progress {
        progress(walker.summary.files, walker.summary.bytes);
    }
    Ok(walker.summary)
}

/// The names in a directory, sorted by bytes; `None` when it vanished.
fn list(dir: &Path) -> Result<Option<Vec<OsString>>, ArchiveError> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(ArchiveError::io(dir, e)),
    };
    let mut names = entries
        .map(|entry| entry.map(|e| e.file_name()))
        .collect::<io::Result<Vec<_>>>()
        .map_err(|e| ArchiveError::io(dir, e))?;
    names.sort_unstable_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
    Ok(Some(names))
}

/// `Ok(None)` for a file that vanished since it was listed.
fn vanished<T>(result: io::Result<T>, path: &Path) -> Result<Option<T>, ArchiveError> {
    match result {
        Ok(value) => Ok(Some(value)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(ArchiveError::io(path, e)),
    }
}

/// The walk's state: the tar stream, one reusable read buffer, and what was archived.
struct Walker<'o, W: Write> {
    tar: tar::Builder<BufWriter<zstd::stream::write::Encoder<'static, W>>>,
    buf: Vec<u8>,
    opts: &'o WriteOptions,
    summary: WriteSummary,
    reported: (u64, u64),
    /// Where entries go when [`WriteOptions::entries_file`] is set.
    spill: Option<BufWriter<fs::File>>,
    /// Path of the last entry (named by a stream error at the end).
    last: Option<String>,
}

impl<W: Write> Walker<'_, W> {
    /// Archives the entries `names` of the directory `abs` (`rel` in the archive), depth first.
    fn walk(&mut self, abs: &Path, rel: &Path, names: Vec<OsString>) -> Result<(), ArchiveError> {
        let mut databases: Vec<OsString> = Vec::new();
        for name in names {
            let rel = rel.join(&name);
            if self.opts.exclude.contains(&rel) {
                continue;
            }
            let abs = abs.join(&name);
            if databases
                .iter()
                .any(|db| sqlite::is_companion(db.as_bytes(), name.as_bytes()))
            {
                continue;
            }
            let Some(meta) = vanished(fs::symlink_metadata(&abs), &abs)? else {
                self.summary.skipped += 1;
                continue;
            };
            let kind = meta.file_type();
            let done = if kind.is_dir() {
                self.dir(&abs, &rel, &meta)?
            } else if kind.is_symlink() {
                self.symlink(&abs, &rel, &meta)?
            } else if kind.is_file() {
                match self.file(&abs, &rel, &meta)? {
                    Some(true) => {
                        databases.push(name);
                        true
                    }
                    Some(false) => true,
                    None => false,
                }
            } else {
                false
            };
            if !done {
                self.summary.skipped += 1;
            }
        }
        Ok(())
    }

    /// A directory entry, then its contents; `false` when it vanished.
    fn dir(&mut self, abs: &Path, rel: &Path, meta: &Metadata) -> Result<bool, ArchiveError> {
        let Some(names) = list(abs)? else {
            return Ok(false);
        };
        let mut header = header(meta, EntryType::Directory, 0);
        self.tar
            .append_data(&mut header, rel, io::empty())
            .map_err(|e| stream_error(rel, e))?;
        self.push(rel, EntryKind::Dir, meta, 0, None, None)?;
        self.walk(abs, rel, names)?;
        Ok(true)
    }

    /// A symlink entry, its target stored byte for byte; `false` when it vanished.
    fn symlink(&mut self, abs: &Path, rel: &Path, meta: &Metadata) -> Result<bool, ArchiveError> {
        let Some(target) = vanished(fs::read_link(abs), abs)? else {
            return Ok(false);
        };
        let target = target.as_os_str().as_bytes();
        let mut header = header(meta, EntryType::Symlink, 0);
        let slot = &mut header.as_old_mut().linkname;
        if target.len() <= slot.len() {
            slot[..target.len()].copy_from_slice(target);
        } else {
            // GNU long link name: an entry of its own, just before the link's header.
            let mut long = Header::new_gnu();
            long.as_old_mut().name[..13].copy_from_slice(b"././@LongLink");
            long.set_entry_type(EntryType::GNULongLink);
            long.set_mode(0o644);
            long.set_size(target.len() as u64 + 1);
            long.set_cksum();
            let mut data = target.chain(&[0u8][..]);
            self.tar
                .append(&long, &mut data)
                .map_err(|e| stream_error(rel, e))?;
        }
        self.tar
            .append_data(&mut header, rel, io::empty())
            .map_err(|e| stream_error(rel, e))?;
        let link = String::from_utf8_lossy(target).into_owned();
        self.push(rel, EntryKind::Symlink, meta, 0, None, Some(link))?;
        Ok(true)
    }

    /// A regular file, or a consistent copy of it when it is a SQLite database. `Some(true)`
    /// for a database, `Some(false)` for another file, `None` when it vanished.
    fn file(
        &mut self,
        abs: &Path,
        rel: &Path,
        meta: &Metadata,
    ) -> Result<Option<bool>, ArchiveError> {
        let Some(mut file) = vanished(File::open(abs), abs)? else {
            return Ok(None);
        };
        let mut head = [0u8; sqlite::MAGIC.len()];
        let head_len = read_head(&mut file, &mut head).map_err(|e| ArchiveError::io(abs, e))?;
        let mut database = false;
        let mut _copy = None;
        let mut head = &head[..head_len];
        if sqlite::is_sqlite(head) {
            match sqlite::copy(abs, &self.opts.scratch_dir) {
                Ok(Copied::Copy(copy)) => {
                    file = File::open(copy.path()).map_err(|e| ArchiveError::io(copy.path(), e))?;
                    head = &[];
                    database = true;
                    _copy = Some(copy);
                }
                Ok(Copied::NotADatabase) => {}
                Err(_) if !abs.exists() => return Ok(None),
                Err(e) => return Err(e),
            }
        }
        let size = file.metadata().map_err(|e| ArchiveError::io(abs, e))?.len();
        let mut header = header(meta, EntryType::Regular, size);
        let mut source = Source {
            head,
            file: &mut file,
            buf: &mut self.buf,
            pos: 0,
            end: 0,
            remaining: size,
            hasher: Sha256::new(),
            failed: false,
            short: false,
        };
        if let Err(e) = self.tar.append_data(&mut header, rel, &mut source) {
            return Err(if source.failed {
                ArchiveError::io(abs, e)
            } else {
                stream_error(rel, e)
            });
        }
        if source.short {
            tracing::warn!(
                path = %rel.display(),
                "file shrank while it was archived; its end is stored as zeros"
            );
        }
        let sha256 = hashing::hex(source.hasher);
        self.summary.files += 1;
        self.summary.bytes += size;
        self.push(rel, EntryKind::File, meta, size, Some(sha256), None)?;
        self.report();
        Ok(Some(database))
    }

    /// Records a manifest entry, in memory or in the entries file.
    fn push(
        &mut self,
        rel: &Path,
        kind: EntryKind,
        meta: &Metadata,
        size: u64,
        sha256: Option<String>,
        link: Option<String>,
    ) -> Result<(), ArchiveError> {
        let entry = ManifestEntry {
            path: rel.to_string_lossy().into_owned(),
            kind,
            size,
            mode: meta.mode() & MODE_MASK,
            sha256,
            link,
        };
        self.summary.entry_count += 1;
        self.last = Some(entry.path.clone());
        match &mut self.spill {
            Some(spill) => {
                let io = |source| ArchiveError::Io {
                    path: self
                        .opts
                        .entries_file
                        .as_deref()
                        .map(|p| p.display().to_string())
                        .unwrap_or_default(),
                    source,
                };
                serde_json::to_writer(&mut *spill, &entry)
                    .map_err(std::io::Error::from)
                    .and_then(|()| spill.write_all(b"\n"))
                    .map_err(io)
            }
            None => {
                self.summary.entries.push(entry);
                Ok(())
            }
        }
    }

    /// Calls the progress callback when enough happened since the last call.
    fn report(&mut self) {
        let Some(progress) = &self.opts.progress else {
            return;
        };
        let now = (self.summary.files, self.summary.bytes);
        if now.0 - self.reported.0 >= PROGRESS_FILES || now.1 - self.reported.1 >= PROGRESS_BYTES {
            progress(now.0, now.1);
            self.reported = now;
        }
    }
}

/// A GNU header of `kind` with the mode, owner and mtime of `meta`.
fn header(meta: &Metadata, kind: EntryType, size: u64) -> Header {
    let mut header = Header::new_gnu();
    header.set_entry_type(kind);
    header.set_size(size);
    header.set_mode(meta.mode() & MODE_MASK);
    header.set_uid(u64::from(meta.uid()));
    header.set_gid(u64::from(meta.gid()));
    header.set_mtime(u64::try_from(meta.mtime()).unwrap_or(0));
    header
}

/// An error of the archive stream after `rel`.
fn stream_error(rel: &Path, source: io::Error) -> ArchiveError {
    ArchiveError::Stream {
        path: rel.display().to_string(),
        source,
    }
}

/// Reads up to `head.len()` bytes; fewer only at the end of the file.
fn read_head(file: &mut File, head: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < head.len() {
        match file.read(&mut head[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// A file's content as tar wants it: exactly `remaining` bytes (zeros if the file shrank,
/// cut if it grew), read through the walk's buffer and hashed on the way.
struct Source<'a> {
    /// Bytes already read to recognise databases.
    head: &'a [u8],
    file: &'a mut File,
    buf: &'a mut [u8],
    pos: usize,
    end: usize,
    remaining: u64,
    hasher: Sha256,
    /// Reading the file failed (as opposed to writing the stream).
    failed: bool,
    /// The file ended early.
    short: bool,
}

impl Read for Source<'_> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.remaining == 0 || out.is_empty() {
            return Ok(0);
        }
        let want = usize::try_from(self.remaining).unwrap_or(usize::MAX);
        let n = if !self.head.is_empty() {
            let n = self.head.len().min(out.len()).min(want);
            out[..n].copy_from_slice(&self.head[..n]);
            self.head = &self.head[n..];
            n
        } else {
            if self.pos == self.end && !self.short {
                let ask = self.buf.len().min(want);
                let got = loop {
                    match self.file.read(&mut self.buf[..ask]) {
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) => {
                            self.failed = true;
                            return Err(e);
                        }
                        Ok(got) => break got,
                    }
                };
                self.pos = 0;
                self.end = got;
                self.short = got == 0;
            }
            if self.short {
                let n = out.len().min(want);
                out[..n].fill(0);
                n
            } else {
                let n = (self.end - self.pos).min(out.len()).min(want);
                out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
                self.pos += n;
                n
            }
        };
        self.hasher.update(&out[..n]);
        self.remaining -= n as u64;
        Ok(n)
    }
}
