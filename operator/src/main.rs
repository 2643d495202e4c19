//! `openclaw-operator`: the command-line entry point of the operator.

use anyhow::Result;
use clap::{Parser, Subcommand};

use openclaw_operator::{cli::RunArgs, run, telemetry};

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
    /// Run the operator: reconcile every OpenClawInstance of the cluster.
    Run(Box<RunArgs>),
    /// Print the CustomResourceDefinitions this operator serves, as YAML.
    Crd,
}

#[tokio::main]
async fn main() -> Result<()> {
    match Cli::parse().command {
        Command::Run(args) => {
            telemetry::init(args.log_format)?;
            run::run(*args).await
        }
        Command::Crd => {
            print!("{}", openclaw_api::crd::render_crds_yaml());
            Ok(())
        }
    }
}
