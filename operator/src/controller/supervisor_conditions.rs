//! Conditions decided from the supervisor's report: channel health, models on the GPU, and
//! repeated OOM kills of the gateway.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use openclaw_api::{
    SupervisorReport,
    instance::status::{ChannelHealth, condition},
};

use super::conditions::cond;

/// OOM kills from which `GatewayMemorySufficient` turns `False`: one can be a spike, two are a
/// pattern.
pub const REPEATED_OOM_KILLS: u32 = 2;

/// The channels the status reports: the supervisor's while the gateway serves, else the last
/// known ones (a restarting gateway knows nothing of its channels for a few seconds).
pub fn channels<'a>(
    report: &'a SupervisorReport,
    previous: &'a [ChannelHealth],
) -> &'a [ChannelHealth] {
    if report.gateway.ready {
        &report.gateway.channels
    } else {
        previous
    }
}

/// `ChannelsHealthy`, `ModelsOnGPU` and `GatewayMemorySufficient`, each only when it applies.
pub fn conditions(report: &SupervisorReport, previous: &[ChannelHealth]) -> Vec<Condition> {
    let mut out = Vec::new();
    let channels = channels(report, previous);
    if !channels.is_empty() {
        let failing: Vec<String> = channels
            .iter()
            .filter(|c| !c.healthy)
            .map(|c| match &c.reason {
                Some(reason) => format!("{} ({reason})", c.name),
                None => c.name.clone(),
            })
            .collect();
        out.push(if failing.is_empty() {
            cond(
                condition::CHANNELS_HEALTHY,
                true,
                "AllChannelsHealthy",
                format!(
                    "healthy: {}",
                    channels
                        .iter()
                        .map(|c| c.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )
        } else {
            cond(
                condition::CHANNELS_HEALTHY,
                false,
                "ChannelFailing",
                format!(
                    "failing: {}; the other channels still carry traffic",
                    failing.join("; ")
                ),
            )
        });
    }
    if let Some(check) = report.vram() {
        out.push(match &check.message {
            None => cond(
                condition::MODELS_ON_GPU,
                true,
                "AllInVRAM",
                format!(
                    "every model entirely in GPU memory ({} GPU(s) requested)",
                    check.requested_gpus
                ),
            ),
            Some(message) => cond(
                condition::MODELS_ON_GPU,
                false,
                "CPUFallback",
                format!("{message}; see status.models"),
            ),
        });
    }
    let kills = report.gateway.oom_kills;
    out.push(if kills >= REPEATED_OOM_KILLS {
        cond(
            condition::GATEWAY_MEMORY_SUFFICIENT,
            false,
            "RepeatedOOMKills",
            format!(
                "the kernel's OOM killer killed the gateway {kills} times since the pod started; \
                 raise spec.resources.limits.memory"
            ),
        )
    } else {
        cond(
            condition::GATEWAY_MEMORY_SUFFICIENT,
            true,
            "NoRepeatedOOMKills",
            format!("OOM kills of the gateway since the pod started: {kills}"),
        )
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn find<'a>(conditions: &'a [Condition], type_: &str) -> Option<&'a Condition> {
        conditions.iter().find(|c| c.type_ == type_)
    }

    fn telegram(healthy: bool) -> ChannelHealth {
        ChannelHealth {
            name: "telegram".into(),
            healthy,
            reason: (!healthy).then(|| "token refused".to_owned()),
        }
    }

    #[test]
    fn a_failing_channel_is_named() {
        let mut report = SupervisorReport::default();
        report.gateway.ready = true;
        report.gateway.channels = vec![telegram(false)];
        let conditions = conditions(&report, &[]);
        let channels = find(&conditions, condition::CHANNELS_HEALTHY);
        assert_eq!(channels.map(|c| c.status.as_str()), Some("False"));
        assert!(
            channels.is_some_and(|c| c.message.contains("telegram (token refused)")),
            "{channels:?}"
        );
        // No channels configured: no condition.
        report.gateway.channels.clear();
        assert!(
            find(
                &super::conditions(&report, &[]),
                condition::CHANNELS_HEALTHY
            )
            .is_none()
        );
    }

    #[test]
    fn a_restarting_gateway_keeps_the_last_channels() {
        let report = SupervisorReport::default();
        let previous = [telegram(true)];
        assert_eq!(channels(&report, &previous), previous);
        let conditions = conditions(&report, &previous);
        assert_eq!(
            find(&conditions, condition::CHANNELS_HEALTHY).map(|c| c.status.as_str()),
            Some("True")
        );
    }

    #[test]
    fn models_off_the_gpu_and_repeated_oom_kills_say_the_numbers() {
        // As the supervisor serves it after a model did not fit.
        let mut report: SupervisorReport = serde_json::from_str(
            r#"{"steps":[],"pipelineDone":true,"pipelineFailed":false,
                "gateway":{"running":true,"pid":7,"ready":true,"live":true,"restarts":0,"lastExit":null,"configError":false},
                "modelPulls":[],"skills":[],"versions":{},"recoveredFromUncleanStop":null,
                "gpu":{"node":null,"ollama":{"healthy":false,"requestedGpus":1,
                       "models":[{"name":"qwen3:8b","sizeBytes":5,"vramBytes":2,"percentInVram":40}],
                       "message":"qwen3:8b: 2 B of 5 B in VRAM (40%)"}},
                "backup":{"enabled":false}}"#,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        report.gateway.oom_kills = 2;
        let conditions = conditions(&report, &[]);
        let gpu = find(&conditions, condition::MODELS_ON_GPU);
        assert_eq!(gpu.map(|c| c.reason.as_str()), Some("CPUFallback"));
        assert!(gpu.is_some_and(|c| c.message.contains("(40%)")));
        let memory = find(&conditions, condition::GATEWAY_MEMORY_SUFFICIENT);
        assert_eq!(memory.map(|c| c.status.as_str()), Some("False"));
        report.gateway.oom_kills = 1;
        let memory = super::conditions(&report, &[]);
        assert_eq!(
            find(&memory, condition::GATEWAY_MEMORY_SUFFICIENT).map(|c| c.status.as_str()),
            Some("True")
        );
    }
}
