//! Reading what the builders produced, for the tests: the pod, its containers and variables,
//! the rendered configuration and plan.

use k8s_openapi::api::core::v1::{Container, EnvVar, PodSpec};
use openclaw_api::{OpenClawInstance, RuntimePlan};
use serde_json::Value;

use super::context;
use crate::build::{Children, build};

/// Everything built for `instance`, with the ServiceMonitor CRD present.
pub fn built(instance: &OpenClawInstance) -> Children {
    let mut ctx = context(instance);
    ctx.service_monitor_crd = true;
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

pub fn config(children: &Children) -> Value {
    let data = children.config_map.data.clone().unwrap_or_default();
    serde_json::from_str(&data["openclaw.json"]).unwrap_or_else(|e| panic!("{e}"))
}
