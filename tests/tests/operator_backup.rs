//! Backups end to end on the local control plane, against real S3 (SeaweedFS): deleting an
//! instance takes a final backup through its supervisor before the instance goes, a new
//! instance restores it, the backup-now annotation takes one on request, and the skip-backup
//! escape hatch deletes at once and says so.

use std::time::Duration;

use openclaw_api::{
    backup::{BACKUP_FINALIZER, BACKUP_NOW_ANNOTATION, SKIP_BACKUP_ANNOTATION},
    plan::{S3_ACCESS_KEY_ID_ENV, S3_SECRET_ACCESS_KEY_ENV},
};
use openclaw_testkit::seaweed::SeaweedFs;
use openclaw_tests::{
    TestCluster, backup, instances, operator::OperatorHandle, pod::LocalPod, wait,
};

fn agent(name: &str, s3: &SeaweedFs, extra_spec: &str) -> String {
    backup::instance(name, s3, extra_spec)
}

async fn credentials(cluster: &TestCluster, ns: &str, s3: &SeaweedFs) -> anyhow::Result<()> {
    backup::credentials(cluster, ns, s3).await
}

fn pod_env(s3: &SeaweedFs) -> [(&'static str, &str); 2] {
    [
        (S3_ACCESS_KEY_ID_ENV, s3.access_key()),
        (S3_SECRET_ACCESS_KEY_ENV, s3.secret_key()),
    ]
}

async fn has_finalizer(cluster: &TestCluster, ns: &str, name: &str) -> anyhow::Result<()> {
    wait::until(
        &format!("the {BACKUP_FINALIZER} finalizer on {name}"),
        Duration::from_secs(30),
        || async {
            let instance = instances::get(cluster, ns, name).await?;
            let found = instance
                .metadata
                .finalizers
                .iter()
                .flatten()
                .any(|f| f == BACKUP_FINALIZER);
            Ok(found.then_some(()))
        },
    )
    .await
}

async fn gone(cluster: &TestCluster, ns: &str, name: &str, within: Duration) -> anyhow::Result<()> {
    wait::until(&format!("{name} deleted"), within, || async {
        let out = cluster.kubectl(
            &[
                "get",
                "openclawinstance",
                name,
                "-n",
                ns,
                "--ignore-not-found",
                "-o",
                "name",
            ],
            None,
        )?;
        Ok(out.trim().is_empty().then_some(()))
    })
    .await
}

fn annotate(cluster: &TestCluster, ns: &str, name: &str, annotation: &str) -> anyhow::Result<()> {
    cluster.kubectl(
        &["annotate", "openclawinstance", name, "-n", ns, annotation],
        None,
    )?;
    Ok(())
}

/// Asks for the deletion without waiting for it (a finalizer may hold it).
fn delete(cluster: &TestCluster, ns: &str, name: &str) -> anyhow::Result<()> {
    cluster.kubectl(
        &["delete", "openclawinstance", name, "-n", ns, "--wait=false"],
        None,
    )?;
    Ok(())
}

fn events(cluster: &TestCluster, ns: &str, reason: &str) -> anyhow::Result<String> {
    cluster.kubectl(
        &[
            "get",
            "events",
            "-n",
            ns,
            "--field-selector",
            &format!("reason={reason}"),
            "-o",
            "jsonpath={range .items[*]}{.note}{.message}{\"\\n\"}{end}",
        ],
        None,
    )
}

#[tokio::test]
async fn deleting_takes_a_final_backup_that_a_new_instance_restores() -> anyhow::Result<()> {
    let cluster = TestCluster::connect().await?;
    let ns = cluster.namespace("backup").await?;
    let s3 = SeaweedFs::start().await;
    credentials(&cluster, &ns.name, &s3).await?;
    let home = tempfile::tempdir()?;
    let mut pod = LocalPod::new(&home.path().join("keeper"))?;
    let operator = OperatorHandle::start_with_supervisor(&cluster, &ns.name, &pod.address);
    instances::apply(&cluster, &ns.name, &agent("keeper", &s3, ""))?;
    has_finalizer(&cluster, &ns.name, "keeper").await?;
    pod.start(&cluster, &ns.name, "keeper", &pod_env(&s3))
        .await?;
    wait::until(
        "keeper's pipeline done",
        Duration::from_secs(60),
        || async { Ok(pod.status().await?["pipelineDone"].as_bool().filter(|d| *d)) },
    )
    .await?;
    // What the agent wrote: it must survive the instance.
    let notes = pod.state_dir().join("workspace/notes.md");
    std::fs::create_dir_all(notes.parent().unwrap_or(&pod.state_dir()))?;
    std::fs::write(&notes, "remember the milk\n")?;

    delete(&cluster, &ns.name, "keeper")?;
    gone(&cluster, &ns.name, "keeper", Duration::from_secs(90)).await?;
    let prefix = format!("{}/keeper/", ns.name);
    let keys = s3.list(&prefix).await?;
    let archives: Vec<&String> = keys.iter().filter(|k| k.ends_with(".tar.zst")).collect();
    assert_eq!(archives.len(), 1, "one final snapshot expected: {keys:?}");
    assert!(
        keys.iter().any(|k| k.ends_with(".manifest.json")),
        "the snapshot has its manifest: {keys:?}"
    );
    let complete = events(&cluster, &ns.name, "BackupComplete")?;
    assert!(complete.contains(archives[0].as_str()), "{complete}");
    pod.stop();

    // A new instance of the same namespace restores the snapshot into its empty workspace.
    let source = archives[0].clone();
    let mut restored_pod = LocalPod::new(&home.path().join("restored"))?;
    drop(operator);
    let _operator =
        OperatorHandle::start_with_supervisor(&cluster, &ns.name, &restored_pod.address);
    instances::apply(
        &cluster,
        &ns.name,
        &agent("restored", &s3, &format!("  restoreFrom: \"{source}\"\n")),
    )?;
    restored_pod
        .start(&cluster, &ns.name, "restored", &pod_env(&s3))
        .await?;
    let instance = wait::until(
        "restored's RestoreComplete",
        Duration::from_secs(60),
        || async {
            let instance = instances::get(&cluster, &ns.name, "restored").await?;
            let done = instances::condition(&instance, "RestoreComplete")
                .is_some_and(|c| c.status == "True");
            Ok(done.then_some(instance))
        },
    )
    .await?;
    assert_eq!(
        std::fs::read_to_string(restored_pod.state_dir().join("workspace/notes.md"))?,
        "remember the milk\n"
    );
    let status = instance.status.unwrap_or_default();
    assert_eq!(status.restored_from.as_deref(), Some(source.as_str()));

    // On request: each new value of the annotation takes one backup, recorded in the status.
    annotate(
        &cluster,
        &ns.name,
        "restored",
        &format!("{BACKUP_NOW_ANNOTATION}=first"),
    )?;
    let instance = wait::until("the requested backup", Duration::from_secs(60), || async {
        let instance = instances::get(&cluster, &ns.name, "restored").await?;
        let backup = instance.status.as_ref().and_then(|s| s.backup.clone());
        let served = backup
            .as_ref()
            .is_some_and(|b| b.last_request.as_deref() == Some("first") && b.last_key.is_some());
        Ok(served.then_some(instance))
    })
    .await?;
    let backup = instance.status.and_then(|s| s.backup).unwrap_or_default();
    let key = backup.last_key.unwrap_or_default();
    assert!(key.starts_with(&format!("{}/restored/", ns.name)), "{key}");
    assert!(
        s3.list(&format!("{}/restored/", ns.name))
            .await?
            .contains(&key)
    );
    assert!(
        backup
            .last_checksum
            .is_some_and(|c| c.starts_with("sha256:")),
        "the checksum is in the status"
    );

    // Clean up without another backup.
    annotate(
        &cluster,
        &ns.name,
        "restored",
        &format!("{SKIP_BACKUP_ANNOTATION}=true"),
    )?;
    delete(&cluster, &ns.name, "restored")?;
    gone(&cluster, &ns.name, "restored", Duration::from_secs(60)).await?;
    Ok(())
}

#[tokio::test]
async fn skip_backup_deletes_at_once_and_leaves_an_event() -> anyhow::Result<()> {
    let cluster = TestCluster::connect().await?;
    let ns = cluster.namespace("skip-backup").await?;
    let s3 = SeaweedFs::start().await;
    credentials(&cluster, &ns.name, &s3).await?;
    // No supervisor answers at this address: without the annotation the deletion would wait.
    let _operator = OperatorHandle::start_with_supervisor(&cluster, &ns.name, "127.0.0.1:9");
    instances::apply(&cluster, &ns.name, &agent("hasty", &s3, ""))?;
    has_finalizer(&cluster, &ns.name, "hasty").await?;
    annotate(
        &cluster,
        &ns.name,
        "hasty",
        &format!("{SKIP_BACKUP_ANNOTATION}=true"),
    )?;
    delete(&cluster, &ns.name, "hasty")?;
    gone(&cluster, &ns.name, "hasty", Duration::from_secs(30)).await?;
    let skipped = events(&cluster, &ns.name, "BackupSkipped")?;
    assert!(skipped.contains(SKIP_BACKUP_ANNOTATION), "{skipped}");
    assert!(s3.list(&format!("{}/hasty/", ns.name)).await?.is_empty());
    Ok(())
}

#[tokio::test]
async fn a_deletion_waits_while_the_backup_cannot_be_taken_and_the_workspace_would_be_lost()
-> anyhow::Result<()> {
    let cluster = TestCluster::connect().await?;
    let ns = cluster.namespace("backup-wait").await?;
    let s3 = SeaweedFs::start().await;
    credentials(&cluster, &ns.name, &s3).await?;
    let _operator = OperatorHandle::start_with_supervisor(&cluster, &ns.name, "127.0.0.1:9");
    let spec = "  storage:\n    persistence:\n      orphan: false\n";
    instances::apply(&cluster, &ns.name, &agent("careful", &s3, spec))?;
    has_finalizer(&cluster, &ns.name, "careful").await?;
    delete(&cluster, &ns.name, "careful")?;
    let instance = wait::until(
        "a Terminating phase that says why",
        Duration::from_secs(30),
        || async {
            let instance = instances::get(&cluster, &ns.name, "careful").await?;
            let waiting = instances::condition(&instance, "BackupComplete")
                .is_some_and(|c| c.status == "False" && c.reason == "FinalBackupPending");
            Ok(waiting.then_some(instance))
        },
    )
    .await?;
    assert_eq!(
        instance.status.and_then(|s| s.phase),
        Some(openclaw_api::instance::Phase::Terminating)
    );
    // Still there after a while: nothing is lost silently.
    tokio::time::sleep(Duration::from_secs(5)).await;
    instances::get(&cluster, &ns.name, "careful").await?;
    annotate(
        &cluster,
        &ns.name,
        "careful",
        &format!("{SKIP_BACKUP_ANNOTATION}=true"),
    )?;
    gone(&cluster, &ns.name, "careful", Duration::from_secs(30)).await?;
    Ok(())
}
