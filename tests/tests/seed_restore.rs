//! The guide's restore example, applied unchanged, does what the guide says once the platform
//! configured S3 in `OpenClawClusterDefaults`: the snapshot `s3://bucket/path/to/backup.tar.gz`
//! (a tar.gz made by another tool) is downloaded, verified and unpacked into the new instance's
//! empty workspace before the agent starts.
//!
//! Cluster defaults are cluster-wide, so this is the only test of its binary: cargo runs test
//! binaries one after another.

use std::{process::Command, time::Duration};

use openclaw_api::plan::{S3_ACCESS_KEY_ID_ENV, S3_SECRET_ACCESS_KEY_ENV};
use openclaw_testkit::seaweed::SeaweedFs;
use openclaw_tests::{
    TestCluster,
    instances::{self, create_secret},
    operator::OperatorHandle,
    pod::LocalPod,
    seed, wait,
};

/// Removes the cluster defaults when the test ends, whatever happens.
struct DefaultsGuard<'a>(&'a TestCluster);

impl Drop for DefaultsGuard<'_> {
    fn drop(&mut self) {
        let _ = self.0.kubectl(
            &[
                "delete",
                "openclawclusterdefaults",
                "cluster",
                "--ignore-not-found",
            ],
            None,
        );
    }
}

#[tokio::test]
async fn the_guide_restore_example_restores_a_foreign_tar_gz() -> anyhow::Result<()> {
    let cluster = TestCluster::connect().await?;
    let s3 = SeaweedFs::start().await;
    s3.create_bucket("bucket").await;

    // The snapshot, made by plain `tar czf` elsewhere.
    let made = tempfile::tempdir()?;
    let tree = made.path().join("tree");
    std::fs::create_dir_all(tree.join("workspace/memory"))?;
    std::fs::write(tree.join("workspace/MEMORY.md"), "the user likes tea\n")?;
    std::fs::write(
        tree.join("workspace/memory/2026-11-25.md"),
        "talked about tea\n",
    )?;
    let archive = made.path().join("backup.tar.gz");
    let status = Command::new("tar")
        .arg("czf")
        .arg(&archive)
        .arg("-C")
        .arg(&tree)
        .arg(".")
        .status()?;
    anyhow::ensure!(status.success(), "tar czf failed");
    s3.s3_bucket("bucket")
        .put("path/to/backup.tar.gz", std::fs::read(&archive)?)
        .await?;

    // What the platform team configures once for the cluster.
    let _defaults = DefaultsGuard(&cluster);
    cluster.kubectl(
        &["apply", "-f", "-"],
        Some(&format!(
            "apiVersion: openclaw.rocks/v1alpha1
kind: OpenClawClusterDefaults
metadata:
  name: cluster
spec:
  backup:
    s3:
      endpoint: \"{}\"
      region: {}
      pathStyle: true
      credentialsSecretRef:
        name: backup-s3
    allowedRestoreSources:
      - s3://bucket/path/
",
            s3.endpoint(),
            s3.region()
        )),
    )?;

    let ns = cluster.namespace("guide-restore").await?;
    openclaw_tests::backup::credentials(&cluster, &ns.name, &s3).await?;
    create_secret(
        &cluster,
        &ns.name,
        "openclaw-api-keys",
        &[("ANTHROPIC_API_KEY", "sk-test")],
    )
    .await?;
    let block = seed::extract(&seed::guide())
        .into_iter()
        .find(|b| b.yaml.contains("restoreFrom"))
        .ok_or_else(|| anyhow::anyhow!("the guide has no restore example"))?;
    let home = tempfile::tempdir()?;
    let mut pod = LocalPod::new(home.path())?;
    let _operator = OperatorHandle::start_with_supervisor(&cluster, &ns.name, &pod.address);
    // Applied unchanged, but in the test's namespace.
    let manifest = seed::as_manifest(&block.yaml, "my-agent-restored").replace(
        "namespace: openclaw\n",
        &format!("namespace: {}\n", ns.name),
    );
    instances::apply(&cluster, &ns.name, &manifest)?;
    pod.start(
        &cluster,
        &ns.name,
        "my-agent-restored",
        &[
            (S3_ACCESS_KEY_ID_ENV, s3.access_key()),
            (S3_SECRET_ACCESS_KEY_ENV, s3.secret_key()),
        ],
    )
    .await?;

    let instance = wait::until("RestoreComplete", Duration::from_secs(60), || async {
        let instance = instances::get(&cluster, &ns.name, "my-agent-restored").await?;
        let done =
            instances::condition(&instance, "RestoreComplete").is_some_and(|c| c.status == "True");
        Ok(done.then_some(instance))
    })
    .await?;
    assert_eq!(
        std::fs::read_to_string(pod.state_dir().join("workspace/MEMORY.md"))?,
        "the user likes tea\n"
    );
    assert_eq!(
        std::fs::read_to_string(pod.state_dir().join("workspace/memory/2026-11-25.md"))?,
        "talked about tea\n"
    );
    let status = instance.status.clone().unwrap_or_default();
    assert_eq!(
        status.restored_from.as_deref(),
        Some("s3://bucket/path/to/backup.tar.gz")
    );
    // GitOps-safe: the spec is as applied.
    assert_eq!(
        instance.spec.restore_from.as_deref(),
        Some("s3://bucket/path/to/backup.tar.gz")
    );

    // The cluster defaults gave the instance a backup target, hence the final-backup finalizer:
    // delete without one so the namespace can go.
    cluster.kubectl(
        &[
            "annotate",
            "openclawinstance",
            "my-agent-restored",
            "-n",
            &ns.name,
            "openclaw.rocks/skip-backup=true",
        ],
        None,
    )?;
    cluster.kubectl(
        &[
            "delete",
            "openclawinstance",
            "my-agent-restored",
            "-n",
            &ns.name,
        ],
        None,
    )?;
    Ok(())
}
