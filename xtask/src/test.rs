//! `cargo xtask test`: the project's one test command (what README and CI run).

use std::process::Command;

use anyhow::{Result, bail};
use clap::Args;

use crate::{cluster, tools::repo_root};

#[derive(Debug, Args)]
pub struct TestArgs {
    /// Skip `cargo fmt --check` and `cargo clippy -D warnings`.
    #[arg(long)]
    no_lint: bool,
    /// Extra arguments passed to the integration tests (e.g. a test name filter).
    #[arg(last = true)]
    filter: Vec<String>,
}

/// Stops the control plane when dropped, unless it was already running before.
struct ClusterGuard {
    owned: bool,
}

impl Drop for ClusterGuard {
    fn drop(&mut self) {
        if self.owned
            && let Ok(dir) = cluster::state_dir()
            && let Err(err) = cluster::down(&dir)
        {
            eprintln!("warning: stopping the local control plane failed: {err:#}");
        }
    }
}

pub fn run(args: &TestArgs) -> Result<()> {
    if !args.no_lint {
        cargo(&["fmt", "--all", "--", "--check"])?;
        cargo(&[
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ])?;
    }
    // The supervisor's end-to-end test runs the real gateway on Node 24.
    crate::node::ensure()?;
    // The backup tests run a real S3 (SeaweedFS `weed mini`).
    crate::seaweed::ensure()?;
    // Unit tests, including the CRD drift check, need no cluster.
    cargo(&["test", "--workspace", "--exclude", "openclaw-tests"])?;

    let dir = cluster::state_dir()?;
    let owned = !cluster::is_running(&dir);
    let _guard = ClusterGuard { owned };
    cluster::up(&dir)?;

    // Binaries the integration tests run as local processes (`openclaw_tests::process`):
    // `cargo test` builds a package's binary only when that package has integration tests.
    cargo(&[
        "build",
        "-p",
        "openclaw-operator",
        "-p",
        "openclaw-supervisor",
    ])?;
    let mut integration = vec!["test", "-p", "openclaw-tests", "--"];
    integration.extend(args.filter.iter().map(String::as_str));
    cargo(&integration)
}

fn cargo(args: &[&str]) -> Result<()> {
    println!("==> cargo {}", args.join(" "));
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(args)
        .current_dir(repo_root()?)
        .status()?;
    if !status.success() {
        bail!("cargo {} failed ({status})", args.join(" "));
    }
    Ok(())
}
