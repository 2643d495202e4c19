//! Step `update`: auto-update's effects around the pure [`machine`]. It asks the registry when
//! a check is due (one listing per repository per interval, shared), the supervisor for the
//! pre-update backup, and the API server for the pod; then publishes what the machine decided
//! and tells the build which tag the pod runs and which backup a rollback restores.

use k8s_openapi::{
    api::{
        batch::v1::Job,
        core::v1::{ConfigMap, Pod, Secret},
    },
    apimachinery::pkg::apis::meta::v1::Condition,
    jiff::Timestamp,
};
use kube::{
    Api, ResourceExt,
    api::{DeleteParams, ListParams, Patch, PatchParams},
    runtime::events::EventType,
};
use oci_client::secrets::RegistryAuth;
use openclaw_api::{
    OpenClawClusterDefaultsSpec, OpenClawInstance, SupervisorReport,
    backup::{BackupReason, BackupState, RestoreState},
    config_check::ConfigVerdict,
    instance::{
        image::DEFAULT_TAG,
        status::{AutoUpdateStatus, UpdatePhase},
        update::RESUME_ANNOTATION,
    },
};

use super::{Context, backup, events::publish, stores::key};
use crate::{
    build::{
        BuildContext, FIELD_MANAGER, NodeAgent, RollbackRestore, UpdateView, config_check,
        image_registry, pod::openclaw, spec_image,
    },
    metrics::UpdateLabels,
    update::{
        conditions,
        machine::{self, BackupAnswer, Base, Check, CheckAnswer, Facts, PodView, RestoreAnswer},
        registry,
        version::{self, Target},
    },
};

/// What the update step hands on.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    /// The next `status.autoUpdate`.
    pub status: Option<AutoUpdateStatus>,
    /// `AutoUpdateAvailable`, `AutoUpdatePaused`.
    pub conditions: Vec<Condition>,
    /// What the build applies to the pod.
    pub view: UpdateView,
    /// An update is in flight: look again soon.
    pub soon: bool,
}

