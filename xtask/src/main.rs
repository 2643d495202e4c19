//! Developer tasks for the workspace: `cargo xtask <task>`.

mod bench;
mod cluster;
mod codegen;
mod demo;
mod image;
mod node;
mod seaweed;
mod test;
mod tools;

use anyhow::Result;
use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "cargo xtask",
    about = "Developer tasks for the OpenClaw operator workspace"
)]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Debug, Subcommand)]
enum Task {
    /// Render the CRDs from the Rust types into crds/ and the chart.
    Gen(codegen::GenArgs),
    /// Manage the local control plane (etcd, kube-apiserver, kube-controller-manager,
    /// kube-scheduler, KWOK) built from the Go module proxy.
    Cluster {
        #[command(subcommand)]
        action: cluster::Action,
    },
    /// Run a benchmark and print its figures as `name: value` lines.
    Bench {
        #[command(subcommand)]
        what: bench::Bench,
    },
    /// Quick start: control plane, chart, the guide's my-agent, and its supervisor and the real
    /// gateway run locally on localhost:18789 (`--smoke`: check, tear down, exit 0/1).
    Demo(demo::DemoArgs),
    /// Install Node 24 and the real `openclaw` package (cached by version) for the
    /// end-to-end tests, and print where they are.
    Node,
    /// Install SeaweedFS (`weed`, cached by version), the real S3 of the backup tests and
    /// benchmark, and print where it is.
    Seaweedfs,
    /// Build the operator, runtime and OpenClaw images as OCI layouts (cached by their inputs)
    /// and, with --push, push them to a registry.
    Image(image::Args),
    /// Run the whole test suite: unit tests, then the local control plane and the
    /// tests against it; always tears the control plane down afterwards.
    Test(test::TestArgs),
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    match cli.task {
        Task::Gen(args) => codegen::run(&args),
        Task::Cluster { action } => cluster::run(action),
        Task::Test(args) => test::run(&args),
        Task::Node => node::run(),
        Task::Seaweedfs => seaweed::run(),
        Task::Demo(args) => demo::run(&args),
        Task::Bench { what } => bench::run(what),
        Task::Image(args) => image::run(&args),
    }
}
