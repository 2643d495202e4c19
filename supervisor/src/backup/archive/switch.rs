//! Moves a verified staging tree into the (empty) workspace by renames, so the workspace goes
//! from empty to restored without ever holding a half-written file.
//!
//! Only a workspace holding nothing but `.supervisor` and `lost+found` is switched over. When
//! the archive holds one of those too, the two are merged one level deep: each child of the
//! archive's directory moves in unless the workspace already has that name, in which case the
//! live one is kept (the supervisor's running records, the staging directory itself, the file
//! system's `lost+found`). A top-level name the archive holds as something other than a
//! directory where the workspace has one is left out.

use std::{
    ffi::OsString,
    fs::{self, File},
    io,
    os::unix::ffi::OsStrExt,
    path::{Path, PathBuf},
};

use super::ArchiveError;
use crate::pipeline::restore::workspace_empty;

/// Moves every top-level entry of `staging` into `workspace` (same file system), then removes
/// `staging`. Refuses a workspace that holds data; on a failed rename, moves back what it
/// moved.
pub fn switch_over(staging: &Path, workspace: &Path) -> Result<(), ArchiveError> {
    fs::create_dir_all(workspace).map_err(|e| ArchiveError::io(workspace, e))?;
    if !workspace_empty(workspace).map_err(|e| ArchiveError::io(workspace, e))? {
        return Err(ArchiveError::WorkspaceNotEmpty {
            path: workspace.display().to_string(),
        });
    }
    // What was staged reaches the disk before it becomes the workspace.
    let staged = File::open(staging).map_err(|e| ArchiveError::io(staging, e))?;
    nix::unistd::syncfs(&staged).map_err(|e| ArchiveError::io(staging, e.into()))?;

    let mut moved = Vec::new();
    if let Err(e) = move_all(staging, workspace, &mut moved) {
        for (from, to) in moved.iter().rev() {
            let _ = fs::rename(to, from);
        }
        return Err(e);
    }
    File::open(workspace)
        .and_then(|dir| dir.sync_all())
        .map_err(|e| ArchiveError::io(workspace, e))?;
    fs::remove_dir_all(staging).map_err(|e| ArchiveError::io(staging, e))
}

/// Moves a verified staging tree over a workspace that holds data (auto-update's rollback):
/// the live data (every top-level entry but `.supervisor` and `lost+found`) is first moved into
/// `aside`, then the staging tree is switched over, and `aside` is removed only once that
/// succeeded; on a failure the live data is moved back, so the workspace is as it was.
pub fn switch_over_replacing(
    staging: &Path,
    workspace: &Path,
    aside: &Path,
) -> Result<(), ArchiveError> {
    // A set-aside tree left by an interrupted switch-over belongs to no one any more.
    remove_tree(aside)?;
    fs::create_dir_all(aside).map_err(|e| ArchiveError::io(aside, e))?;
    let mut set_aside = Vec::new();
    let kept = |name: &OsString| KEPT.iter().any(|k| name.as_bytes() == k.as_bytes());
    for name in sorted(workspace)?.into_iter().filter(|n| !kept(n)) {
        if let Err(e) = rename(&workspace.join(&name), &aside.join(&name), &mut set_aside) {
            put_back(&set_aside);
            return Err(e);
        }
    }
    if let Err(e) = switch_over(staging, workspace) {
        put_back(&set_aside);
        return Err(e);
    }
    remove_tree(aside)
}

/// Top-level entries a replacing switch-over leaves where they are.
const KEPT: [&str; 2] = [".supervisor", "lost+found"];

fn put_back(moved: &[(PathBuf, PathBuf)]) {
    for (from, to) in moved.iter().rev() {
        if let Err(error) = fs::rename(to, from) {
            tracing::error!(path = %from.display(), %error, "failed to move the live workspace entry back");
        }
    }
}

fn remove_tree(path: &Path) -> Result<(), ArchiveError> {
    match fs::remove_dir_all(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(ArchiveError::io(path, e)),
        _ => Ok(()),
    }
}

/// Moves the entries of `from` into `to`, merging one level into directories that exist.
fn move_all(
    from: &Path,
    to: &Path,
    moved: &mut Vec<(PathBuf, PathBuf)>,
) -> Result<(), ArchiveError> {
    for name in sorted(from)? {
        let source = from.join(&name);
        let target = to.join(&name);
        match fs::symlink_metadata(&target) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                rename(&source, &target, moved)?;
            }
            Err(e) => return Err(ArchiveError::io(&target, e)),
            Ok(live) => {
                let staged_dir = fs::symlink_metadata(&source).is_ok_and(|m| m.is_dir());
                if !(live.is_dir() && staged_dir) {
                    tracing::warn!(
                        path = %target.display(),
                        "the workspace already has this entry; the archive's is left out"
                    );
                    continue;
                }
                for child in sorted(&source)? {
                    let target = target.join(&child);
                    match fs::symlink_metadata(&target) {
                        Err(e) if e.kind() == io::ErrorKind::NotFound => {
                            rename(&source.join(&child), &target, moved)?;
                        }
                        Err(e) => return Err(ArchiveError::io(&target, e)),
                        Ok(_) => {}
                    }
                }
            }
        }
    }
    Ok(())
}

