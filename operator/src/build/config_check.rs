//! Auto-update's config check: a short Job on the new OpenClaw image that runs
//! `openclaw-supervisor check-config`, the image's own `openclaw config validate` on the
//! configuration the instance would get on that version (ConfigMap `<name>-check`, the plan
//! rendered for it). It mounts no volume of the instance (never the live state), no Secret and
//! no ServiceAccount token; its pod carries none of the instance pod's selector labels, so no
//! Service, PodDisruptionBudget or StatefulSet ever counts it.

use std::collections::BTreeMap;

use k8s_openapi::api::{
    batch::v1::{Job, JobSpec},
    core::v1::{ConfigMap, Container, PodSpec, PodTemplateSpec},
};
use kube::api::ObjectMeta;

use super::{
    BuildContext, BuildError, config, labels, paths,
    pod::{init, resources, security, volumes},
};

/// Annotation of the Job: the check it runs (a new check replaces a Job of another id).
pub const CHECK_ID_ANNOTATION: &str = "openclaw.rocks/config-check";
/// `app.kubernetes.io/name` of the check's objects.
pub const COMPONENT: &str = "openclaw-config-check";
/// Name of the check's container.
pub const CONTAINER: &str = "check";
/// How long the check may run before the Job fails it.
pub const DEADLINE_SECONDS: i64 = 300;
/// The validator loads the whole CLI: 100m/256Mi, at most 1 CPU/1Gi.
const SIZES: resources::Sizes = (("100m", "256Mi"), ("1", "1Gi"));

/// Name of the Job and of its ConfigMap.
pub fn name(instance: &str) -> String {
    format!("{instance}-check")
}

/// The ConfigMap and Job that check the configuration `ctx` renders (built with the new
/// version as auto-update's tag) against that version's image. `id` names the check.
pub fn check(ctx: &BuildContext<'_>, id: &str) -> Result<(ConfigMap, Job), BuildError> {
    let name = name(ctx.name());
    let mut config_map = config::config_map(ctx)?;
    config_map.metadata = meta(ctx, &name, id);
    let image = ctx.image();
    let container = Container {
        name: CONTAINER.to_owned(),
        image: Some(image.reference(ctx.registry().as_deref())),
        image_pull_policy: Some(image.pull_policy().as_str().to_owned()),
        command: Some(vec![
            paths::SUPERVISOR.to_owned(),
            "check-config".to_owned(),
            "--plan".to_owned(),
            paths::PLAN.to_owned(),
        ]),
        resources: Some(resources::sized(SIZES)),
        security_context: Some(security::restricted(None)),
        termination_message_policy: Some("File".to_owned()),
        volume_mounts: Some(vec![
            volumes::mount(paths::RUNTIME_VOLUME, paths::RUNTIME_DIR, true),
            volumes::mount(paths::CONFIG_VOLUME, paths::CONFIG_DIR, true),
            volumes::mount(paths::TMP_VOLUME, "/tmp", false),
        ]),
        ..Container::default()
    };
    let pod = PodSpec {
        restart_policy: Some("Never".to_owned()),
        automount_service_account_token: Some(false),
        enable_service_links: Some(false),
        security_context: Some(security::pod(ctx)),
        init_containers: Some(vec![init::container(ctx)]),
        containers: vec![container],
        volumes: Some(vec![
            volumes::empty_dir(paths::RUNTIME_VOLUME, None),
            volumes::config_from(ctx, &name),
            volumes::empty_dir(paths::TMP_VOLUME, None),
        ]),
        image_pull_secrets: (!image.pull_secrets.is_empty()).then(|| image.pull_secrets.clone()),
        ..PodSpec::default()
    };
    let job = Job {
        metadata: meta(ctx, &name, id),
        spec: Some(JobSpec {
            backoff_limit: Some(0),
            active_deadline_seconds: Some(DEADLINE_SECONDS),
            ttl_seconds_after_finished: Some(3600),
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(check_labels(ctx.name())),
                    ..ObjectMeta::default()
                }),
                spec: Some(pod),
            },
            ..JobSpec::default()
        }),
        ..Job::default()
    };
    Ok((config_map, job))
}

fn meta(ctx: &BuildContext<'_>, name: &str, id: &str) -> ObjectMeta {
    ObjectMeta {
        labels: Some(check_labels(ctx.name())),
        annotations: Some(BTreeMap::from([(
            CHECK_ID_ANNOTATION.to_owned(),
            id.to_owned(),
        )])),
        ..ctx.meta(name)
    }
}

/// The instance's labels, with another `app.kubernetes.io/name`: nothing that selects the
/// instance's pod selects the check's.
fn check_labels(instance: &str) -> BTreeMap<String, String> {
    let mut out = labels::labels(instance);
    out.insert(labels::NAME.to_owned(), COMPONENT.to_owned());
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::build::{
        UpdateView,
        tests::{context, instance},
    };

    #[test]
    fn the_check_runs_the_new_image_on_a_copy_of_the_rendered_config() -> Result<(), BuildError> {
        let instance = instance(
            "spec:\n  image: {tag: \"2026.9.5\"}\n  config:\n    raw: {agents: {defaults: {model: {primary: x}}}}\n",
        );
        let mut ctx = context(&instance);
        ctx.update = UpdateView {
            tag: Some("2026.9.6".into()),
            rollback_restore: None,
        };
        let (config_map, job) = check(&ctx, "check-2026-9-6-1")?;
        assert_eq!(config_map.metadata.name.as_deref(), Some("my-agent-check"));
        let plan = openclaw_api::RuntimePlan::from_json(
            &config_map.data.unwrap_or_default()[openclaw_api::plan::PLAN_FILE],
        )?;
        assert_eq!(
            plan.config
                .raw
                .as_ref()
                .map(|r| r["agents"]["defaults"]["model"]["primary"].clone()),
            Some(serde_json::json!("x"))
        );
        let spec = job.spec.unwrap_or_default();
        assert_eq!(spec.backoff_limit, Some(0));
        let pod = spec.template.spec.unwrap_or_default();
        let labels = spec
            .template
            .metadata
            .and_then(|m| m.labels)
            .unwrap_or_default();
        assert_eq!(
            labels[labels::NAME],
            COMPONENT,
            "no instance selector matches it"
        );
        let container = &pod.containers[0];
        assert_eq!(
            container.image.as_deref(),
            Some("ghcr.io/openclaw/openclaw:2026.9.6")
        );
        assert_eq!(
            container.command.as_ref().map(|c| c[1].as_str()),
            Some("check-config")
        );
        assert_eq!(pod.automount_service_account_token, Some(false));
        let volumes = pod.volumes.unwrap_or_default();
        assert!(
            volumes
                .iter()
                .all(|v| v.persistent_volume_claim.is_none() && v.secret.is_none()),
            "never the live state, never a secret"
        );
        let context = container.security_context.clone().unwrap_or_default();
        assert_eq!(context.allow_privilege_escalation, Some(false));
        assert_eq!(context.read_only_root_filesystem, Some(true));
        Ok(())
    }
}
