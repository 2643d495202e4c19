//! Safe extraction of an npm tarball (`.tgz`), read as a stream (while it downloads), with the
//! rules of the skills' zips. Like npm, the first path component (`package/`) is dropped.
//! Refused: absolute paths, `..`, backslashes, hard links, device files, FIFOs, symbolic links
//! whose target leaves the package, entries inside or over a link, and archives beyond the size
//! and entry limits. Each path is checked before its entry is written, links are created only
//! once every file is written and checked against them, and a refused archive leaves nothing:
//! the destination (a fresh staging directory) is removed.

use std::{
    fs::{self, OpenOptions},
    io::{self, Read},
    os::unix::fs::OpenOptionsExt,
    path::{Path, PathBuf},
};

use tar::EntryType;

use crate::pipeline::skills::{ExtractError, Limits, entry_path, link_target_ok, place_link};

/// Files and links written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Unpacked {
    /// Regular files.
    pub files: usize,
    /// Symbolic links.
    pub links: usize,
}

fn read_error(error: io::Error) -> ExtractError {
    ExtractError::Io {
        path: "the tarball".into(),
        error,
    }
}

/// The path of an entry below the package root: the first component dropped, the rest checked.
fn package_path(name: &str) -> Result<Option<PathBuf>, &'static str> {
    if name.starts_with('/') {
        return Err("absolute path");
    }
    let name = name.trim_start_matches("./");
    match name.split_once('/') {
        Some((_, rest)) => entry_path(rest),
        None => Ok(None),
    }
}

/// Extracts the gzipped tar read from `tgz` into `dest` (created; a fresh staging directory,
/// removed again when the archive is refused).
pub fn extract_tgz(
    tgz: &mut dyn Read,
    dest: &Path,
    limits: Limits,
) -> Result<Unpacked, ExtractError> {
    let result = extract(tgz, dest, limits);
    if result.is_err() {
        let _ = fs::remove_dir_all(dest);
    }
    result
}

