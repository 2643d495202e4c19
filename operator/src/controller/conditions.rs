//! The instance's status, decided without I/O: phase and conditions from what the reconcile observed.

use k8s_openapi::{
    api::apps::v1::StatefulSet,
    apimachinery::pkg::apis::meta::v1::{Condition, Time},
    jiff::Timestamp,
};
use openclaw_api::{
    SupervisorReport,
    backup::RestoreState,
    instance::{
        OpenClawInstanceStatus, Phase,
        status::{UpdatePhase, condition},
    },
};

use super::{backup_status as backup, supervisor::failed_steps};

/// Condition type reporting whether the requested GPUs can be scheduled.
pub const GPU_AVAILABLE: &str = "GPUAvailable";
/// Condition type set when the gateway exits with its configuration-error code (78).
pub const GATEWAY_CONFIG_VALID: &str = "GatewayConfigValid";
/// Condition type set when the pod's previous run did not stop cleanly (OOM kill, node loss).
pub const CLEAN_START: &str = "CleanStart";
/// Condition type: whether the Ollama models fit in the GPU memory of some node (judged before
/// scheduling, from the node agents' GPU facts).
pub const MODELS_FIT_GPU: &str = "ModelsFitGPU";
/// Condition type reporting whether the ServiceMonitor could be created.
pub const SERVICE_MONITOR_READY: &str = "ServiceMonitorReady";

/// What one reconcile found out.
#[derive(Debug, Clone, Default)]
pub struct Observations {
    pub generation: Option<i64>,
    pub suspended: bool,
    /// The spec could not be rendered (message names the field).
    pub invalid: Option<String>,
    /// Referenced objects that do not exist, e.g. `Secret "openclaw-api-keys"`.
    pub missing: Vec<String>,
    /// GPUs requested and the most any node can allocate, when that is not enough.
    pub gpu_shortage: Option<(i64, i64)>,
    /// Whether the Ollama models fit in some node's GPU memory, when it can be judged.
    pub vram_fit: Option<(bool, String)>,
    /// `None` when no ServiceMonitor is wanted; `Some(false)` when its CRD is missing.
    pub service_monitor: Option<bool>,
    pub workload: Workload,
    pub gateway_endpoint: Option<String>,
    /// What the pod's supervisor reported, when it answered.
    pub supervisor: Option<SupervisorReport>,
    /// The `openclaw.rocks/backup-now` value this reconcile served.
    pub served_backup_request: Option<String>,
    /// Auto-update's progress (`None`: off and idle).
    pub auto_update: Option<openclaw_api::instance::status::AutoUpdateStatus>,
    /// `AutoUpdateAvailable`, `AutoUpdatePaused`.
    pub update_conditions: Vec<Condition>,
}

/// State of the StatefulSet.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Workload {
    #[default]
    Missing,
    NotReady,
    RollingOut,
    Ready,
}

impl Workload {
    pub fn of(sts: Option<&StatefulSet>) -> Self {
        let Some(sts) = sts else {
            return Workload::Missing;
        };
        let Some(status) = &sts.status else {
            return Workload::NotReady;
        };
        let want = sts.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
        let observed = status.observed_generation >= sts.metadata.generation;
        let rolled =
            status.update_revision.is_none() || status.current_revision == status.update_revision;
        let ready = status.ready_replicas.unwrap_or(0) >= want && want > 0;
        match (observed && rolled, ready) {
            (true, true) => Workload::Ready,
            (false, _) => Workload::RollingOut,
            (true, false) if status.updated_replicas.unwrap_or(0) < want => Workload::RollingOut,
            _ => Workload::NotReady,
        }
    }
}

/// Decides the phase.
pub fn phase(previous: Option<Phase>, obs: &Observations) -> Phase {
    if obs.invalid.is_some() {
        return Phase::Failed;
    }
    if obs.suspended {
        return Phase::Suspended;
    }
    let step_failed = obs
        .supervisor
        .as_ref()
        .is_some_and(|r| !failed_steps(r).is_empty());
    let restoring = obs
        .supervisor
        .as_ref()
        .and_then(|r| r.backup.restore.as_ref())
        .is_some_and(|r| r.state == RestoreState::Running);
    // The pod is being replaced by auto-update (checking and backing up leave it serving).
    let updating = obs.auto_update.as_ref().is_some_and(|u| {
        matches!(
            u.update_phase,
            Some(UpdatePhase::RollingOut | UpdatePhase::RollingBack)
        )
    });
    match obs.workload {
        _ if restoring => Phase::Restoring,
        _ if updating => Phase::Updating,
        // The supervisor knows better than the pod's Ready condition.
        _ if step_failed => Phase::Degraded,
        Workload::Ready if obs.missing.is_empty() => Phase::Running,
        _ if !obs.missing.is_empty() || obs.gpu_shortage.is_some() || step_failed => {
            Phase::Degraded
        }
        Workload::RollingOut
            if previous == Some(Phase::Running) || previous == Some(Phase::Updating) =>
        {
            Phase::Updating
        }
        Workload::NotReady if previous == Some(Phase::Running) => Phase::Degraded,
        _ => Phase::Provisioning,
    }
}

