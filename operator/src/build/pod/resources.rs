//! CPU, memory and GPU of the pod's containers: the operator's defaults.

use std::collections::BTreeMap;

use k8s_openapi::{
    api::core::v1::ResourceRequirements, apimachinery::pkg::api::resource::Quantity,
};

/// Requests and limits, each as (cpu, memory).
pub type Sizes = ((&'static str, &'static str), (&'static str, &'static str));

/// The `openclaw` container: 500m/1Gi, at most 2 CPUs/4Gi.
pub const OPENCLAW: Sizes = (("500m", "1Gi"), ("2", "4Gi"));
/// The init container: 10m/16Mi, at most 100m/64Mi.
pub const INIT: Sizes = (("10m", "16Mi"), ("100m", "64Mi"));
/// The Chromium sidecar: 250m/512Mi, at most 1 CPU/2Gi.
pub const CHROMIUM: Sizes = (("250m", "512Mi"), ("1", "2Gi"));
/// The Ollama sidecar: 500m/1Gi, at most 2 CPUs/4Gi.
pub const OLLAMA: Sizes = (("500m", "1Gi"), ("2", "4Gi"));
/// The Tailscale sidecar: 50m/64Mi, at most 200m/256Mi.
pub const TAILSCALE: Sizes = (("50m", "64Mi"), ("200m", "256Mi"));

/// The user's resources when given, else `sizes`.
pub fn or_default(user: Option<&ResourceRequirements>, sizes: Sizes) -> ResourceRequirements {
    match user {
        Some(user) => user.clone(),
        None => sized(sizes),
    }
}

/// Resource requirements of the given sizes.
pub fn sized(((cpu, memory), (cpu_limit, memory_limit)): Sizes) -> ResourceRequirements {
    let pair = |cpu: &str, memory: &str| {
        BTreeMap::from([
            ("cpu".to_owned(), Quantity(cpu.to_owned())),
            ("memory".to_owned(), Quantity(memory.to_owned())),
        ])
    };
    ResourceRequirements {
        requests: Some(pair(cpu, memory)),
        limits: Some(pair(cpu_limit, memory_limit)),
        ..ResourceRequirements::default()
    }
}
