//! Test helpers of the builders: instances from YAML, a context, the guide's examples, and a
//! Pod Security `restricted` checker.

use openclaw_api::OpenClawInstance;

use super::BuildContext;

mod children;
mod invariants;
mod node_agent;
mod restricted;
mod seed;

pub use restricted::violations;

/// Runtime image of the tests' context.
pub const RUNTIME_IMAGE: &str = "ghcr.io/openclaw-rocks/openclaw-runtime:0.1.0";

/// An instance from YAML: a whole manifest, or a fragment (`spec: ...`) that becomes instance
/// `my-agent` in namespace `openclaw`. A uid is added, as the API server would.
pub fn instance(yaml: &str) -> OpenClawInstance {
    let mut value: serde_yaml::Value =
        serde_yaml::from_str(yaml).unwrap_or_else(|e| panic!("{e}: {yaml}"));
    let map = value
        .as_mapping_mut()
        .unwrap_or_else(|| panic!("not a mapping: {yaml}"));
    map.entry("apiVersion".into())
        .or_insert("openclaw.rocks/v1alpha1".into());
    map.entry("kind".into())
        .or_insert("OpenClawInstance".into());
    let metadata = map
        .entry("metadata".into())
        .or_insert_with(|| serde_yaml::Value::Mapping(serde_yaml::Mapping::new()));
    if let Some(metadata) = metadata.as_mapping_mut() {
        metadata.entry("name".into()).or_insert("my-agent".into());
        metadata
            .entry("namespace".into())
            .or_insert("openclaw".into());
        metadata
            .entry("uid".into())
            .or_insert("5d3c1a8e-0000-4000-8000-000000000001".into());
    }
    serde_yaml::from_value(value).unwrap_or_else(|e| panic!("{e}: {yaml}"))
}

/// A context for `instance`: no cluster defaults, no ServiceMonitor CRD.
pub fn context(instance: &OpenClawInstance) -> BuildContext<'_> {
    BuildContext {
        instance,
        defaults: None,
        runtime_image: RUNTIME_IMAGE,
        operator_namespace: "openclaw-operator-system",
        inputs_hash: "inputs",
        service_monitor_crd: false,
        node_agent: crate::build::NodeAgent::default(),
        update: crate::build::UpdateView::default(),
    }
}

pub use openclaw_testkit::guide::seed_blocks;

/// The guide's block whose file name contains `name`, as an instance.
pub fn seed(name: &str) -> OpenClawInstance {
    let (_, text) = seed_blocks()
        .into_iter()
        .find(|(file, _)| file.contains(name))
        .unwrap_or_else(|| panic!("no seed block {name}"));
    instance(&text)
}