fn extract(tgz: &mut dyn Read, dest: &Path, limits: Limits) -> Result<Unpacked, ExtractError> {
    let io_error = |path: &Path| {
        let path = path.display().to_string();
        move |error| ExtractError::Io { path, error }
    };
    fs::create_dir_all(dest).map_err(io_error(dest))?;
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(tgz));
    let mut written: Vec<PathBuf> = Vec::new();
    let mut links: Vec<(PathBuf, String)> = Vec::new();
    let mut total = 0u64;
    let mut done = Unpacked::default();
    for entry in archive.entries().map_err(read_error)? {
        let mut entry = entry.map_err(read_error)?;
        let name = entry
            .path()
            .map_err(read_error)?
            .to_string_lossy()
            .into_owned();
        let kind = entry.header().entry_type();
        if matches!(kind, EntryType::XGlobalHeader | EntryType::XHeader) {
            continue;
        }
        let Some(path) = package_path(&name).map_err(|reason| ExtractError::UnsafePath {
            name: name.clone(),
            reason,
        })?
        else {
            continue;
        };
        if written.len() + links.len() >= limits.max_entries {
            return Err(ExtractError::TooManyEntries {
                count: written.len() + links.len() + 1,
                max: limits.max_entries,
            });
        }
        let out = dest.join(&path);
        match kind {
            EntryType::Directory => {
                fs::create_dir_all(&out).map_err(io_error(&out))?;
                written.push(path);
            }
            EntryType::Regular | EntryType::Continuous => {
                if let Some(parent) = out.parent() {
                    fs::create_dir_all(parent).map_err(io_error(parent))?;
                }
                let mode = entry.header().mode().map_err(read_error)?;
                let mode = if mode & 0o111 != 0 { 0o755 } else { 0o644 };
                // create_new: a duplicate entry cannot overwrite an earlier one.
                let mut file = OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(mode)
                    .open(&out)
                    .map_err(io_error(&out))?;
                let budget = limits.max_bytes - total;
                let copied = io::copy(&mut (&mut entry).take(budget + 1), &mut file)
                    .map_err(io_error(&out))?;
                if copied > budget {
                    return Err(ExtractError::TooLarge {
                        max: limits.max_bytes,
                    });
                }
                total += copied;
                done.files += 1;
                written.push(path);
            }
            EntryType::Symlink => {
                let target = entry
                    .link_name()
                    .map_err(read_error)?
                    .map(|t| t.to_string_lossy().into_owned())
                    .unwrap_or_default();
                link_target_ok(&path, &target).map_err(|reason| ExtractError::UnsafeLink {
                    name: name.clone(),
                    target: target.clone(),
                    reason,
                })?;
                links.push((path, target));
            }
            EntryType::Link => {
                return Err(ExtractError::UnsafePath {
                    name,
                    reason: "hard links are not allowed",
                });
            }
            _ => {
                let mode = entry.header().mode().unwrap_or(0);
                return Err(ExtractError::SpecialFile { name, mode });
            }
        }
    }
    // Nothing may be written inside a link, nor over one (another link included).
    for (i, (link, _)) in links.iter().enumerate() {
        let clash = written.iter().find(|p| p.starts_with(link)).or_else(|| {
            links
                .iter()
                .enumerate()
                .find(|(j, (p, _))| *j != i && p.starts_with(link))
                .map(|(_, (p, _))| p)
        });
        if let Some(other) = clash {
            return Err(ExtractError::UnsafePath {
                name: other.display().to_string(),
                reason: "inside or over a link of the same archive",
            });
        }
    }
    for (path, target) in &links {
        place_link(dest, path, target)?;
        done.links += 1;
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    enum E<'a> {
        File(&'a str, &'a str, u32),
        Link(&'a str, &'a str),
        Hard(&'a str, &'a str),
        Fifo(&'a str),
    }

    fn tgz(entries: &[E<'_>]) -> Vec<u8> {
        let mut tar = tar::Builder::new(flate2::write::GzEncoder::new(
            Vec::new(),
            flate2::Compression::fast(),
        ));
        for e in entries {
            let mut header = tar::Header::new_gnu();
            let result = match e {
                E::File(name, body, mode) => {
                    header.set_size(body.len() as u64);
                    header.set_mode(*mode);
                    header.set_entry_type(EntryType::Regular);
                    header.set_cksum();
                    tar.append_data(&mut header, name, body.as_bytes())
                }
                E::Link(name, target) | E::Hard(name, target) => {
                    header.set_size(0);
                    header.set_entry_type(if matches!(e, E::Link(..)) {
                        EntryType::Symlink
                    } else {
                        EntryType::Link
                    });
                    tar.append_link(&mut header, name, target)
                }
                E::Fifo(name) => {
                    header.set_size(0);
                    header.set_entry_type(EntryType::Fifo);
                    header.set_cksum();
                    tar.append_data(&mut header, name, io::empty())
                }
            };
            result.unwrap_or_else(|e| panic!("building the test tarball: {e}"));
        }
        tar.into_inner()
            .and_then(|gz| gz.finish())
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// A tarball entry whose raw name is `name` (the tar builder refuses `..` itself).
    fn raw(name: &str) -> Vec<u8> {
        let mut header = tar::Header::new_ustar();
        header.as_mut_bytes()[..name.len()].copy_from_slice(name.as_bytes());
        header.set_size(1);
        header.set_mode(0o644);
        header.set_entry_type(EntryType::Regular);
        header.set_cksum();
        let mut bytes = header.as_bytes().to_vec();
        bytes.extend_from_slice(&[b'x'; 512]);
        bytes.extend_from_slice(&[0; 1024]);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&bytes).unwrap_or_else(|e| panic!("{e}"));
        gz.finish().unwrap_or_else(|e| panic!("{e}"))
    }

    fn unpack(bytes: &[u8]) -> (tempfile::TempDir, Result<Unpacked, ExtractError>) {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let result = extract_tgz(&mut &bytes[..], &dir.path().join("pkg"), Limits::default());
        (dir, result)
    }

    #[test]
    fn drops_the_package_directory_and_keeps_modes() {
        let (dir, result) = unpack(&tgz(&[
            E::File("package/package.json", "{}", 0o644),
            E::File("package/bin/pnpm.cjs", "#!/usr/bin/env node\n", 0o755),
            E::Link("package/dist/alias.cjs", "../bin/pnpm.cjs"),
        ]));
        assert_eq!(result.ok(), Some(Unpacked { files: 2, links: 1 }));
        let root = dir.path().join("pkg");
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(root.join("bin/pnpm.cjs")).map(|m| m.permissions().mode() & 0o777);
        assert_eq!(mode.ok(), Some(0o755));
        assert_eq!(
            fs::read_to_string(root.join("dist/alias.cjs"))
                .ok()
                .as_deref(),
            Some("#!/usr/bin/env node\n")
        );
        assert!(root.join("package.json").is_file());
    }

    #[test]
    fn refuses_unsafe_entries_before_writing_anything() {
        for (bytes, what) in [
            (raw("package/../../evil.sh"), "parent directory"),
            (raw("/package/evil.sh"), "absolute"),
            (
                tgz(&[
                    E::File("package/a", "x", 0o644),
                    E::Link("package/l", "../../etc/passwd"),
                ]),
                "link out",
            ),
            (tgz(&[E::Link("package/l", "/etc/passwd")]), "absolute link"),
            (
                tgz(&[
                    E::Link("package/l", "."),
                    E::File("package/l/x", "x", 0o644),
                ]),
                "write through a link",
            ),
            (tgz(&[E::Hard("package/h", "package/a")]), "hard link"),
            (tgz(&[E::Fifo("package/fifo")]), "fifo"),
        ] {
            let (dir, result) = unpack(&bytes);
            assert!(result.is_err(), "{what} must be refused");
            assert!(!dir.path().join("evil.sh").exists(), "{what}");
            assert!(
                !dir.path().join("pkg").exists(),
                "{what}: nothing left behind"
            );
        }
    }

    #[test]
    fn refuses_archives_that_expand_too_far() {
        let big = "x".repeat(4096);
        let bytes = tgz(&[E::File("package/a.txt", &big, 0o644)]);
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let limits = Limits {
            max_entries: 10,
            max_bytes: 1000,
        };
        let result = extract_tgz(&mut &bytes[..], &dir.path().join("p"), limits);
        assert!(
            matches!(result, Err(ExtractError::TooLarge { max: 1000 })),
            "{result:?}"
        );
        let many = tgz(&[
            E::File("package/a", "", 0o644),
            E::File("package/b", "", 0o644),
        ]);
        let limits = Limits {
            max_entries: 1,
            max_bytes: 1000,
        };
        let result = extract_tgz(&mut &many[..], &dir.path().join("q"), limits);
        assert!(
            matches!(result, Err(ExtractError::TooManyEntries { .. })),
            "{result:?}"
        );
        assert!(
            extract_tgz(
                &mut &b"not gzip"[..],
                &dir.path().join("r"),
                Limits::default()
            )
            .is_err()
        );
    }
}
