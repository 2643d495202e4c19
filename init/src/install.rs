//! The atomic, verified install: copy to a temporary file in the target directory, fsync,
//! check its SHA-256 against the source (and the expected hash when given), mode 0555, rename
//! over the final name, fsync the directory. A reader sees the old file or the whole new one,
//! never a torn copy; a failed install leaves no temporary file behind.

use std::{
    fs::{self, File, OpenOptions, Permissions},
    io::{self, Read, Write},
    os::unix::fs::{OpenOptionsExt, PermissionsExt},
    path::{Path, PathBuf},
};

use sha2::{Digest, Sha256};

/// Mode of the installed binary: readable and executable by everyone, writable by nobody.
pub const MODE: u32 = 0o555;

/// What to install, and how to check it.
#[derive(Debug, Clone)]
pub struct Request {
    /// The binary to copy.
    pub from: PathBuf,
    /// The directory to install into.
    pub to: PathBuf,
    /// File name in `to`.
    pub name: String,
    /// The SHA-256 the binary must have, lowercase hex.
    pub expected: Option<String>,
}

/// A finished install.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Installed {
    /// Final path.
    pub path: PathBuf,
    /// SHA-256 of the installed file, lowercase hex.
    pub sha256: String,
    /// Size in bytes.
    pub bytes: u64,
}

/// Why an install failed.
#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    #[error("failed to open the source {path}")]
    OpenSource {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("the source {path} is not a regular file")]
    NotAFile { path: PathBuf },
    #[error("failed to create the target directory {path}")]
    CreateDir {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("failed to write {path}")]
    Write {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("failed to read back {path}")]
    ReadBack {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(
        "the copy at {path} does not match its source (sha256 {copied}, source {source_sha256}); the target volume may be faulty"
    )]
    CorruptCopy {
        path: PathBuf,
        copied: String,
        source_sha256: String,
    },
    #[error("{path} has sha256 {actual}, but {expected} was expected; refusing to install it")]
    HashMismatch {
        path: PathBuf,
        actual: String,
        expected: String,
    },
    #[error("failed to make {path} executable")]
    Chmod {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("failed to rename {from} to {to}")]
    Rename {
        from: PathBuf,
        to: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("failed to sync the directory {path}")]
    SyncDir {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("the expected hash {value:?} is not 64 hexadecimal digits")]
    BadExpectedHash { value: String },
    #[error("failed to read the expected hash from {path}")]
    ReadHashFile {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// Reads an expected hash given directly or in a file (`sha256sum` output: the first word).
pub fn expected_hash(
    value: Option<&str>,
    file: Option<&Path>,
) -> Result<Option<String>, InstallError> {
    let text = match (value, file) {
        (Some(value), _) => value.to_owned(),
        (None, Some(path)) => {
            fs::read_to_string(path).map_err(|source| InstallError::ReadHashFile {
                path: path.to_owned(),
                source,
            })?
        }
        (None, None) => return Ok(None),
    };
    let word = text
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    if word.len() != 64 || !word.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(InstallError::BadExpectedHash {
            value: text.trim().to_owned(),
        });
    }
    Ok(Some(word))
}

/// Installs `request.from` as `request.to/request.name`, atomically and verified.
pub fn install(request: &Request) -> Result<Installed, InstallError> {
    let open_source = |source| InstallError::OpenSource {
        path: request.from.clone(),
        source,
    };
    let mut source = File::open(&request.from).map_err(open_source)?;
    if !source.metadata().map_err(open_source)?.is_file() {
        return Err(InstallError::NotAFile {
            path: request.from.clone(),
        });
    }
    fs::create_dir_all(&request.to).map_err(|source| InstallError::CreateDir {
        path: request.to.clone(),
        source,
    })?;
    let target = request.to.join(&request.name);
    let temp = request
        .to
        .join(format!(".{}.tmp-{}", request.name, std::process::id()));
    let result = install_via(&mut source, &temp, &target, request);
    if result.is_err() {
        // Best effort: the error that matters is the one returned.
        let _ = fs::remove_file(&temp);
    }
    result
}

fn install_via(
    source: &mut File,
    temp: &Path,
    target: &Path,
    request: &Request,
) -> Result<Installed, InstallError> {
    let write = |source| InstallError::Write {
        path: temp.to_owned(),
        source,
    };
    // A leftover from a killed earlier attempt with the same pid (pid 1 in every container).
    match fs::remove_file(temp) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(write(e)),
        _ => {}
    }
    let mut out = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(temp)
        .map_err(write)?;
    let (source_sha256, bytes) = copy_hashing(source, &mut out).map_err(write)?;
    out.sync_all().map_err(write)?;
    drop(out);

    let mut copy = File::open(temp).map_err(|source| InstallError::ReadBack {
        path: temp.to_owned(),
        source,
    })?;
    let (copied, _) =
        copy_hashing(&mut copy, &mut io::sink()).map_err(|source| InstallError::ReadBack {
            path: temp.to_owned(),
            source,
        })?;
    if copied != source_sha256 {
        return Err(InstallError::CorruptCopy {
            path: temp.to_owned(),
            copied,
            source_sha256,
        });
    }
    if let Some(expected) = &request.expected
        && *expected != source_sha256
    {
        return Err(InstallError::HashMismatch {
            path: request.from.clone(),
            actual: source_sha256,
            expected: expected.clone(),
        });
    }
    fs::set_permissions(temp, Permissions::from_mode(MODE)).map_err(|source| {
        InstallError::Chmod {
            path: temp.to_owned(),
            source,
        }
    })?;
    fs::rename(temp, target).map_err(|source| InstallError::Rename {
        from: temp.to_owned(),
        to: target.to_owned(),
        source,
    })?;
    // The rename is durable once the directory entry is.
    File::open(&request.to)
        .and_then(|dir| dir.sync_all())
        .map_err(|source| InstallError::SyncDir {
            path: request.to.clone(),
            source,
        })?;
    Ok(Installed {
        path: target.to_owned(),
        sha256: source_sha256,
        bytes,
    })
}

