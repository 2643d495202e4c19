//! `cargo xtask bench backup`: runs the backup benchmark (`supervisor/benches/backup.rs`,
//! release build) against a local SeaweedFS and prints its figures: `backup_ratio`,
//! `restore_ratio`, `peak_rss_mib_1g`, `peak_rss_mib_4g` (plus the seconds and sizes they come
//! from), `backup_vs_rclone` and `restore_vs_rclone` against the pipeline a user would run
//! instead (`tar | zstd | rclone rcat` and back), and the speed and size at each zstd level. The
//! baselines and the peer are the real `tar`, `zstd` and `rclone` command-line tools.

use std::{path::PathBuf, process::Command};

use anyhow::{Context, Result, bail};

use crate::{seaweed, tools::repo_root};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Runs at the small size (each on a fresh SeaweedFS); medians are reported.
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Size of the workspace the ratios and the first RSS are measured on, in MiB.
    #[arg(long, default_value_t = 1024)]
    small_mib: u64,
    /// Size of the workspace only the backup's RSS is measured on, in MiB (0: skip).
    #[arg(long, default_value_t = 4096)]
    large_mib: u64,
    /// Where the workspaces, the baseline's archive and SeaweedFS's data go (default: the
    /// system's temporary directory). Needs about 3.5 times the large size free.
    #[arg(long)]
    dir: Option<PathBuf>,
    /// zstd levels whose speed and size are reported, comma-separated.
    #[arg(long, default_value = "1,3,6,9")]
    levels: String,
    /// Also measure upload part sizes and parts in flight.
    #[arg(long)]
    tune: bool,
}

pub fn run(args: &Args) -> Result<()> {
    for (tool, package) in [("zstd", "zstd"), ("tar", "tar"), ("rclone", "rclone")] {
        if !on_path(tool) {
            bail!(
                "{tool} is missing: the baselines are the real CLIs; install it (apt-get install -y {package})"
            );
        }
    }
    let weed = seaweed::ensure()?;
    println!("==> cargo bench -p openclaw-supervisor --bench backup");
    let mut command = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    command
        .args([
            "bench",
            "--quiet",
            "-p",
            "openclaw-supervisor",
            "--bench",
            "backup",
            "--",
        ])
        .args(["--runs", &args.runs.to_string()])
        .args(["--small-mib", &args.small_mib.to_string()])
        .args(["--large-mib", &args.large_mib.to_string()])
        .args(["--levels", &args.levels])
        .env(openclaw_testkit::location::WEED_ENV, &weed)
        .current_dir(repo_root()?);
    if let Some(dir) = &args.dir {
        command.arg("--dir").arg(dir);
    }
    if args.tune {
        command.arg("--tune");
    }
    let status = command.status().context("running cargo bench")?;
    if !status.success() {
        bail!("the backup benchmark failed ({status})");
    }
    Ok(())
}

fn on_path(bin: &str) -> bool {
    std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|dir| dir.join(bin).is_file()))
        .unwrap_or(false)
}
