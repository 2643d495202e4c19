//! The supervisor's `/status` document: what the in-pod supervisor knows, served as JSON by its
//! status server and read by the operator (and by `openclaw-supervisor status`).
//!
//! Both sides use these types, so renaming a field on one side is a compile error on the other.
//! Fields added after the first release carry `#[serde(default)]` so an operator can still read a
//! supervisor one release older during a rolling upgrade.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{
    backup::BackupReport,
    instance::status::{
        ChannelHealth, InstalledSkill, ModelPlacement, ModelPull, StepReport, StepState,
    },
};

/// The whole `/status` document.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SupervisorReport {
    /// Start-up steps, in declaration order.
    pub steps: Vec<StepReport>,
    /// Every step finished (ran or skipped) without failing.
    pub pipeline_done: bool,
    /// A step failed; the gateway is not started.
    pub pipeline_failed: bool,
    /// The gateway child.
    pub gateway: GatewayReport,
    /// Progress of the Ollama model pulls.
    pub model_pulls: Vec<ModelPull>,
    /// Skills installed on the workspace, with their hashes.
    pub skills: Vec<InstalledSkill>,
    /// Versions by component (`openclaw`, `supervisor`, `pnpm`, `python`, `ollama`…).
    pub versions: BTreeMap<String, String>,
    /// Set when the previous run did not stop cleanly (OOM kill, node loss) and what was done.
    pub recovered_from_unclean_stop: Option<String>,
    /// GPU facts of the node and the Ollama VRAM verdict, when relevant.
    pub gpu: Option<GpuReport>,
    /// Backups and the restore.
    pub backup: BackupReport,
}

impl SupervisorReport {
    /// Failed steps as (step name, error).
    pub fn failed_steps(&self) -> Vec<(&str, &str)> {
        self.steps
            .iter()
            .filter(|s| s.state == StepState::Failed)
            .map(|s| (s.name.as_str(), s.error.as_deref().unwrap_or("failed")))
            .collect()
    }

    /// True while start-up work is still in progress (worth polling again soon).
    pub fn in_progress(&self) -> bool {
        !self.pipeline_done && !self.steps.iter().any(|s| s.state == StepState::Failed)
    }

    /// The Ollama VRAM verdict, when the check ran.
    pub fn vram(&self) -> Option<&VramCheck> {
        self.gpu.as_ref().and_then(|g| g.ollama.as_ref())
    }
}

/// Health of the gateway child as the supervisor last saw it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GatewayReport {
    /// The child process is running.
    pub running: bool,
    /// pid of the child, when running.
    pub pid: Option<u32>,
    /// The gateway serves traffic: its `/readyz` said ready, or the only checks failing are
    /// channels (one dead channel does not stop traffic for the others).
    pub ready: bool,
    /// The gateway's `/healthz` answered 200 with `"ok": true`.
    pub live: bool,
    /// Restarts since the supervisor started.
    pub restarts: u32,
    /// Last exit, e.g. `exit 78 (configuration error)`.
    pub last_exit: Option<String>,
    /// The gateway exited with a configuration error and is not restarted until fixed.
    pub config_error: bool,
    /// Times the kernel's OOM killer killed the gateway since the supervisor started (from the
    /// container cgroup's `memory.events`).
    #[serde(default)]
    pub oom_kills: u32,
    /// Gateway tokens handed to the running gateway since the supervisor started (a rotated
    /// Secret, hot-reloaded by the gateway without a restart).
    #[serde(default)]
    pub token_rotations: u32,
    /// Each configured channel, healthy or failing, per the gateway's `/readyz`.
    #[serde(default)]
    pub channels: Vec<ChannelHealth>,
}

/// GPU facts of the node and the Ollama VRAM check.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GpuReport {
    /// What the node's NVIDIA driver reports; `None` without a driver.
    pub node: Option<NodeGpuFacts>,
    /// Where the Ollama models run, once the check ran.
    pub ollama: Option<VramCheck>,
}

/// What the node's NVIDIA driver reports.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeGpuFacts {
    /// Driver version, e.g. `580.159.04`.
    pub driver_version: Option<String>,
    /// The GPUs the driver sees, by bus id.
    pub gpus: Vec<NodeGpu>,
}

/// One GPU of the node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeGpu {
    /// PCI bus id, e.g. `0000:00:06.0`.
    pub bus_id: String,
    /// Model name, e.g. `NVIDIA H100 80GB HBM3`.
    pub model: Option<String>,
    /// `GPU-<uuid>`.
    pub uuid: Option<String>,
    /// Total memory in MiB, from the model (see `openclaw_api::gpu::memory_mib`); `None` when the
    /// model is unknown.
    #[serde(default, skip_serializing_if = "Option::is_none", rename = "memoryMiB")]
    pub memory_mib: Option<u64>,
}

/// The verdict of the VRAM check: after each model was loaded once, how much of it sits in
/// GPU memory.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VramCheck {
    /// Every model entirely in VRAM.
    pub healthy: bool,
    /// GPUs the instance asked for.
    pub requested_gpus: u32,
    /// Each model's placement.
    pub models: Vec<ModelPlacement>,
    /// What is wrong, with the numbers; `None` when healthy.
    pub message: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_older_supervisors_document_still_reads() -> Result<(), serde_json::Error> {
        // Written by the release before oomKills and channels existed.
        let json = r#"{"steps":[{"name":"skills","state":"Failed","error":"clawhub unreachable"}],
            "pipelineDone":false,"pipelineFailed":true,
            "gateway":{"running":false,"pid":null,"ready":false,"live":false,"restarts":2,"lastExit":"exit 1","configError":false},
            "modelPulls":[],"skills":[],"versions":{},"recoveredFromUncleanStop":null,"gpu":null,
            "backup":{"enabled":false}}"#;
        let report: SupervisorReport = serde_json::from_str(json)?;
        assert_eq!(report.failed_steps(), [("skills", "clawhub unreachable")]);
        assert!(!report.in_progress());
        assert_eq!(report.gateway.restarts, 2);
        assert!(report.gateway.channels.is_empty());
        Ok(())
    }

    #[test]
    fn round_trips() -> Result<(), serde_json::Error> {
        let report = SupervisorReport {
            gpu: Some(GpuReport {
                node: None,
                ollama: Some(VramCheck {
                    healthy: false,
                    requested_gpus: 1,
                    models: vec![ModelPlacement {
                        name: "llama3.2".into(),
                        size_bytes: Some(100),
                        vram_bytes: Some(40),
                        percent_in_vram: 40,
                    }],
                    message: Some("llama3.2: 40 B of 100 B in VRAM".into()),
                }),
            }),
            ..SupervisorReport::default()
        };
        let json = serde_json::to_string(&report)?;
        assert!(json.contains(r#""vramBytes":40"#), "{json}");
        assert_eq!(serde_json::from_str::<SupervisorReport>(&json)?, report);
        Ok(())
    }
}