/// Runs the step for `instance`; `report` is what its supervisor said this pass.
pub async fn step(
    ctx: &Context,
    instance: &OpenClawInstance,
    defaults: Option<&OpenClawClusterDefaultsSpec>,
    status_port: u16,
    backups: bool,
    report: Option<&SupervisorReport>,
) -> Outcome {
    let spec = &instance.spec.auto_update;
    let cached = instance.status.as_ref().and_then(|s| s.auto_update.clone());
    // While an update is in flight, its progress is read from the API server, not the watch
    // cache: a reconcile triggered by the check's own clean-up can run before the status that
    // moved past the check has come through the watch, and must not start the check again.
    let fresh = match &cached {
        Some(status) if status.update_phase.is_some() => {
            latest(ctx, instance).await.unwrap_or(cached)
        }
        _ => cached,
    };
    let previous = fresh.as_ref();
    let image = spec_image(instance, defaults);
    let base = match (&image.digest, &image.tag) {
        (Some(_), _) => Base::Digest,
        (None, tag) => Base::Tag(tag.clone().unwrap_or_else(|| DEFAULT_TAG.to_owned())),
    };
    // Off (and nothing in flight): the version it moved to stays, nothing new is looked for.
    // Going back to the spec's own tag is the user's move (a downgrade may meet a migrated
    // workspace), made by changing `spec.image.tag`.
    if !spec.enabled && previous.is_none_or(|s| s.update_phase.is_none()) {
        return Outcome {
            status: previous.cloned(),
            view: UpdateView {
                tag: running_tag_override(&base, previous),
                rollback_restore: None,
            },
            ..Outcome::default()
        };
    }
    let now = Timestamp::now();
    let ns = instance.namespace().unwrap_or_default();
    let name = instance.name_any();
    let gateway_version = report.and_then(|r| r.versions.get("openclaw").cloned());

    // A suspended instance starts no update (there is no pod to roll); one in flight finishes.
    let check = if !instance.spec.suspend && machine::check_due(spec, &base, previous, now) {
        let reference = image.reference(image_registry(instance, defaults).as_deref());
        let current = machine::current_version(previous, &base, gateway_version.as_deref());
        Some(
            check(
                ctx,
                &ns,
                instance,
                &reference,
                &image.pull_secrets,
                current.as_deref(),
                previous,
            )
            .await,
        )
    } else {
        None
    };
    let phase = previous.and_then(|s| s.update_phase);
    let config_check = match (phase, previous) {
        (Some(UpdatePhase::CheckingConfig), Some(status)) => {
            Some(config_check(ctx, instance, defaults, status, now).await)
        }
        _ => None,
    };
    let backup = match (phase, previous) {
        (Some(UpdatePhase::BackingUp), Some(status)) => {
            Some(pre_update_backup(ctx, &ns, &name, status_port, status).await)
        }
        _ => None,
    };
    let pod = match (phase, previous) {
        (Some(UpdatePhase::RollingOut | UpdatePhase::RollingBack), Some(status)) => {
            pod_view(ctx, &ns, &name, status, report).await
        }
        _ => PodView {
            gateway_version: gateway_version.clone(),
            ..PodView::default()
        },
    };
    let resume = instance
        .annotations()
        .get(RESUME_ANNOTATION)
        .map(String::as_str);
    let facts = Facts {
        now,
        spec,
        base: base.clone(),
        generation: instance.metadata.generation,
        resume,
        backups,
        check,
        config_check,
        backup,
        pod,
    };
    let decision = machine::decide(previous, &facts);
    for note in &decision.notes {
        let type_ = if note.warning {
            EventType::Warning
        } else {
            EventType::Normal
        };
        publish(ctx, instance, type_, note.reason, note.message.clone()).await;
    }
    for event in &decision.counted {
        ctx.metrics
            .auto_update_total
            .get_or_create(&UpdateLabels {
                event: (*event).to_owned(),
            })
            .inc();
    }
    if decision.delete_stuck_pod {
        delete_stuck_pod(ctx, instance, &ns, &name).await;
    }
    let status = decision.status;
    let view = UpdateView {
        tag: running_tag_override(&base, status.as_ref()),
        rollback_restore: status.as_ref().and_then(|s| {
            let key = s.pre_update_backup.clone()?;
            (s.update_phase == Some(UpdatePhase::RollingBack)).then(|| RollbackRestore {
                id: machine::restore_id(s),
                key,
            })
        }),
    };
    Outcome {
        conditions: if spec.enabled {
            conditions::conditions(&base, status.as_ref())
        } else {
            Vec::new()
        },
        soon: decision.soon,
        status,
        view,
    }
}

/// `status.autoUpdate` as the API server has it now (`None` when it cannot be read).
async fn latest(ctx: &Context, instance: &OpenClawInstance) -> Option<Option<AutoUpdateStatus>> {
    let api: Api<OpenClawInstance> = Api::namespaced(
        ctx.client.clone(),
        &instance.namespace().unwrap_or_default(),
    );
    let now = api.get_status(&instance.name_any()).await.ok()?;
    Some(now.status.and_then(|s| s.auto_update))
}

/// The tag the pod runs instead of the spec's, when auto-update moved it.
fn running_tag_override(base: &Base, status: Option<&AutoUpdateStatus>) -> Option<String> {
    machine::running_tag(base, status)
        .filter(|tag| matches!(base, Base::Tag(t) if t != tag))
        .map(str::to_owned)
}

