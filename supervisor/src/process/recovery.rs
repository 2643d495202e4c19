//! Clean stops and recovery from unclean ones (OOM kill, node loss), on the workspace volume.
//!
//! Two files in `<state_dir>/.supervisor/`: `started` is written when a run begins and
//! `clean-stop` when it ends cleanly (after the gateway exited and the SQLite WAL files were
//! checkpointed). A run that finds `started` without `clean-stop` follows an unclean stop: it
//! removes the gateway's stale lock files, which the upstream gateway would otherwise wait on
//! forever, and says so on the board.
//!
//! Lock files are removed precisely: only in `<state_dir>/tmp/openclaw-<uid>/` (not below it,
//! and not if that directory is a symlink), only entries named `*.lock`, `*.lock.sqlite` or the
//! `-wal`/`-shm`/`-journal` companions of the latter, only regular files (or empty directories
//! for `*.lock`). Nothing else on the volume is touched.

use std::{
    fs, io,
    path::{Path, PathBuf},
    time::{SystemTime, UNIX_EPOCH},
};

use rusqlite::{Connection, OpenFlags};

use super::checkpoint::{self, CheckpointReport};
use crate::board::Board;

/// The supervisor's directory on the volume, relative to the state directory.
pub const SUPERVISOR_DIR: &str = ".supervisor";
/// Written when a run begins.
pub const STARTED_MARKER: &str = "started";
/// Written when a run ends cleanly.
pub const CLEAN_STOP_MARKER: &str = "clean-stop";

/// Why recovery or the clean-stop bookkeeping failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A marker could not be read, written or removed.
    #[error("failed to update the run marker {path}")]
    Marker {
        /// The marker.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// The restored state database's leases could not be released.
    #[error("failed to release the restored leases in {path}")]
    Leases {
        /// The database.
        path: PathBuf,
        /// The SQLite error.
        #[source]
        source: rusqlite::Error,
    },
    /// The lock directory could not be read or a lock file not removed.
    #[error("failed to remove stale lock files in {path}")]
    Locks {
        /// The file or directory.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
}

/// What [`begin`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StartReport {
    /// The previous run did not stop cleanly.
    pub unclean: bool,
    /// Lock files removed because of it.
    pub removed_locks: Vec<PathBuf>,
}

impl StartReport {
    /// The text `/status` shows in `recoveredFromUncleanStop`, when there is something to say.
    pub fn summary(&self) -> Option<String> {
        self.unclean.then(|| match self.removed_locks.len() {
            0 => "previous run did not stop cleanly; no stale lock files found".to_owned(),
            n => {
                format!("previous run did not stop cleanly; removed {n} stale gateway lock file(s)")
            }
        })
    }

    /// Writes [`Self::summary`] to the board.
    pub fn report(&self, board: &Board) {
        let summary = self.summary();
        board.update(|s| s.recovered_from_unclean_stop = summary);
    }
}

/// Starts a run: detects an unclean previous stop, then clears its stale locks (`uid` is the
/// gateway's user). Call it before the gateway first starts.
pub fn begin(state_dir: &Path, uid: u32) -> Result<StartReport, Error> {
    let dir = state_dir.join(SUPERVISOR_DIR);
    let started = dir.join(STARTED_MARKER);
    let clean = dir.join(CLEAN_STOP_MARKER);
    let unclean = is_file(&started)? && !is_file(&clean)?;
    let removed_locks = if unclean {
        clear_stale_locks(state_dir, uid)?
    } else {
        Vec::new()
    };
    remove_if_present(&clean).map_err(|source| Error::Marker {
        path: clean.clone(),
        source,
    })?;
    write_marker(&dir, STARTED_MARKER).map_err(|source| Error::Marker {
        path: started,
        source,
    })?;
    Ok(StartReport {
        unclean,
        removed_locks,
    })
}

/// Ends a run cleanly, once the gateway has exited: checkpoints every SQLite WAL under
/// `state_dir`, then writes the clean-stop marker. Blocking (SQLite); run it with
/// `spawn_blocking` from async code.
pub fn finish(state_dir: &Path) -> Result<CheckpointReport, Error> {
    let report = checkpoint::checkpoint_all(state_dir);
    let dir = state_dir.join(SUPERVISOR_DIR);
    write_marker(&dir, CLEAN_STOP_MARKER).map_err(|source| Error::Marker {
        path: dir.join(CLEAN_STOP_MARKER),
        source,
    })?;
    Ok(report)
}

