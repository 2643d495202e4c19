//! The generated CRDs: names and columns, a structural schema the apiserver accepts, a
//! description on every field of ours, defaults that agree with the Rust types, and rule messages
//! that name their field.

mod support;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use openclaw_api::crd::{HEADER, crds, render_crds_yaml};
use serde_json::{Value, json};
use support::{defaults_schema, instance_schema};

/// Fields whose type is an embedded Kubernetes type: described by their own doc comment, their
/// nested fields by `kubectl explain pod.spec` (the CRD leaves that text out to stay small).
const EMBEDDED: &[&str] = &[
    "spec.image.pullSecrets",
    "spec.envFrom",
    "spec.env",
    "spec.resources",
    "spec.chromium.resources",
    "spec.chromium.extraEnv",
    "spec.ollama.resources",
    "spec.tailscale.resources",
    "spec.security.networkPolicy.additionalEgress",
    "spec.initContainers",
    "spec.sidecars",
    "spec.sidecarVolumes",
    "spec.extraVolumes",
    "spec.extraVolumeMounts",
    "spec.availability.tolerations",
    "spec.availability.affinity",
    "spec.availability.topologySpreadConstraints",
    "spec.config.raw",
    "status.conditions",
];

fn crd(name: &str) -> CustomResourceDefinition {
    crds()
        .into_iter()
        .find(|crd| crd.metadata.name.as_deref() == Some(name))
        .unwrap_or_default()
}

#[test]
fn names_scope_and_columns() {
    let instance = crd("openclawinstances.openclaw.rocks");
    assert_eq!(instance.spec.group, "openclaw.rocks");
    assert_eq!(instance.spec.scope, "Namespaced");
    assert_eq!(instance.spec.names.kind, "OpenClawInstance");
    assert_eq!(instance.spec.names.plural, "openclawinstances");
    assert_eq!(
        instance.spec.names.short_names,
        Some(vec!["claw".to_owned()])
    );
    assert_eq!(
        instance.spec.names.categories,
        Some(vec!["openclaw".to_owned()])
    );
    let version = &instance.spec.versions[0];
    assert_eq!(
        (version.name.as_str(), version.served, version.storage),
        ("v1alpha1", true, true)
    );
    assert!(
        version
            .subresources
            .as_ref()
            .and_then(|s| s.status.as_ref())
            .is_some()
    );
    let columns: Vec<(&str, &str, &str)> = version
        .additional_printer_columns
        .iter()
        .flatten()
        .map(|c| (c.name.as_str(), c.type_.as_str(), c.json_path.as_str()))
        .collect();
    assert_eq!(
        columns,
        [
            ("Phase", "string", ".status.phase"),
            (
                "Ready",
                "string",
                r#".status.conditions[?(@.type=="Ready")].status"#
            ),
            ("Age", "date", ".metadata.creationTimestamp"),
        ]
    );

    let defaults = crd("openclawclusterdefaults.openclaw.rocks");
    assert_eq!(defaults.spec.scope, "Cluster");
    assert_eq!(
        defaults.spec.names.short_names,
        Some(vec!["occd".to_owned()])
    );
}

#[test]
fn schemas_are_structural() {
    for schema in [instance_schema(), defaults_schema()] {
        let mut problems = Vec::new();
        structural(&schema, "", &mut problems);
        assert!(problems.is_empty(), "{problems:#?}");
    }
}

/// What the apiserver's structural-schema check refuses: `$ref`, junctors (`anyOf`, `oneOf`,
/// `allOf`, `not`) that carry types, nodes without a type, and `nullable` (finished away).
fn structural(schema: &Value, path: &str, problems: &mut Vec<String>) {
    let Some(node) = schema.as_object() else {
        return;
    };
    for keyword in [
        "$ref",
        "anyOf",
        "oneOf",
        "allOf",
        "not",
        "nullable",
        "definitions",
        "$schema",
        "title",
    ] {
        if node.contains_key(keyword) {
            problems.push(format!("{path}: has {keyword}"));
        }
    }
    let typed = node.contains_key("type")
        || node.get("x-kubernetes-int-or-string") == Some(&Value::Bool(true))
        || node.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true));
    if !typed {
        problems.push(format!("{path}: no type"));
    }
    if node.get("type") == Some(&json!("array")) && !node.contains_key("items") {
        problems.push(format!("{path}: array without items"));
    }
    for (key, child) in node
        .get("properties")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        structural(child, &format!("{path}.{key}"), problems);
    }
    for key in ["items", "additionalProperties"] {
        if let Some(child) = node.get(key).filter(|c| c.is_object()) {
            structural(child, &format!("{path}[]"), problems);
        }
    }
}

