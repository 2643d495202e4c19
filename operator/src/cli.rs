//! Flags of `openclaw-operator run`; every flag can also come from the environment.

use std::{net::SocketAddr, time::Duration};

use clap::{Args, ValueEnum};

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// One JSON object per line (for log collectors).
    Json,
    /// Human-readable lines.
    Plain,
}

#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// Address of the HTTP server for /healthz, /readyz and /metrics.
    #[arg(
        long,
        env = "OPENCLAW_METRICS_BIND_ADDRESS",
        default_value = "0.0.0.0:8080"
    )]
    pub metrics_bind_address: SocketAddr,

    /// Elect a leader through a Lease so that several replicas are safe.
    #[arg(long, env = "OPENCLAW_LEADER_ELECT", default_value_t = false)]
    pub leader_elect: bool,

    /// Name of the leader-election Lease.
    #[arg(
        long,
        env = "OPENCLAW_LEADER_ELECTION_LEASE",
        default_value = "openclaw-operator-leader"
    )]
    pub leader_election_lease: String,

    /// Namespace of the leader-election Lease (the operator's own namespace).
    #[arg(
        long,
        env = "POD_NAMESPACE",
        default_value = "openclaw-operator-system"
    )]
    pub namespace: String,

    /// Identity of this replica in the Lease.
    #[arg(long, env = "POD_NAME", default_value = "openclaw-operator")]
    pub pod_name: String,

    /// Log format.
    #[arg(long, env = "OPENCLAW_LOG_FORMAT", value_enum, default_value_t = LogFormat::Json)]
    pub log_format: LogFormat,

    /// How often every instance is reconciled even without events (drift repair).
    #[arg(long, env = "OPENCLAW_RESYNC_INTERVAL", default_value = "5m", value_parser = parse_duration)]
    pub resync_interval: Duration,

    /// How many instances are reconciled at once.
    #[arg(long, env = "OPENCLAW_CONCURRENCY", default_value_t = 16)]
    pub concurrency: u16,

    /// Restrict the operator to one namespace (default: all namespaces).
    #[arg(long, env = "OPENCLAW_WATCH_NAMESPACE")]
    pub watch_namespace: Option<String>,

    /// Reach every pod's supervisor at this host:port instead of the pod IP (for local
    /// control planes, where the supervisor runs outside the cluster).
    #[arg(long, env = "OPENCLAW_SUPERVISOR_ADDRESS")]
    pub supervisor_address: Option<String>,

    /// Image of the operator's runtime (openclaw-init and openclaw-supervisor) used in agent pods.
    #[arg(
        long,
        env = "OPENCLAW_RUNTIME_IMAGE",
        default_value = "ghcr.io/openclaw-rocks/openclaw-runtime:0.1.0"
    )]
    pub runtime_image: String,
}

/// Parses durations such as `30s`, `5m`, `1h30m`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text).map_err(|e| e.to_string())
}
