//! `cargo xtask bench supervisor`: runs the supervisor benchmark (`supervisor/benches/
//! supervisor.rs`, release build) with Node 24 and the real openclaw gateway, and prints its
//! figures: `cold_ratio`, `warm_restart_seconds`, `supervisor_rss_mib` (plus the cold and serial
//! seconds the ratio comes from).

use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::{node, tools::repo_root};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Delay the loopback ClawHub and Ollama add to every chunk they send, in milliseconds
    /// (what a remote registry costs).
    #[arg(long, default_value_t = 50)]
    rtt_ms: u64,
    /// Cold runs (parallel and one step after another); medians are reported.
    #[arg(long, default_value_t = 3)]
    runs: usize,
}

pub fn run(args: &Args) -> Result<()> {
    let node = node::ensure()?;
    println!(
        "==> cargo bench -p openclaw-supervisor --bench supervisor (pnpm and uv come from the real registries)"
    );
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args([
            "bench",
            "--quiet",
            "-p",
            "openclaw-supervisor",
            "--bench",
            "supervisor",
            "--",
        ])
        .args([
            "--rtt-ms",
            &args.rtt_ms.to_string(),
            "--runs",
            &args.runs.to_string(),
        ])
        .env("OPENCLAW_GATEWAY_COMMAND", node.gateway_command())
        .current_dir(repo_root()?)
        .status()
        .context("running cargo bench")?;
    if !status.success() {
        bail!("the supervisor benchmark failed ({status})");
    }
    Ok(())
}
