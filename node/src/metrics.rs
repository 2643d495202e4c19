//! The agent's own metrics (the cache registers its own on the same registry).

use prometheus_client::{
    metrics::{counter::Counter, gauge::Gauge},
    registry::Registry,
};

/// Counters and gauges of the agent's rounds.
#[derive(Debug, Default)]
pub struct Metrics {
    pub profiles_installed: Gauge,
    pub profile_writes: Counter,
    pub node_patches: Counter,
    pub round_errors: Counter,
    pub gpus: Gauge,
}

impl Metrics {
    /// Registers every metric under `openclaw_node_`.
    pub fn register(&self, registry: &mut Registry) {
        let registry = registry.sub_registry_with_prefix("openclaw_node");
        registry.register(
            "seccomp_profiles_installed",
            "Versions of the project's seccomp profiles on this node",
            self.profiles_installed.clone(),
        );
        registry.register(
            "seccomp_profile_writes",
            "Profile files written (first install, new version, or repair of a damaged file)",
            self.profile_writes.clone(),
        );
        registry.register(
            "node_patches",
            "Writes to this node's labels and annotations",
            self.node_patches.clone(),
        );
        registry.register(
            "round_errors",
            "Rounds that failed (see the log)",
            self.round_errors.clone(),
        );
        registry.register(
            "gpus",
            "NVIDIA GPUs the driver reports on this node",
            self.gpus.clone(),
        );
    }
}
