//! The image cache outside the repository (`~/.cache/openclaw-dev/images/`): layers and whole
//! image layouts named by the hash of their inputs, and the npm tarballs they are made from.
//!
//! Everything is built under a `.partial` name and renamed into place, so an interrupted build
//! is never taken for a finished one.

use std::{
    fs,
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{Context, Result, bail, ensure};
use base64::Engine;
use sha2::{Digest, Sha256, Sha512};

use super::layer::LayerBlob;
use super::layout;
use crate::tools::cache_dir;

/// `~/.cache/openclaw-dev/images` (or `$OPENCLAW_IMAGES_CACHE`).
pub fn images_dir() -> Result<PathBuf> {
    if let Ok(dir) = std::env::var("OPENCLAW_IMAGES_CACHE") {
        return Ok(PathBuf::from(dir));
    }
    let tools = cache_dir()?;
    Ok(tools
        .parent()
        .context("the tools cache has no parent")?
        .join("images"))
}

/// The first 16 hex digits of the SHA-256 of `inputs`, each length-prefixed.
pub fn input_hash(inputs: &[&str]) -> String {
    let mut hash = Sha256::new();
    for input in inputs {
        hash.update((input.len() as u64).to_le_bytes());
        hash.update(input.as_bytes());
    }
    hex::encode(hash.finalize())[..16].to_owned()
}

/// A cached layer: its blob and digests.
#[derive(Debug, Clone)]
pub struct CachedLayer {
    pub blob: LayerBlob,
    /// The gzipped tar.
    pub path: PathBuf,
    /// Whether it was already there.
    pub cached: bool,
}

/// The layer `<name>-<hash>` from the cache, or built by `build` (given a scratch directory and
/// the blobs directory to write the layer into) and cached.
pub fn layer(
    name: &str,
    hash: &str,
    build: impl FnOnce(&Path, &Path) -> Result<LayerBlob>,
) -> Result<CachedLayer> {
    let dir = images_dir()?.join("layers").join(format!("{name}-{hash}"));
    let meta = dir.join("layer.json");
    if let Ok(bytes) = fs::read(&meta) {
        let blob: LayerBlob = serde_json::from_slice(&bytes)?;
        let path = layout::blobs(&dir).join(blob.digest.trim_start_matches("sha256:"));
        if path.is_file() {
            return Ok(CachedLayer {
                blob,
                path,
                cached: true,
            });
        }
    }
    let partial = sibling(&dir, "partial");
    if partial.exists() {
        remove_unmounted(&partial)?;
    }
    let scratch = partial.join("scratch");
    fs::create_dir_all(&scratch)?;
    let blob = build(&scratch, &layout::blobs(&partial))?;
    fs::remove_dir_all(&scratch).with_context(|| format!("removing {}", scratch.display()))?;
    fs::write(
        partial.join("layer.json"),
        serde_json::to_vec_pretty(&blob)?,
    )?;
    if dir.exists() {
        fs::remove_dir_all(&dir)?;
    }
    fs::rename(&partial, &dir).with_context(|| format!("renaming {}", partial.display()))?;
    let path = layout::blobs(&dir).join(blob.digest.trim_start_matches("sha256:"));
    Ok(CachedLayer {
        blob,
        path,
        cached: false,
    })
}

/// The image layout `<name>-<hash>` from the cache (`true`), or written by `write` into a fresh
/// directory and cached (`false`); returns its path.
pub fn image(
    name: &str,
    hash: &str,
    write: impl FnOnce(&Path) -> Result<()>,
) -> Result<(PathBuf, bool)> {
    let dir = images_dir()?.join(format!("{name}-{hash}"));
    if dir.join("index.json").is_file() {
        return Ok((dir, true));
    }
    let partial = sibling(&dir, "partial");
    if partial.exists() {
        fs::remove_dir_all(&partial)?;
    }
    fs::create_dir_all(&partial)?;
    write(&partial)?;
    if dir.exists() {
        fs::remove_dir_all(&dir)?;
    }
    fs::rename(&partial, &dir).with_context(|| format!("renaming {}", partial.display()))?;
    Ok((dir, false))
}

/// Removes `dir`, after checking nothing is mounted under it (`debootstrap` mounts `/proc` and
/// `/sys` in its target while it runs; a removal must never descend into them).
pub fn remove_unmounted(dir: &Path) -> Result<()> {
    let dir = dir.canonicalize()?;
    let mounts = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    if let Some(mount) = mounts
        .lines()
        .filter_map(|line| line.split(' ').nth(4))
        .find(|point| Path::new(point).starts_with(&dir))
    {
        bail!(
            "{mount} is mounted under {}: unmount it, then remove the directory",
            dir.display()
        );
    }
    fs::remove_dir_all(&dir).with_context(|| format!("removing {}", dir.display()))
}

/// `<dir>.<what>-<pid>` next to `dir` (names hold dots, so not `with_extension`).
pub fn sibling(dir: &Path, what: &str) -> PathBuf {
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    dir.with_file_name(format!("{name}.{what}-{}", std::process::id()))
}

/// An npm package's tarball in the cache.
#[derive(Debug, Clone)]
pub struct Tarball {
    pub path: PathBuf,
    /// `sha512-<base64>`, the registry's `dist.integrity`.
    pub integrity: String,
}

/// `<name>@<version>`'s tarball, fetched once with `npm pack` and checked against the
/// integrity npm reports.
pub fn npm_tarball(name: &str, version: &str) -> Result<Tarball> {
    let dir = images_dir()?.join("npm");
    let file = format!(
        "{}-{version}.tgz",
        name.trim_start_matches('@').replace('/', "-")
    );
    let path = dir.join(&file);
    if !path.is_file() {
        let partial = dir.join(format!("partial-{}", std::process::id()));
        fs::create_dir_all(&partial)?;
        println!("==> npm pack {name}@{version}");
        let output = Command::new("npm")
            .args(["pack", "--json", "--loglevel=error", "--pack-destination"])
            .arg(&partial)
            .arg(format!("{name}@{version}"))
            .output()
            .context("running npm (apt-get install npm)")?;
        if !output.status.success() {
            bail!(
                "npm pack {name}@{version} failed: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            );
        }
        let report: serde_json::Value =
            serde_json::from_slice(&output.stdout).context("npm pack --json printed no JSON")?;
        let expected = report[0]["integrity"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let fetched = partial.join(&file);
        let actual = integrity(&fs::read(&fetched)?);
        ensure!(
            actual == expected,
            "{name}@{version}: npm reports {expected}, the tarball is {actual}"
        );
        fs::rename(&fetched, &path)?;
        fs::remove_dir_all(&partial)?;
    }
    Ok(Tarball {
        integrity: integrity(&fs::read(&path)?),
        path,
    })
}

/// npm's `sha512-<base64>` integrity of `bytes`.
pub fn integrity(bytes: &[u8]) -> String {
    format!(
        "sha512-{}",
        base64::engine::general_purpose::STANDARD.encode(Sha512::digest(bytes))
    )
}

/// Unpacks an npm tarball's `package/` into `to` (created), owned by whoever runs this.
pub fn unpack_package(tarball: &Path, to: &Path) -> Result<()> {
    let file = fs::File::open(tarball).with_context(|| format!("opening {}", tarball.display()))?;
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(file));
    fs::create_dir_all(to)?;
    for entry in archive.entries()? {
        let mut entry = entry?;
        let path = entry.path()?.into_owned();
        let Ok(relative) = path.strip_prefix("package") else {
            bail!(
                "{} has {} outside package/",
                tarball.display(),
                path.display()
            );
        };
        if relative.as_os_str().is_empty() {
            continue;
        }
        let target = to.join(relative);
        if let Some(parent) = target.parent() {
            fs::create_dir_all(parent)?;
        }
        entry
            .unpack(&target)
            .with_context(|| format!("unpacking {}", path.display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_hashes_tell_inputs_apart() {
        assert_eq!(input_hash(&["a", "b"]), input_hash(&["a", "b"]));
        assert_ne!(input_hash(&["a", "b"]), input_hash(&["ab", ""]));
        assert_ne!(input_hash(&["a", "b"]), input_hash(&["b", "a"]));
        assert_eq!(input_hash(&["x"]).len(), 16);
    }

    #[test]
    fn a_directory_with_a_mount_under_it_is_not_removed() -> Result<()> {
        // `/proc` is mounted under `/`: the check refuses the root, without touching anything.
        let error = remove_unmounted(Path::new("/")).unwrap_err();
        assert!(
            format!("{error:#}").contains("is mounted under /"),
            "{error:#}"
        );
        let dir = tempfile::tempdir()?;
        fs::create_dir_all(dir.path().join("a/b"))?;
        remove_unmounted(&dir.path().join("a"))?;
        assert!(!dir.path().join("a").exists());
        Ok(())
    }

    #[test]
    fn integrity_is_npms() {
        // `printf hello | openssl dgst -sha512 -binary | base64`
        assert_eq!(
            integrity(b"hello"),
            "sha512-m3HSJL1i83hdltRq0+o9czGb+8KJDKra4t/3JRlnPKcjI8PZm6XBHXx6zG4UuMXaDEZjR1wuXDre9G9zvN7AQw=="
        );
    }
}
