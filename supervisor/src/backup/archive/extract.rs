//! Unpacks an archive into an empty staging directory, refusing anything that could reach
//! outside it, and checks it against its manifest when there is one.
//!
//! Refused: absolute paths and `..` components, symlinks whose target is absolute or climbs
//! out (see `paths`), entries whose path goes through a symlink extracted before, devices,
//! fifos, sparse files and unknown entry types, a path given twice (other than a directory).
//! Hard links are allowed only in archives without a manifest (other tools write them, e.g.
//! GNU tar for pnpm stores) and only to a regular file extracted before them, by a path that
//! passes the same checks. The stream must end with tar's end-of-archive marker followed by
//! nothing but zeros, and zstd/gzip must verify their checksums to the last byte. Ownership is
//! not restored (files belong to the restoring user); modes (all of `0o7777`) and mtimes are.

use std::{
    collections::HashSet,
    ffi::OsStr,
    fs::{self, File, OpenOptions, Permissions},
    io::{self, Read, Write},
    os::unix::{
        ffi::OsStrExt,
        fs::{OpenOptionsExt, PermissionsExt},
    },
    path::{Path, PathBuf},
    time::{Duration, SystemTime},
};

use openclaw_api::backup::{EntryKind, Manifest, ManifestEntry};
use sha2::{Digest, Sha256};
use tar::EntryType;

use crate::archive_path::{display, entry_components, link_target_inside};

use super::{
    ArchiveError, BUFFER_SIZE, HashingReader, MODE_MASK, format, hashing, pipe,
    verify::{self, Expected, Found},
};

/// What was extracted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExtractSummary {
    /// Regular files (hard links included).
    pub files: u64,
    /// Their bytes.
    pub bytes: u64,
    /// Whether every entry was checked against a manifest (and the archive's own checksum).
    pub verified_manifest: bool,
}

/// Decompresses `input` (zstd, gzip or plain tar, by magic bytes) and unpacks it into
/// `staging`, which must be empty or missing. With a manifest, every entry must match it and
/// the compressed stream must have the manifest's sha256 and size. On error the staging
/// directory holds a partial tree: remove it.
pub fn extract_verified(
    input: impl Read + Send,
    manifest: Option<&Manifest>,
    staging: &Path,
) -> Result<ExtractSummary, ArchiveError> {
    prepare_staging(staging)?;
    let mut unpacker = Unpacker {
        staging,
        expected: manifest.map(Expected::new).transpose()?,
        buf: vec![0; BUFFER_SIZE],
        links: HashSet::new(),
        dirs: Vec::new(),
        last_parent: None,
        summary: ExtractSummary {
            files: 0,
            bytes: 0,
            verified_manifest: manifest.is_some(),
        },
    };
    let mut hashed = HashingReader::new(input);
    let (_, decoded) = format::open(&mut hashed)?;
    // Decompression on a thread of its own, unpacking on this one.
    pipe::pipelined(decoded, |tar| unpack(tar, &mut unpacker))?;
    if let Some(manifest) = manifest {
        io::copy(&mut hashed, &mut io::sink()).map_err(|e| ArchiveError::from_stream(None, e))?;
        let found = format!(
            "sha256:{} ({} bytes)",
            hashed.sha256_hex(),
            hashed.byte_count()
        );
        let expected = format!(
            "{} ({} bytes)",
            manifest.archive_checksum, manifest.archive_size
        );
        if found != expected {
            return Err(ArchiveError::ArchiveChecksumMismatch { expected, found });
        }
    }
    unpacker.finish()
}

/// Unpacks every entry of the tar stream, then checks that the stream ends properly.
fn unpack(stream: &mut dyn Read, unpacker: &mut Unpacker<'_, '_>) -> Result<(), ArchiveError> {
    let mut archive = tar::Archive::new(Counting {
        inner: stream,
        bytes: 0,
    });
    let mut end = 0;
    for entry in archive
        .entries()
        .map_err(|e| ArchiveError::from_stream(None, e))?
    {
        let mut entry = entry.map_err(|e| ArchiveError::from_stream(None, e))?;
        end = entry.raw_file_position() + entry.size().div_ceil(512) * 512;
        unpacker.entry(&mut entry)?;
    }
    let mut rest = archive.into_inner();
    if rest.bytes <= end {
        return Err(ArchiveError::Truncated {
            path: None,
            reason: "the stream ended without tar's end-of-archive marker".into(),
        });
    }
    drain_zeros(&mut rest)
}

/// Creates `staging` (private to this user) or checks that it is empty.
fn prepare_staging(staging: &Path) -> Result<(), ArchiveError> {
    let io = |e| ArchiveError::io(staging, e);
    fs::create_dir_all(staging).map_err(io)?;
    if fs::read_dir(staging).map_err(io)?.next().is_some() {
        return Err(ArchiveError::StagingNotEmpty {
            path: staging.display().to_string(),
        });
    }
    fs::set_permissions(staging, Permissions::from_mode(0o700)).map_err(io)
}

