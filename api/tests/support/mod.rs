//! Test helpers: the finished CRD schemas as JSON, the guide's YAML blocks, and a small OpenAPI
//! checker that refuses what the apiserver's structural validation refuses.

#![allow(dead_code)]

use openclaw_api::crd::crds;
use serde_json::Value;

/// The finished `openAPIV3Schema` of the CRD named `name`.
pub fn schema_of(name: &str) -> Value {
    let crd = crds()
        .into_iter()
        .find(|crd| crd.metadata.name.as_deref() == Some(name));
    let schema = crd
        .and_then(|crd| crd.spec.versions.into_iter().next())
        .and_then(|version| version.schema)
        .and_then(|schema| schema.open_api_v3_schema);
    serde_json::to_value(schema).unwrap_or_default()
}

/// The finished schema of `OpenClawInstance`.
pub fn instance_schema() -> Value {
    schema_of("openclawinstances.openclaw.rocks")
}

/// The finished schema of `OpenClawClusterDefaults`.
pub fn defaults_schema() -> Value {
    schema_of("openclawclusterdefaults.openclaw.rocks")
}

/// The user guide's YAML blocks, in order.
pub fn seed_blocks() -> Vec<(String, String)> {
    openclaw_testkit::guide::seed_blocks()
}

/// A guide block as a whole manifest: a `spec:` fragment is wrapped into an instance named `name`.
pub fn manifest(block: &str, name: &str) -> Value {
    let text = if block.starts_with("apiVersion:") {
        block.to_owned()
    } else {
        format!(
            "apiVersion: openclaw.rocks/v1alpha1\nkind: OpenClawInstance\nmetadata:\n  name: {name}\n  namespace: openclaw\n{block}"
        )
    };
    serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// An instance manifest from a YAML `spec` body.
pub fn instance(spec_yaml: &str) -> Value {
    let spec: Value =
        serde_yaml::from_str(spec_yaml).unwrap_or_else(|e| panic!("{spec_yaml}: {e}"));
    serde_json::json!({
        "apiVersion": "openclaw.rocks/v1alpha1",
        "kind": "OpenClawInstance",
        "metadata": {"name": "test", "namespace": "openclaw"},
        "spec": spec,
    })
}

/// What the apiserver's OpenAPI validation would refuse in `value` (unknown fields included,
/// which strict field validation refuses), one line per problem.
pub fn openapi_violations(schema: &Value, value: &Value) -> Vec<String> {
    let mut out = Vec::new();
    check(schema, value, "", &mut out);
    out
}

fn check(schema: &Value, value: &Value, path: &str, out: &mut Vec<String>) {
    let mut fail = |what: String| {
        out.push(format!(
            "{}: {what}",
            if path.is_empty() { "<root>" } else { path }
        ))
    };
    if schema.get("x-kubernetes-int-or-string") == Some(&Value::Bool(true)) {
        if !(value.is_i64() || value.is_string()) {
            fail(format!("{value} is neither an integer nor a string"));
        }
        return;
    }
    let type_ok = match schema.get("type").and_then(Value::as_str) {
        Some("object") => value.is_object(),
        Some("array") => value.is_array(),
        Some("string") => value.is_string(),
        Some("integer") => value.is_i64() || value.is_u64(),
        Some("number") => value.is_number(),
        Some("boolean") => value.is_boolean(),
        _ => true,
    };
    if !type_ok {
        fail(format!("{value} is not of type {}", schema["type"]));
        return;
    }
    if let Some(allowed) = schema.get("enum").and_then(Value::as_array)
        && !allowed.contains(value)
    {
        fail(format!("{value} is not one of {allowed:?}"));
    }
    if let Some(text) = value.as_str() {
        let chars = text.chars().count() as u64;
        if schema
            .get("minLength")
            .and_then(Value::as_u64)
            .is_some_and(|min| chars < min)
        {
            fail(format!("{text:?} is shorter than minLength"));
        }
        if schema
            .get("maxLength")
            .and_then(Value::as_u64)
            .is_some_and(|max| chars > max)
        {
            fail(format!("{text:?} is longer than maxLength"));
        }
        if let Some(pattern) = schema.get("pattern").and_then(Value::as_str) {
            match regex::Regex::new(pattern) {
                Ok(re) if re.is_match(text) => {}
                Ok(_) => fail(format!("{text:?} does not match {pattern}")),
                Err(e) => fail(format!("pattern {pattern} does not compile: {e}")),
            }
        }
    }
    if let Some(number) = value.as_f64() {
        if schema
            .get("minimum")
            .and_then(Value::as_f64)
            .is_some_and(|min| number < min)
        {
            fail(format!("{number} is below the minimum"));
        }
        if schema
            .get("maximum")
            .and_then(Value::as_f64)
            .is_some_and(|max| number > max)
        {
            fail(format!("{number} is above the maximum"));
        }
    }
    if let Some(items) = value.as_array() {
        if schema
            .get("maxItems")
            .and_then(Value::as_u64)
            .is_some_and(|max| items.len() as u64 > max)
        {
            fail(format!("{} items exceed maxItems", items.len()));
        }
        if let Some(item_schema) = schema.get("items") {
            for (i, item) in items.iter().enumerate() {
                check(item_schema, item, &format!("{path}[{i}]"), out);
            }
        }
        return;
    }
    let Some(object) = value.as_object() else {
        return;
    };
    if schema
        .get("maxProperties")
        .and_then(Value::as_u64)
        .is_some_and(|max| object.len() as u64 > max)
    {
        fail(format!("{} properties exceed maxProperties", object.len()));
    }
    for required in schema
        .get("required")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(key) = required.as_str()
            && !object.contains_key(key)
        {
            fail(format!("required field {key} is missing"));
        }
    }
    let preserve = schema.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true));
    let properties = schema.get("properties").and_then(Value::as_object);
    let additional = schema.get("additionalProperties").filter(|a| a.is_object());
    for (key, child) in object {
        let child_path = if path.is_empty() {
            key.clone()
        } else {
            format!("{path}.{key}")
        };
        match (properties.and_then(|p| p.get(key)), additional) {
            (Some(child_schema), _) | (None, Some(child_schema)) => {
                check(child_schema, child, &child_path, out)
            }
            (None, None)
                if preserve || path.is_empty() && (key == "apiVersion" || key == "kind") => {}
            (None, None) if key == "metadata" && path.is_empty() => {}
            (None, None) => out.push(format!("{child_path}: unknown field")),
        }
    }
}

