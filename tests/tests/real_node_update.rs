//! Auto-update on the real node: the chart's operator lists the tags of a repository in the
//! node's registry, backs the workspace up through the pod's supervisor, rolls the pod onto the
//! new release and confirms it only on a pod whose image ID is the registry's digest; then a
//! release whose state migration crashes the gateway is rolled back together with the
//! pre-update backup (the file it "migrated" is gone, the agent's notes are back). Another
//! instance, whose configuration the new release's own validator refuses, is not rolled at all.
//! The user's spec is never written.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use k8s_openapi::api::{apps::v1::StatefulSet, core::v1::Pod};
use kube::Api;
use openclaw_api::instance::status::AutoUpdateStatus;
use openclaw_testkit::seaweed::SeaweedFs;
use openclaw_tests::{
    TestCluster, backup, images, instances,
    real_node::{ChartOperator, running, seconds, sh},
    wait,
};

const CONTAINER: &str = "openclaw";
const NODE_IP: &str = "198.18.0.1";
const NAME: &str = "updater";
const REFUSED: &str = "refused";
const STATE_DIR: &str = "/home/node/.openclaw";

/// 2026.9.7, as a test builds it from 2026.9.6: every command works as before (its own launcher
/// is kept beside), but the gateway's one-way state migration crashes it before its port binds,
/// as 2026.9.5's did on many gateways: it marks the state as migrated, then exits.
const BROKEN_LAUNCHER: &str = r#"#!/usr/bin/env node
import { mkdirSync, writeFileSync } from "node:fs";
if (process.argv.slice(2).includes("gateway")) {
  const dir = process.env.OPENCLAW_STATE_DIR || `${process.env.HOME}/.openclaw`;
  mkdirSync(dir, { recursive: true });
  writeFileSync(`${dir}/migrated-by-2026.9.7`, "state schema v9\n");
  console.error("[gateway] state migration to 2026.9.7 failed: SqliteError: no such column: sessions.agent_ref");
  process.exit(1);
}
await import("./openclaw-2026.9.6.mjs");
"#;

async fn update_status(cluster: &TestCluster, ns: &str) -> Result<AutoUpdateStatus> {
    instances::get(cluster, ns, NAME)
        .await?
        .status
        .and_then(|s| s.auto_update)
        .context("no status.autoUpdate yet")
}

async fn image_of(cluster: &TestCluster, ns: &str) -> Result<String> {
    let sets: Api<StatefulSet> = Api::namespaced(cluster.client.clone(), ns);
    let set = sets.get(NAME).await?;
    set.spec
        .and_then(|s| s.template.spec)
        .and_then(|p| p.containers.into_iter().find(|c| c.name == CONTAINER))
        .and_then(|c| c.image)
        .context("no openclaw container")
}

async fn image_id(cluster: &TestCluster, ns: &str) -> Result<String> {
    let pods: Api<Pod> = Api::namespaced(cluster.client.clone(), ns);
    let pod = pods.get(&format!("{NAME}-0")).await?;
    pod.status
        .and_then(|s| s.container_statuses)
        .and_then(|all| all.into_iter().find(|c| c.name == CONTAINER))
        .map(|c| c.image_id)
        .context("no openclaw container status")
}

/// Waits until auto-update is idle again with `current` running, and the instance Running.
async fn settled_on(
    cluster: &TestCluster,
    ns: &str,
    current: &str,
    operator: &ChartOperator,
) -> Result<AutoUpdateStatus> {
    let status = wait::until(
        &format!("auto-update settled on {current}"),
        Duration::from_secs(600),
        || async {
            let status = update_status(cluster, ns).await?;
            Ok((status.update_phase.is_none()
                && status.pending_version.is_none()
                && status.current_version.as_deref() == Some(current))
            .then_some(status))
        },
    )
    .await
    .with_context(|| {
        format!(
            "events:\n{}\noperator log:\n{}",
            events(cluster, ns),
            operator.logs()
        )
    })?;
    running(cluster, ns, NAME).await?;
    Ok(status)
}

fn events(cluster: &TestCluster, ns: &str) -> String {
    cluster
        .kubectl(
            &[
                "get",
                "events",
                "-n",
                ns,
                "--field-selector",
                &format!("involvedObject.name={NAME}"),
                "-o",
                "custom-columns=REASON:.reason,MESSAGE:.note",
                "--sort-by=.metadata.creationTimestamp",
            ],
            None,
        )
        .unwrap_or_default()
}

