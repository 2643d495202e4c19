//! The final backup: an instance with a backup target carries the `openclaw.rocks/backup`
//! finalizer, and deleting it asks the pod's supervisor for a last backup before Kubernetes
//! removes the pod.
//!
//! Nothing is lost silently: when the backup fails the deletion waits and retries (Events say
//! why and how to skip), unless the workspace outlives the instance anyway (its PVC is kept)
//! and the backup could not be taken within `spec.backup.timeout`. The
//! `openclaw.rocks/skip-backup: "true"` annotation deletes at once, recorded in an Event.

use std::time::Duration;

use k8s_openapi::{
    apimachinery::pkg::apis::meta::v1::{Condition, Time},
    jiff::Timestamp,
};
use kube::{
    Api, Resource, ResourceExt,
    api::{Patch, PatchParams},
    runtime::{controller::Action, events::EventType},
};
use openclaw_api::{
    OpenClawClusterDefaultsSpec, OpenClawInstance,
    backup::{BACKUP_FINALIZER, BackupReason, BackupState, SKIP_BACKUP_ANNOTATION},
    instance::{Phase, status::condition},
};

use super::{
    Context,
    backup::{Answer, request},
    error::Cause,
    events::publish,
    status::apply_status,
};
use crate::build::{FIELD_MANAGER, resolve::Resolved};

/// How long an unanswered supervisor is retried before a kept PVC is trusted with the workspace.
const UNREACHABLE_GRACE: Duration = Duration::from_secs(60);

/// Whether the instance has a backup target, so deleting it should take a final backup.
pub fn wants_finalizer(
    instance: &OpenClawInstance,
    defaults: Option<&OpenClawClusterDefaultsSpec>,
) -> bool {
    Resolved::of(instance, defaults).backups
}

/// Adds or removes the finalizer so that it is present exactly when `wanted`; no write when
/// it already is as wanted.
pub async fn set_finalizer(
    ctx: &Context,
    instance: &OpenClawInstance,
    wanted: bool,
) -> Result<(), Cause> {
    let present = instance.finalizers().iter().any(|f| f == BACKUP_FINALIZER);
    if present == wanted {
        return Ok(());
    }
    let mut finalizers: Vec<String> = instance
        .finalizers()
        .iter()
        .filter(|f| *f != BACKUP_FINALIZER)
        .cloned()
        .collect();
    if wanted {
        finalizers.push(BACKUP_FINALIZER.to_owned());
    }
    // The resourceVersion makes the merge patch conditional: a concurrent change of the list
    // fails with 409 and the next reconcile starts again from fresh data.
    let patch = serde_json::json!({
        "metadata": {
            "finalizers": finalizers,
            "resourceVersion": instance.resource_version(),
        }
    });
    let api: Api<OpenClawInstance> = Api::namespaced(
        ctx.client.clone(),
        &instance.namespace().unwrap_or_default(),
    );
    match api
        .patch(
            &instance.name_any(),
            &PatchParams {
                field_manager: Some(FIELD_MANAGER.into()),
                ..PatchParams::default()
            },
            &Patch::Merge(&patch),
        )
        .await
    {
        Ok(_) => {
            ctx.metrics.api_write("OpenClawInstance");
            Ok(())
        }
        // Already gone: nothing left to finalize.
        Err(kube::Error::Api(status)) if status.code == 404 => Ok(()),
        Err(err) => Err(err.into()),
    }
}

/// One step of the deletion of an instance that carries the finalizer.
pub async fn finalize(
    ctx: &Context,
    instance: &OpenClawInstance,
    defaults: Option<&OpenClawClusterDefaultsSpec>,
) -> Result<Action, Cause> {
    let name = instance.name_any();
    let ns = instance.namespace().unwrap_or_default();
    let uid = instance.uid().unwrap_or_default();
    if instance
        .annotations()
        .get(SKIP_BACKUP_ANNOTATION)
        .is_some_and(|v| v.eq_ignore_ascii_case("true"))
    {
        let note = format!(
            "{SKIP_BACKUP_ANNOTATION} is true: deleted without a final backup of the workspace"
        );
        return release(ctx, instance, EventType::Warning, "BackupSkipped", note).await;
    }
    if !wants_finalizer(instance, defaults) {
        let note = "no S3 target is configured any more: deleted without a final backup".into();
        return release(ctx, instance, EventType::Normal, "BackupSkipped", note).await;
    }

    let since = instance
        .meta()
        .deletion_timestamp
        .as_ref()
        .map(|t| t.0)
        .unwrap_or_else(Timestamp::now);
    let waited = Duration::try_from(Timestamp::now().duration_since(since)).unwrap_or_default();
    let budget = humantime::parse_duration(&instance.spec.backup.timeout)
        .unwrap_or(Duration::from_secs(30 * 60));
    let kept = workspace_outlives(instance);
    let attempt = ctx.deletion_attempt(&uid);
    let id = format!("deletion-{uid}-{attempt}");
    let port = Resolved::of(instance, defaults).status_port;

    let answer = request(ctx, &ns, &name, port, &id, BackupReason::Deletion).await;
    let (progress, retry) = match answer {
        Answer::Finished(record) if record.state == BackupState::Succeeded => {
            let note = format!(
                "final backup {} ({} bytes, {:.1}s)",
                record.key.as_deref().unwrap_or("?"),
                record.size_bytes,
                record.duration_seconds.unwrap_or_default()
            );
            ctx.forget_deletion(&uid);
            return release(ctx, instance, EventType::Normal, "BackupComplete", note).await;
        }
        Answer::Finished(record) => {
            ctx.next_deletion_attempt(&uid);
            let error = record.error.unwrap_or_else(|| "unknown error".into());
            publish(
                ctx,
                instance,
                EventType::Warning,
                "BackupFailed",
                format!(
                    "final backup failed: {error}; retrying. To delete without it: kubectl \
                     annotate openclawinstance {name} -n {ns} {SKIP_BACKUP_ANNOTATION}=true"
                ),
            )
            .await;
            (
                format!("final backup failed: {error}"),
                Duration::from_secs(30),
            )
        }
        Answer::Running(_) => (
            "the final backup is running".to_owned(),
            Duration::from_secs(3),
        ),
        Answer::Busy(record) => (
            format!("waiting for backup {} to finish first", record.id),
            Duration::from_secs(3),
        ),
        Answer::NoTarget(message) => {
            let note = format!("the pod's supervisor has no S3 target ({message})");
            return release(ctx, instance, EventType::Warning, "BackupSkipped", note).await;
        }
        Answer::Unreachable(message) => {
            if let Some(pvc) = kept.as_deref().filter(|_| waited >= UNREACHABLE_GRACE) {
                let note = format!(
                    "no final backup: {message}; the workspace is kept in PersistentVolumeClaim {pvc}"
                );
                return release(ctx, instance, EventType::Warning, "BackupSkipped", note).await;
            }
            (message, Duration::from_secs(5))
        }
    };
    if waited >= budget
        && let Some(pvc) = kept
    {
        let note = format!(
            "no final backup within spec.backup.timeout ({}): {progress}; the workspace is \
             kept in PersistentVolumeClaim {pvc}",
            instance.spec.backup.timeout
        );
        return release(ctx, instance, EventType::Warning, "BackupSkipped", note).await;
    }
    let message = if waited >= budget {
        format!(
            "{progress}; waiting past spec.backup.timeout because the workspace would be lost \
             with the instance; to delete without a backup set the annotation \
             {SKIP_BACKUP_ANNOTATION}=true"
        )
    } else {
        progress
    };
    terminating_status(ctx, instance, &message).await?;
    Ok(Action::requeue(retry))
}

