//! The operator reads the supervisor's `/status` and reflects it in the instance: the plan it
//! rendered is run by the real supervisor binary (locally: KWOK runs no containers), a start-up
//! step fails, and the instance says which and why.

use std::time::Duration;

use openclaw_api::instance::Phase;
use openclaw_tests::{TestCluster, instances, operator::OperatorHandle, pod::LocalPod, wait};

const AGENT: &str = "apiVersion: openclaw.rocks/v1alpha1
kind: OpenClawInstance
metadata:
  name: skilled
spec:
  skills:
    - \"weather\"
";

#[tokio::test]
async fn a_failed_startup_step_shows_in_the_instance_status() -> anyhow::Result<()> {
    let cluster = TestCluster::connect().await?;
    let ns = cluster.namespace("supervised").await?;
    let home = tempfile::tempdir()?;
    let mut pod = LocalPod::new(home.path())?;
    let _operator = OperatorHandle::start_with_supervisor(&cluster, &ns.name, &pod.address);
    instances::apply(&cluster, &ns.name, AGENT)?;
    // ClawHub is unreachable from this pod: the skills step must fail, visibly.
    pod.start(
        &cluster,
        &ns.name,
        "skilled",
        &[("OPENCLAW_MIRROR_CLAWHUB", "http://127.0.0.1:9")],
    )
    .await?;

    let instance = wait::until(
        "a StepSkills=False condition",
        Duration::from_secs(90),
        || async {
            let instance = instances::get(&cluster, &ns.name, "skilled").await?;
            let found =
                instances::condition(&instance, "StepSkills").is_some_and(|c| c.status == "False");
            Ok(found.then_some(instance))
        },
    )
    .await?;
    let message = instances::condition(&instance, "StepSkills")
        .map(|c| c.message.clone())
        .unwrap_or_default();
    assert!(
        message.contains("weather") || message.to_lowercase().contains("clawhub"),
        "{message}"
    );
    let status = instance.status.clone().unwrap_or_default();
    assert_eq!(status.phase, Some(Phase::Degraded));
    let steps = status.supervisor.map(|s| s.steps).unwrap_or_default();
    assert!(
        steps.iter().any(|s| s.name == "config"),
        "the supervisor's steps are not in the status: {steps:?}"
    );
    let ready = instances::condition(&instance, "Ready")
        .map(|c| c.reason.clone())
        .unwrap_or_default();
    assert_eq!(ready, "StartupStepFailed");
    Ok(())
}