#[tokio::test]
async fn auto_update_rolls_forward_on_the_new_image_and_back_with_the_backup() -> Result<()> {
    let cluster = TestCluster::connect().await?;
    let ns = cluster.real_namespace("real-update").await?;
    // A repository of this test's own (the registry outlives test runs), with two releases.
    let repository = format!("{}/{}/openclaw", images::REGISTRY, ns.name);
    let registry = images::client();
    for version in ["2026.9.5", "2026.9.6"] {
        images::copy(
            &registry,
            &format!("{}:{version}", images::OPENCLAW),
            &format!("{repository}:{version}"),
        )
        .await
        .context("the OpenClaw images are pushed by `cargo xtask cluster up`")?;
    }
    let new_digest = images::digest(&registry, &format!("{repository}:2026.9.6")).await?;

    let s3 = SeaweedFs::start_on(NODE_IP).await;
    let operator = ChartOperator::install_with(
        &cluster,
        &ns,
        &ns.name,
        &[
            format!("autoUpdate.insecureRegistries={{{}}}", images::REGISTRY),
            "networkPolicy.registryPorts={443,5000}".to_owned(),
        ],
    )?;
    backup::credentials(&cluster, &ns.name, &s3).await?;
    let spec = format!(
        "  image:\n    repository: {repository}\n    tag: \"2026.9.5\"\n  autoUpdate:\n    enabled: true\n    \
         checkInterval: 1m\n    healthCheckTimeout: 1m\n"
    );
    instances::apply(&cluster, &ns.name, &backup::instance(NAME, &s3, &spec))?;
    // An instance whose configuration the new release's own validator refuses.
    let refused_spec =
        format!("{spec}  config:\n    raw:\n      gateway:\n        bogusKey: true\n");
    instances::apply(
        &cluster,
        &ns.name,
        &backup::instance(REFUSED, &s3, &refused_spec),
    )?;

    // 1. 2026.9.5 → 2026.9.6: backed up first, rolled, confirmed on the new image.
    let started = Instant::now();
    let status = settled_on(&cluster, &ns.name, "2026.9.6", &operator).await?;
    println!(
        "{NAME}: 2026.9.5 → 2026.9.6 in {:.1} s (from apply)",
        seconds(started)
    );
    let instance = instances::get(&cluster, &ns.name, NAME).await?;
    assert_eq!(
        instance.spec.image.tag.as_deref(),
        Some("2026.9.5"),
        "the spec is never written"
    );
    assert_eq!(status.running_tag.as_deref(), Some("2026.9.6"));
    assert_eq!(
        image_of(&cluster, &ns.name).await?,
        format!("{repository}:2026.9.6")
    );
    let id = image_id(&cluster, &ns.name).await?;
    ensure!(
        id.ends_with(&new_digest),
        "the pod runs {id}, not {new_digest}"
    );
    let backup_key = status
        .pre_update_backup
        .clone()
        .context("no pre-update backup recorded")?;
    let keys = s3.list(&format!("{}/{NAME}/", ns.name)).await?;
    ensure!(
        keys.contains(&backup_key),
        "{backup_key} not in the bucket: {keys:?}"
    );
    let available =
        instances::condition(&instance, "AutoUpdateAvailable").context("no AutoUpdateAvailable")?;
    assert_eq!(
        (available.status.as_str(), available.reason.as_str()),
        ("False", "UpToDate")
    );

    // The refused instance: 2026.9.6's `openclaw config validate` named the key, nothing rolled.
    let refused = wait::until(
        "the config check refused 2026.9.6",
        Duration::from_secs(300),
        || async {
            let status = instances::get(&cluster, &ns.name, REFUSED)
                .await?
                .status
                .and_then(|s| s.auto_update);
            Ok(status.filter(|s| s.failed_reason.as_deref() == Some("ConfigRefused")))
        },
    )
    .await
    .with_context(|| format!("operator log:\n{}", operator.logs()))?;
    assert_eq!(refused.failed_version.as_deref(), Some("2026.9.6"));
    assert_eq!(
        (refused.update_phase, refused.running_tag.clone()),
        (None, None),
        "nothing rolled"
    );
    let instance = instances::get(&cluster, &ns.name, REFUSED).await?;
    let available =
        instances::condition(&instance, "AutoUpdateAvailable").context("no AutoUpdateAvailable")?;
    assert_eq!(available.reason, "ConfigRefused", "{available:?}");
    ensure!(
        available.message.contains("2026.9.6") && available.message.contains("bogusKey"),
        "the condition names neither the version nor the key: {}",
        available.message
    );
    let sets: Api<StatefulSet> = Api::namespaced(cluster.client.clone(), &ns.name);
    let set = sets.get(REFUSED).await?;
    let image = set
        .spec
        .and_then(|s| s.template.spec)
        .map(|p| p.containers[0].image.clone());
    assert_eq!(image.flatten(), Some(format!("{repository}:2026.9.5")));
    let jobs = cluster.kubectl(&["get", "jobs", "-n", &ns.name, "-o", "name"], None)?;
    ensure!(
        jobs.trim().is_empty(),
        "the check Job was not cleaned up: {jobs}"
    );

    // What the agent keeps: it must come back with the rollback.
    sh(
        &cluster,
        &ns.name,
        &format!("{NAME}-0"),
        CONTAINER,
        &format!(
            "mkdir -p {STATE_DIR}/workspace && echo 'remember the milk' > {STATE_DIR}/workspace/notes.md"
        ),
    )?;

    // 2. 2026.9.7 crashes in its state migration: rolled back with the pre-update backup.
    let launcher = std::fs::read(
        openclaw_testkit::location::gateway_tools()
            .map_err(anyhow::Error::msg)?
            .openclaw,
    )?;
    let broken = images::with_files(
        &registry,
        &format!("{repository}:2026.9.6"),
        &format!("{repository}:2026.9.7"),
        &[
            ("/app/openclaw-2026.9.6.mjs", 0o644, &launcher),
            ("/app/openclaw.mjs", 0o755, BROKEN_LAUNCHER.as_bytes()),
        ],
    )
    .await?;
    let pushed = Instant::now();
    wait::until("2026.9.7 rolling out", Duration::from_secs(300), || async {
        let status = update_status(&cluster, &ns.name).await?;
        Ok((status.pending_version.as_deref() == Some("2026.9.7")
            && status.running_tag.as_deref() == Some("2026.9.7"))
        .then_some(()))
    })
    .await
    .with_context(|| format!("events:\n{}", events(&cluster, &ns.name)))?;
    let status = settled_on(&cluster, &ns.name, "2026.9.6", &operator).await?;
    println!(
        "{NAME}: 2026.9.7 pushed, tried, rolled back with its backup in {:.1} s",
        seconds(pushed)
    );
    assert_eq!(status.failed_version.as_deref(), Some("2026.9.7"));
    assert_eq!(status.rollback_count, 1);
    assert_eq!(status.running_tag.as_deref(), Some("2026.9.6"));
    assert_eq!(
        image_of(&cluster, &ns.name).await?,
        format!("{repository}:2026.9.6")
    );
    let id = image_id(&cluster, &ns.name).await?;
    ensure!(
        id.ends_with(&new_digest) && !id.ends_with(&broken),
        "the pod runs {id}"
    );
    let pod = format!("{NAME}-0");
    let state = sh(
        &cluster,
        &ns.name,
        &pod,
        CONTAINER,
        &format!("ls {STATE_DIR}; cat {STATE_DIR}/workspace/notes.md"),
    )?;
    ensure!(
        !state.contains("migrated-by-2026.9.7"),
        "the migrated state survived the rollback:\n{state}"
    );
    ensure!(
        state.contains("remember the milk"),
        "the agent's notes are gone:\n{state}"
    );
    let instance = instances::get(&cluster, &ns.name, NAME).await?;
    assert_eq!(
        instance.spec.image.tag.as_deref(),
        Some("2026.9.5"),
        "the spec is never written"
    );
    let available =
        instances::condition(&instance, "AutoUpdateAvailable").context("no AutoUpdateAvailable")?;
    assert_eq!(available.reason, "UpdateFailed", "{available:?}");
    ensure!(
        available.message.contains("2026.9.7"),
        "{}",
        available.message
    );
    let events = events(&cluster, &ns.name);
    for reason in [
        "AutoUpdateApplied",
        "AutoUpdateHealthCheckFailed",
        "AutoUpdateRolledBack",
    ] {
        ensure!(events.contains(reason), "no {reason} event:\n{events}");
    }
    let metrics = operator.metrics()?;
    for event in ["applied", "rolled_back"] {
        ensure!(
            metrics.lines().any(|l| l.starts_with(&format!("openclaw_auto_update_total{{event=\"{event}\"}}"))),
            "no auto_update_total{{event=\"{event}\"}}:\n{metrics}"
        );
    }
    // The namespace goes with the test: no final backups.
    for name in [NAME, REFUSED] {
        backup::skip_final_backup(&cluster, &ns.name, name)?;
    }
    Ok(())
}
