//! `cargo xtask bench <what>`: benchmarks whose figures the README reports.

mod backup;
mod node;
mod operator;
mod supervisor;

use anyhow::Result;
use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub enum Bench {
    /// N instances created at once against the local control plane: time until all are
    /// Running, the operator's peak RSS, and API writes during one steady-state resync.
    Operator(operator::Args),
    /// The supervisor's start-up pipeline cold (in parallel vs one step after another), a warm
    /// restart to the gateway's exec, and its RSS while the real gateway runs.
    Supervisor(supervisor::Args),
    /// The workspace backed up to and restored from a local SeaweedFS against `tar | zstd -3
    /// -T0` and `zstd -d | tar -x` in the same run, and the supervisor's peak RSS at two sizes.
    Backup(backup::Args),
    /// Start-up on the real node from pod creation to Ready: a new instance (cold) and its
    /// deleted pod (warm) against the bare gateway in a plain pod, and the supervisor's RSS.
    Node(node::Args),
}

pub fn run(bench: Bench) -> Result<()> {
    match bench {
        Bench::Operator(args) => operator::run(&args),
        Bench::Supervisor(args) => supervisor::run(&args),
        Bench::Backup(args) => backup::run(&args),
        Bench::Node(args) => node::run(&args),
    }
}
