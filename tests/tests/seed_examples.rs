//! Every YAML block of the user guide is accepted by the real API server, unchanged.

use openclaw_tests::{TestCluster, json::missing_paths, seed};
use serde_json::Value;

/// The guide's three whole manifests apply verbatim (namespace `openclaw`, made by `cluster up`).
#[tokio::test]
async fn seed_manifests_apply_verbatim() -> anyhow::Result<()> {
    let cluster = TestCluster::connect().await?;
    let blocks: Vec<_> = seed::extract(&seed::guide())
        .into_iter()
        .filter(|b| b.is_manifest())
        .collect();
    assert_eq!(blocks.len(), 3);
    for block in blocks {
        let out = cluster.kubectl(&["apply", "--dry-run=server", "-f", "-"], Some(&block.yaml))?;
        assert!(
            out.contains("(server dry run)"),
            "guide block at line {} was not accepted: {out}",
            block.line
        );
    }
    Ok(())
}

/// Every block, fragments wrapped into an instance, is stored with every field the user wrote.
#[tokio::test]
async fn every_seed_block_is_stored_without_losing_a_field() -> anyhow::Result<()> {
    let cluster = TestCluster::connect().await?;
    let ns = cluster.namespace("seed").await?;
    for (i, block) in seed::extract(&seed::guide()).iter().enumerate() {
        let name = format!("seed-{:02}", i + 1);
        let mut manifest: Value = serde_yaml::from_str(&seed::as_manifest(&block.yaml, &name))?;
        manifest["metadata"]["namespace"] = ns.name.clone().into();
        let name = manifest["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let out = cluster.tool(
            "kubectl",
            &["create", "-f", "-"],
            Some(&manifest.to_string()),
        )?;
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success(),
            "guide block at line {} refused: {stderr}",
            block.line
        );
        assert!(
            !stderr.contains("unknown field"),
            "guide block at line {} has fields the schema does not know: {stderr}",
            block.line
        );
        let stored: Value = serde_json::from_str(&cluster.kubectl(
            &[
                "get",
                "openclawinstance",
                &name,
                "-n",
                &ns.name,
                "-o",
                "json",
            ],
            None,
        )?)?;
        let lost = missing_paths(&manifest["spec"], &stored["spec"]);
        assert!(
            lost.is_empty(),
            "guide block at line {}: the server lost or changed {lost:?}",
            block.line
        );
    }
    Ok(())
}

/// `kubectl get openclawinstances` prints the columns the guide shows.
#[tokio::test]
async fn printer_columns_match_the_guide() -> anyhow::Result<()> {
    let cluster = TestCluster::connect().await?;
    let ns = cluster.namespace("columns").await?;
    let manifest = seed::as_manifest("spec: {}\n", "columns");
    cluster.kubectl(&["create", "-n", &ns.name, "-f", "-"], Some(&manifest))?;
    let out = cluster.kubectl(&["get", "openclawinstances", "-n", &ns.name], None)?;
    let header: Vec<&str> = out
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    assert_eq!(header, ["NAME", "PHASE", "READY", "AGE"]);
    let short = cluster.kubectl(&["get", "claw", "-n", &ns.name, "-o", "name"], None)?;
    assert_eq!(short.trim(), "openclawinstance.openclaw.rocks/columns");
    Ok(())
}
