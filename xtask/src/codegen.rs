//! `cargo xtask gen`: writes the generated CRD YAML into `crds/` and the chart.

use std::{fs, path::Path};

use anyhow::{Context, Result, bail};
use clap::Args;

use crate::tools::repo_root;

#[derive(Debug, Args)]
pub struct GenArgs {
    /// Print the CRDs on stdout instead of writing files.
    #[arg(long)]
    stdout: bool,
    /// Fail if a generated file differs from what is committed, without writing.
    #[arg(long)]
    check: bool,
}

pub fn run(args: &GenArgs) -> Result<()> {
    let yaml = openclaw_api::crd::render_crds_yaml();
    if args.stdout {
        print!("{yaml}");
        return Ok(());
    }
    let root = repo_root()?;
    let mut stale = Vec::new();
    for rel in [
        openclaw_api::crd::CRD_FILE,
        openclaw_api::crd::CHART_CRD_FILE,
    ] {
        let path = root.join(rel);
        if fs::read_to_string(&path).ok().as_deref() == Some(yaml.as_str()) {
            continue;
        }
        if args.check {
            stale.push(rel);
        } else {
            write(&path, &yaml)?;
            println!("wrote {rel}");
        }
    }
    if !stale.is_empty() {
        bail!(
            "generated files are stale: {}; run cargo xtask gen",
            stale.join(", ")
        );
    }
    Ok(())
}

fn write(path: &Path, content: &str) -> Result<()> {
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    fs::write(path, content).with_context(|| format!("writing {}", path.display()))
}
