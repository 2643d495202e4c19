//! Writing the instance's status: the whole status by server-side apply, only when it changed,
//! with one Event per phase transition and per channel that fails or recovers, and the
//! instance's metric series.

use kube::{
    Api, ResourceExt,
    api::{Patch, PatchParams},
    runtime::events::EventType,
};
use openclaw_api::{
    OpenClawInstance, OpenClawInstanceStatus,
    instance::{Phase, status::ChannelHealth},
};

use super::{
    Context,
    conditions::{self, Observations},
    error::Cause,
    events::publish,
};
use crate::build::FIELD_MANAGER;

/// Decides the status from `obs` and writes it when it differs from the stored one.
pub async fn write(
    ctx: &Context,
    instance: &OpenClawInstance,
    obs: &Observations,
) -> Result<(), Cause> {
    let previous = instance.status.clone().unwrap_or_default();
    let next = conditions::compute(&previous, obs);
    let ns = instance.namespace().unwrap_or_default();
    let name = instance.name_any();
    let phase = next.phase.unwrap_or(Phase::Provisioning);
    ctx.metrics.set_phase(&ns, &name, phase.as_str());
    let channels: Vec<(String, bool)> = next
        .channels
        .iter()
        .map(|c| (c.name.clone(), c.healthy))
        .collect();
    ctx.metrics.set_channels(&ns, &name, &channels);
    if !conditions::differs(&previous, &next) {
        return Ok(());
    }
    apply_status(ctx, instance, &next).await?;
    if let Some(drill) = super::drill_status::newly_failed(&previous, &next) {
        let note = format!(
            "restore drill of {} failed: {}",
            drill.key.as_deref().unwrap_or("the newest snapshot"),
            drill.error.as_deref().unwrap_or("unknown error")
        );
        publish(ctx, instance, EventType::Warning, "BackupDrillFailed", note).await;
    }
    if previous.phase != next.phase {
        publish_transition(ctx, instance, previous.phase, phase, &next).await;
    }
    for (type_, reason, note) in channel_transitions(&previous.channels, &next.channels) {
        publish(ctx, instance, type_, reason, note).await;
    }
    Ok(())
}

/// Writes the whole status by server-side apply.
pub async fn apply_status(
    ctx: &Context,
    instance: &OpenClawInstance,
    next: &OpenClawInstanceStatus,
) -> Result<(), Cause> {
    let api: Api<OpenClawInstance> = Api::namespaced(
        ctx.client.clone(),
        &instance.namespace().unwrap_or_default(),
    );
    let patch = serde_json::json!({
        "apiVersion": "openclaw.rocks/v1alpha1",
        "kind": "OpenClawInstance",
        "status": next,
    });
    api.patch_status(
        &instance.name_any(),
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(&patch),
    )
    .await?;
    ctx.metrics.api_write("OpenClawInstance/status");
    Ok(())
}

/// One Event per real phase transition (never one per resync).
async fn publish_transition(
    ctx: &Context,
    instance: &OpenClawInstance,
    from: Option<Phase>,
    to: Phase,
    status: &OpenClawInstanceStatus,
) {
    let ready = status.conditions.iter().find(|c| c.type_ == "Ready");
    let type_ = match to {
        Phase::Failed | Phase::Degraded => EventType::Warning,
        _ => EventType::Normal,
    };
    let note = match (from, ready) {
        (Some(from), Some(c)) => format!("{from} → {to}: {}", c.message),
        (None, Some(c)) => format!("{to}: {}", c.message),
        _ => to.to_string(),
    };
    publish(ctx, instance, type_, to.as_str(), note).await;
}

/// The Events of channels that started failing (a Warning, also for a channel first seen
/// failing) or recovered (Normal).
pub fn channel_transitions(
    previous: &[ChannelHealth],
    next: &[ChannelHealth],
) -> Vec<(EventType, &'static str, String)> {
    next.iter()
        .filter_map(|now| {
            let before = previous
                .iter()
                .find(|c| c.name == now.name)
                .map(|c| c.healthy);
            match (before, now.healthy) {
                (Some(true) | None, false) => Some((
                    EventType::Warning,
                    "ChannelFailing",
                    format!(
                        "channel {} is failing: {}",
                        now.name,
                        now.reason.as_deref().unwrap_or("no reason given")
                    ),
                )),
                (Some(false), true) => Some((
                    EventType::Normal,
                    "ChannelRecovered",
                    format!("channel {} is healthy again", now.name),
                )),
                _ => None,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn channel(name: &str, healthy: bool) -> ChannelHealth {
        ChannelHealth {
            name: name.into(),
            healthy,
            reason: (!healthy).then(|| "token refused".to_owned()),
        }
    }

    #[test]
    fn one_event_per_channel_transition() {
        let up = [channel("telegram", true), channel("slack", true)];
        let down = [channel("telegram", false), channel("slack", true)];
        let reasons = |events: Vec<(EventType, &'static str, String)>| {
            events.into_iter().map(|(_, r, _)| r).collect::<Vec<_>>()
        };
        assert_eq!(reasons(channel_transitions(&up, &down)), ["ChannelFailing"]);
        assert_eq!(
            reasons(channel_transitions(&down, &down)),
            Vec::<&str>::new()
        );
        assert_eq!(
            reasons(channel_transitions(&down, &up)),
            ["ChannelRecovered"]
        );
        // First seen: only a failing one is news.
        assert_eq!(reasons(channel_transitions(&[], &down)), ["ChannelFailing"]);
    }
}
