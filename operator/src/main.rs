//! `openclaw-operator`: the command-line entry point of the operator.

use anyhow::Result;
use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "openclaw-operator",
    version,
    about = "Kubernetes operator for OpenClaw agents"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print the CustomResourceDefinitions this operator serves, as YAML.
    Crd,
}

fn main() -> Result<()> {
    match Cli::parse().command {
        Command::Crd => print!("{}", openclaw_api::crd::render_crds_yaml()),
    }
    Ok(())
}
