//! Command line of `openclaw-node`. Every flag also reads an environment variable, which is how
//! the chart's DaemonSet sets them.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use clap::{Parser, ValueEnum};

/// Log line format.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum LogFormat {
    Json,
    Plain,
}

#[derive(Debug, Parser)]
#[command(name = "openclaw-node", version, about)]
pub struct Cli {
    /// Log format.
    #[arg(long, env = "OPENCLAW_LOG_FORMAT", value_enum, default_value_t = LogFormat::Json)]
    pub log_format: LogFormat,
    /// Name of the Node this agent runs on (downward API `spec.nodeName`).
    #[arg(long, env = "NODE_NAME")]
    pub node_name: String,
    /// Address of the HTTP server (health, metrics, the download cache). With the host network,
    /// the node's IP: what agent pods reach through `status.hostIP`.
    #[arg(long, env = "OPENCLAW_NODE_LISTEN", default_value = "0.0.0.0:18800")]
    pub listen: SocketAddr,
    /// The kubelet's seccomp directory (its `--root-dir` plus `/seccomp`).
    #[arg(
        long,
        env = "OPENCLAW_NODE_SECCOMP_DIR",
        default_value = "/var/lib/kubelet/seccomp"
    )]
    pub seccomp_dir: PathBuf,
    /// Root under which `proc/driver/nvidia` is read. The container's own `/proc` shows the
    /// node's driver, so `/` is right in a pod.
    #[arg(long, env = "OPENCLAW_NODE_HOST_ROOT", default_value = "/")]
    pub host_root: PathBuf,
    /// How often the profiles, the GPU facts and the Node's labels are checked again.
    #[arg(long, env = "OPENCLAW_NODE_INTERVAL", default_value = "60s", value_parser = humantime::parse_duration)]
    pub interval: Duration,
    /// Serve the node-local download cache.
    #[arg(long, env = "OPENCLAW_NODE_CACHE", default_value_t = true, action = clap::ArgAction::Set)]
    pub cache: bool,
    /// Directory of the cache (a hostPath, so that it survives the agent's restarts).
    #[arg(
        long,
        env = "OPENCLAW_NODE_CACHE_DIR",
        default_value = "/var/cache/openclaw-node"
    )]
    pub cache_dir: PathBuf,
    /// Most bytes the cache keeps; the least recently used artifacts go first. Plain bytes or
    /// with a binary suffix: `512Mi`, `20Gi`.
    #[arg(long, env = "OPENCLAW_NODE_CACHE_MAX_SIZE", default_value = "20Gi", value_parser = parse_size)]
    pub cache_max_size: u64,
    /// How long mutable documents (package documents, index pages, skill metadata, manifests
    /// by tag) are served without asking the upstream again.
    #[arg(long, env = "OPENCLAW_NODE_CACHE_METADATA_TTL", default_value = "10m", value_parser = humantime::parse_duration)]
    pub cache_metadata_ttl: Duration,
    /// ClawHub, or the internal mirror of it the cache pulls from.
    #[arg(
        long,
        env = "OPENCLAW_NODE_UPSTREAM_CLAWHUB",
        default_value = "https://clawhub.ai"
    )]
    pub upstream_clawhub: String,
    /// npm registry the cache pulls from.
    #[arg(
        long,
        env = "OPENCLAW_NODE_UPSTREAM_NPM",
        default_value = "https://registry.npmjs.org"
    )]
    pub upstream_npm: String,
    /// PyPI simple index the cache pulls from.
    #[arg(
        long,
        env = "OPENCLAW_NODE_UPSTREAM_PYPI",
        default_value = "https://pypi.org/simple"
    )]
    pub upstream_pypi: String,
    /// Mirror of python-build-standalone releases the cache pulls from (none by default: uv's
    /// own source is GitHub, which has no stable checksum listing to verify against).
    #[arg(long, env = "OPENCLAW_NODE_UPSTREAM_PYTHON")]
    pub upstream_python: Option<String>,
    /// Ollama model registry the cache pulls from.
    #[arg(
        long,
        env = "OPENCLAW_NODE_UPSTREAM_OLLAMA",
        default_value = "https://registry.ollama.ai"
    )]
    pub upstream_ollama: String,
}

/// `1048576`, `512Mi`, `20Gi`, `1Ti` (binary suffixes, as Kubernetes quantities).
pub fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let (digits, factor) = [
        ("Ki", 1u64 << 10),
        ("Mi", 1 << 20),
        ("Gi", 1 << 30),
        ("Ti", 1 << 40),
    ]
    .iter()
    .find_map(|(suffix, factor)| text.strip_suffix(suffix).map(|d| (d, *factor)))
    .unwrap_or((text, 1));
    digits
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(factor))
        .filter(|n| *n > 0)
        .ok_or_else(|| format!("{text:?}: expected a positive size such as 20Gi or 536870912"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("20Gi"), Ok(20 << 30));
        assert_eq!(parse_size("512Mi"), Ok(512 << 20));
        assert_eq!(parse_size("4096"), Ok(4096));
        for bad in ["", "0", "-1Gi", "20GB", "Gi"] {
            assert!(parse_size(bad).is_err(), "{bad}");
        }
    }
}
