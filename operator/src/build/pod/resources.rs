//! CPU, memory and GPU of the pod's containers: the operator's defaults, and reading a memory
//! quantity to size the gateway's Node.js heap.

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

/// The memory limit assumed for the heap cap when the user sets none.
const DEFAULT_MEMORY_LIMIT: &str = OPENCLAW.1.1;

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

/// `--max-old-space-size` for the gateway: 75% of the container's memory limit, in MiB (the
/// rest is for native memory and the gateway's worker processes).
pub fn heap_mib(resources: &ResourceRequirements) -> u64 {
    let limit = resources
        .limits
        .as_ref()
        .and_then(|limits| limits.get("memory"))
        .and_then(|q| bytes(&q.0))
        .or_else(|| bytes(DEFAULT_MEMORY_LIMIT))
        .unwrap_or(4.0 * GIB);
    ((limit * 0.75 / MIB).floor() as u64).max(64)
}

const MIB: f64 = 1024.0 * 1024.0;
const GIB: f64 = 1024.0 * MIB;

/// Bytes of a Kubernetes quantity (`4Gi`, `3500M`, `1.5Gi`, `4e9`, `4294967296`).
pub fn bytes(quantity: &str) -> Option<f64> {
    let quantity = quantity.trim();
    let split = quantity
        .find(|c: char| !(c.is_ascii_digit() || matches!(c, '.' | '+' | '-')))
        .unwrap_or(quantity.len());
    let (number, suffix) = quantity.split_at(split);
    let number: f64 = number.parse().ok()?;
    let multiplier = match suffix {
        "" => 1.0,
        "Ki" => 1024.0,
        "Mi" => MIB,
        "Gi" => GIB,
        "Ti" => GIB * 1024.0,
        "Pi" => GIB * 1024.0 * 1024.0,
        "Ei" => GIB * 1024.0 * 1024.0 * 1024.0,
        "n" => 1e-9,
        "u" => 1e-6,
        "m" => 1e-3,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "P" => 1e15,
        "E" => 1e18,
        exponent => {
            let digits = exponent.strip_prefix(['e', 'E'])?;
            10f64.powi(digits.parse().ok()?)
        }
    };
    Some(number * multiplier)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_limit(memory: &str) -> ResourceRequirements {
        ResourceRequirements {
            limits: Some(BTreeMap::from([(
                "memory".to_owned(),
                Quantity(memory.to_owned()),
            )])),
            ..ResourceRequirements::default()
        }
    }

    #[test]
    fn heap_is_three_quarters_of_the_limit() {
        assert_eq!(heap_mib(&sized(OPENCLAW)), 3072);
        assert_eq!(heap_mib(&with_limit("2Gi")), 1536);
        assert_eq!(heap_mib(&with_limit("8Gi")), 6144);
        assert_eq!(heap_mib(&with_limit("4G")), 2861);
        assert_eq!(heap_mib(&ResourceRequirements::default()), 3072);
        assert_eq!(heap_mib(&with_limit("1Mi")), 64, "never below 64 MiB");
    }

    #[test]
    fn reads_every_quantity_form() {
        for (text, expected) in [
            ("4Gi", 4.0 * GIB),
            ("1.5Gi", 1.5 * GIB),
            ("512Mi", 512.0 * MIB),
            ("3500M", 3.5e9),
            ("4e9", 4e9),
            ("4294967296", 4.0 * GIB),
            ("128974848000m", 128_974_848.0),
        ] {
            assert_eq!(bytes(text), Some(expected), "{text}");
        }
        assert_eq!(bytes("lots"), None);
        assert_eq!(bytes("4Xi"), None);
    }
}
