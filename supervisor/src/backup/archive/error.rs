//! Why writing, extracting or switching over an archive failed, always naming the path.

use std::{io, path::Path};

/// An archive could not be written, was refused, or could not be restored.
///
/// Paths of archive entries are relative to the archive root (`/`-separated, as stored);
/// paths on disk are absolute or as given by the caller. On any error during extraction the
/// caller removes the staging directory; nothing outside it has been written.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    /// Reading or writing a file on disk failed.
    #[error("I/O error on {path}: {source}")]
    Io {
        /// The file or directory.
        path: String,
        /// What the operating system said.
        #[source]
        source: io::Error,
    },
    /// Writing the archive stream (compressor or the caller's writer) failed.
    #[error("failed to write the archive stream after {path}: {source}")]
    Stream {
        /// The last entry written or being written.
        path: String,
        /// What the writer said.
        #[source]
        source: io::Error,
    },
    /// Copying a SQLite database through the online backup API failed.
    #[error("failed to copy the SQLite database {path}: {source}")]
    Sqlite {
        /// The database file.
        path: String,
        /// What SQLite said.
        #[source]
        source: rusqlite::Error,
    },
    /// The first bytes are neither zstd, gzip nor tar.
    #[error("unknown archive format: not zstd, gzip or tar (first bytes {magic})")]
    UnknownFormat {
        /// The first bytes in hex.
        magic: String,
    },
    /// The stream ended before the archive did.
    #[error("archive truncated{}: {reason}", at(path))]
    Truncated {
        /// The entry being read, if any.
        path: Option<String>,
        /// What was missing.
        reason: String,
    },
    /// The compressed stream or a tar header is corrupt (bad frame checksum, bad header).
    #[error("archive corrupt{}: {reason}", at(path))]
    Corrupt {
        /// The entry being read, if any.
        path: Option<String>,
        /// What was wrong.
        reason: String,
    },
    /// An entry's path is absolute or has a `..` component.
    #[error("refused entry {path}: {reason}")]
    TraversalRefused {
        /// The path as stored in the archive.
        path: String,
        /// `absolute path` or `parent directory component`.
        reason: &'static str,
    },
    /// A symlink's target is absolute or resolves outside the archive root.
    #[error("refused symlink {path} -> {target}: the target leaves the archive root")]
    LinkEscapes {
        /// The link.
        path: String,
        /// Its target as stored.
        target: String,
    },
    /// An entry's path goes through a symlink extracted before it.
    #[error("refused entry {path}: its path goes through the symlink {link}")]
    ThroughSymlink {
        /// The entry.
        path: String,
        /// The symlink on its way.
        link: String,
    },
    /// A hard link entry whose target is not a regular file extracted earlier.
    #[error("refused hard link {path} -> {target}: {reason}")]
    HardLinkRefused {
        /// The link.
        path: String,
        /// Its target as stored.
        target: String,
        /// Why.
        reason: &'static str,
    },
    /// An entry type that is never restored (device, fifo, sparse file, ...).
    #[error("refused entry {path}: {kind} entries are not restored")]
    UnsupportedEntry {
        /// The entry.
        path: String,
        /// Its tar entry type.
        kind: String,
    },
    /// The same path appears twice (other than as a directory).
    #[error("refused entry {path}: it appears twice in the archive")]
    Duplicate {
        /// The entry.
        path: String,
    },
    /// A file's content differs from the manifest.
    #[error("checksum mismatch on {path}: manifest says {expected}, archive holds {found}")]
    ChecksumMismatch {
        /// The file.
        path: String,
        /// `sha256:<hex>` (and size) in the manifest.
        expected: String,
        /// What the archive holds.
        found: String,
    },
    /// An entry's kind, size, mode or link target differs from the manifest.
    #[error("{what} mismatch on {path}: manifest says {expected}, archive holds {found}")]
    EntryMismatch {
        /// The entry.
        path: String,
        /// `kind`, `size`, `mode` or `link target`.
        what: &'static str,
        /// The manifest's value.
        expected: String,
        /// The archive's value.
        found: String,
    },
    /// The manifest lists entries the archive does not hold.
    #[error("entry {path} of the manifest is missing from the archive ({missing} missing in all)")]
    MissingEntry {
        /// The first missing path (in manifest order).
        path: String,
        /// How many are missing.
        missing: usize,
    },
    /// The archive holds an entry the manifest does not list.
    #[error("entry {path} is in the archive but not in the manifest")]
    UnexpectedEntry {
        /// The entry.
        path: String,
    },
    /// The compressed archive's checksum or size differs from the manifest.
    #[error("archive checksum mismatch: manifest says {expected}, the stream read was {found}")]
    ArchiveChecksumMismatch {
        /// `sha256:<hex> (<n> bytes)` in the manifest.
        expected: String,
        /// What was read.
        found: String,
    },
    /// The manifest is of a version this build does not read, or lists a path twice.
    #[error("invalid manifest: {reason}")]
    InvalidManifest {
        /// What is wrong.
        reason: String,
    },
    /// Extraction needs an empty (or new) staging directory.
    #[error("staging directory {path} is not empty")]
    StagingNotEmpty {
        /// The staging directory.
        path: String,
    },
    /// A restore only switches over into a workspace holding nothing but `.supervisor` and
    /// `lost+found`.
    #[error("workspace {path} is not empty; a restore never overwrites data")]
    WorkspaceNotEmpty {
        /// The workspace.
        path: String,
    },
}

impl ArchiveError {
    /// An [`ArchiveError::Io`] on `path`.
    pub fn io(path: &Path, source: io::Error) -> Self {
        Self::Io {
            path: path.display().to_string(),
            source,
        }
    }

    /// Classifies an error read from the (decompressed) archive stream: an unexpected end is
    /// a truncation, anything else corruption.
    pub fn from_stream(path: Option<&str>, error: io::Error) -> Self {
        let path = path.map(str::to_owned);
        if error.kind() == io::ErrorKind::UnexpectedEof {
            Self::Truncated {
                path,
                reason: error.to_string(),
            }
        } else {
            Self::Corrupt {
                path,
                reason: error.to_string(),
            }
        }
    }
}

/// ` at <path>` when there is one.
fn at(path: &Option<String>) -> String {
    path.as_ref()
        .map(|p| format!(" at {p}"))
        .unwrap_or_default()
}
