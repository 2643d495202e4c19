//! Publishing Events on an instance; a failure to publish is logged, never fatal.

use kube::{
    Resource,
    runtime::events::{Event, EventType},
};
use openclaw_api::OpenClawInstance;

use super::Context;

/// Publishes one Event on `instance` (the recorder aggregates repeats into a series).
pub async fn publish(
    ctx: &Context,
    instance: &OpenClawInstance,
    type_: EventType,
    reason: &str,
    note: String,
) {
    let event = Event {
        type_,
        reason: reason.to_owned(),
        note: Some(note),
        action: "Reconcile".into(),
        secondary: None,
    };
    if let Err(err) = ctx
        .recorder
        .publish(&event, &instance.object_ref(&()))
        .await
    {
        tracing::debug!(error = %err, "publishing an event failed");
    } else {
        ctx.metrics.api_write("Event");
    }
}
