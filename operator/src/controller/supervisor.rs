//! Reads the supervisor's `/status` in each agent pod and turns it into instance status.
//!
//! The pod's NetworkPolicy admits the operator's namespace to the status port; no API token is
//! mounted in the pod, so the operator pulls instead of the pod pushing.

use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use openclaw_api::{
    SupervisorReport,
    instance::status::{GatewayStatus, SupervisorStatus},
};

use super::Context;

/// The part of the instance status that mirrors the supervisor.
pub fn supervisor_status(report: &SupervisorReport) -> SupervisorStatus {
    let gateway = &report.gateway;
    SupervisorStatus {
        steps: report.steps.clone(),
        gateway_healthy: Some(gateway.ready),
        versions: report.versions.clone(),
        model_pulls: report.model_pulls.clone(),
        gateway: Some(GatewayStatus {
            restarts: i64::from(gateway.restarts),
            last_exit: gateway.last_exit.clone(),
            oom_kills: i64::from(gateway.oom_kills),
        }),
    }
}

/// Failed steps as (condition type, message): `Step` + the step name in CamelCase.
pub fn failed_steps(report: &SupervisorReport) -> Vec<(String, String)> {
    report
        .failed_steps()
        .into_iter()
        .map(|(name, error)| (condition_type(name), error.to_owned()))
        .collect()
}

/// `ca-bundle` → `StepCaBundle` (a valid condition type).
pub fn condition_type(step: &str) -> String {
    let mut out = String::from("Step");
    for part in step
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|p| !p.is_empty())
    {
        let mut chars = part.chars();
        if let Some(first) = chars.next() {
            out.push(first.to_ascii_uppercase());
            out.extend(chars);
        }
    }
    out
}

/// `<ip>:<port>` of the supervisor of `<instance>-0` (the configured address in tests, where
/// the supervisor runs locally); `None` while the pod has no IP.
pub async fn supervisor_address(
    ctx: &Context,
    namespace: &str,
    instance: &str,
    port: u16,
) -> Option<String> {
    if let Some(address) = &ctx.settings.supervisor_address {
        return Some(address.clone());
    }
    let pods: Api<Pod> = Api::namespaced(ctx.client.clone(), namespace);
    let pod = pods.get_opt(&format!("{instance}-0")).await.ok()??;
    Some(format!("{}:{port}", pod.status?.pod_ip?))
}

/// Asks the supervisor of `<name>-0` for its status; `None` when the pod has no IP yet or the
/// supervisor does not answer (a starting pod is not an error).
pub async fn fetch(
    ctx: &Context,
    namespace: &str,
    instance: &str,
    port: u16,
) -> Option<SupervisorReport> {
    let address = supervisor_address(ctx, namespace, instance, port).await?;
    let response = ctx
        .http
        .get(format!("http://{address}/status"))
        .timeout(Duration::from_secs(2))
        .send()
        .await
        .ok()?;
    if !response.status().is_success() {
        return None;
    }
    response.json::<SupervisorReport>().await.ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn condition_types_are_valid_names() {
        assert_eq!(condition_type("ca-bundle"), "StepCaBundle");
        assert_eq!(condition_type("skills"), "StepSkills");
        assert_eq!(condition_type("runtime_deps"), "StepRuntimeDeps");
    }

    #[test]
    fn failed_steps_become_condition_types() {
        use openclaw_api::instance::status::{StepReport, StepState};
        let report = SupervisorReport {
            steps: vec![StepReport {
                name: "ca-bundle".into(),
                state: StepState::Failed,
                duration_ms: None,
                skipped: false,
                error: Some("no such file".into()),
            }],
            ..SupervisorReport::default()
        };
        assert_eq!(
            failed_steps(&report),
            [("StepCaBundle".to_owned(), "no such file".to_owned())]
        );
        let gateway = supervisor_status(&report).gateway;
        assert_eq!(gateway.map(|g| g.restarts), Some(0));
    }
}