/// Lists the repository's tags (shared per repository and identity) and resolves the digest of
/// the release auto-update would move to.
async fn check(
    ctx: &Context,
    ns: &str,
    instance: &OpenClawInstance,
    reference: &str,
    pull_secrets: &[k8s_openapi::api::core::v1::LocalObjectReference],
    current: Option<&str>,
    previous: Option<&AutoUpdateStatus>,
) -> Check {
    let repository = match registry::repository(reference) {
        Ok(repository) => repository,
        Err(error) => return Check::Failed(error.to_string()),
    };
    let auth = credentials(ctx, ns, repository.registry(), pull_secrets).await;
    let identity = match &auth {
        RegistryAuth::Basic(user, _) => format!("basic:{user}"),
        _ => "anonymous".to_owned(),
    };
    let interval = humantime::parse_duration(&instance.spec.auto_update.check_interval)
        .unwrap_or(std::time::Duration::from_secs(24 * 3600));
    let client = registry::client(&ctx.settings.insecure_registries);
    let shared = format!(
        "{}/{}#{identity}",
        repository.registry(),
        repository.repository()
    );
    let listed = ctx
        .tags
        .tags(&shared, interval, || {
            registry::list_tags(&client, &repository, &auth, registry::PAGE_SIZE)
        })
        .await;
    let tags = match listed {
        Ok(tags) => tags.as_ref().clone(),
        Err(error) => return Check::Failed(crate::update::chain(&error)),
    };
    let failed = previous.and_then(|s| s.failed_version.as_deref());
    let digest = match current.map(|c| version::target(c, tags.iter().map(String::as_str))) {
        Some(Target::Newer { tag, .. }) if Some(tag.as_str()) != failed => {
            let tagged = oci_client::Reference::with_tag(
                repository.registry().to_owned(),
                repository.repository().to_owned(),
                tag,
            );
            Some(
                registry::digest(&client, &tagged, &auth)
                    .await
                    .map_err(|e| crate::update::chain(&e)),
            )
        }
        _ => None,
    };
    Check::Listed { tags, digest }
}

/// The config check of `status.pendingVersion`: its Job created (replacing one of another
/// check), then its verdict read from the pod's termination message; the Job and its ConfigMap
/// are deleted once read.
async fn config_check(
    ctx: &Context,
    instance: &OpenClawInstance,
    defaults: Option<&OpenClawClusterDefaultsSpec>,
    status: &AutoUpdateStatus,
    now: Timestamp,
) -> CheckAnswer {
    let ns = instance.namespace().unwrap_or_default();
    let name = config_check::name(&instance.name_any());
    let id = machine::check_id(status);
    let jobs: Api<Job> = Api::namespaced(ctx.client.clone(), &ns);
    let existing = match jobs.get_opt(&name).await {
        Ok(existing) => existing,
        Err(error) => return CheckAnswer::Failed(format!("reading Job {name}: {error}")),
    };
    let job = match existing {
        Some(job) if job.annotations().get(config_check::CHECK_ID_ANNOTATION) == Some(&id) => job,
        Some(_) => {
            // Another check's Job (an earlier version's): never read as this one's.
            let _ = jobs.delete(&name, &background()).await;
            return CheckAnswer::Waiting;
        }
        None => return create_check(ctx, instance, defaults, status, &id).await,
    };
    let job_status = job.status.clone().unwrap_or_default();
    let answer = if job_status.succeeded.unwrap_or(0) > 0 {
        CheckAnswer::Passed
    } else if job_status.failed.unwrap_or(0) > 0 {
        verdict(ctx, &ns, &name, &job_status).await
    } else {
        let since = status.update_phase_since.as_ref().map_or(now, |t| t.0);
        let waited = now.as_second() - since.as_second();
        // The Job's own deadline fails it first; this covers a Job that never got a pod.
        if waited > config_check::DEADLINE_SECONDS + 120 {
            CheckAnswer::Failed(format!("the check did not finish within {waited} s"))
        } else {
            return CheckAnswer::Waiting;
        }
    };
    let _ = jobs.delete(&name, &background()).await;
    let maps: Api<ConfigMap> = Api::namespaced(ctx.client.clone(), &ns);
    let _ = maps.delete(&name, &DeleteParams::default()).await;
    answer
}

fn background() -> DeleteParams {
    DeleteParams {
        propagation_policy: Some(kube::api::PropagationPolicy::Background),
        ..DeleteParams::default()
    }
}

