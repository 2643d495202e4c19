//! Reading what the builders produced, for the tests: the pod, its containers and variables,
//! the rendered configuration and plan.

use k8s_openapi::api::core::v1::{Container, EnvVar, PodSpec};
use std::sync::LazyLock;

use openclaw_api::{OpenClawClusterDefaultsSpec, OpenClawInstance, RuntimePlan};
use serde_json::Value;

use super::context;
use crate::build::{Children, build};

/// Cluster defaults of a platform that allows restores from `s3://bucket/path/` (the guide's
/// restore example reads `s3://bucket/path/to/backup.tar.gz`).
static RESTORE_DEFAULTS: LazyLock<OpenClawClusterDefaultsSpec> = LazyLock::new(|| {
    serde_json::from_value(serde_json::json!({"backup": {
        "s3": {"endpoint": "http://seaweed.storage:8333", "pathStyle": true,
               "credentialsSecretRef": {"name": "backup-s3"}},
        "allowedRestoreSources": ["s3://bucket/path/"]}}))
    .unwrap_or_else(|e| panic!("{e}"))
});

/// Everything built for `instance`, with the ServiceMonitor CRD present (and, for an instance
/// that restores, cluster defaults that allow its source).
pub fn built(instance: &OpenClawInstance) -> Children {
    let mut ctx = context(instance);
    ctx.service_monitor_crd = true;
    if instance.spec.restore_from.is_some() {
        ctx.defaults = Some(&RESTORE_DEFAULTS);
    }
    build(&ctx).unwrap_or_else(|e| panic!("{e}: {e:?}"))
}

pub fn pod(children: &Children) -> PodSpec {
    children
        .stateful_set
        .spec
        .clone()
        .and_then(|s| s.template.spec)
        .unwrap_or_default()
}

pub fn all_containers(pod: &PodSpec) -> Vec<Container> {
    pod.init_containers
        .iter()
        .flatten()
        .chain(&pod.containers)
        .cloned()
        .collect()
}

pub fn names(containers: &[Container]) -> Vec<&str> {
    containers.iter().map(|c| c.name.as_str()).collect()
}

pub fn container(pod: &PodSpec, name: &str) -> Container {
    all_containers(pod)
        .into_iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no container {name}"))
}

pub fn env<'c>(container: &'c Container, name: &str) -> Option<&'c EnvVar> {
    container.env.iter().flatten().find(|v| v.name == name)
}

pub fn env_value(container: &Container, name: &str) -> Option<String> {
    env(container, name).and_then(|v| v.value.clone())
}

pub fn plan(children: &Children) -> RuntimePlan {
    let data = children.config_map.data.clone().unwrap_or_default();
    RuntimePlan::from_json(&data["plan.json"]).unwrap_or_else(|e| panic!("{e}"))
}

/// The OpenClaw configuration the plan carries.
pub fn config(children: &Children) -> Value {
    Value::Object(plan(children).config.raw.unwrap_or_default())
}
