//! The pod sandbox image: xtask/pause/pause.c built static and pushed to the local registry.

use std::{path::Path, process::Command};

use anyhow::{Context, Result, bail};

use crate::tools::repo_root;

/// Builds the static pause binary into the node's directory and pushes its one-file image.
pub fn publish(dir: &Path) -> Result<()> {
    let out = dir.join("node").join("pause");
    std::fs::create_dir_all(&out)?;
    let source = repo_root()?.join("xtask").join("pause").join("pause.c");
    let binary = out.join("pause");
    let status = Command::new("gcc")
        .args(["-static", "-Os", "-s", "-o"])
        .arg(&binary)
        .arg(&source)
        .status()
        .context("running gcc (apt-get install gcc libc6-dev)")?;
    if !status.success() {
        bail!("building {} failed ({status})", source.display());
    }
    let bytes = std::fs::read(&binary)?;
    let pushed = crate::image::push_static_binary(
        &super::addr::registry_host(),
        PAUSE_REPOSITORY,
        PAUSE_TAG,
        ("pause", bytes),
        "65535:65535",
        &out.join("layout"),
    )?;
    println!("    pause image {}@{}", pushed.reference, pushed.digest);
    Ok(())
}

/// The pause image's repository and tag in the local registry.
pub const PAUSE_REPOSITORY: &str = "openclaw-dev/pause";
pub const PAUSE_TAG: &str = "1";
