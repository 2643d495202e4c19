//! Safe extraction of a skill archive: every entry is checked before anything is written, and an
//! archive with one bad entry is refused whole. Refused: absolute paths, `..` components,
//! backslashes, device files, FIFOs and sockets, links whose target leaves the skill directory,
//! entries inside a link, and archives beyond the size and entry limits (zip bombs). Links are
//! created after every file, so no write ever goes through a link.

use std::{
    fs::{self, OpenOptions},
    io::{self, Read},
    os::unix::fs::OpenOptionsExt,
    path::{Path, PathBuf},
};

use crate::archive_path;

/// Bounds of one archive.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Entries at most.
    pub max_entries: usize,
    /// Uncompressed bytes at most.
    pub max_bytes: u64,
}

impl Default for Limits {
    /// ClawHub caps a bundle at 50 MB; four times that uncompressed, 10 000 entries.
    fn default() -> Limits {
        Limits {
            max_entries: 10_000,
            max_bytes: 200 * 1024 * 1024,
        }
    }
}

/// Why an archive was refused or could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ExtractError {
    /// Not a readable zip.
    #[error("not a valid zip archive")]
    Zip(#[source] zip::result::ZipError),
    /// An entry's path is unsafe.
    #[error("unsafe entry {name:?}: {reason}")]
    UnsafePath { name: String, reason: &'static str },
    /// A link's target leaves the skill directory.
    #[error("link {name:?} points to {target:?}: {reason}")]
    UnsafeLink {
        name: String,
        target: String,
        reason: &'static str,
    },
    /// A device file, FIFO or socket.
    #[error("entry {name:?} is a special file (mode {mode:o})")]
    SpecialFile { name: String, mode: u32 },
    /// Too many entries.
    #[error("the archive has {count} entries, more than {max}")]
    TooManyEntries { count: usize, max: usize },
    /// Too many bytes once uncompressed.
    #[error("the archive expands to more than {max} bytes")]
    TooLarge { max: u64 },
    /// Writing failed.
    #[error("failed to write {path}")]
    Io {
        path: String,
        #[source]
        error: io::Error,
    },
}

/// Relative path of an entry, `None` for the archive's root (`./`). Leading `./` are dropped
/// as the clawhub CLI does; anything that could leave the target is refused
/// ([`crate::archive_path`]).
pub fn entry_path(name: &str) -> Result<Option<PathBuf>, &'static str> {
    let components = archive_path::entry_components(name.as_bytes())?;
    let path: PathBuf = components
        .iter()
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect();
    Ok((!path.as_os_str().is_empty()).then_some(path))
}

/// Checks that a link at `entry` (relative to the skill directory) with `target` resolves inside
/// the skill directory ([`archive_path::link_target_inside`]).
pub fn link_target_ok(entry: &Path, target: &str) -> Result<(), &'static str> {
    let entry = entry.to_string_lossy();
    let link = archive_path::entry_components(entry.as_bytes())?;
    if archive_path::link_target_inside(&link, target.as_bytes()) {
        Ok(())
    } else {
        Err("target leaves the directory, or is absolute or malformed")
    }
}

const S_IFMT: u32 = 0o170_000;
const S_IFREG: u32 = 0o100_000;
const S_IFDIR: u32 = 0o040_000;
const S_IFLNK: u32 = 0o120_000;

enum Kind {
    Dir,
    File { executable: bool },
    Link(String),
}

struct Planned {
    index: usize,
    path: PathBuf,
    kind: Kind,
}

/// What was extracted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Extracted {
    /// Regular files written.
    pub files: usize,
    /// Links created.
    pub links: usize,
}