/// The PVC that keeps the workspace after the instance is gone, if any.
fn workspace_outlives(instance: &OpenClawInstance) -> Option<String> {
    let persistence = &instance.spec.storage.persistence;
    if !persistence.enabled {
        return None;
    }
    match &persistence.existing_claim {
        Some(claim) => Some(claim.clone()),
        None if persistence.orphan => Some(crate::build::names::pvc(&instance.name_any())),
        None => None,
    }
}

/// Records why the deletion waits: phase `Terminating`, `BackupComplete` false with `message`.
async fn terminating_status(
    ctx: &Context,
    instance: &OpenClawInstance,
    message: &str,
) -> Result<(), Cause> {
    let mut next = instance.status.clone().unwrap_or_default();
    next.phase = Some(Phase::Terminating);
    let condition = Condition {
        type_: condition::BACKUP_COMPLETE.to_owned(),
        status: "False".into(),
        reason: "FinalBackupPending".into(),
        message: message.to_owned(),
        last_transition_time: Time(Timestamp::now()),
        observed_generation: instance.meta().generation,
    };
    match next
        .conditions
        .iter_mut()
        .find(|c| c.type_ == condition.type_)
    {
        Some(existing) if existing.status == condition.status && existing.message == message => {
            if next.phase == instance.status.as_ref().and_then(|s| s.phase) {
                return Ok(());
            }
        }
        Some(existing) => {
            let since = existing.last_transition_time.clone();
            let keep = existing.status == condition.status;
            *existing = condition;
            if keep {
                existing.last_transition_time = since;
            }
        }
        None => next.conditions.push(condition),
    }
    apply_status(ctx, instance, &next).await
}

/// Removes the finalizer after recording why in an Event.
async fn release(
    ctx: &Context,
    instance: &OpenClawInstance,
    type_: EventType,
    reason: &str,
    note: String,
) -> Result<Action, Cause> {
    publish(ctx, instance, type_, reason, note).await;
    set_finalizer(ctx, instance, false).await?;
    Ok(Action::await_change())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn instance(yaml: &str) -> OpenClawInstance {
        let mut instance: OpenClawInstance = serde_yaml::from_str(&format!(
            "apiVersion: openclaw.rocks/v1alpha1\nkind: OpenClawInstance\nmetadata: {{name: a, namespace: n}}\n{yaml}"
        ))
        .unwrap_or_else(|e| panic!("{e}"));
        instance.metadata.uid = Some("u".into());
        instance
    }

    #[test]
    fn finalizer_only_with_a_bucket() {
        assert!(!wants_finalizer(&instance("spec: {}"), None));
        let own = instance("spec: {backup: {s3: {bucket: agents}}}");
        assert!(wants_finalizer(&own, None));
        let defaults: OpenClawClusterDefaultsSpec =
            serde_json::from_value(serde_json::json!({"backup": {"s3": {"bucket": "agents"}}}))
                .unwrap_or_else(|e| panic!("{e}"));
        assert!(wants_finalizer(&instance("spec: {}"), Some(&defaults)));
    }

    #[test]
    fn which_claim_keeps_the_workspace() {
        assert_eq!(
            workspace_outlives(&instance("spec: {}")).as_deref(),
            Some("a-data")
        );
        let deleted = instance("spec: {storage: {persistence: {orphan: false}}}");
        assert_eq!(workspace_outlives(&deleted), None);
        let existing = instance("spec: {storage: {persistence: {existingClaim: mine}}}");
        assert_eq!(workspace_outlives(&existing).as_deref(), Some("mine"));
        let ephemeral = instance("spec: {storage: {persistence: {enabled: false}}}");
        assert_eq!(workspace_outlives(&ephemeral), None);
    }
}
