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
    // DEV: pushed by hand until the image module's pusher lands.
    let status = Command::new("bash")
        .arg(repo_root()?.join("xtask/pause/dev-push.sh"))
        .arg(&binary)
        .arg(super::config::pause_image())
        .status()?;
    if !status.success() {
        bail!("pushing the pause image failed");
    }
    Ok(())
}
