//! What the operator does over time: drift repair, secret rotation, restarts, bad references,
//! steady state without writes.

use std::time::Duration;

use base64::Engine as _;

use openclaw_api::instance::Phase;
use openclaw_tests::{
    TestCluster,
    instances::{self, create_secret},
    operator::{OperatorHandle, TEST_RESYNC},
    wait,
};

const AGENT: &str = "apiVersion: openclaw.rocks/v1alpha1
kind: OpenClawInstance
metadata:
  name: agent
spec:
  envFrom:
    - secretRef:
        name: openclaw-api-keys
";

async fn running_agent(cluster: &TestCluster, ns: &str) -> anyhow::Result<()> {
    create_secret(
        cluster,
        ns,
        "openclaw-api-keys",
        &[("ANTHROPIC_API_KEY", "sk-ant-first")],
    )
    .await?;
    instances::apply(cluster, ns, AGENT)?;
    wait::until("agent Running", Duration::from_secs(60), || {
        instances::in_phase(cluster, ns, "agent", Phase::Running, "True")
    })
    .await?;
    Ok(())
}

fn jsonpath(cluster: &TestCluster, ns: &str, object: &str, path: &str) -> anyhow::Result<String> {
    cluster.kubectl(
        &["get", object, "-n", ns, "-o", &format!("jsonpath={path}")],
        None,
    )
}

#[tokio::test]
async fn deleted_and_edited_children_are_repaired() -> anyhow::Result<()> {
    let cluster = TestCluster::connect().await?;
    let ns = cluster.namespace("drift").await?;
    let _operator = OperatorHandle::start(&cluster, &ns.name);
    running_agent(&cluster, &ns.name).await?;

    let np_uid = jsonpath(&cluster, &ns.name, "networkpolicy/agent", "{.metadata.uid}")?;
    cluster.kubectl(&["delete", "networkpolicy", "agent", "-n", &ns.name], None)?;
    wait::until(
        "the NetworkPolicy to come back",
        Duration::from_secs(20),
        || async {
            let uid = jsonpath(&cluster, &ns.name, "networkpolicy/agent", "{.metadata.uid}")
                .unwrap_or_default();
            Ok((!uid.is_empty() && uid != np_uid).then_some(()))
        },
    )
    .await?;

    cluster.kubectl(
        &[
            "patch",
            "pdb",
            "agent",
            "-n",
            &ns.name,
            "--type=merge",
            "-p",
            r#"{"spec":{"maxUnavailable":5}}"#,
        ],
        None,
    )?;
    wait::until(
        "the PDB edit to be reverted",
        Duration::from_secs(20),
        || async {
            let value = jsonpath(&cluster, &ns.name, "pdb/agent", "{.spec.maxUnavailable}")?;
            Ok((value == "1").then_some(()))
        },
    )
    .await?;
    Ok(())
}

#[tokio::test]
async fn rotating_a_referenced_secret_rolls_the_pod() -> anyhow::Result<()> {
    let cluster = TestCluster::connect().await?;
    let ns = cluster.namespace("rotate").await?;
    let _operator = OperatorHandle::start(&cluster, &ns.name);
    running_agent(&cluster, &ns.name).await?;
    let hash_path = "{.spec.template.metadata.annotations.openclaw\\.rocks/inputs-hash}";
    let before = jsonpath(&cluster, &ns.name, "statefulset/agent", hash_path)?;
    let pod_before = jsonpath(&cluster, &ns.name, "pod/agent-0", "{.metadata.uid}")?;
    assert!(
        !before.is_empty(),
        "the pod template carries no inputs hash"
    );

    cluster.kubectl(
        &[
            "patch",
            "secret",
            "openclaw-api-keys",
            "-n",
            &ns.name,
            "--type=merge",
            "-p",
            r#"{"stringData":{"ANTHROPIC_API_KEY":"sk-ant-rotated"}}"#,
        ],
        None,
    )?;
    wait::until(
        "a new pod after the rotation",
        Duration::from_secs(30),
        || async {
            let hash = jsonpath(&cluster, &ns.name, "statefulset/agent", hash_path)?;
            let pod =
                jsonpath(&cluster, &ns.name, "pod/agent-0", "{.metadata.uid}").unwrap_or_default();
            Ok((hash != before && !pod.is_empty() && pod != pod_before).then_some(()))
        },
    )
    .await?;
    wait::until("agent Running again", Duration::from_secs(30), || {
        instances::in_phase(&cluster, &ns.name, "agent", Phase::Running, "True")
    })
    .await?;
    Ok(())
}