pub(crate) fn cond(type_: &str, ok: bool, reason: &str, message: String) -> Condition {
    Condition {
        type_: type_.to_owned(),
        status: if ok { "True" } else { "False" }.to_owned(),
        reason: reason.to_owned(),
        message,
        last_transition_time: Time(Timestamp::now()),
        observed_generation: None,
    }
}

/// The whole status, keeping each condition's transition time while its status holds.
pub fn compute(previous: &OpenClawInstanceStatus, obs: &Observations) -> OpenClawInstanceStatus {
    let phase = phase(previous.phase, obs);
    let mut conditions = Vec::new();
    let (ready, reason, message) = match phase {
        Phase::Running => (true, "GatewayReady", "the agent pod is ready".to_owned()),
        Phase::Suspended => (
            false,
            "Suspended",
            "spec.suspend is true; the agent is scaled to zero".to_owned(),
        ),
        Phase::Failed => (
            false,
            "InvalidSpec",
            obs.invalid.clone().unwrap_or_default(),
        ),
        _ if !obs.missing.is_empty() => (
            false,
            "MissingReferences",
            format!("missing: {}", obs.missing.join(", ")),
        ),
        _ if obs.gpu_shortage.is_some() => (
            false,
            "InsufficientGPU",
            "see the GPUAvailable condition".to_owned(),
        ),
        _ if obs
            .supervisor
            .as_ref()
            .is_some_and(|r| !failed_steps(r).is_empty()) =>
        {
            (
                false,
                "StartupStepFailed",
                "a start-up step failed in the pod; see the Step* conditions".to_owned(),
            )
        }
        Phase::Updating => (false, "RollingOut", "a new pod is rolling out".to_owned()),
        _ => (
            false,
            "PodNotReady",
            "waiting for the agent pod to become ready".to_owned(),
        ),
    };
    conditions.push(cond(condition::READY, ready, reason, message));
    conditions.push(match &obs.invalid {
        Some(message) => cond(
            condition::CONFIG_VALID,
            false,
            "InvalidSpec",
            message.clone(),
        ),
        None => cond(
            condition::CONFIG_VALID,
            true,
            "Rendered",
            "configuration and runtime plan rendered".into(),
        ),
    });
    conditions.push(if obs.missing.is_empty() {
        cond(
            condition::SECRETS_READY,
            true,
            "AllReferencesFound",
            "every referenced Secret and ConfigMap exists".into(),
        )
    } else {
        cond(
            condition::SECRETS_READY,
            false,
            "ReferenceNotFound",
            format!(
                "not found in the instance's namespace: {}",
                obs.missing.join(", ")
            ),
        )
    });
    if let Some((wanted, max)) = obs.gpu_shortage {
        conditions.push(cond(
            GPU_AVAILABLE,
            false,
            "InsufficientGPU",
            format!(
                "spec.ollama.gpu asks for {wanted} nvidia.com/gpu but the most any node can allocate is {max}; \
                 the pod would stay Pending (install the NVIDIA device plugin or add GPU nodes)"
            ),
        ));
    }
    if let Some((fits, message)) = &obs.vram_fit {
        let reason = if *fits { "FitsInVRAM" } else { "ModelTooLarge" };
        conditions.push(cond(MODELS_FIT_GPU, *fits, reason, message.clone()));
    }
    match obs.service_monitor {
        Some(true) => conditions.push(cond(SERVICE_MONITOR_READY, true, "Created", "ServiceMonitor applied".into())),
        Some(false) => conditions.push(cond(
            SERVICE_MONITOR_READY,
            false,
            "CRDNotInstalled",
            "spec.observability.metrics.serviceMonitor.enabled is true but the Prometheus Operator's \
             ServiceMonitor CRD (monitoring.coreos.com/v1) is not installed; metrics are still served"
                .into(),
        )),
        None => {}
    }
    if let Some(report) = &obs.supervisor {
        for (type_, message) in failed_steps(report) {
            conditions.push(cond(&type_, false, "StepFailed", message));
        }
        conditions.extend(super::supervisor_conditions::conditions(
            report,
            &previous.channels,
        ));
        if report.gateway.config_error {
            let exit = report
                .gateway
                .last_exit
                .clone()
                .unwrap_or_else(|| "exit 78".into());
            conditions.push(cond(
                GATEWAY_CONFIG_VALID,
                false,
                "ConfigurationError",
                format!("the gateway refused its configuration ({exit}); fix spec.config, it is retried on change"),
            ));
        }
        conditions.extend(backup::conditions(previous, &report.backup));
        conditions.extend(super::drill_status::condition(previous, &report.backup));
        if let Some(what) = &report.recovered_from_unclean_stop {
            conditions.push(cond(
                CLEAN_START,
                false,
                "RecoveredFromUncleanStop",
                what.clone(),
            ));
        }
    }
    conditions.extend(obs.update_conditions.iter().cloned());
    for c in &mut conditions {
        c.observed_generation = obs.generation;
        if let Some(old) = previous.conditions.iter().find(|o| o.type_ == c.type_)
            && old.status == c.status
        {
            c.last_transition_time = old.last_transition_time.clone();
        }
    }
    let mut next = OpenClawInstanceStatus {
        phase: Some(phase),
        conditions,
        observed_generation: obs.generation,
        gateway_endpoint: obs.gateway_endpoint.clone(),
        ..previous.clone()
    };
    if let Some(report) = &obs.supervisor {
        next.supervisor = Some(super::supervisor::supervisor_status(report));
        next.skills = report.skills.clone();
        next.channels = super::supervisor_conditions::channels(report, &previous.channels).to_vec();
        if let Some(check) = report.vram() {
            next.models = check.models.clone();
        }
        next.backup = backup::status(previous.backup.as_ref(), &report.backup);
        next.restored_from = backup::restored_from(previous, &report.backup);
        if let Some(drill) = &report.backup.last_drill {
            next.backup.get_or_insert_default().last_drill = Some(drill.clone());
        }
    }
    next.auto_update = obs.auto_update.clone();
    if let Some(served) = &obs.served_backup_request {
        next.backup.get_or_insert_default().last_request = Some(served.clone());
    }
    next
}

