//! Installing a package without the npm CLI: resolve and download it from the registry, check
//! the registry's checksum (and the instance's SHA-256 pin), extract it safely into a staging
//! directory beside the target, and swap that in whole. Only a package that declares runtime
//! dependencies costs an `npm install` (scripts disabled) inside the staging directory.

use std::{
    fs,
    io::{self, Read},
    path::{Path, PathBuf},
};

use sha2::{Digest, Sha256};

use super::{
    Npm, NpmError, RegistryError,
    registry::{Checker, DEFAULT_REGISTRY, MAX_TARBALL_BYTES, Registry},
    tarball::extract_tgz,
};
use crate::pipeline::{
    fsutil, http::RetryPolicy, runtime_deps::stream::consume_body, skills::Limits, step::StepCtx,
};

/// What was installed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placed {
    /// The version the spec selected.
    pub version: String,
    /// SHA-256 of the tarball, hex.
    pub sha256: String,
}

/// The registry the pipeline downloads from: the mirror, else npm's own.
pub fn registry_url(ctx: &StepCtx) -> &str {
    ctx.env
        .mirrors
        .npm_registry
        .as_deref()
        .unwrap_or(DEFAULT_REGISTRY)
}

/// A check of the unpacked package before it replaces what was installed.
pub type Check = fn(package: &str, dir: &Path) -> Result<(), NpmError>;

/// Accepts any package.
pub fn any_package(_package: &str, _dir: &Path) -> Result<(), NpmError> {
    Ok(())
}

/// Installs `package` at the version `spec` selects into the directory `target` (replaced
/// whole, never half-written, and only once `check` accepted the unpacked package). The tarball
/// is hashed and unpacked into a staging directory while it downloads; nothing of it is used
/// unless the whole download matches the registry's checksum and the pin.
pub async fn install_into(
    ctx: &StepCtx,
    package: &str,
    spec: Option<&str>,
    pin: Option<&str>,
    target: &Path,
    check: Check,
) -> Result<Placed, NpmError> {
    let registry = Registry {
        http: &ctx.http,
        base: registry_url(ctx),
        retry: RetryPolicy::new(ctx.env.retry_base),
    };
    let manifest = registry.resolve(package, spec).await?;
    let integrity_error = |error| {
        NpmError::Registry(RegistryError::Integrity {
            package: package.into(),
            version: manifest.version.clone(),
            error,
        })
    };
    let checker = Checker::for_dist(&manifest.dist).map_err(integrity_error)?;
    let response = registry.tarball(&manifest).await?;
    // Staged on the same volume but outside the target's directory, which the gateway scans.
    let name = target.file_name().unwrap_or(package.as_ref());
    let scratch = ctx.env.supervisor_dir();
    fs::create_dir_all(&scratch).map_err(io_error(&scratch))?;
    let staging = fsutil::sibling(&scratch.join(name), "staging");
    let unpack_to = staging.clone();
    let streamed = consume_body(response, MAX_TARBALL_BYTES, move |body| {
        let mut tee = Tee {
            inner: body,
            sha256: Sha256::new(),
            checker,
        };
        let unpacked = extract_tgz(&mut tee, &unpack_to, Limits::default());
        io::copy(&mut tee, &mut io::sink())?;
        let sha256 = hex::encode(tee.sha256.finalize());
        Ok((sha256, tee.checker.finish(), unpacked))
    })
    .await
    .map_err(|error| NpmError::Download {
        package: package.into(),
        error,
    });
    let result = async {
        let (sha256, integrity, unpacked) = streamed?;
        integrity.map_err(integrity_error)?;
        if let Some(expected) = pin
            && expected != sha256
        {
            return Err(NpmError::PinMismatch {
                package: package.into(),
                expected: expected.into(),
                actual: sha256,
            });
        }
        unpacked?;
        check(package, &staging)?;
        if !manifest.dependencies.is_empty() || !manifest.optional_dependencies.is_empty() {
            Npm::of(ctx).install_dependencies(&staging).await?;
        }
        if let Some(parent) = target.parent() {
            fs::create_dir_all(parent).map_err(io_error(parent))?;
        }
        fsutil::replace_dir(&staging, target).map_err(io_error(target))?;
        Ok(sha256)
    }
    .await;
    if result.is_err() {
        let _ = fsutil::remove_any(&staging);
    }
    Ok(Placed {
        version: manifest.version.clone(),
        sha256: result?,
    })
}

/// Passes the tarball through to the extraction while hashing it twice: SHA-256 for the pin,
/// the registry's algorithm for its checksum.
struct Tee<'a> {
    inner: &'a mut dyn Read,
    sha256: Sha256,
    checker: Checker,
}

impl Read for Tee<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.sha256.update(&buf[..n]);
        self.checker.update(&buf[..n]);
        Ok(n)
    }
}

/// The executables a package declares in its `package.json` (`bin`, a path or a map of names
/// to paths), each checked to stay inside the package.
pub fn bins(package: &str, package_dir: &Path) -> Result<Vec<(String, PathBuf)>, NpmError> {
    let manifest = package_dir.join("package.json");
    let bytes = fs::read(&manifest).map_err(io_error(&manifest))?;
    let json: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| NpmError::Io {
        path: manifest.display().to_string(),
        error: std::io::Error::new(std::io::ErrorKind::InvalidData, e),
    })?;
    let unscoped = package.rsplit('/').next().unwrap_or(package);
    let declared: Vec<(String, String)> = match &json["bin"] {
        serde_json::Value::String(path) => vec![(unscoped.to_owned(), path.clone())],
        serde_json::Value::Object(map) => map
            .iter()
            .filter_map(|(name, path)| Some((name.clone(), path.as_str()?.to_owned())))
            .collect(),
        _ => Vec::new(),
    };
    declared
        .into_iter()
        .map(|(name, path)| {
            let bad = |reason: &'static str| NpmError::UnsafeBin {
                package: package.into(),
                name: name.clone(),
                reason,
            };
            if name.is_empty() || name.contains(['/', '\\', '\0']) || name == "." || name == ".." {
                return Err(bad("not a plain file name"));
            }
            let relative = crate::pipeline::skills::entry_path(&path)
                .map_err(bad)?
                .ok_or_else(|| bad("empty path"))?;
            Ok((name, relative))
        })
        .collect()
}

/// Links each of `package`'s executables into `bin` (relative links into `package_dir`, which
/// lies beside `bin` under the same prefix) and makes its target executable.
pub fn link_bins(
    package: &str,
    package_dir: &Path,
    prefix: &Path,
    bin: &Path,
) -> Result<Vec<String>, NpmError> {
    let mut names = Vec::new();
    let relative_dir = package_dir
        .strip_prefix(prefix)
        .map(|p| Path::new("..").join(p))
        .unwrap_or_else(|_| package_dir.to_owned());
    for (name, path) in bins(package, package_dir)? {
        let target = package_dir.join(&path);
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(&target, fs::Permissions::from_mode(0o755))
            .map_err(io_error(&target))?;
        let link = bin.join(&name);
        crate::pipeline::runtime_deps::link(&relative_dir.join(&path), &link)
            .map_err(io_error(&link))?;
        names.push(name);
    }
    Ok(names)
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> NpmError {
    let path = path.display().to_string();
    move |error| NpmError::Io { path, error }
}
