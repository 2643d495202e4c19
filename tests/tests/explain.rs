//! `kubectl explain` shows the field descriptions written on the Rust types.

use openclaw_tests::TestCluster;

#[tokio::test]
async fn explain_auto_update_describes_every_field() -> anyhow::Result<()> {
    let cluster = TestCluster::connect().await?;
    let out = cluster.kubectl(&["explain", "openclawinstance.spec.autoUpdate"], None)?;
    assert!(out.contains("DESCRIPTION:"), "{out}");
    assert!(
        !out.contains("<no description>"),
        "a field has no description:\n{out}"
    );
    for field in [
        "enabled",
        "checkInterval",
        "backupBeforeUpdate",
        "rollbackOnFailure",
        "healthCheckTimeout",
    ] {
        let line = out
            .lines()
            .find(|l| l.trim_start().starts_with(field))
            .unwrap_or_default();
        assert!(
            !line.is_empty(),
            "autoUpdate.{field} missing from kubectl explain:\n{out}"
        );
    }
    let recursive = cluster.kubectl(
        &["explain", "openclawinstance.spec.autoUpdate.checkInterval"],
        None,
    )?;
    let description = recursive
        .split("DESCRIPTION:")
        .nth(1)
        .unwrap_or_default()
        .trim();
    assert!(
        description.len() > 20,
        "checkInterval has no real description:\n{recursive}"
    );
    Ok(())
}

#[tokio::test]
async fn every_spec_field_has_a_description() -> anyhow::Result<()> {
    let cluster = TestCluster::connect().await?;
    let out = cluster.kubectl(&["explain", "openclawinstance.spec"], None)?;
    assert!(
        !out.contains("<no description>"),
        "a spec field has no description:\n{out}"
    );
    Ok(())
}
