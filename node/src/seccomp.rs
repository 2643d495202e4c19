//! The project's seccomp profiles on the node: written into `<kubelet seccomp dir>/openclaw/`
//! under content-addressed names, checked byte for byte, and old versions removed only once no
//! pod on the node names them.
//!
//! A file is written to a temporary name in the same directory, synced, then renamed, so the
//! kubelet (which reads the file when it creates a container) sees either no file or the whole
//! file, never half of one. A file with the right name and the wrong bytes (a disk error, a
//! hand edit) is rewritten: its name promises a content.

use std::{
    collections::BTreeSet,
    fs, io,
    io::Write,
    path::{Path, PathBuf},
};

use openclaw_api::node::{LocalhostProfile, PROFILE_DIR};

/// A profile this binary ships: its version and its bytes.
#[derive(Debug, Clone)]
pub struct Shipped {
    pub profile: LocalhostProfile,
    pub json: &'static str,
}

impl Shipped {
    /// Every profile this build ships.
    pub fn all() -> Vec<Shipped> {
        vec![Shipped {
            profile: LocalhostProfile::gateway(),
            json: openclaw_api::node::GATEWAY_PROFILE_JSON,
        }]
    }
}

/// Why a profile could not be put in place.
#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    #[error("failed to write {path}")]
    Write {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{path} does not hold the bytes of version {version} after writing it")]
    Mismatch { path: PathBuf, version: String },
}

/// `<seccomp dir>/openclaw`.
pub fn profile_dir(seccomp_dir: &Path) -> PathBuf {
    seccomp_dir.join(PROFILE_DIR)
}

/// Puts every shipped profile in place; returns how many files it had to (re)write.
pub fn install(seccomp_dir: &Path, shipped: &[Shipped]) -> Result<usize, InstallError> {
    let dir = profile_dir(seccomp_dir);
    let write_error = |path: &Path| {
        let path = path.to_owned();
        move |source| InstallError::Write { path, source }
    };
    fs::create_dir_all(&dir).map_err(write_error(&dir))?;
    let mut written = 0;
    for item in shipped {
        let path = dir.join(item.profile.file_name());
        if holds(&path, &item.profile) {
            continue;
        }
        write_atomically(&dir, &path, item.json.as_bytes()).map_err(write_error(&path))?;
        if !holds(&path, &item.profile) {
            return Err(InstallError::Mismatch {
                path,
                version: item.profile.version.clone(),
            });
        }
        written += 1;
    }
    Ok(written)
}

/// Whether `path` holds exactly the bytes of `profile`'s version.
pub fn holds(path: &Path, profile: &LocalhostProfile) -> bool {
    fs::read_to_string(path)
        .is_ok_and(|text| LocalhostProfile::of(&profile.name, &text).version == profile.version)
}

fn write_atomically(dir: &Path, path: &Path, bytes: &[u8]) -> io::Result<()> {
    let tmp = dir.join(format!(
        ".{}.tmp-{}",
        path.file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("profile"),
        std::process::id()
    ));
    let result = (|| {
        let mut file = fs::File::create(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        fs::rename(&tmp, path)?;
        fs::File::open(dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// The versions of our profiles whose files are in the directory, whole and intact.
pub fn present(seccomp_dir: &Path) -> Vec<LocalhostProfile> {
    let dir = profile_dir(seccomp_dir);
    let Ok(entries) = fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut found: Vec<LocalhostProfile> = entries
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let profile = LocalhostProfile::from_file_name(entry.file_name().to_str()?)?;
            holds(&entry.path(), &profile).then_some(profile)
        })
        .collect();
    found.sort_by(|a, b| (&a.name, &a.version).cmp(&(&b.name, &b.version)));
    found
}

/// The installed versions that may go: not shipped by this build, and named by no pod on the
/// node (`in_use` holds `localhostProfile` paths).
pub fn stale(
    present: &[LocalhostProfile],
    shipped: &[Shipped],
    in_use: &BTreeSet<String>,
) -> Vec<LocalhostProfile> {
    present
        .iter()
        .filter(|p| !shipped.iter().any(|s| &s.profile == *p))
        .filter(|p| !in_use.contains(&p.localhost_path()))
        .cloned()
        .collect()
}

/// Removes an old version's file.
pub fn remove(seccomp_dir: &Path, profile: &LocalhostProfile) -> io::Result<()> {
    match fs::remove_file(profile_dir(seccomp_dir).join(profile.file_name())) {
        Err(err) if err.kind() != io::ErrorKind::NotFound => Err(err),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn old() -> Shipped {
        Shipped {
            profile: LocalhostProfile::of("openclaw-gateway", "{\"old\":true}"),
            json: "{\"old\":true}",
        }
    }

    #[test]
    fn installs_verifies_and_repairs() -> anyhow::Result<()> {
        let root = tempfile::tempdir()?;
        let shipped = Shipped::all();
        assert_eq!(install(root.path(), &shipped)?, 1);
        assert_eq!(install(root.path(), &shipped)?, 0, "an intact file is kept");
        let path = profile_dir(root.path()).join(shipped[0].profile.file_name());
        assert_eq!(
            fs::read_to_string(&path)?,
            openclaw_api::node::GATEWAY_PROFILE_JSON
        );
        fs::write(&path, "{\"defaultAction\":\"SCMP_ACT_ALLOW\"}")?;
        assert_eq!(
            present(root.path()),
            Vec::new(),
            "a damaged file is not a profile"
        );
        assert_eq!(
            install(root.path(), &shipped)?,
            1,
            "a damaged file is rewritten"
        );
        assert_eq!(present(root.path()), vec![shipped[0].profile.clone()]);
        let leftovers: Vec<_> = fs::read_dir(profile_dir(root.path()))?
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().contains(".tmp-"))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
        Ok(())
    }

    #[test]
    fn an_old_version_goes_only_when_no_pod_names_it() -> anyhow::Result<()> {
        let root = tempfile::tempdir()?;
        let shipped = Shipped::all();
        install(root.path(), &[old()])?;
        install(root.path(), &shipped)?;
        let on_disk = present(root.path());
        assert_eq!(on_disk.len(), 2);

        let used = BTreeSet::from([old().profile.localhost_path()]);
        assert_eq!(stale(&on_disk, &shipped, &used), Vec::new());
        let gone = stale(&on_disk, &shipped, &BTreeSet::new());
        assert_eq!(gone, vec![old().profile]);
        remove(root.path(), &gone[0])?;
        remove(root.path(), &gone[0])?;
        assert_eq!(present(root.path()), vec![shipped[0].profile.clone()]);
        Ok(())
    }
}
