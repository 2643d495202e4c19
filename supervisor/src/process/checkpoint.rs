//! SQLite WAL checkpoints at a clean stop, so the volume holds whole databases and no `-wal`
//! tail (the gateway's `state/openclaw.sqlite` runs in WAL mode and keeps its `-wal` after a
//! clean exit).
//!
//! Every `*.sqlite` with a `*.sqlite-wal` sibling under the state directory gets
//! `PRAGMA wal_checkpoint(TRUNCATE)`. Symlinks are not followed, and `node_modules` and `.git`
//! directories are not entered. Run only after the gateway has exited.

use std::{
    fs,
    path::{Path, PathBuf},
    time::Duration,
};

use rusqlite::{Connection, OpenFlags};

/// How long a checkpoint waits for a lock held by someone else.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(2);

const SKIP_DIRS: [&str; 2] = ["node_modules", ".git"];

/// What the checkpoints did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CheckpointReport {
    /// Databases whose WAL was fully copied into the database and truncated.
    pub checkpointed: Vec<PathBuf>,
    /// Databases that could not be checkpointed, with the reason.
    pub failed: Vec<(PathBuf, String)>,
}

/// Checkpoints every WAL database under `root`.
pub fn checkpoint_all(root: &Path) -> CheckpointReport {
    let mut report = CheckpointReport::default();
    for db in find_wal_databases(root) {
        match checkpoint(&db) {
            Ok(()) => report.checkpointed.push(db),
            Err(reason) => {
                tracing::warn!(db = %db.display(), %reason, "failed to checkpoint the WAL");
                report.failed.push((db, reason));
            }
        }
    }
    report
}

/// `*.sqlite` files under `root` that have a `-wal` sibling, sorted.
pub fn find_wal_databases(root: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            if kind.is_dir() {
                if !SKIP_DIRS.contains(&name) {
                    dirs.push(entry.path());
                }
            } else if kind.is_file()
                && name.ends_with(".sqlite")
                && dir.join(format!("{name}-wal")).is_file()
            {
                found.push(entry.path());
            }
        }
    }
    found.sort();
    found
}

/// `PRAGMA wal_checkpoint(TRUNCATE)` on one database; fails when a reader or writer kept part
/// of the WAL from being copied.
pub fn checkpoint(db: &Path) -> Result<(), String> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(db, flags).map_err(|e| e.to_string())?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(|e| e.to_string())?;
    let (busy, log, copied): (i64, i64, i64) = conn
        .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |row| {
            Ok((row.get(0)?, row.get(1)?, row.get(2)?))
        })
        .map_err(|e| e.to_string())?;
    if busy != 0 {
        return Err(format!(
            "database busy: {copied} of {log} WAL frames copied"
        ));
    }
    conn.close().map_err(|(_, e)| e.to_string())
}
