//! The supervisor's probe verdicts, decided from a [`Snapshot`] by pure functions: what
//! `/livez`, `/startupz` and `/readyz` answer, and why.

use openclaw_api::instance::status::StepState;
use serde::Serialize;

use crate::board::Snapshot;

/// One probe's answer: pass or not, and a JSON body saying why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Verdict {
    /// 200 when true, 503 otherwise.
    #[serde(skip)]
    pub pass: bool,
    /// `live`, `started`, `ready`, or what start-up waits for.
    pub status: &'static str,
    /// What is missing, e.g. `step skills running`, `gateway not ready`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub waiting_for: Vec<String>,
}

/// `/livez`: the supervisor answers, so it is alive. Start-up may take long (installs, pulls);
/// a failed step is reported by `/startupz` and `/status`, not by restarting the container.
pub fn live() -> Verdict {
    Verdict {
        pass: true,
        status: "live",
        waiting_for: Vec::new(),
    }
}

/// `/startupz`: the pipeline is done, the gateway runs, and its own `/startupz` said `started`.
pub fn startup(snapshot: &Snapshot, gateway_started: bool) -> Verdict {
    let mut waiting = pipeline_waits(snapshot);
    if waiting.is_empty() {
        let gateway = &snapshot.gateway;
        if gateway.config_error {
            waiting.push("gateway configuration error".to_owned());
        } else if !gateway.running {
            waiting.push("gateway not running".to_owned());
        } else if !gateway_started {
            waiting.push("gateway starting".to_owned());
        }
    }
    verdict(waiting, "started", snapshot)
}

/// `/readyz`: the pipeline is done and the gateway's `/readyz` body said `"ready": true`.
pub fn ready(snapshot: &Snapshot) -> Verdict {
    let mut waiting = pipeline_waits(snapshot);
    if waiting.is_empty() && !(snapshot.gateway.running && snapshot.gateway.ready) {
        waiting.push("gateway not ready".to_owned());
    }
    verdict(waiting, "ready", snapshot)
}

fn verdict(waiting_for: Vec<String>, ok: &'static str, snapshot: &Snapshot) -> Verdict {
    let status = if waiting_for.is_empty() {
        ok
    } else if snapshot.pipeline_failed || snapshot.gateway.config_error {
        "failed"
    } else {
        "starting"
    };
    Verdict {
        pass: waiting_for.is_empty(),
        status,
        waiting_for,
    }
}

/// Steps not finished (or failed), in declaration order; empty once the pipeline is done.
fn pipeline_waits(snapshot: &Snapshot) -> Vec<String> {
    if snapshot.pipeline_done && !snapshot.pipeline_failed {
        return Vec::new();
    }
    let mut waits: Vec<String> = snapshot
        .steps
        .iter()
        .filter_map(|step| match step.state {
            StepState::Succeeded => None,
            StepState::Pending => Some(format!("step {} pending", step.name)),
            StepState::Running => Some(format!("step {} running", step.name)),
            StepState::Failed => Some(format!("step {} failed", step.name)),
        })
        .collect();
    if waits.is_empty() {
        waits.push("pipeline".to_owned());
    }
    waits
}

#[cfg(test)]
mod tests {
    use openclaw_api::instance::status::StepReport;

    use super::*;

    fn step(name: &str, state: StepState) -> StepReport {
        StepReport {
            name: name.into(),
            state,
            duration_ms: None,
            skipped: false,
            error: None,
        }
    }

    fn done() -> Snapshot {
        let mut s = Snapshot {
            steps: vec![step("config", StepState::Succeeded)],
            pipeline_done: true,
            ..Snapshot::default()
        };
        s.gateway.running = true;
        s
    }

    #[test]
    fn nothing_passes_before_the_pipeline_is_done() {
        let s = Snapshot {
            steps: vec![
                step("config", StepState::Succeeded),
                step("skills", StepState::Running),
                step("ollama", StepState::Pending),
            ],
            ..Snapshot::default()
        };
        let startup = startup(&s, true);
        assert!(!startup.pass);
        assert_eq!(startup.status, "starting");
        assert_eq!(
            startup.waiting_for,
            ["step skills running", "step ollama pending"]
        );
        assert!(!ready(&s).pass);
        assert!(live().pass);
    }

    #[test]
    fn a_failed_step_says_failed() {
        let s = Snapshot {
            steps: vec![step("skills", StepState::Failed)],
            pipeline_failed: true,
            ..Snapshot::default()
        };
        let v = ready(&s);
        assert_eq!((v.pass, v.status), (false, "failed"));
        assert_eq!(v.waiting_for, ["step skills failed"]);
    }

    #[test]
    fn startup_waits_for_the_gateways_own_startupz() {
        let mut s = done();
        assert!(!startup(&s, false).pass);
        assert!(startup(&s, true).pass);
        s.gateway.running = false;
        assert_eq!(startup(&s, true).waiting_for, ["gateway not running"]);
        s.gateway.config_error = true;
        assert_eq!(startup(&s, true).status, "failed");
    }

    #[test]
    fn ready_needs_the_gateways_ready_body() {
        let mut s = done();
        assert!(!ready(&s).pass);
        s.gateway.ready = true;
        let v = ready(&s);
        assert!(v.pass);
        assert_eq!(
            serde_json::to_value(&v).ok(),
            Some(serde_json::json!({"status": "ready"}))
        );
    }
}