/// Copies `from` into `to`, returning the SHA-256 (hex) and length of what was copied.
fn copy_hashing(from: &mut impl Read, to: &mut impl Write) -> io::Result<(String, u64)> {
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 64 * 1024];
    let mut total = 0u64;
    loop {
        let n = match from.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        let chunk = buffer.get(..n).unwrap_or_default();
        hasher.update(chunk);
        to.write_all(chunk)?;
        total += n as u64;
    }
    to.flush()?;
    Ok((hex(&hasher.finalize()), total))
}

/// Lowercase hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
    out
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::MetadataExt;

    use super::*;

    // sha256("supervisor binary\n")
    const CONTENT: &[u8] = b"supervisor binary\n";

    fn sha(bytes: &[u8]) -> String {
        hex(&Sha256::digest(bytes))
    }

    fn setup() -> io::Result<(tempfile::TempDir, Request)> {
        let dir = tempfile::tempdir()?;
        let from = dir.path().join("openclaw-supervisor");
        fs::write(&from, CONTENT)?;
        let request = Request {
            from,
            to: dir.path().join("runtime"),
            name: "openclaw-supervisor".into(),
            expected: None,
        };
        Ok((dir, request))
    }

    fn entries(dir: &Path) -> io::Result<Vec<String>> {
        let mut names: Vec<String> = fs::read_dir(dir)?
            .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
            .collect();
        names.sort();
        Ok(names)
    }

    #[test]
    fn installs_read_only_executable_with_the_source_hash() -> Result<(), Box<dyn std::error::Error>>
    {
        let (_dir, mut request) = setup()?;
        request.expected = Some(sha(CONTENT));
        let installed = install(&request)?;
        assert_eq!(installed.sha256, sha(CONTENT));
        assert_eq!(installed.bytes, CONTENT.len() as u64);
        assert_eq!(fs::read(&installed.path)?, CONTENT);
        assert_eq!(fs::metadata(&installed.path)?.mode() & 0o7777, MODE);
        assert_eq!(entries(&request.to)?, ["openclaw-supervisor"]);
        Ok(())
    }

    #[test]
    fn replaces_an_earlier_install_and_a_stale_temporary_file()
    -> Result<(), Box<dyn std::error::Error>> {
        let (_dir, request) = setup()?;
        fs::create_dir_all(&request.to)?;
        let old = request.to.join("openclaw-supervisor");
        fs::write(&old, b"old")?;
        fs::set_permissions(&old, Permissions::from_mode(0o555))?;
        let stale = request
            .to
            .join(format!(".openclaw-supervisor.tmp-{}", std::process::id()));
        fs::write(&stale, b"half a cop")?;
        let installed = install(&request)?;
        assert_eq!(fs::read(installed.path)?, CONTENT);
        assert_eq!(entries(&request.to)?, ["openclaw-supervisor"]);
        Ok(())
    }

    #[test]
    fn refuses_a_hash_mismatch_and_leaves_nothing() -> Result<(), Box<dyn std::error::Error>> {
        let (_dir, mut request) = setup()?;
        request.expected = Some("0".repeat(64));
        let error = install(&request).err();
        assert!(
            matches!(error, Some(InstallError::HashMismatch { .. })),
            "{error:?}"
        );
        let message = error.map(|e| e.to_string()).unwrap_or_default();
        assert!(
            message.contains(&sha(CONTENT)) && message.contains("refusing"),
            "{message}"
        );
        assert!(entries(&request.to)?.is_empty());
        Ok(())
    }

    #[test]
    fn refuses_a_missing_or_odd_source() -> Result<(), Box<dyn std::error::Error>> {
        let (dir, mut request) = setup()?;
        request.from = dir.path().join("absent");
        assert!(matches!(
            install(&request),
            Err(InstallError::OpenSource { .. })
        ));
        request.from = dir.path().to_owned();
        assert!(matches!(
            install(&request),
            Err(InstallError::NotAFile { .. })
        ));
        Ok(())
    }

    #[test]
    fn reads_expected_hashes_plain_or_from_sha256sum_files()
    -> Result<(), Box<dyn std::error::Error>> {
        let (dir, _) = setup()?;
        let upper = sha(CONTENT).to_ascii_uppercase();
        assert_eq!(expected_hash(Some(&upper), None)?, Some(sha(CONTENT)));
        let file = dir.path().join("SHA256SUMS");
        fs::write(&file, format!("{}  openclaw-supervisor\n", sha(CONTENT)))?;
        assert_eq!(expected_hash(None, Some(&file))?, Some(sha(CONTENT)));
        assert_eq!(expected_hash(None, None)?, None);
        assert!(matches!(
            expected_hash(Some("abc"), None),
            Err(InstallError::BadExpectedHash { .. })
        ));
        assert!(matches!(
            expected_hash(None, Some(&dir.path().join("none"))),
            Err(InstallError::ReadHashFile { .. })
        ));
        Ok(())
    }
}
