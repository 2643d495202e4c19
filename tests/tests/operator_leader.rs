//! Two operator processes with leader election: one leads, the other takes over when it dies.

use std::{
    process::{Command, Stdio},
    time::Duration,
};

use openclaw_api::instance::Phase;
use openclaw_tests::{
    TestCluster, instances,
    process::{ChildGuard, workspace_binary},
    wait,
};

fn start(cluster: &TestCluster, ns: &str, identity: &str, port: u16) -> anyhow::Result<ChildGuard> {
    let child = Command::new(workspace_binary("openclaw-operator")?)
        .args([
            "run",
            "--leader-elect",
            &format!("--leader-election-lease=leader-{ns}"),
            &format!("--namespace={ns}"),
            &format!("--watch-namespace={ns}"),
            &format!("--pod-name={identity}"),
            &format!("--metrics-bind-address=127.0.0.1:{port}"),
            "--log-format=plain",
        ])
        .env("KUBECONFIG", cluster.kubeconfig())
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    Ok(ChildGuard(child))
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

#[tokio::test]
async fn a_standby_replica_takes_over_the_lease() -> anyhow::Result<()> {
    let cluster = TestCluster::connect().await?;
    let ns = cluster.namespace("leader").await?;
    let first = start(&cluster, &ns.name, "replica-a", free_port()?)?;
    let lease = format!("lease/leader-{}", ns.name);
    let holder = |cluster: &TestCluster| {
        cluster
            .kubectl(
                &[
                    "get",
                    &lease,
                    "-n",
                    &ns.name,
                    "-o",
                    "jsonpath={.spec.holderIdentity}",
                ],
                None,
            )
            .unwrap_or_default()
    };
    wait::until("replica-a to lead", Duration::from_secs(30), || async {
        Ok((holder(&cluster) == "replica-a").then_some(()))
    })
    .await?;
    let _second = start(&cluster, &ns.name, "replica-b", free_port()?)?;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        holder(&cluster),
        "replica-a",
        "the standby took the lease from a live leader"
    );

    drop(first);
    wait::until(
        "replica-b to take over",
        Duration::from_secs(45),
        || async { Ok((holder(&cluster) == "replica-b").then_some(())) },
    )
    .await?;
    instances::apply(
        &cluster,
        &ns.name,
        "apiVersion: openclaw.rocks/v1alpha1\nkind: OpenClawInstance\nmetadata:\n  name: led\nspec: {}\n",
    )?;
    wait::until(
        "led Running under the new leader",
        Duration::from_secs(60),
        || instances::in_phase(&cluster, &ns.name, "led", Phase::Running, "True"),
    )
    .await?;
    Ok(())
}