#[tokio::test]
async fn a_missing_secret_gives_a_condition_naming_it() -> anyhow::Result<()> {
    let cluster = TestCluster::connect().await?;
    let ns = cluster.namespace("missing").await?;
    let operator = OperatorHandle::start(&cluster, &ns.name);
    instances::apply(&cluster, &ns.name, AGENT)?;
    let instance = wait::until(
        "a SecretsReady=False condition",
        Duration::from_secs(30),
        || async {
            let instance = instances::get(&cluster, &ns.name, "agent").await?;
            let found = instances::condition(&instance, "SecretsReady")
                .is_some_and(|c| c.status == "False");
            Ok(found.then_some(instance))
        },
    )
    .await?;
    let message = instances::condition(&instance, "SecretsReady")
        .map(|c| c.message.clone())
        .unwrap_or_default();
    assert!(message.contains("openclaw-api-keys"), "{message}");
    assert_eq!(instance.status.and_then(|s| s.phase), Some(Phase::Degraded));
    // Not a crash loop: a missing reference is a state, not a reconcile error.
    tokio::time::sleep(TEST_RESYNC * 2).await;
    assert!(
        !operator
            .metrics
            .encode()
            .contains("openclaw_reconcile_errors_total{"),
        "{}",
        operator.metrics.encode()
    );

    // Creating the Secret is enough: the operator watches the name it is waiting for.
    create_secret(
        &cluster,
        &ns.name,
        "openclaw-api-keys",
        &[("ANTHROPIC_API_KEY", "sk-ant-late")],
    )
    .await?;
    wait::until(
        "agent Running once the Secret exists",
        Duration::from_secs(30),
        || instances::in_phase(&cluster, &ns.name, "agent", Phase::Running, "True"),
    )
    .await?;
    Ok(())
}

#[tokio::test]
async fn an_operator_restarted_mid_reconcile_converges() -> anyhow::Result<()> {
    let cluster = TestCluster::connect().await?;
    let ns = cluster.namespace("restart").await?;
    create_secret(
        &cluster,
        &ns.name,
        "openclaw-api-keys",
        &[("ANTHROPIC_API_KEY", "sk-ant-x")],
    )
    .await?;
    let first = OperatorHandle::start(&cluster, &ns.name);
    instances::apply(&cluster, &ns.name, AGENT)?;
    // Let it get part of the way, then kill it without a graceful stop.
    wait::until("the first children", Duration::from_secs(20), || async {
        Ok(jsonpath(
            &cluster,
            &ns.name,
            "configmap/agent-config",
            "{.metadata.name}",
        )
        .ok()
        .map(|_| ()))
    })
    .await?;
    first.kill();
    let _second = OperatorHandle::start(&cluster, &ns.name);
    wait::until(
        "agent Running after the restart",
        Duration::from_secs(60),
        || instances::in_phase(&cluster, &ns.name, "agent", Phase::Running, "True"),
    )
    .await?;
    let token = jsonpath(
        &cluster,
        &ns.name,
        "secret/agent-gateway-token",
        "{.data.token}",
    )?;
    assert!(!token.is_empty());
    Ok(())
}

#[tokio::test]
async fn steady_state_resyncs_write_nothing_and_leak_no_secret() -> anyhow::Result<()> {
    let cluster = TestCluster::connect().await?;
    let ns = cluster.namespace("steady").await?;
    let operator = OperatorHandle::start(&cluster, &ns.name);
    running_agent(&cluster, &ns.name).await?;
    // Let the status settle, then watch two full resyncs.
    tokio::time::sleep(TEST_RESYNC * 2).await;
    let before = operator.writes();
    let events_before = cluster
        .kubectl(&["get", "events", "-n", &ns.name, "--no-headers"], None)?
        .lines()
        .count();
    tokio::time::sleep(TEST_RESYNC * 3).await;
    assert_eq!(
        operator.writes(),
        before,
        "a steady-state resync wrote to the API:\n{}",
        operator.metrics.encode()
    );
    let events_after = cluster
        .kubectl(&["get", "events", "-n", &ns.name, "--no-headers"], None)?
        .lines()
        .count();
    assert_eq!(
        events_before, events_after,
        "events were emitted without a transition"
    );

    // No secret value in any ConfigMap or in the status.
    let encoded = jsonpath(
        &cluster,
        &ns.name,
        "secret/agent-gateway-token",
        "{.data.token}",
    )?;
    let token = String::from_utf8(base64::engine::general_purpose::STANDARD.decode(encoded)?)?;
    assert!(token.len() >= 32);
    let config_maps =
        cluster.kubectl(&["get", "configmaps", "-n", &ns.name, "-o", "yaml"], None)?;
    let status = cluster.kubectl(
        &[
            "get",
            "claw",
            "agent",
            "-n",
            &ns.name,
            "-o",
            "jsonpath={.status}",
        ],
        None,
    )?;
    for secret in [token.as_str(), "sk-ant-first"] {
        assert!(
            !config_maps.contains(secret),
            "a secret value is in a ConfigMap"
        );
        assert!(!status.contains(secret), "a secret value is in the status");
    }
    Ok(())
}