/// Creates the check's ConfigMap and Job, rendered for the pending version.
async fn create_check(
    ctx: &Context,
    instance: &OpenClawInstance,
    defaults: Option<&OpenClawClusterDefaultsSpec>,
    status: &AutoUpdateStatus,
    id: &str,
) -> CheckAnswer {
    let build = BuildContext {
        instance,
        defaults,
        runtime_image: &ctx.settings.runtime_image,
        operator_namespace: &ctx.settings.operator_namespace,
        inputs_hash: "",
        service_monitor_crd: false,
        node_agent: NodeAgent::default(),
        update: UpdateView {
            tag: status.pending_version.clone(),
            rollback_restore: None,
        },
    };
    let (config_map, job) = match config_check::check(&build, id) {
        Ok(objects) => objects,
        Err(error) => return CheckAnswer::Failed(error.to_string()),
    };
    let ns = instance.namespace().unwrap_or_default();
    let params = PatchParams::apply(FIELD_MANAGER).force();
    let name = config_check::name(&instance.name_any());
    let maps: Api<ConfigMap> = Api::namespaced(ctx.client.clone(), &ns);
    if let Err(error) = maps.patch(&name, &params, &Patch::Apply(&config_map)).await {
        return CheckAnswer::Failed(format!("applying ConfigMap {name}: {error}"));
    }
    let jobs: Api<Job> = Api::namespaced(ctx.client.clone(), &ns);
    if let Err(error) = jobs.patch(&name, &params, &Patch::Apply(&job)).await {
        return CheckAnswer::Failed(format!("applying Job {name}: {error}"));
    }
    CheckAnswer::Waiting
}

/// The verdict of a failed check Job: its pod's termination message, else the Job's reason.
async fn verdict(
    ctx: &Context,
    ns: &str,
    job: &str,
    status: &k8s_openapi::api::batch::v1::JobStatus,
) -> CheckAnswer {
    let pods: Api<Pod> = Api::namespaced(ctx.client.clone(), ns);
    let listed = pods
        .list(&ListParams::default().labels(&format!("batch.kubernetes.io/job-name={job}")))
        .await;
    let message = listed.ok().and_then(|list| {
        list.items.into_iter().find_map(|pod| {
            pod.status?
                .container_statuses?
                .into_iter()
                .find(|c| c.name == config_check::CONTAINER)?
                .state?
                .terminated?
                .message
        })
    });
    if let Some(verdict) = message
        .as_deref()
        .and_then(|m| serde_json::from_str::<ConfigVerdict>(m).ok())
    {
        return match (verdict.valid, &verdict.error) {
            (true, _) => CheckAnswer::Passed,
            (false, None) => CheckAnswer::Refused(verdict.summary()),
            (false, Some(error)) => CheckAnswer::Failed(error.clone()),
        };
    }
    let reason = status
        .conditions
        .iter()
        .flatten()
        .find(|c| c.type_ == "Failed" && c.status == "True")
        .map(|c| {
            format!(
                "{}: {}",
                c.reason.clone().unwrap_or_default(),
                c.message.clone().unwrap_or_default()
            )
        })
        .unwrap_or_else(|| "the check pod left no verdict".to_owned());
    CheckAnswer::Failed(reason)
}

/// The credentials the image's pull secrets give for `host`; anonymous when none does.
async fn credentials(
    ctx: &Context,
    ns: &str,
    host: &str,
    pull_secrets: &[k8s_openapi::api::core::v1::LocalObjectReference],
) -> RegistryAuth {
    let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), ns);
    for reference in pull_secrets {
        let Ok(Some(secret)) = secrets.get_opt(&reference.name).await else {
            continue;
        };
        let Some(config) = secret
            .data
            .as_ref()
            .and_then(|data| data.get(".dockerconfigjson"))
        else {
            continue;
        };
        if let Some(auth) = registry::credentials_for(host, &config.0) {
            return auth;
        }
    }
    RegistryAuth::Anonymous
}

