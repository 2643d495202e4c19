//! The archive format: a tar stream compressed with zstd, and the manifest of its entries.
//!
//! Writing ([`write_archive`]) walks the workspace in sorted order and streams every regular
//! file once, hashing it in the same pass; SQLite databases are copied through SQLite's online
//! backup API first so that a database being written is never archived torn. Reading
//! ([`extract_verified`]) detects the compression by magic bytes, unpacks into a private staging
//! directory while refusing anything that could reach outside it, and checks every entry against
//! the manifest when there is one; [`switch_over`] then moves the verified tree into the
//! workspace. Everything here is synchronous `std::io`; the S3 side runs it on blocking threads.

mod error;
mod extract;
mod format;
mod hashing;
mod pipe;
mod sqlite;
mod switch;
mod verify;
mod write;

pub use error::ArchiveError;
pub use extract::{ExtractSummary, extract_verified};
pub use format::{Compression, detect};
pub use hashing::{HashingReader, HashingWriter};
pub use sqlite::{integrity_check, is_database};
pub use switch::{switch_over, switch_over_replacing};
pub use write::{Progress, WriteOptions, WriteSummary, write_archive};

/// Size of the buffers that stream file contents and archive bytes (1 MiB): large enough that
/// system calls and compressor calls are few, small enough that memory stays bounded.
pub const BUFFER_SIZE: usize = 1 << 20;

/// The default zstd level of the archives written here (the `zstd` command line's default;
/// `spec.backup.compressionLevel` chooses another).
pub const ZSTD_LEVEL: i32 = 3;

/// Permission bits kept in an archive and its manifest (including setuid, setgid and sticky).
pub const MODE_MASK: u32 = 0o7777;
