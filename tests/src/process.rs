//! Workspace binaries run as local processes by the tests, killed when the test ends.

use std::{path::PathBuf, process::Child};

use crate::cluster::repo_root;

/// A child process, killed and reaped when dropped.
#[derive(Debug)]
pub struct ChildGuard(pub Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Path of a binary of this workspace in `target/debug`, or an error saying how to build it.
pub fn workspace_binary(name: &str) -> anyhow::Result<PathBuf> {
    let target = std::env::var("CARGO_TARGET_DIR")
        .map_or_else(|_| repo_root().join("target"), PathBuf::from);
    let path = target.join("debug").join(name);
    anyhow::ensure!(
        path.exists(),
        "{} is missing: build it with `cargo build -p {name}` (cargo xtask test does)",
        path.display()
    );
    Ok(path)
}