/// Extracts the zip `bytes` into `dest` (created; should be a fresh staging directory).
pub fn extract_zip(bytes: &[u8], dest: &Path, limits: Limits) -> Result<Extracted, ExtractError> {
    let mut archive = zip::ZipArchive::new(io::Cursor::new(bytes)).map_err(ExtractError::Zip)?;
    if archive.len() > limits.max_entries {
        return Err(ExtractError::TooManyEntries {
            count: archive.len(),
            max: limits.max_entries,
        });
    }
    let mut planned = Vec::with_capacity(archive.len());
    for index in 0..archive.len() {
        let mut entry = archive.by_index(index).map_err(ExtractError::Zip)?;
        let name = entry.name().map_err(ExtractError::Zip)?.into_owned();
        let unsafe_path = |reason| ExtractError::UnsafePath {
            name: name.clone(),
            reason,
        };
        let Some(path) = entry_path(&name).map_err(unsafe_path)? else {
            continue;
        };
        let mode = entry.unix_mode().unwrap_or(0);
        let kind = match mode & S_IFMT {
            S_IFLNK => {
                let mut target = String::new();
                (&mut entry)
                    .take(4096)
                    .read_to_string(&mut target)
                    .map_err(|error| ExtractError::Io {
                        path: name.clone(),
                        error,
                    })?;
                link_target_ok(&path, &target).map_err(|reason| ExtractError::UnsafeLink {
                    name: name.clone(),
                    target: target.clone(),
                    reason,
                })?;
                Kind::Link(target)
            }
            S_IFDIR => Kind::Dir,
            0 | S_IFREG if entry.is_dir() => Kind::Dir,
            0 | S_IFREG => Kind::File {
                executable: mode & 0o111 != 0,
            },
            _ => return Err(ExtractError::SpecialFile { name, mode }),
        };
        planned.push(Planned { index, path, kind });
    }
    // Nothing may be written inside a link, nor over one.
    for link in planned.iter().filter(|p| matches!(p.kind, Kind::Link(_))) {
        if let Some(other) = planned
            .iter()
            .find(|p| p.index != link.index && p.path.starts_with(&link.path))
        {
            return Err(ExtractError::UnsafePath {
                name: other.path.display().to_string(),
                reason: "inside or over a link of the same archive",
            });
        }
    }
    let io_error = |path: &Path| {
        let path = path.display().to_string();
        move |error| ExtractError::Io { path, error }
    };
    fs::create_dir_all(dest).map_err(io_error(dest))?;
    let mut written = 0u64;
    let mut done = Extracted::default();
    for item in planned.iter().filter(|p| !matches!(p.kind, Kind::Link(_))) {
        let out = dest.join(&item.path);
        match item.kind {
            Kind::Dir => fs::create_dir_all(&out).map_err(io_error(&out))?,
            Kind::File { executable } => {
                if let Some(parent) = out.parent() {
                    fs::create_dir_all(parent).map_err(io_error(parent))?;
                }
                let mode = if executable { 0o755 } else { 0o644 };
                // create_new: a duplicate entry cannot overwrite an earlier one.
                let mut file = OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(mode)
                    .open(&out)
                    .map_err(io_error(&out))?;
                let entry = archive.by_index(item.index).map_err(ExtractError::Zip)?;
                let budget = limits.max_bytes - written;
                let copied =
                    io::copy(&mut entry.take(budget + 1), &mut file).map_err(io_error(&out))?;
                if copied > budget {
                    return Err(ExtractError::TooLarge {
                        max: limits.max_bytes,
                    });
                }
                written += copied;
                done.files += 1;
            }
            Kind::Link(_) => {}
        }
    }
    for item in &planned {
        if let Kind::Link(target) = &item.kind {
            place_link(dest, &item.path, target)?;
            done.links += 1;
        }
    }
    Ok(done)
}

