//! What the agent says about its own Node, as one JSON merge patch: a label per installed
//! profile version (and `null` for versions gone), the GPU annotations. Pure: the patch is
//! computed from the Node as read, and is `None` when the Node already says it all, so a
//! steady node costs no write.

use std::collections::BTreeMap;

use openclaw_api::{
    node::{LocalhostProfile, SECCOMP_LABEL_PREFIX, SECCOMP_LABEL_VALUE, gpu_annotations},
    supervisor::NodeGpuFacts,
};
use serde_json::{Map, Value, json};

/// The merge patch that makes the Node's labels and annotations say what the agent found.
pub fn patch(
    labels: &BTreeMap<String, String>,
    annotations: &BTreeMap<String, String>,
    installed: &[LocalhostProfile],
    gpus: Option<&NodeGpuFacts>,
) -> Option<Value> {
    let mut label_changes = Map::new();
    let wanted: BTreeMap<String, &str> = installed
        .iter()
        .map(|p| (p.node_label(), SECCOMP_LABEL_VALUE))
        .collect();
    for (key, value) in &wanted {
        if labels.get(key).map(String::as_str) != Some(*value) {
            label_changes.insert(key.clone(), json!(value));
        }
    }
    for key in labels.keys() {
        if key.starts_with(SECCOMP_LABEL_PREFIX) && !wanted.contains_key(key) {
            label_changes.insert(key.clone(), Value::Null);
        }
    }
    let mut annotation_changes = Map::new();
    for (key, value) in gpu_annotations(gpus) {
        match (annotations.get(&key), value) {
            (Some(now), Some(value)) if *now == value => {}
            (None, None) => {}
            (_, value) => {
                annotation_changes.insert(key, value.map_or(Value::Null, Value::String));
            }
        }
    }
    if label_changes.is_empty() && annotation_changes.is_empty() {
        return None;
    }
    let mut metadata = Map::new();
    if !label_changes.is_empty() {
        metadata.insert("labels".into(), Value::Object(label_changes));
    }
    if !annotation_changes.is_empty() {
        metadata.insert("annotations".into(), Value::Object(annotation_changes));
    }
    Some(json!({ "metadata": metadata }))
}

#[cfg(test)]
mod tests {
    use openclaw_api::{
        node::{GPU_DRIVER_ANNOTATION, GPUS_ANNOTATION},
        supervisor::NodeGpu,
    };

    use super::*;

    fn facts() -> NodeGpuFacts {
        NodeGpuFacts {
            driver_version: Some("580.159.04".into()),
            gpus: vec![NodeGpu {
                bus_id: "0000:00:06.0".into(),
                model: Some("NVIDIA H100 80GB HBM3".into()),
                uuid: None,
                memory_mib: Some(81_559),
            }],
        }
    }

    #[test]
    fn labels_the_installed_versions_and_drops_the_others() {
        let current = LocalhostProfile::gateway();
        let old = LocalhostProfile::of("openclaw-gateway", "old");
        let labels = BTreeMap::from([
            (old.node_label(), "installed".to_owned()),
            ("kubernetes.io/hostname".to_owned(), "node-0".to_owned()),
        ]);
        let patch = patch(
            &labels,
            &BTreeMap::new(),
            std::slice::from_ref(&current),
            None,
        );
        assert_eq!(
            patch,
            Some(json!({"metadata": {"labels": {
                current.node_label(): "installed",
                old.node_label(): null,
            }}}))
        );
    }

    #[test]
    fn publishes_gpu_facts_once_and_clears_them_when_the_driver_goes() {
        let first =
            patch(&BTreeMap::new(), &BTreeMap::new(), &[], Some(&facts())).unwrap_or_default();
        let annotations: BTreeMap<String, String> =
            serde_json::from_value(first["metadata"]["annotations"].clone()).unwrap_or_default();
        assert_eq!(annotations[GPU_DRIVER_ANNOTATION], "580.159.04");
        assert!(annotations[GPUS_ANNOTATION].contains("H100"));
        assert_eq!(
            patch(&BTreeMap::new(), &annotations, &[], Some(&facts())),
            None,
            "a node that says it all is not written"
        );
        assert_eq!(
            patch(&BTreeMap::new(), &annotations, &[], None),
            Some(json!({"metadata": {"annotations": {
                GPU_DRIVER_ANNOTATION: null,
                GPUS_ANNOTATION: null,
            }}}))
        );
    }
}