/// Every leaf of `written` (a manifest as a user wrote it) that is missing from, or different in,
/// `kept` (the same object after a round trip).
pub fn lost_paths(written: &Value, kept: &Value, path: &str) -> Vec<String> {
    match (written, kept) {
        (Value::Object(w), Value::Object(k)) => w
            .iter()
            .flat_map(|(key, value)| match k.get(key) {
                Some(kept_value) => lost_paths(value, kept_value, &format!("{path}.{key}")),
                None => vec![format!("{path}.{key}")],
            })
            .collect(),
        (Value::Array(w), Value::Array(k)) if w.len() == k.len() => w
            .iter()
            .zip(k)
            .enumerate()
            .flat_map(|(i, (value, kept_value))| {
                lost_paths(value, kept_value, &format!("{path}[{i}]"))
            })
            .collect(),
        _ if written == kept => Vec::new(),
        _ => vec![format!("{path}: {written} became {kept}")],
    }
}

/// `value` with the schema's defaults applied the way the apiserver applies them: missing
/// properties take their default, then defaulting recurses into every property, including the
/// ones it just inserted (kube-cel 0.8's own pass does not recurse into inserted defaults).
pub fn defaulted(schema: &Value, value: &Value) -> Value {
    match value {
        Value::Object(object) => {
            let mut out = object.clone();
            let properties = schema.get("properties").and_then(Value::as_object);
            for (key, property) in properties.into_iter().flatten() {
                if let Some(default) = property.get("default")
                    && !out.contains_key(key)
                {
                    out.insert(key.clone(), default.clone());
                }
            }
            let additional = schema.get("additionalProperties").filter(|a| a.is_object());
            for (key, child) in out.iter_mut() {
                if let Some(child_schema) = properties.and_then(|p| p.get(key)).or(additional) {
                    *child = defaulted(child_schema, child);
                }
            }
            Value::Object(out)
        }
        Value::Array(items) => match schema.get("items") {
            Some(item_schema) => Value::Array(
                items
                    .iter()
                    .map(|item| defaulted(item_schema, item))
                    .collect(),
            ),
            None => value.clone(),
        },
        _ => value.clone(),
    }
}

/// The CEL rules `object` breaks (`old`: the stored object, for transition rules), as
/// `field.path: message` lines, defaults applied first as the apiserver does.
pub fn cel_errors(schema: &Value, object: &Value, old: Option<&Value>) -> Vec<String> {
    let object = defaulted(schema, object);
    let old = old.map(|old| defaulted(schema, old));
    match kube::core::cel::Validator::new().validate(schema, &object, old.as_ref()) {
        Ok(()) => Vec::new(),
        Err(errors) => errors
            .as_slice()
            .iter()
            .map(|e| format!("{}: {} [{}]", e.field_path, e.message, e.rule))
            .collect(),
    }
}
