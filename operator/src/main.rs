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
    /// GET a URL of an operator and exit 0 when it answers 200 (the chart's `helm test`, from
    /// the distroless image that has no curl).
    Probe {
        /// For example `http://openclaw-operator.openclaw-operator-system.svc:8080/readyz`.
        url: String,
    },
}

#[tokio::main]
async fn main() -> Result<()> {
    openclaw_operator::install_crypto_provider();
    match Cli::parse().command {
        Command::Run(args) => {
            telemetry::init(args.log_format)?;
            run::run(*args).await
        }
        Command::Crd => {
            print!("{}", openclaw_api::crd::render_crds_yaml());
            Ok(())
        }
        Command::Probe { url } => openclaw_operator::http::probe(&url).await,
    }
}