/// The gateway's lock directory: `<state_dir>/tmp/openclaw-<uid>`.
pub fn lock_dir(state_dir: &Path, uid: u32) -> PathBuf {
    state_dir.join("tmp").join(format!("openclaw-{uid}"))
}

/// Whether `name` is one of the gateway's lock files.
pub fn is_lock_name(name: &str) -> bool {
    const SQLITE_LOCK: &str = ".lock.sqlite";
    (name.len() > ".lock".len() && name.ends_with(".lock"))
        || ["", "-wal", "-shm", "-journal"].iter().any(|suffix| {
            name.strip_suffix(suffix)
                .and_then(|n| n.strip_suffix(SQLITE_LOCK))
                .is_some_and(|stem| !stem.is_empty())
        })
}

/// Removes the gateway's lock files (see the module documentation); returns what was removed.
/// Only while no gateway runs.
pub fn clear_stale_locks(state_dir: &Path, uid: u32) -> Result<Vec<PathBuf>, Error> {
    let dir = lock_dir(state_dir, uid);
    let locks_err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| Error::Locks { path, source }
    };
    match fs::symlink_metadata(&dir) {
        Ok(meta) if meta.is_dir() => {}
        Ok(_) => return Ok(Vec::new()), // a symlink or a file: not the gateway's directory
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(err) => return Err(locks_err(&dir)(err)),
    }
    let mut removed = Vec::new();
    for entry in fs::read_dir(&dir).map_err(locks_err(&dir))? {
        let entry = entry.map_err(locks_err(&dir))?;
        let path = entry.path();
        let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
            continue;
        };
        if !is_lock_name(&name) {
            continue;
        }
        let meta = fs::symlink_metadata(&path).map_err(locks_err(&path))?;
        let result = if meta.is_file() {
            fs::remove_file(&path)
        } else if meta.is_dir() && name.ends_with(".lock") {
            match fs::remove_dir(&path) {
                // Not empty: not a plain lock directory; leave it.
                Err(err) if err.kind() == io::ErrorKind::DirectoryNotEmpty => continue,
                other => other,
            }
        } else {
            continue;
        };
        match result {
            Ok(()) => removed.push(path),
            Err(err) if err.kind() == io::ErrorKind::NotFound => {}
            Err(err) => return Err(locks_err(&path)(err)),
        }
    }
    removed.sort();
    Ok(removed)
}

/// OpenClaw's shared state database, relative to the state directory.
pub const STATE_DATABASE: &str = "state/openclaw.sqlite";

/// What [`after_restore`] cleared.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Restored {
    /// Lock files removed.
    pub locks: Vec<PathBuf>,
    /// Rows of `state_leases` deleted.
    pub leases: usize,
}

/// Clears what a restored workspace holds for processes of the pod that took the snapshot:
/// the gateway's lock files, and every row of OpenClaw's `state_leases` (the gateway's owner
/// lease among them). OpenClaw reclaims a lease only when its owner ran on the same host and
/// is dead; the snapshot's owner ran under another pod's host name, so without this the
/// restored gateway refuses to start ("Another Gateway owner lease is still active") until the
/// lease expires. Only after a restore, before any gateway of this pod ran.
pub fn after_restore(state_dir: &Path, uid: u32) -> Result<Restored, Error> {
    let locks = clear_stale_locks(state_dir, uid)?;
    let path = state_dir.join(STATE_DATABASE);
    if !is_file(&path)? {
        return Ok(Restored { locks, leases: 0 });
    }
    let leases_err = |source| Error::Leases {
        path: path.clone(),
        source,
    };
    let db = Connection::open_with_flags(&path, OpenFlags::SQLITE_OPEN_READ_WRITE)
        .map_err(leases_err)?;
    db.busy_timeout(checkpoint::BUSY_TIMEOUT)
        .map_err(leases_err)?;
    let has_table: bool = db
        .query_row(
            "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'state_leases')",
            [],
            |row| row.get(0),
        )
        .map_err(leases_err)?;
    let leases = if has_table {
        db.execute("DELETE FROM state_leases", [])
            .map_err(leases_err)?
    } else {
        0
    };
    Ok(Restored { locks, leases })
}

