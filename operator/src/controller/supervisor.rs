//! Reads the supervisor's `/status` in each agent pod and turns it into instance status.
//!
//! The pod's NetworkPolicy admits the operator's namespace to the status port; no API token is
//! mounted in the pod, so the operator pulls instead of the pod pushing.

use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use openclaw_api::backup::BackupReport;
use openclaw_api::instance::status::{
    InstalledSkill, ModelPull, StepReport, StepState, SupervisorStatus,
};
use serde::Deserialize;

use super::Context;

/// What the supervisor's `/status` says (the fields the operator uses).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    #[serde(default)]
    pub steps: Vec<StepReport>,
    #[serde(default)]
    pub pipeline_done: bool,
    #[serde(default)]
    pub gateway: GatewayReport,
    #[serde(default)]
    pub model_pulls: Vec<ModelPull>,
    #[serde(default)]
    pub skills: Vec<InstalledSkill>,
    #[serde(default)]
    pub versions: std::collections::BTreeMap<String, String>,
    #[serde(default)]
    pub recovered_from_unclean_stop: Option<String>,
    /// Backups and the restore.
    #[serde(default)]
    pub backup: BackupReport,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GatewayReport {
    #[serde(default)]
    pub ready: bool,
    #[serde(default)]
    pub config_error: bool,
    #[serde(default)]
    pub last_exit: Option<String>,
}

impl Report {
    /// The part of the instance status that mirrors the supervisor.
    pub fn supervisor_status(&self) -> SupervisorStatus {
        SupervisorStatus {
            steps: self.steps.clone(),
            gateway_healthy: Some(self.gateway.ready),
            versions: self.versions.clone(),
            model_pulls: self.model_pulls.clone(),
        }
    }

    /// Failed steps as (condition type, message): `Step` + the step name in CamelCase.
    pub fn failed_steps(&self) -> Vec<(String, String)> {
        self.steps
            .iter()
            .filter(|s| s.state == StepState::Failed)
            .map(|s| {
                (
                    condition_type(&s.name),
                    s.error.clone().unwrap_or_else(|| "failed".into()),
                )
            })
            .collect()
    }

    /// True while start-up work is still in progress (worth polling again soon).
    pub fn in_progress(&self) -> bool {
        !self.pipeline_done && !self.steps.iter().any(|s| s.state == StepState::Failed)
    }
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

/// Asks the supervisor of `<name>-0` for its status; `None` when the pod has no IP yet or the
/// supervisor does not answer (a starting pod is not an error).
pub async fn fetch(ctx: &Context, namespace: &str, instance: &str, port: u16) -> Option<Report> {
    let address = match &ctx.settings.supervisor_address {
        Some(address) => address.clone(),
        None => {
            let pods: Api<Pod> = Api::namespaced(ctx.client.clone(), namespace);
            let pod = pods.get_opt(&format!("{instance}-0")).await.ok()??;
            format!("{}:{port}", pod.status?.pod_ip?)
        }
    };
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
    response.json::<Report>().await.ok()
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
    fn reads_the_supervisor_status_json() {
        let json = r#"{"steps":[{"name":"config","state":"Succeeded","durationMs":3,"skipped":true},
            {"name":"skills","state":"Failed","error":"clawhub unreachable"}],
            "pipelineDone":false,"pipelineFailed":true,"gateway":{"running":false,"ready":false,"live":false,"restarts":0,"configError":false},
            "modelPulls":[{"model":"llama3.2","state":"Running","completedBytes":10,"totalBytes":100}],"skills":[],"versions":{}}"#;
        let report: Report = serde_json::from_str(json).unwrap();
        assert_eq!(
            report.failed_steps(),
            vec![("StepSkills".to_owned(), "clawhub unreachable".to_owned())]
        );
        assert!(!report.in_progress());
        assert_eq!(
            report.supervisor_status().model_pulls[0].completed_bytes,
            10
        );
    }
}
