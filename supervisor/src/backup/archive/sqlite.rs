//! Consistent copies of SQLite databases through SQLite's online backup API, so a database
//! that is being written (WAL mode or not) is archived as of one transaction, never torn.

use std::{
    fs,
    path::{Path, PathBuf},
    sync::atomic::{AtomicU64, Ordering},
    thread,
    time::{Duration, Instant},
};

use rusqlite::{Connection, ErrorCode, OpenFlags, backup::Backup, backup::StepResult};

use super::ArchiveError;

/// The first 16 bytes of every SQLite 3 database file.
pub(crate) const MAGIC: &[u8; 16] = b"SQLite format 3\0";

/// Files SQLite keeps next to a database (`<db>-wal`, ...): never archived beside a database
/// captured through the backup API, whose copy already holds their committed content.
pub(crate) const COMPANIONS: [&str; 3] = ["-wal", "-shm", "-journal"];

/// How long the copy waits for a lock (a writer in rollback-journal mode, a WAL recovery).
const LOCK_TIMEOUT: Duration = Duration::from_secs(30);

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// Whether a file starting with `head` is a SQLite database.
pub(crate) fn is_sqlite(head: &[u8]) -> bool {
    head.starts_with(MAGIC)
}

/// A copy of a database in the scratch directory, removed when dropped.
#[derive(Debug)]
pub(crate) struct ScratchCopy {
    path: PathBuf,
}

impl ScratchCopy {
    /// Where the copy is.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for ScratchCopy {
    fn drop(&mut self) {
        for suffix in ["", "-journal"] {
            let mut name = self.path.clone().into_os_string();
            name.push(suffix);
            let _ = fs::remove_file(name);
        }
    }
}

/// What [`copy`] made of a file that starts like a database.
#[derive(Debug)]
pub(crate) enum Copied {
    /// A consistent copy.
    Copy(ScratchCopy),
    /// SQLite says it is not a (sound) database: archive the file's bytes as they are.
    NotADatabase,
}

/// Copies the database at `source` into a new file under `scratch_dir` in one read
/// transaction (one backup step of all pages: writers in WAL mode go on meanwhile).
pub(crate) fn copy(source: &Path, scratch_dir: &Path) -> Result<Copied, ArchiveError> {
    fs::create_dir_all(scratch_dir).map_err(|e| ArchiveError::io(scratch_dir, e))?;
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let scratch = ScratchCopy {
        path: scratch_dir.join(format!("{}-{n}.sqlite", std::process::id())),
    };
    match backup(source, scratch.path()) {
        Ok(()) => Ok(Copied::Copy(scratch)),
        Err(rusqlite::Error::SqliteFailure(e, _))
            if matches!(e.code, ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt) =>
        {
            tracing::warn!(
                path = %source.display(),
                "not a sound SQLite database; archiving its bytes as they are"
            );
            Ok(Copied::NotADatabase)
        }
        Err(source_error) => Err(ArchiveError::Sqlite {
            path: source.display().to_string(),
            source: source_error,
        }),
    }
}

/// The backup itself.
fn backup(source: &Path, scratch: &Path) -> rusqlite::Result<()> {
    // Read-write without create: a read-only connection cannot always open a WAL database
    // (it may need to create `-shm`); `query_only` keeps this connection from writing.
    let src = Connection::open_with_flags(
        source,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    src.busy_timeout(LOCK_TIMEOUT)?;
    src.execute_batch("PRAGMA query_only = 1;")?;
    let mut dst = Connection::open(scratch)?;
    dst.execute_batch("PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF;")?;
    let deadline = Instant::now() + LOCK_TIMEOUT;
    let backup = Backup::new(&src, &mut dst)?;
    loop {
        match backup.step(-1)? {
            StepResult::Done => break,
            StepResult::More => {}
            StepResult::Busy | StepResult::Locked if Instant::now() < deadline => {
                thread::sleep(Duration::from_millis(50));
            }
            StepResult::Busy | StepResult::Locked => {
                return Err(rusqlite::Error::SqliteFailure(
                    rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_BUSY),
                    Some(format!("database locked for {LOCK_TIMEOUT:?}")),
                ));
            }
            _ => {}
        }
    }
    drop(backup);
    dst.close().map_err(|(_, e)| e)
}

/// Whether the file at `path` starts like a SQLite database.
pub fn is_database(path: &Path) -> std::io::Result<bool> {
    use std::io::Read;
    let mut head = [0u8; MAGIC.len()];
    let mut file = fs::File::open(path)?;
    let mut filled = 0;
    while filled < head.len() {
        match file.read(&mut head[filled..])? {
            0 => break,
            n => filled += n,
        }
    }
    Ok(is_sqlite(&head[..filled]))
}

/// Opens the database at `path` read-only and runs `PRAGMA integrity_check`: `Ok(())` when
/// SQLite answers `ok`, else its first complaints.
pub fn integrity_check(path: &Path) -> Result<(), String> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| e.to_string())?;
    let mut statement = conn
        .prepare("PRAGMA integrity_check(5)")
        .map_err(|e| e.to_string())?;
    let rows: Vec<String> = statement
        .query_map([], |row| row.get::<_, String>(0))
        .and_then(Iterator::collect)
        .map_err(|e| e.to_string())?;
    match rows.as_slice() {
        [ok] if ok == "ok" => Ok(()),
        [] => Err("integrity_check returned nothing".to_owned()),
        complaints => Err(complaints.join("; ")),
    }
}

/// Whether `name` is a companion of a database named `database` in the same directory.
pub(crate) fn is_companion(database: &[u8], name: &[u8]) -> bool {
    name.strip_prefix(database)
        .is_some_and(|rest| COMPANIONS.iter().any(|c| rest == c.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_databases_and_companions() {
        assert!(is_sqlite(b"SQLite format 3\0\x10\0"));
        assert!(!is_sqlite(b"SQLite format 3"));
        assert!(is_companion(b"state.db", b"state.db-wal"));
        assert!(is_companion(b"state.db", b"state.db-journal"));
        assert!(!is_companion(b"state.db", b"state.db"));
        assert!(!is_companion(b"state.db", b"state.db-walx"));
        assert!(!is_companion(b"state.db", b"other.db-wal"));
    }

    #[test]
    fn copies_a_database_and_removes_the_copy_when_dropped() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let db = dir.path().join("a.db");
        let conn = Connection::open(&db).unwrap_or_else(|e| panic!("{e}"));
        conn.execute_batch(
            "PRAGMA journal_mode = WAL; CREATE TABLE t (x); INSERT INTO t VALUES (1), (2);",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let scratch = dir.path().join("scratch");
        let Copied::Copy(copied) = copy(&db, &scratch).unwrap_or_else(|e| panic!("{e}")) else {
            panic!("a database was not copied");
        };
        let conn = Connection::open(copied.path()).unwrap_or_else(|e| panic!("{e}"));
        let rows: i64 = conn
            .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(rows, 2);
        drop(conn);
        let path = copied.path().to_owned();
        drop(copied);
        assert!(!path.exists());

        fs::write(dir.path().join("fake.db"), b"SQLite format 3\0garbage")
            .unwrap_or_else(|e| panic!("{e}"));
        let fake = copy(&dir.path().join("fake.db"), &scratch).unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(fake, Copied::NotADatabase), "{fake:?}");
    }
}