#[test]
fn every_field_of_ours_has_a_description() {
    let mut missing = Vec::new();
    for (schema, root) in [
        (instance_schema(), "openclawinstance"),
        (defaults_schema(), "openclawclusterdefaults"),
    ] {
        assert!(
            schema.get("description").is_some(),
            "{root} has no description"
        );
        for part in ["spec", "status"] {
            if let Some(node) = schema["properties"].get(part) {
                described(node, part, &mut missing);
            }
        }
    }
    assert!(
        missing.is_empty(),
        "fields without a description: {missing:#?}"
    );
}

fn described(node: &Value, path: &str, missing: &mut Vec<String>) {
    if node
        .get("description")
        .and_then(Value::as_str)
        .is_none_or(|d| d.len() < 10)
    {
        missing.push(path.to_owned());
    }
    if EMBEDDED.contains(&path) {
        return;
    }
    let item_properties = node.get("items").and_then(|items| items.get("properties"));
    for properties in [node.get("properties"), item_properties]
        .into_iter()
        .flatten()
    {
        for (key, child) in properties.as_object().into_iter().flatten() {
            described(child, &format!("{path}.{key}"), missing);
        }
    }
}

#[test]
fn kubectl_explain_auto_update_describes_each_field() {
    let auto_update = &instance_schema()["properties"]["spec"]["properties"]["autoUpdate"];
    assert!(
        auto_update["description"]
            .as_str()
            .is_some_and(|d| d.contains("rolls back") || d.contains("roll"))
    );
    for field in [
        "enabled",
        "checkInterval",
        "backupBeforeUpdate",
        "rollbackOnFailure",
        "healthCheckTimeout",
    ] {
        let description = auto_update["properties"][field]["description"]
            .as_str()
            .unwrap_or_default();
        assert!(
            description.len() > 20,
            "autoUpdate.{field}: {description:?}"
        );
    }
    assert!(
        auto_update["properties"]["checkInterval"]["description"]
            .as_str()
            .is_some_and(|d| d.contains("24h"))
    );
}

#[test]
fn every_rule_message_names_the_field_it_guards() {
    for schema in [instance_schema(), defaults_schema()] {
        let mut problems = Vec::new();
        messages(&schema, "", &mut problems);
        assert!(problems.is_empty(), "{problems:#?}");
    }
}

fn messages(node: &Value, path: &str, problems: &mut Vec<String>) {
    for rule in node
        .get("x-kubernetes-validations")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let message = rule["message"].as_str().unwrap_or_default();
        let names_it = if path.is_empty() {
            message.starts_with("metadata.")
        } else {
            message.starts_with(path)
        };
        if !names_it || !message.contains(": ") {
            problems.push(format!("rule at {path:?} has message {message:?}"));
        }
        let text = rule["rule"].as_str().unwrap_or_default();
        let bounded = |n: &Value| n.get("maxItems").is_some() || n.get("maxProperties").is_some();
        // Iterated: the node itself (`self.all(`), or its properties (`self.limits.all(`).
        let children_bounded = node
            .get("properties")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
            .filter(|(key, _)| text.contains(&format!("self.{key}.all(")))
            .all(|(_, child)| bounded(child));
        let unbounded = (text.contains("self.all(") && !bounded(node))
            || (text.contains(".all(") && !text.contains("self.all(") && !children_bounded);
        if unbounded {
            problems.push(format!(
                "{path}: a rule iterates a list or map without maxItems or maxProperties"
            ));
        }
    }
    for (key, child) in node
        .get("properties")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        let child_path = if path.is_empty() {
            key.clone()
        } else {
            format!("{path}.{key}")
        };
        messages(child, &child_path, problems);
    }
}

#[test]
fn rendered_yaml_is_deterministic_and_reads_back() {
    let yaml = render_crds_yaml();
    assert_eq!(yaml, render_crds_yaml());
    assert!(
        yaml.starts_with(HEADER)
            && HEADER.starts_with("# Generated by cargo xtask gen from api/src; do not edit.")
    );
    assert!(yaml.ends_with('\n'));
    let body = &yaml[HEADER.len()..];
    assert!(body.starts_with("---\n"));
    assert_eq!(
        body.matches("\n---\n").count() + 1,
        2,
        "two documents, each opened by ---"
    );
    let read_back: Vec<CustomResourceDefinition> = serde_yaml::Deserializer::from_str(body)
        .map(|doc| serde::Deserialize::deserialize(doc).unwrap_or_default())
        .collect();
    assert_eq!(read_back, crds());
}

#[test]
fn crds_stay_small_enough_for_client_side_apply() {
    for crd in crds() {
        let json = serde_json::to_string(&crd).unwrap_or_default();
        // kubectl apply (client side) stores the object in a 256 KiB annotation.
        assert!(
            json.len() < 200 * 1024,
            "{:?} is {} bytes",
            crd.metadata.name,
            json.len()
        );
    }
}