fn is_file(path: &Path) -> Result<bool, Error> {
    match fs::symlink_metadata(path) {
        Ok(meta) => Ok(meta.is_file()),
        Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(source) => Err(Error::Marker {
            path: path.to_path_buf(),
            source,
        }),
    }
}

fn remove_if_present(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Err(err) if err.kind() != io::ErrorKind::NotFound => Err(err),
        _ => Ok(()),
    }
}

/// Writes `<dir>/<name>` atomically and durably (temp file, fsync, rename, fsync of the dir).
fn write_marker(dir: &Path, name: &str) -> io::Result<()> {
    use std::io::Write;

    fs::create_dir_all(dir)?;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let tmp = dir.join(format!(".{name}.tmp"));
    let mut file = fs::File::create(&tmp)?;
    writeln!(file, "pid={} at={now}", std::process::id())?;
    file.sync_all()?;
    fs::rename(&tmp, dir.join(name))?;
    fs::File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_restore_releases_the_snapshot_pods_locks_and_leases()
    -> Result<(), Box<dyn std::error::Error>> {
        let state = tempfile::tempdir()?;
        let locks = lock_dir(state.path(), 1000);
        fs::create_dir_all(&locks)?;
        fs::write(locks.join("gateway.5b681173.lock"), r#"{"pid": 9}"#)?;
        fs::create_dir_all(state.path().join("state"))?;
        let db = Connection::open(state.path().join(STATE_DATABASE))?;
        db.execute_batch(
            "CREATE TABLE state_leases (scope TEXT, lease_key TEXT, owner TEXT, expires_at INTEGER,
                 heartbeat_at INTEGER, payload_json TEXT, created_at INTEGER, updated_at INTEGER,
                 PRIMARY KEY (scope, lease_key));
             INSERT INTO state_leases VALUES ('gateway', 'owner:18789', 'ea49', 4102444800000, 0,
                 '{\"owner\":{\"pid\":9,\"host\":\"keeper-0\"}}', 0, 0);
             CREATE TABLE notes (text TEXT); INSERT INTO notes VALUES ('kept');",
        )?;
        drop(db);

        let cleared = after_restore(state.path(), 1000)?;
        assert_eq!(cleared.leases, 1);
        assert_eq!(cleared.locks, [locks.join("gateway.5b681173.lock")]);
        let db = Connection::open(state.path().join(STATE_DATABASE))?;
        let left: i64 = db.query_row("SELECT count(*) FROM state_leases", [], |r| r.get(0))?;
        let kept: String = db.query_row("SELECT text FROM notes", [], |r| r.get(0))?;
        assert_eq!((left, kept.as_str()), (0, "kept"));

        // Nothing to release: no database, or one without the table.
        let empty = tempfile::tempdir()?;
        assert_eq!(after_restore(empty.path(), 1000)?, Restored::default());
        fs::create_dir_all(empty.path().join("state"))?;
        Connection::open(empty.path().join(STATE_DATABASE))?.execute_batch("CREATE TABLE t (x)")?;
        assert_eq!(after_restore(empty.path(), 1000)?.leases, 0);
        Ok(())
    }

    #[test]
    fn lock_names() {
        for yes in [
            "gateway.state.lock",
            "gateway.state.lock.sqlite",
            "gateway.0f3a.lock.sqlite",
            "device-identity.9c.lock.sqlite",
            "gateway.state.lock.sqlite-wal",
            "gateway.state.lock.sqlite-shm",
            "gateway.state.lock.sqlite-journal",
        ] {
            assert!(is_lock_name(yes), "{yes}");
        }
        for no in [
            ".lock",
            ".lock.sqlite",
            "openclaw.sqlite",
            "openclaw.sqlite-wal",
            "lock",
            "notes.txt",
            "x.lock.bak",
            "gateway.lockfile",
            "x.lock.sqlite.bak",
        ] {
            assert!(!is_lock_name(no), "{no}");
        }
    }

    #[test]
    fn summary_only_after_an_unclean_stop() {
        assert_eq!(StartReport::default().summary(), None);
        let r = StartReport {
            unclean: true,
            removed_locks: vec!["a".into(), "b".into()],
        };
        assert_eq!(
            r.summary().as_deref(),
            Some("previous run did not stop cleanly; removed 2 stale gateway lock file(s)")
        );
    }
}
