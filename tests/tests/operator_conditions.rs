//! Conditions a person can act on: a missing ServiceMonitor CRD, GPUs no node has, and metric
//! series that follow instances.

use std::time::Duration;

use openclaw_api::instance::Phase;
use openclaw_tests::{TestCluster, instances, operator::OperatorHandle, wait};

const MONITORED: &str = "apiVersion: openclaw.rocks/v1alpha1
kind: OpenClawInstance
metadata:
  name: monitored
spec:
  observability:
    metrics:
      enabled: true
      serviceMonitor:
        enabled: true
        interval: \"30s\"
";

/// A minimal ServiceMonitor CRD, standing in for the Prometheus Operator's.
const SERVICE_MONITOR_CRD: &str = "apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: servicemonitors.monitoring.coreos.com
spec:
  group: monitoring.coreos.com
  names: {kind: ServiceMonitor, listKind: ServiceMonitorList, plural: servicemonitors, singular: servicemonitor}
  scope: Namespaced
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        x-kubernetes-preserve-unknown-fields: true
";

#[tokio::test]
async fn service_monitor_waits_for_its_crd_without_failing() -> anyhow::Result<()> {
    let cluster = TestCluster::connect().await?;
    cluster.kubectl(
        &[
            "delete",
            "crd",
            "servicemonitors.monitoring.coreos.com",
            "--ignore-not-found",
            "--wait=true",
        ],
        None,
    )?;
    let ns = cluster.namespace("monitor").await?;
    let operator = OperatorHandle::start(&cluster, &ns.name);
    instances::apply(&cluster, &ns.name, MONITORED)?;
    let instance = wait::until(
        "Running with a ServiceMonitorReady=False condition",
        Duration::from_secs(60),
        || async {
            let Some(instance) =
                instances::in_phase(&cluster, &ns.name, "monitored", Phase::Running, "True")
                    .await?
            else {
                return Ok(None);
            };
            let found = instances::condition(&instance, "ServiceMonitorReady")
                .is_some_and(|c| c.status == "False");
            Ok(found.then_some(instance))
        },
    )
    .await?;
    let condition = instances::condition(&instance, "ServiceMonitorReady")
        .map(|c| (c.reason.clone(), c.message.clone()));
    let (reason, message) = condition.unwrap_or_default();
    assert_eq!(reason, "CRDNotInstalled");
    assert!(message.contains("monitoring.coreos.com"), "{message}");
    assert!(
        !operator
            .metrics
            .encode()
            .contains("openclaw_reconcile_errors_total{"),
        "a missing CRD failed a reconcile"
    );

    cluster.kubectl(&["apply", "-f", "-"], Some(SERVICE_MONITOR_CRD))?;
    // The operator re-checks the CRD within its cache lifetime (30 s) and resync.
    wait::until("the ServiceMonitor", Duration::from_secs(60), || async {
        let out = cluster.kubectl(
            &[
                "get",
                "servicemonitors.monitoring.coreos.com",
                "-n",
                &ns.name,
                "-o",
                "name",
            ],
            None,
        );
        Ok(out.ok().filter(|o| o.contains("monitored")).map(|_| ()))
    })
    .await?;
    let endpoints = cluster.kubectl(
        &[
            "get",
            "servicemonitors.monitoring.coreos.com",
            "monitored",
            "-n",
            &ns.name,
            "-o",
            "jsonpath={.spec.endpoints[0].port}/{.spec.endpoints[0].interval}",
        ],
        None,
    )?;
    assert_eq!(endpoints, "metrics/30s");
    Ok(())
}

#[tokio::test]
async fn asking_for_more_gpus_than_any_node_has_says_so() -> anyhow::Result<()> {
    let cluster = TestCluster::connect().await?;
    let ns = cluster.namespace("gpu").await?;
    let _operator = OperatorHandle::start(&cluster, &ns.name);
    let manifest = "apiVersion: openclaw.rocks/v1alpha1\nkind: OpenClawInstance\nmetadata:\n  name: greedy\nspec:\n  ollama:\n    enabled: true\n    models: [\"llama3.2\"]\n    gpu: 8\n";
    instances::apply(&cluster, &ns.name, manifest)?;
    let instance = wait::until(
        "a GPUAvailable=False condition",
        Duration::from_secs(30),
        || async {
            let instance = instances::get(&cluster, &ns.name, "greedy").await?;
            let found = instances::condition(&instance, "GPUAvailable")
                .is_some_and(|c| c.status == "False");
            Ok(found.then_some(instance))
        },
    )
    .await?;
    let message = instances::condition(&instance, "GPUAvailable")
        .map(|c| c.message.clone())
        .unwrap_or_default();
    assert!(
        message.contains("asks for 8") && message.contains("is 2"),
        "{message}"
    );
    assert_eq!(instance.status.and_then(|s| s.phase), Some(Phase::Degraded));
    Ok(())
}

#[tokio::test]
async fn phase_series_disappear_with_the_instance() -> anyhow::Result<()> {
    let cluster = TestCluster::connect().await?;
    let ns = cluster.namespace("series").await?;
    let operator = OperatorHandle::start(&cluster, &ns.name);
    instances::apply(
        &cluster,
        &ns.name,
        "apiVersion: openclaw.rocks/v1alpha1\nkind: OpenClawInstance\nmetadata:\n  name: brief\nspec: {}\n",
    )?;
    wait::until("brief Running", Duration::from_secs(60), || {
        instances::in_phase(&cluster, &ns.name, "brief", Phase::Running, "True")
    })
    .await?;
    let series = format!(
        "openclaw_instance_phase{{namespace=\"{}\",name=\"brief\",phase=\"Running\"}} 1",
        ns.name
    );
    assert!(
        operator.metrics.encode().contains(&series),
        "{}",
        operator.metrics.encode()
    );
    cluster.kubectl(&["delete", "claw", "brief", "-n", &ns.name], None)?;
    wait::until("the series to go", Duration::from_secs(30), || async {
        Ok((!operator.metrics.encode().contains("name=\"brief\"")).then_some(()))
    })
    .await?;
    Ok(())
}
