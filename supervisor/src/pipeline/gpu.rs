//! NVIDIA facts of the node, read from `/proc/driver/nvidia` (a static binary cannot load NVML):
//! the driver version and each GPU's model and bus id. Pure parsing plus plain file reads.
//!
//! The driver's `/proc` files are visible in every container of a node with the driver loaded,
//! also in the supervisor's container, which has no GPU of its own: they describe the node.

use std::{fs, path::Path};

pub use openclaw_api::supervisor::{NodeGpu, NodeGpuFacts};

/// Reads `<root>/proc/driver/nvidia`; `None` when the node has no NVIDIA driver loaded.
pub fn node_facts(root: &Path) -> Option<NodeGpuFacts> {
    let dir = root.join("proc/driver/nvidia");
    if !dir.is_dir() {
        return None;
    }
    let driver_version = fs::read_to_string(dir.join("version"))
        .ok()
        .and_then(|t| parse_version(&t));
    let mut gpus: Vec<NodeGpu> = fs::read_dir(dir.join("gpus"))
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|entry| {
                    let text =
                        fs::read_to_string(entry.path().join("information")).unwrap_or_default();
                    parse_information(&entry.file_name().to_string_lossy(), &text)
                })
                .collect()
        })
        .unwrap_or_default();
    gpus.sort_by(|a, b| a.bus_id.cmp(&b.bus_id));
    Some(NodeGpuFacts {
        driver_version,
        gpus,
    })
}

/// The driver version in `/proc/driver/nvidia/version`: the first dotted number after
/// `Kernel Module` on the `NVRM version:` line (open and proprietary modules alike).
pub fn parse_version(text: &str) -> Option<String> {
    let line = text.lines().find(|l| l.starts_with("NVRM version:"))?;
    let after = line
        .split_once("Kernel Module")
        .map_or(line, |(_, rest)| rest);
    after
        .split_whitespace()
        .find(|word| {
            word.contains('.')
                && word
                    .split('.')
                    .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
        })
        .map(str::to_owned)
}

/// One GPU from its `information` file (`Key: \t value` lines); the directory name is the bus
/// id when the file does not say.
pub fn parse_information(dir_name: &str, text: &str) -> NodeGpu {
    let field = |key: &str| {
        text.lines()
            .find_map(|l| {
                l.split_once(':')
                    .filter(|(k, _)| k.trim() == key)
                    .map(|(_, v)| v.trim().to_owned())
            })
            .filter(|v| !v.is_empty())
    };
    NodeGpu {
        bus_id: field("Bus Location").unwrap_or_else(|| dir_name.to_owned()),
        model: field("Model"),
        uuid: field("GPU UUID"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_open_and_proprietary_version_lines() {
        let open = "NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  580.159.04  Release Build  (nixbld@)  \nGCC version:  gcc version 15.3.0 (GCC) \n";
        assert_eq!(parse_version(open).as_deref(), Some("580.159.04"));
        let proprietary = "NVRM version: NVIDIA UNIX x86_64 Kernel Module  535.104.05  Sat Aug 19 01:15:15 UTC 2023\n";
        assert_eq!(parse_version(proprietary).as_deref(), Some("535.104.05"));
        assert_eq!(parse_version(""), None);
    }

    #[test]
    fn a_root_without_the_driver_has_no_facts() -> std::io::Result<()> {
        let root = tempfile::tempdir()?;
        fs::create_dir_all(root.path().join("proc/driver"))?;
        assert_eq!(node_facts(root.path()), None);
        Ok(())
    }
}