/// Reads what follows the end-of-archive marker to the end (so that zstd and gzip check their
/// trailing checksums); only zeros may follow.
fn drain_zeros(rest: &mut impl Read) -> Result<(), ArchiveError> {
    let mut buf = vec![0; 64 << 10];
    loop {
        let n = match rest.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(ArchiveError::from_stream(None, e)),
        };
        if buf[..n].iter().any(|b| *b != 0) {
            return Err(ArchiveError::Corrupt {
                path: None,
                reason: "data follows the end-of-archive marker".into(),
            });
        }
    }
}

/// Counts the decompressed bytes the tar reader consumed.
struct Counting<R> {
    inner: R,
    bytes: u64,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.bytes += n as u64;
        Ok(n)
    }
}

/// The extraction's state.
struct Unpacker<'a, 'm> {
    staging: &'a Path,
    expected: Option<Expected<'m>>,
    buf: Vec<u8>,
    /// Symlinks extracted so far, as `/`-joined entry paths.
    links: HashSet<Vec<u8>>,
    /// Directories with their mode and mtime, applied at the end (children first).
    dirs: Vec<(PathBuf, u32, u64)>,
    /// The parent directory created for the previous entry.
    last_parent: Option<Vec<u8>>,
    summary: ExtractSummary,
}

