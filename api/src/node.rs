//! What the node agent (`openclaw-node`, a DaemonSet) and the operator agree on: where the
//! seccomp profiles go on a node, how a node says they are there, how it publishes its GPU facts,
//! and how pods reach the node-local download cache.
//!
//! A profile is versioned by its content: the file name carries the first 16 hex digits of its
//! SHA-256, and a node that holds the file carries one label per installed version. The operator
//! computes the same name from the same bytes (embedded in both binaries), so a pod is only ever
//! pointed at a file that exists, byte for byte, on the node it lands on.

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

use crate::supervisor::NodeGpuFacts;

/// The gateway's seccomp profile (`seccomp-profiles/openclaw-gateway.json`), as both the node
/// agent installs it and the supervisor compiles it.
pub const GATEWAY_PROFILE_JSON: &str = include_str!("../../seccomp-profiles/openclaw-gateway.json");
/// Name of the gateway's profile.
pub const GATEWAY_PROFILE_NAME: &str = "openclaw-gateway";
/// Directory of the project's profiles below the kubelet's seccomp directory.
pub const PROFILE_DIR: &str = "openclaw";
/// Prefix of the Node labels that say which profile versions a node holds.
pub const SECCOMP_LABEL_PREFIX: &str = "seccomp.openclaw.rocks/";
/// Value of those labels.
pub const SECCOMP_LABEL_VALUE: &str = "installed";
/// Node annotation: the NVIDIA driver version.
pub const GPU_DRIVER_ANNOTATION: &str = "node.openclaw.rocks/gpu-driver";
/// Node annotation: the node's GPUs, a JSON list of [`crate::supervisor::NodeGpu`].
pub const GPUS_ANNOTATION: &str = "node.openclaw.rocks/gpus";
/// Environment variable of the agent pods: the node cache's base URL.
pub const NODE_CACHE_ENV: &str = "OPENCLAW_NODE_CACHE";
/// Environment variable of the agent pods: the node's IP (downward API `status.hostIP`).
pub const NODE_IP_ENV: &str = "OPENCLAW_NODE_IP";
/// The node cache's default port (on the node's address; the agent uses the host network).
pub const DEFAULT_CACHE_PORT: u16 = 18_800;

/// One version of a seccomp profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalhostProfile {
    /// Profile name, e.g. `openclaw-gateway`.
    pub name: String,
    /// First 16 hex digits of the SHA-256 of its bytes.
    pub version: String,
}

impl LocalhostProfile {
    /// The version of `json` named `name`.
    pub fn of(name: &str, json: &str) -> Self {
        let digest = hex::encode(Sha256::digest(json.as_bytes()));
        Self {
            name: name.to_owned(),
            version: digest[..16].to_owned(),
        }
    }

    /// The gateway's profile as this build embeds it.
    pub fn gateway() -> Self {
        Self::of(GATEWAY_PROFILE_NAME, GATEWAY_PROFILE_JSON)
    }

    /// File name in [`PROFILE_DIR`]: `<name>-<version>.json`.
    pub fn file_name(&self) -> String {
        format!("{}-{}.json", self.name, self.version)
    }

    /// `localhostProfile` of a pod: the path below the kubelet's seccomp directory.
    pub fn localhost_path(&self) -> String {
        format!("{PROFILE_DIR}/{}", self.file_name())
    }

    /// The Node label that says this version is installed.
    pub fn node_label(&self) -> String {
        format!("{SECCOMP_LABEL_PREFIX}{}-{}", self.name, self.version)
    }

    /// The profile a file name in [`PROFILE_DIR`] stands for, when it is one of ours.
    pub fn from_file_name(file: &str) -> Option<Self> {
        let stem = file.strip_suffix(".json")?;
        let (name, version) = stem.rsplit_once('-')?;
        let is_version = version.len() == 16
            && version
                .bytes()
                .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        (is_version && !name.is_empty()).then(|| Self {
            name: name.to_owned(),
            version: version.to_owned(),
        })
    }
}

/// The annotations that publish a node's GPU facts (none without a driver).
pub fn gpu_annotations(facts: Option<&NodeGpuFacts>) -> BTreeMap<String, Option<String>> {
    let driver = facts.and_then(|f| f.driver_version.clone());
    let gpus = facts
        .filter(|f| !f.gpus.is_empty())
        .and_then(|f| serde_json::to_string(&f.gpus).ok());
    BTreeMap::from([
        (GPU_DRIVER_ANNOTATION.to_owned(), driver),
        (GPUS_ANNOTATION.to_owned(), gpus),
    ])
}

/// A node's GPU facts from its annotations; `None` when the node agent published none.
pub fn gpu_facts(annotations: &BTreeMap<String, String>) -> Option<NodeGpuFacts> {
    let gpus = serde_json::from_str(annotations.get(GPUS_ANNOTATION)?).ok()?;
    Some(NodeGpuFacts {
        driver_version: annotations.get(GPU_DRIVER_ANNOTATION).cloned(),
        gpus,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::supervisor::NodeGpu;

    #[test]
    fn a_profile_version_is_its_content() {
        let a = LocalhostProfile::of("p", "{}");
        let b = LocalhostProfile::of("p", "{ }");
        assert_ne!(a.version, b.version);
        assert_eq!(a.version.len(), 16);
        assert_eq!(a.file_name(), format!("p-{}.json", a.version));
        assert_eq!(a.localhost_path(), format!("openclaw/p-{}.json", a.version));
        assert_eq!(
            a.node_label(),
            format!("seccomp.openclaw.rocks/p-{}", a.version)
        );
        assert_eq!(LocalhostProfile::from_file_name(&a.file_name()), Some(a));
        let gateway = LocalhostProfile::gateway();
        assert_eq!(
            LocalhostProfile::from_file_name(&gateway.file_name()),
            Some(gateway.clone())
        );
        // A label's name part is at most 63 characters.
        assert!(gateway.node_label().len() - SECCOMP_LABEL_PREFIX.len() <= 63);
        for other in [
            "p.json",
            "p-xyz.json",
            "-0123456789abcdef.json",
            "p-0123456789abcdef.tmp",
        ] {
            assert_eq!(LocalhostProfile::from_file_name(other), None, "{other}");
        }
    }

    #[test]
    fn gpu_facts_round_trip_through_annotations() {
        let facts = NodeGpuFacts {
            driver_version: Some("580.159.04".into()),
            gpus: vec![NodeGpu {
                bus_id: "0000:00:06.0".into(),
                model: Some("NVIDIA H100 80GB HBM3".into()),
                uuid: Some("GPU-1".into()),
                memory_mib: Some(81_559),
            }],
        };
        let published: BTreeMap<String, String> = gpu_annotations(Some(&facts))
            .into_iter()
            .filter_map(|(k, v)| Some((k, v?)))
            .collect();
        assert!(published[GPUS_ANNOTATION].contains(r#""memoryMiB":81559"#));
        assert_eq!(gpu_facts(&published), Some(facts));
        assert!(gpu_annotations(None).values().all(Option::is_none));
        assert_eq!(gpu_facts(&BTreeMap::new()), None);
    }
}
