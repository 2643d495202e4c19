//! Flags of `openclaw-operator run`; every flag can also come from the environment.

use std::{net::SocketAddr, time::Duration};

use clap::{Args, ValueEnum};

/// How log lines are written.
/// Which seccomp profile the agents' own containers get.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SeccompMode {
    Auto,
    RuntimeDefault,
}

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

    /// Restrict the operator to these namespaces, comma-separated or the flag repeated
    /// (default: all namespaces).
    #[arg(long, env = "OPENCLAW_WATCH_NAMESPACE", value_delimiter = ',')]
    pub watch_namespace: Vec<String>,

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

    /// Seccomp profile of the agents' `openclaw` and init containers: `auto` takes the node
    /// agent's Localhost profile once a node holds this operator's version of it (and keeps the
    /// pods to such nodes), RuntimeDefault until then; `runtime-default` never uses it. The
    /// chart passes `auto` when it deploys the node agent; without it, a label left on a node
    /// by an agent since removed does not move the pods.
    #[arg(long, env = "OPENCLAW_SECCOMP_PROFILE", value_enum, default_value_t = SeccompMode::RuntimeDefault)]
    pub seccomp_profile: SeccompMode,

    /// Port of the node agents' download cache on each node's address; agent pods are given
    /// it as their mirror (`OPENCLAW_NODE_CACHE`). Off when unset.
    #[arg(long, env = "OPENCLAW_NODE_CACHE_PORT")]
    pub node_cache_port: Option<u16>,

    /// Registries (`host[:port]`) auto-update lists tags from over plain HTTP instead of HTTPS,
    /// comma-separated: an in-cluster mirror without TLS.
    #[arg(long, env = "OPENCLAW_INSECURE_REGISTRIES", value_delimiter = ',')]
    pub insecure_registry: Vec<String>,

    /// Serve the validating admission webhook on this address (HTTPS); off when unset. Every
    /// replica serves it, leader or not.
    #[arg(long, env = "OPENCLAW_WEBHOOK_BIND_ADDRESS")]
    pub webhook_bind_address: Option<SocketAddr>,

    /// Serve the webhook with `tls.crt` and `tls.key` from this directory (a mounted Secret that
    /// cert-manager renews; re-read every 30 s). Unset, the operator issues and renews its own
    /// certificate.
    #[arg(long, env = "OPENCLAW_WEBHOOK_CERT_DIR")]
    pub webhook_cert_dir: Option<std::path::PathBuf>,

    /// Secret of the operator's namespace holding its own webhook certificate.
    #[arg(
        long,
        env = "OPENCLAW_WEBHOOK_SECRET",
        default_value = "openclaw-operator-webhook-tls"
    )]
    pub webhook_secret: String,

    /// Service the API server reaches the webhook through: its DNS names go in the certificate.
    #[arg(
        long,
        env = "OPENCLAW_WEBHOOK_SERVICE",
        default_value = "openclaw-operator-webhook"
    )]
    pub webhook_service: String,

    /// More DNS names or IP addresses for the certificate, comma-separated (a webhook reached by
    /// URL, as on a local control plane).
    #[arg(long, env = "OPENCLAW_WEBHOOK_HOSTS", value_delimiter = ',')]
    pub webhook_hosts: Vec<String>,

    /// ValidatingWebhookConfiguration whose `caBundle` the operator keeps current.
    #[arg(
        long,
        env = "OPENCLAW_WEBHOOK_CONFIGURATION",
        default_value = "openclaw-operator"
    )]
    pub webhook_configuration: String,

    /// Validity of each certificate the operator issues; renewed with a third of it left.
    #[arg(long, env = "OPENCLAW_WEBHOOK_CERT_VALIDITY", default_value = "90d", value_parser = parse_duration)]
    pub webhook_cert_validity: Duration,
}

/// Parses durations such as `30s`, `5m`, `1h30m`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text).map_err(|e| e.to_string())
}