/// Creates the (already checked) symlink `path` → `target` under `dest`, with its parent
/// directories. Links are placed after every file, so no entry is written through one.
pub fn place_link(dest: &Path, path: &Path, target: &str) -> Result<(), ExtractError> {
    let io_error = |path: &Path| {
        let path = path.display().to_string();
        move |error| ExtractError::Io { path, error }
    };
    let out = dest.join(path);
    if let Some(parent) = out.parent() {
        fs::create_dir_all(parent).map_err(io_error(parent))?;
    }
    std::os::unix::fs::symlink(target, &out).map_err(io_error(&out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use zip::write::SimpleFileOptions;

    enum E<'a> {
        File(&'a str, &'a str, u32),
        Link(&'a str, &'a str),
        Raw(&'a str, u32),
    }

    fn zip_of(entries: &[E<'_>]) -> Vec<u8> {
        let mut w = zip::ZipWriter::new(io::Cursor::new(Vec::new()));
        for e in entries {
            let result = match e {
                E::File(name, body, mode) => w
                    .start_file(*name, SimpleFileOptions::default().unix_permissions(*mode))
                    .and_then(|()| w.write_all(body.as_bytes()).map_err(Into::into)),
                E::Link(name, target) => {
                    w.add_symlink(*name, *target, SimpleFileOptions::default())
                }
                E::Raw(name, mode) => w.start_file(
                    *name,
                    SimpleFileOptions::default().external_attributes(mode << 16),
                ),
            };
            assert!(result.is_ok(), "building the test zip: {result:?}");
        }
        w.finish().map(io::Cursor::into_inner).unwrap_or_default()
    }

    fn extract(entries: &[E<'_>]) -> (tempfile::TempDir, Result<Extracted, ExtractError>) {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let result = extract_zip(
            &zip_of(entries),
            &dir.path().join("skill"),
            Limits::default(),
        );
        (dir, result)
    }

    #[test]
    fn paths_are_checked_before_use() {
        assert_eq!(
            entry_path("./SKILL.md"),
            Ok(Some(PathBuf::from("SKILL.md")))
        );
        assert_eq!(
            entry_path("scripts//a.sh"),
            Ok(Some(PathBuf::from("scripts/a.sh")))
        );
        assert_eq!(entry_path("./"), Ok(None));
        assert_eq!(entry_path("../evil"), Err(archive_path::PARENT));
        assert_eq!(entry_path("a/../../evil"), Err(archive_path::PARENT));
        assert_eq!(entry_path("/etc/passwd"), Err("absolute path"));
        assert_eq!(entry_path("a\\..\\b"), Err("backslash in path"));
    }

    #[test]
    fn link_targets_stay_inside() {
        assert_eq!(
            link_target_ok(Path::new("docs/readme"), "../SKILL.md"),
            Ok(())
        );
        assert_eq!(link_target_ok(Path::new("l"), "scripts/a.sh"), Ok(()));
        for (entry, target) in [
            ("l", "../outside"),
            ("a/b", "../../x"),
            ("l", "/etc/passwd"),
            ("l", "x/../../y"),
            ("a/b", "x/../y"),
            ("l", "..\\x"),
        ] {
            assert!(
                link_target_ok(Path::new(entry), target).is_err(),
                "{entry} -> {target}"
            );
        }
    }

    #[test]
    fn extracts_files_modes_and_inner_links() {
        let (dir, result) = extract(&[
            E::File("./SKILL.md", "# Test\n", 0o644),
            E::File("scripts/hello.sh", "echo hi\n", 0o755),
            E::Link("docs/skill", "../SKILL.md"),
        ]);
        assert_eq!(result.ok(), Some(Extracted { files: 2, links: 1 }));
        let root = dir.path().join("skill");
        assert_eq!(
            fs::read_to_string(root.join("docs/skill")).ok().as_deref(),
            Some("# Test\n")
        );
        use std::os::unix::fs::PermissionsExt;
        let mode =
            fs::metadata(root.join("scripts/hello.sh")).map(|m| m.permissions().mode() & 0o777);
        assert_eq!(mode.ok(), Some(0o755));
    }

    #[test]
    fn refuses_zip_slip_absolute_paths_and_escaping_links() {
        for (entries, what) in [
            (vec![E::File("../evil.sh", "x", 0o644)], "zip slip"),
            (
                vec![E::File("ok/../../evil.sh", "x", 0o644)],
                "zip slip inside",
            ),
            (vec![E::File("/tmp/evil.sh", "x", 0o644)], "absolute"),
            (vec![E::Link("l", "../../etc/passwd")], "link out"),
            (vec![E::Link("l", "/etc/passwd")], "absolute link"),
            (
                vec![E::Link("l", "."), E::File("l/x", "x", 0o644)],
                "write through a link",
            ),
            (
                vec![E::Link("a", "sub"), E::File("a/b/c", "x", 0o644)],
                "write below a link",
            ),
            (vec![E::Raw("dev", 0o020_644)], "character device"),
            (vec![E::Raw("fifo", 0o010_644)], "fifo"),
        ] {
            let (dir, result) = extract(&entries);
            assert!(result.is_err(), "{what} must be refused");
            assert!(
                !dir.path().join("evil.sh").exists() && !dir.path().join("l").exists(),
                "{what}"
            );
            let written = fs::read_dir(dir.path().join("skill"))
                .map(Iterator::count)
                .unwrap_or(0);
            assert_eq!(
                written, 0,
                "{what}: nothing written before the whole archive was checked"
            );
        }
    }

    #[test]
    fn refuses_archives_that_expand_too_far() {
        let big = "x".repeat(4096);
        let bytes = zip_of(&[E::File("a.txt", &big, 0o644)]);
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let limits = Limits {
            max_entries: 10,
            max_bytes: 1000,
        };
        let result = extract_zip(&bytes, &dir.path().join("s"), limits);
        assert!(
            matches!(result, Err(ExtractError::TooLarge { max: 1000 })),
            "{result:?}"
        );
        let many = zip_of(&[E::File("a.txt", "", 0o644), E::File("b.txt", "", 0o644)]);
        let limits = Limits {
            max_entries: 1,
            max_bytes: 1000,
        };
        let result = extract_zip(&many, &dir.path().join("t"), limits);
        assert!(
            matches!(result, Err(ExtractError::TooManyEntries { .. })),
            "{result:?}"
        );
    }
}
