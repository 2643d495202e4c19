//! GPU facts from `/proc/driver/nvidia`, on the tree captured on a real H100 node and on a root
//! without the driver.
//!
//! The captured tarball holds the tree's shape, but its files are empty (procfs reports size 0
//! to tar); their contents were captured separately in `facts.txt`, which the test writes back.

use std::{fs, path::Path};

use openclaw_supervisor::pipeline::gpu::{self, NodeGpu, NodeGpuFacts};

fn fixture() -> Option<std::path::PathBuf> {
    let dir =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures/gpu/h100-driver580");
    dir.is_dir().then_some(dir)
}

/// The lines of `facts.txt` under `## <section>` (up to the next `## `), or `### <section>`.
fn section(facts: &str, header: &str) -> String {
    let mut out = String::new();
    let mut inside = false;
    for line in facts.lines() {
        if line.starts_with('#') {
            inside = line.trim_start_matches('#').trim() == header;
            continue;
        }
        if inside {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

#[test]
fn reads_the_h100_node() {
    let Some(dir) = fixture() else {
        eprintln!("shared/fixtures not beside the repository; skipping");
        return;
    };
    let root = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let proc_driver = root.path().join("proc/driver");
    fs::create_dir_all(&proc_driver).unwrap_or_else(|e| panic!("{e}"));
    let tgz = fs::File::open(dir.join("proc-driver-nvidia.tgz")).unwrap_or_else(|e| panic!("{e}"));
    tar::Archive::new(flate2::read::GzDecoder::new(tgz))
        .unpack(&proc_driver)
        .unwrap_or_else(|e| panic!("{e}"));

    // The tree alone: one GPU known by its bus id, nothing more.
    let bare = gpu::node_facts(root.path());
    assert_eq!(
        bare,
        Some(NodeGpuFacts {
            driver_version: None,
            gpus: vec![NodeGpu {
                bus_id: "0000:00:06.0".into(),
                model: None,
                uuid: None,
                memory_mib: None,
            }]
        })
    );

    let facts = fs::read_to_string(dir.join("facts.txt")).unwrap_or_else(|e| panic!("{e}"));
    let nvidia = proc_driver.join("nvidia");
    fs::write(
        nvidia.join("version"),
        section(&facts, "proc driver version"),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let info = section(&facts, "/proc/driver/nvidia/gpus/0000:00:06.0");
    fs::write(nvidia.join("gpus/0000:00:06.0/information"), info).unwrap_or_else(|e| panic!("{e}"));

    let facts = gpu::node_facts(root.path());
    assert_eq!(
        facts,
        Some(NodeGpuFacts {
            driver_version: Some("580.159.04".into()),
            gpus: vec![NodeGpu {
                bus_id: "0000:00:06.0".into(),
                model: Some("NVIDIA H100 80GB HBM3".into()),
                uuid: Some("GPU-00652040-e266-579a-ffbd-c6356e021409".into()),
                memory_mib: Some(81_559),
            }]
        })
    );
    let json = serde_json::to_value(&facts).unwrap_or_default();
    assert_eq!(json["driverVersion"], "580.159.04");
    assert_eq!(json["gpus"][0]["model"], "NVIDIA H100 80GB HBM3");
}

#[test]
fn a_node_without_gpus_has_no_facts() {
    let root = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    fs::create_dir_all(root.path().join("proc/self")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(gpu::node_facts(root.path()), None);
    assert_eq!(gpu::node_facts(Path::new("/nonexistent-root")), None);
}

/// On whatever machine runs the tests: facts exactly when the driver is loaded, and then a
/// driver version and a model for every GPU (checked on a real H100 node as well).
#[test]
fn reads_this_machine_when_it_has_a_driver() {
    let facts = gpu::node_facts(Path::new("/"));
    assert_eq!(facts.is_some(), Path::new("/proc/driver/nvidia").is_dir());
    if let Some(facts) = facts {
        eprintln!("{}", serde_json::to_string(&facts).unwrap_or_default());
        assert!(facts.driver_version.is_some(), "{facts:?}");
        assert!(!facts.gpus.is_empty(), "{facts:?}");
        assert!(
            facts
                .gpus
                .iter()
                .all(|g| g.model.as_deref().is_some_and(|m| m.contains("NVIDIA"))),
            "{facts:?}"
        );
    }
}