/// One rename, recorded for a roll-back.
fn rename(from: &Path, to: &Path, moved: &mut Vec<(PathBuf, PathBuf)>) -> Result<(), ArchiveError> {
    fs::rename(from, to).map_err(|e| ArchiveError::io(to, e))?;
    moved.push((from.to_owned(), to.to_owned()));
    Ok(())
}

/// The names in a directory, sorted.
fn sorted(dir: &Path) -> Result<Vec<OsString>, ArchiveError> {
    let mut names: Vec<OsString> = fs::read_dir(dir)
        .and_then(|entries| entries.map(|e| e.map(|e| e.file_name())).collect())
        .map_err(|e: io::Error| ArchiveError::io(dir, e))?;
    names.sort_unstable_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(path: &Path, content: &str) {
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).unwrap_or_else(|e| panic!("{e}"));
        }
        fs::write(path, content).unwrap_or_else(|e| panic!("{e}"));
    }

    #[test]
    fn a_replacing_switch_over_swaps_the_data_and_keeps_the_records() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let workspace = dir.path().join("ws");
        let staging = workspace.join(".supervisor/restore-staging");
        let aside = workspace.join(".supervisor/replaced");
        write(&workspace.join("openclaw.json"), "migrated");
        write(&workspace.join("state.sqlite"), "v2 schema");
        write(&workspace.join(".supervisor/steps/live"), "live");
        write(&staging.join("openclaw.json"), "before");
        switch_over_replacing(&staging, &workspace, &aside).unwrap_or_else(|e| panic!("{e}"));
        let read = |p: &str| fs::read_to_string(workspace.join(p)).ok();
        assert_eq!(read("openclaw.json").as_deref(), Some("before"));
        assert_eq!(read("state.sqlite"), None, "the migrated database is gone");
        assert_eq!(read(".supervisor/steps/live").as_deref(), Some("live"));
        assert!(!aside.exists() && !staging.exists());
    }

    #[test]
    fn a_failed_replacing_switch_over_puts_the_live_data_back() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let workspace = dir.path().join("ws");
        let aside = workspace.join(".supervisor/replaced");
        write(&workspace.join("openclaw.json"), "migrated");
        // No staging tree: the switch-over fails after the live data was set aside.
        let missing = workspace.join(".supervisor/restore-staging");
        assert!(switch_over_replacing(&missing, &workspace, &aside).is_err());
        assert_eq!(
            fs::read_to_string(workspace.join("openclaw.json"))
                .ok()
                .as_deref(),
            Some("migrated")
        );
    }

    #[test]
    fn moves_into_an_empty_workspace_and_keeps_live_records() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let workspace = dir.path().join("ws");
        let staging = workspace.join(".supervisor/restore-staging");
        write(&workspace.join(".supervisor/steps/live"), "live");
        write(&staging.join("openclaw.json"), "{}");
        write(&staging.join("sub/deep/f"), "f");
        write(&staging.join(".supervisor/steps/old"), "old");
        write(&staging.join(".supervisor/cache/x"), "x");
        switch_over(&staging, &workspace).unwrap_or_else(|e| panic!("{e}"));

        let read = |p: &str| fs::read_to_string(workspace.join(p)).ok();
        assert_eq!(read("openclaw.json").as_deref(), Some("{}"));
        assert_eq!(read("sub/deep/f").as_deref(), Some("f"));
        assert_eq!(read(".supervisor/steps/live").as_deref(), Some("live"));
        assert_eq!(read(".supervisor/steps/old"), None, "live steps kept");
        assert_eq!(read(".supervisor/cache/x").as_deref(), Some("x"));
        assert!(!staging.exists());
    }

    #[test]
    fn refuses_a_workspace_with_data() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let workspace = dir.path().join("ws");
        let staging = dir.path().join("staging");
        write(&workspace.join("notes.md"), "mine");
        write(&staging.join("notes.md"), "archived");
        let error = switch_over(&staging, &workspace).map_err(|e| e.to_string());
        assert!(
            error.as_ref().is_err_and(|e| e.contains("is not empty")),
            "{error:?}"
        );
        assert_eq!(
            fs::read_to_string(workspace.join("notes.md"))
                .ok()
                .as_deref(),
            Some("mine")
        );
        assert!(staging.join("notes.md").exists());
    }
}