/// True when writing `next` would change what `previous` says (transition times aside).
pub fn differs(previous: &OpenClawInstanceStatus, next: &OpenClawInstanceStatus) -> bool {
    let key = |s: &OpenClawInstanceStatus| {
        (
            s.supervisor.clone(),
            s.skills.clone(),
            s.channels.clone(),
            s.models.clone(),
            s.phase,
            s.observed_generation,
            s.gateway_endpoint.clone(),
            s.backup.clone(),
            s.restored_from.clone(),
            s.auto_update.clone(),
            s.conditions
                .iter()
                .map(|c| {
                    (
                        c.type_.clone(),
                        c.status.clone(),
                        c.reason.clone(),
                        c.message.clone(),
                        c.observed_generation,
                    )
                })
                .collect::<Vec<_>>(),
        )
    };
    key(previous) != key(next)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obs(workload: Workload) -> Observations {
        Observations {
            generation: Some(1),
            workload,
            ..Default::default()
        }
    }

    #[test]
    fn provisioning_then_running() {
        assert_eq!(phase(None, &obs(Workload::Missing)), Phase::Provisioning);
        assert_eq!(
            phase(Some(Phase::Provisioning), &obs(Workload::Ready)),
            Phase::Running
        );
        assert_eq!(
            phase(Some(Phase::Running), &obs(Workload::NotReady)),
            Phase::Degraded
        );
        assert_eq!(
            phase(Some(Phase::Running), &obs(Workload::RollingOut)),
            Phase::Updating
        );
    }

    #[test]
    fn missing_reference_degrades_and_names_it() {
        let mut o = obs(Workload::NotReady);
        o.missing = vec!["Secret \"openclaw-api-keys\"".into()];
        let status = compute(&OpenClawInstanceStatus::default(), &o);
        assert_eq!(status.phase, Some(Phase::Degraded));
        let secrets = status
            .conditions
            .iter()
            .find(|c| c.type_ == condition::SECRETS_READY)
            .unwrap();
        assert_eq!(secrets.status, "False");
        assert!(secrets.message.contains("openclaw-api-keys"));
    }

    #[test]
    fn steady_status_does_not_differ() {
        let first = compute(&OpenClawInstanceStatus::default(), &obs(Workload::Ready));
        let second = compute(&first, &obs(Workload::Ready));
        assert!(!differs(&first, &second));
        assert_eq!(
            first.conditions, second.conditions,
            "transition times are kept"
        );
    }

    #[test]
    fn a_model_too_large_for_every_node_is_a_condition() {
        let mut o = obs(Workload::NotReady);
        o.vram_fit = Some((false, "llama3.1:405b needs about 251.5 GiB".into()));
        let status = compute(&OpenClawInstanceStatus::default(), &o);
        let fit = status
            .conditions
            .iter()
            .find(|c| c.type_ == MODELS_FIT_GPU)
            .unwrap();
        assert_eq!(
            (fit.status.as_str(), fit.reason.as_str()),
            ("False", "ModelTooLarge")
        );
        assert!(fit.message.contains("251.5 GiB"));
        o.vram_fit = None;
        let status = compute(&OpenClawInstanceStatus::default(), &o);
        assert!(status.conditions.iter().all(|c| c.type_ != MODELS_FIT_GPU));
    }

    #[test]
    fn gpu_shortage_gives_numbers() {
        let mut o = obs(Workload::NotReady);
        o.gpu_shortage = Some((1, 0));
        let status = compute(&OpenClawInstanceStatus::default(), &o);
        let gpu = status
            .conditions
            .iter()
            .find(|c| c.type_ == GPU_AVAILABLE)
            .unwrap();
        assert!(
            gpu.message.contains("asks for 1") && gpu.message.contains("is 0"),
            "{}",
            gpu.message
        );
    }
}
