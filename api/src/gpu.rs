//! NVIDIA facts of a node, read from `/proc/driver/nvidia` (static binaries cannot load NVML):
//! the driver version and each GPU's model, bus id, UUID and memory. Pure parsing plus plain
//! file reads, shared by the supervisor (in the pod) and the node agent (which publishes them as
//! Node annotations).
//!
//! The driver's `/proc` tree does not state a GPU's memory. It is derived from the model name:
//! a table of models whose name does not carry it (what `nvidia-smi --query-gpu=memory.total`
//! reports for them), else the `<n>GB` in the name (`NVIDIA H100 80GB HBM3`), counted as
//! `n × 1024` MiB. Unknown models have no memory figure, and nothing is concluded from them.

use std::{fs, path::Path};

pub use crate::supervisor::{NodeGpu, NodeGpuFacts};

/// Total memory in MiB of models whose name does not state it, as `nvidia-smi` reports it.
const MEMORY_MIB: &[(&str, u64)] = &[
    ("NVIDIA H100 80GB HBM3", 81_559),
    ("NVIDIA H200", 143_771),
    ("NVIDIA B200", 183_359),
    ("NVIDIA L4", 23_034),
    ("NVIDIA L40", 46_068),
    ("NVIDIA L40S", 46_068),
    ("NVIDIA A10", 23_028),
    ("NVIDIA A10G", 23_028),
    ("NVIDIA RTX A6000", 49_140),
    ("NVIDIA GeForce RTX 3090", 24_576),
    ("NVIDIA GeForce RTX 4090", 24_564),
    ("Tesla T4", 15_360),
];

/// Total memory of a GPU model in MiB: the table, else `<n>GB` in the name; `None` when unknown.
pub fn memory_mib(model: &str) -> Option<u64> {
    let model = model.trim();
    if let Some((_, mib)) = MEMORY_MIB.iter().find(|(name, _)| *name == model) {
        return Some(*mib);
    }
    model
        .split(|c: char| !c.is_ascii_alphanumeric())
        .find_map(|word| word.strip_suffix("GB")?.parse::<u64>().ok())
        .filter(|gb| *gb > 0)
        .map(|gb| gb * 1024)
}

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
        memory_mib: field("Model").as_deref().and_then(memory_mib),
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
    fn memory_comes_from_the_table_or_the_name() {
        assert_eq!(memory_mib("NVIDIA H100 80GB HBM3"), Some(81_559));
        assert_eq!(memory_mib("NVIDIA H200"), Some(143_771));
        assert_eq!(memory_mib("NVIDIA A100-SXM4-40GB"), Some(40_960));
        assert_eq!(memory_mib("Tesla V100-SXM2-16GB"), Some(16_384));
        assert_eq!(memory_mib("NVIDIA Future GPU"), None);
        assert_eq!(memory_mib("NVIDIA 0GB"), None);
        let gpu = parse_information(
            "0000:00:06.0",
            "Model: \t\t NVIDIA H100 80GB HBM3\nGPU UUID: \t GPU-1\n",
        );
        assert_eq!(gpu.memory_mib, Some(81_559));
    }

    #[test]
    fn a_root_without_the_driver_has_no_facts() -> std::io::Result<()> {
        let root = tempfile::tempdir()?;
        fs::create_dir_all(root.path().join("proc/driver"))?;
        assert_eq!(node_facts(root.path()), None);
        Ok(())
    }
}