impl<'m> Unpacker<'_, 'm> {
    /// Checks and extracts one entry.
    fn entry<R: Read>(&mut self, entry: &mut tar::Entry<'_, R>) -> Result<(), ArchiveError> {
        let raw = entry.path_bytes().into_owned();
        let stored = String::from_utf8_lossy(&raw).into_owned();
        let components =
            entry_components(&raw).map_err(|reason| ArchiveError::TraversalRefused {
                path: stored.clone(),
                reason,
            })?;
        let kind = entry.header().entry_type();
        if kind == EntryType::XGlobalHeader {
            return Ok(());
        }
        if components.is_empty() {
            // `./` of `tar -C dir .`: the staging directory itself.
            return match kind {
                EntryType::Directory => Ok(()),
                _ => Err(ArchiveError::TraversalRefused {
                    path: stored,
                    reason: "empty path",
                }),
            };
        }
        let joined = components.join(&b'/');
        let path = display(&components);
        self.refuse_through_links(&joined, &path)?;
        let header = entry.header();
        let corrupt = |e: io::Error| ArchiveError::Corrupt {
            path: Some(path.clone()),
            reason: e.to_string(),
        };
        let mode = header.mode().map_err(corrupt)? & MODE_MASK;
        let mtime = header.mtime().map_err(corrupt)?;
        let dst = self.staging.join(OsStr::from_bytes(&joined));
        let link = entry.link_name_bytes().map(|l| l.into_owned());
        self.make_parent(&joined, &dst)?;
        match kind {
            EntryType::Regular | EntryType::Continuous => {
                let expected = self.check(&path, EntryKind::File, mode, None)?;
                let (size, sha256) = self.file(entry, &path, &dst, mode, mtime)?;
                if let Some(expected) = expected {
                    verify::check_content(expected, size, &sha256)?;
                }
            }
            EntryType::Directory => {
                self.check(&path, EntryKind::Dir, mode, None)?;
                match fs::create_dir(&dst) {
                    Ok(()) => {}
                    Err(e) if e.kind() == io::ErrorKind::AlreadyExists && dst.is_dir() => {}
                    Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                        return Err(ArchiveError::Duplicate { path });
                    }
                    Err(e) => return Err(ArchiveError::io(&dst, e)),
                }
                self.dirs.push((dst, mode, mtime));
            }
            EntryType::Symlink => {
                let target = link.unwrap_or_default();
                let shown = String::from_utf8_lossy(&target).into_owned();
                if !link_target_inside(&components, &target) {
                    return Err(ArchiveError::LinkEscapes {
                        path,
                        target: shown,
                    });
                }
                self.check(&path, EntryKind::Symlink, mode, Some(&shown))?;
                std::os::unix::fs::symlink(OsStr::from_bytes(&target), &dst)
                    .map_err(|e| self.exists_or_io(e, &path, &dst))?;
                self.links.insert(joined);
            }
            EntryType::Link => self.hard_link(&path, link.unwrap_or_default(), &dst)?,
            other => {
                let kind = match other {
                    EntryType::Char => "character device".to_owned(),
                    EntryType::Block => "block device".to_owned(),
                    EntryType::Fifo => "fifo".to_owned(),
                    EntryType::GNUSparse => "sparse file".to_owned(),
                    other => format!("{other:?}"),
                };
                return Err(ArchiveError::UnsupportedEntry { path, kind });
            }
        }
        Ok(())
    }

    /// Checks an entry against the manifest, if any.
    fn check(
        &mut self,
        path: &str,
        kind: EntryKind,
        mode: u32,
        link: Option<&str>,
    ) -> Result<Option<&'m ManifestEntry>, ArchiveError> {
        match &mut self.expected {
            None => Ok(None),
            Some(expected) => expected
                .check_entry(path, Found { kind, mode, link })
                .map(Some),
        }
    }

    /// Refuses a path that goes through (or is) a symlink extracted before.
    fn refuse_through_links(&self, joined: &[u8], path: &str) -> Result<(), ArchiveError> {
        if self.links.is_empty() {
            return Ok(());
        }
        let prefixes = joined
            .iter()
            .enumerate()
            .filter(|(_, b)| **b == b'/')
            .map(|(i, _)| &joined[..i])
            .chain([joined]);
        for prefix in prefixes {
            if self.links.contains(prefix) {
                return Err(ArchiveError::ThroughSymlink {
                    path: path.to_owned(),
                    link: String::from_utf8_lossy(prefix).into_owned(),
                });
            }
        }
        Ok(())
    }

    /// Creates the parent directories of an entry (tar need not list them).
    fn make_parent(&mut self, joined: &[u8], dst: &Path) -> Result<(), ArchiveError> {
        let parent = joined
            .iter()
            .rposition(|b| *b == b'/')
            .map_or(&[][..], |i| &joined[..i]);
        if parent.is_empty() || self.last_parent.as_deref() == Some(parent) {
            return Ok(());
        }
        if let Some(dir) = dst.parent() {
            fs::create_dir_all(dir).map_err(|e| ArchiveError::io(dir, e))?;
        }
        self.last_parent = Some(parent.to_vec());
        Ok(())
    }

    /// Writes a regular file; returns its size and hex sha256.
    fn file<R: Read>(
        &mut self,
        entry: &mut tar::Entry<'_, R>,
        path: &str,
        dst: &Path,
        mode: u32,
        mtime: u64,
    ) -> Result<(u64, String), ArchiveError> {
        let size = entry.size();
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(dst)
            .map_err(|e| self.exists_or_io(e, path, dst))?;
        let mut hasher = Sha256::new();
        let mut written = 0u64;
        while written < size {
            let n = match entry.read(&mut self.buf) {
                Ok(0) => {
                    return Err(ArchiveError::Truncated {
                        path: Some(path.to_owned()),
                        reason: format!("{written} of {size} bytes"),
                    });
                }
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(ArchiveError::from_stream(Some(path), e)),
            };
            hasher.update(&self.buf[..n]);
            file.write_all(&self.buf[..n])
                .map_err(|e| ArchiveError::io(dst, e))?;
            written += n as u64;
        }
        file.set_permissions(Permissions::from_mode(mode))
            .and_then(|()| file.set_modified(time(mtime)))
            .map_err(|e| ArchiveError::io(dst, e))?;
        self.summary.files += 1;
        self.summary.bytes += size;
        Ok((size, hashing::hex(hasher)))
    }

    /// A hard link to a regular file extracted before it (archives without a manifest only).
    fn hard_link(&mut self, path: &str, target: Vec<u8>, dst: &Path) -> Result<(), ArchiveError> {
        let shown = String::from_utf8_lossy(&target).into_owned();
        let refuse = |reason| ArchiveError::HardLinkRefused {
            path: path.to_owned(),
            target: shown.clone(),
            reason,
        };
        if self.expected.is_some() {
            return Err(refuse("archives with a manifest hold no hard links"));
        }
        let components = entry_components(&target)
            .map_err(|_| refuse("the target is absolute or has a parent directory component"))?;
        let joined = components.join(&b'/');
        if components.is_empty() || self.refuse_through_links(&joined, path).is_err() {
            return Err(refuse("the target is not a regular file extracted before"));
        }
        let source = self.staging.join(OsStr::from_bytes(&joined));
        if !fs::symlink_metadata(&source).is_ok_and(|m| m.is_file()) {
            return Err(refuse("the target is not a regular file extracted before"));
        }
        fs::hard_link(&source, dst).map_err(|e| self.exists_or_io(e, path, dst))?;
        self.summary.files += 1;
        Ok(())
    }

    /// `Duplicate` when something is already at `dst`, else an I/O error.
    fn exists_or_io(&self, e: io::Error, path: &str, dst: &Path) -> ArchiveError {
        if e.kind() == io::ErrorKind::AlreadyExists {
            ArchiveError::Duplicate {
                path: path.to_owned(),
            }
        } else {
            ArchiveError::io(dst, e)
        }
    }

    /// Applies directory modes and mtimes (deepest first) and checks nothing listed is missing.
    fn finish(self) -> Result<ExtractSummary, ArchiveError> {
        if let Some(expected) = self.expected {
            expected.finish()?;
        }
        for (dir, mode, mtime) in self.dirs.iter().rev() {
            File::open(dir)
                .and_then(|d| d.set_modified(time(*mtime)))
                .and_then(|()| fs::set_permissions(dir, Permissions::from_mode(*mode)))
                .map_err(|e| ArchiveError::io(dir, e))?;
        }
        Ok(self.summary)
    }
}

/// A tar mtime as a system time.
fn time(mtime: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(mtime)
}
