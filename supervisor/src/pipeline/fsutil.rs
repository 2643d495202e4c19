//! File-system helpers of the pipeline: atomic writes (temp file + rename in the same directory)
//! and atomic directory replacement, so a crash never leaves a half-written file behind.

use std::{
    fs::{self, File, OpenOptions},
    io::{self, Write},
    os::unix::fs::{OpenOptionsExt, PermissionsExt},
    path::{Path, PathBuf},
    sync::atomic::{AtomicU64, Ordering},
};

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A fresh name next to `path` (same directory, so a rename is atomic), hidden by a leading dot.
pub fn sibling(path: &Path, tag: &str) -> PathBuf {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.{tag}-{}-{n}", std::process::id()))
}

/// Writes `bytes` to `path` atomically with permission bits `mode`: a temp file in the same
/// directory, fsynced, then renamed over the target, then the directory fsynced.
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> io::Result<()> {
    let dir = parent(path);
    fs::create_dir_all(dir)?;
    let temp = sibling(path, "tmp");
    let result = (|| {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&temp)?;
        file.write_all(bytes)?;
        // The umask may have removed bits from `mode`; set them exactly.
        file.set_permissions(fs::Permissions::from_mode(mode))?;
        file.sync_all()?;
        fs::rename(&temp, path)?;
        sync_dir(dir)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&temp);
    }
    result
}

/// Moves the directory `staging` to `target`, replacing whatever was there; `target` is never
/// missing for longer than between two renames.
pub fn replace_dir(staging: &Path, target: &Path) -> io::Result<()> {
    let old = sibling(target, "old");
    let had_old = match fs::rename(target, &old) {
        Ok(()) => true,
        Err(e) if e.kind() == io::ErrorKind::NotFound => false,
        Err(e) => return Err(e),
    };
    if let Err(e) = fs::rename(staging, target) {
        if had_old {
            let _ = fs::rename(&old, target);
        }
        return Err(e);
    }
    if had_old {
        remove_any(&old)?;
    }
    sync_dir(parent(target))
}

/// Removes a file, a link or a directory tree; missing is fine.
pub fn remove_any(path: &Path) -> io::Result<()> {
    match fs::symlink_metadata(path) {
        Ok(meta) if meta.is_dir() => fs::remove_dir_all(path),
        Ok(_) => fs::remove_file(path),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// Reads a file, `None` when it does not exist.
pub fn read_optional(path: &Path) -> io::Result<Option<Vec<u8>>> {
    match fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

fn parent(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_replaces_and_sets_mode() -> io::Result<()> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("a").join("openclaw.json");
        write_atomic(&path, b"one", 0o600)?;
        write_atomic(&path, b"two", 0o644)?;
        assert_eq!(fs::read(&path)?, b"two");
        assert_eq!(fs::metadata(&path)?.permissions().mode() & 0o777, 0o644);
        let leftovers: Vec<_> = fs::read_dir(dir.path().join("a"))?.collect();
        assert_eq!(leftovers.len(), 1, "no temp file left behind");
        Ok(())
    }

    #[test]
    fn replace_dir_swaps_trees() -> io::Result<()> {
        let dir = tempfile::tempdir()?;
        let target = dir.path().join("skill");
        fs::create_dir_all(target.join("old"))?;
        let staging = dir.path().join("staging");
        fs::create_dir_all(&staging)?;
        fs::write(staging.join("SKILL.md"), "new")?;
        replace_dir(&staging, &target)?;
        assert!(target.join("SKILL.md").exists());
        assert!(!target.join("old").exists());
        assert_eq!(fs::read_dir(dir.path())?.count(), 1);
        Ok(())
    }
}