/// Asks the supervisor for the pre-update backup (idempotent by id).
async fn pre_update_backup(
    ctx: &Context,
    ns: &str,
    name: &str,
    port: u16,
    status: &AutoUpdateStatus,
) -> BackupAnswer {
    let id = machine::backup_id(status);
    match backup::request(ctx, ns, name, port, &id, BackupReason::Update).await {
        backup::Answer::Finished(record) if record.state == BackupState::Succeeded => {
            match record.key {
                Some(key) => BackupAnswer::Succeeded(key),
                None => BackupAnswer::Failed("the supervisor reported no key".into()),
            }
        }
        backup::Answer::Finished(record) => {
            BackupAnswer::Failed(record.error.unwrap_or_else(|| "the backup failed".into()))
        }
        backup::Answer::NoTarget(error) => BackupAnswer::Failed(error),
        backup::Answer::Running(_) | backup::Answer::Busy(_) | backup::Answer::Unreachable(_) => {
            BackupAnswer::Waiting
        }
    }
}

/// The pod `<name>-0`: whether it comes from the current template, the image it provably runs,
/// readiness, the gateway's version and the rollback restore.
async fn pod_view(
    ctx: &Context,
    ns: &str,
    name: &str,
    status: &AutoUpdateStatus,
    report: Option<&SupervisorReport>,
) -> PodView {
    let pods: Api<Pod> = Api::namespaced(ctx.client.clone(), ns);
    let Ok(Some(pod)) = pods.get_opt(&format!("{name}-0")).await else {
        return PodView::default();
    };
    let sts = ctx.stores.stateful_sets.get(&key(ns, name));
    let revision = sts
        .as_ref()
        .and_then(|s| s.status.as_ref())
        .and_then(|s| s.update_revision.clone());
    let current_template = revision.is_some()
        && pod.labels().get("controller-revision-hash") == revision.as_ref()
        && pod.metadata.deletion_timestamp.is_none();
    let pod_status = pod.status.as_ref();
    let image_digest = pod_status
        .and_then(|s| s.container_statuses.as_ref())
        .and_then(|all| all.iter().find(|c| c.name == openclaw::NAME))
        .and_then(|c| c.image_id.rsplit_once('@').map(|(_, d)| d.to_owned()));
    let ready = pod_status
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|all| all.iter().any(|c| c.type_ == "Ready" && c.status == "True"));
    let restore_id = machine::restore_id(status);
    let restore = report
        .and_then(|r| r.backup.restore.as_ref())
        .filter(|r| r.replace.as_deref() == Some(restore_id.as_str()))
        .map(|r| match r.state {
            RestoreState::Succeeded => RestoreAnswer::Succeeded,
            RestoreState::Failed => {
                RestoreAnswer::Failed(r.error.clone().unwrap_or_else(|| "failed".into()))
            }
            RestoreState::Running | RestoreState::SkippedNotEmpty => RestoreAnswer::Waiting,
        });
    PodView {
        current_template,
        image_digest,
        ready,
        gateway_version: report.and_then(|r| r.versions.get("openclaw").cloned()),
        restore,
    }
}

/// Deletes `<name>-0`, stuck on the failed version's template: a StatefulSet does not replace a
/// pod that never became ready.
async fn delete_stuck_pod(ctx: &Context, instance: &OpenClawInstance, ns: &str, name: &str) {
    let pods: Api<Pod> = Api::namespaced(ctx.client.clone(), ns);
    let pod = format!("{name}-0");
    match pods.delete(&pod, &DeleteParams::default()).await {
        Ok(_) => {
            publish(
                ctx,
                instance,
                EventType::Normal,
                "AutoUpdateStuckPodDeleted",
                format!("deleted pod {pod}, stuck on the failed version, so that the previous version replaces it"),
            )
            .await;
        }
        Err(kube::Error::Api(e)) if e.code == 404 => {}
        Err(error) => {
            tracing::warn!(%pod, %error, "failed to delete the pod stuck on the failed version")
        }
    }
}
