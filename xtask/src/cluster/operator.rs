//! The operator of the local control plane: built from this workspace and run as a local
//! process (KWOK runs no containers), watching the user guide's namespace `openclaw`.

use std::{path::Path, process::Command};

use anyhow::{Context, Result, bail};

use super::procs::{self, Daemon};
use crate::tools::repo_root;

pub const NAME: &str = "openclaw-operator";
/// Namespace the local operator reconciles (the guide's); tests run their own in-process
/// operators in their own namespaces.
pub const WATCH_NAMESPACE: &str = "openclaw";
/// Where the local operator serves /healthz, /readyz and /metrics.
pub const METRICS_ADDRESS: &str = "127.0.0.1:18080";

/// Builds the operator and (re)starts it against the local control plane.
pub fn restart(dir: &Path) -> Result<()> {
    println!("==> building and starting the operator (watching namespace {WATCH_NAMESPACE})");
    let root = repo_root()?;
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["build", "--quiet", "-p", "openclaw-operator"])
        .current_dir(&root)
        .status()
        .context("running cargo build")?;
    if !status.success() {
        bail!("building the operator failed ({status})");
    }
    procs::stop_all(dir, &[NAME])?;
    let target = std::env::var("CARGO_TARGET_DIR").map_or_else(|_| root.join("target"), Into::into);
    Daemon::new(NAME, &target.join("debug").join(NAME))
        .args([
            "run".into(),
            format!("--metrics-bind-address={METRICS_ADDRESS}"),
            format!("--watch-namespace={WATCH_NAMESPACE}"),
            "--namespace=openclaw-operator-system".into(),
            "--pod-name=local-operator".into(),
            "--log-format=plain".into(),
        ])
        .env("KUBECONFIG", dir.join("kubeconfig"))
        .spawn(dir)
}
