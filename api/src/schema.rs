//! Schema helpers shared by the CRD types: compact embedded Kubernetes types, free-form objects,
//! and the string patterns the apiserver checks.

use kube::core::{Message, Rule};
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde_json::Value;

/// Go-style duration as Kubernetes and the operator parse it: `30s`, `10m`, `1h30m`, `1.5h`.
pub(crate) const DURATION: &str = r"^([0-9]+([.][0-9]+)?(ns|us|ms|s|m|h))+$";

/// CEL rule: a well-formed [`DURATION`] lies between `min` and `max` (Go durations). A malformed
/// one is left to the pattern, so the user sees one error, not two.
pub(crate) fn duration_between(min: &str, max: &str) -> String {
    format!(
        "!self.matches('{DURATION}') || (duration(self) >= duration('{min}') && duration(self) <= duration('{max}'))"
    )
}

/// An OCI content digest pinned to SHA-256.
pub(crate) const DIGEST: &str = r"^sha256:[a-f0-9]{64}$";

/// An OCI tag.
pub(crate) const IMAGE_TAG: &str = r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$";

/// An image repository, optionally with its registry host and port.
pub(crate) const IMAGE_REPOSITORY: &str = r"^[a-z0-9]([a-z0-9._:/-]*[a-z0-9])?$";

/// A Kubernetes object name (DNS-1123 subdomain).
pub(crate) const DNS_SUBDOMAIN: &str =
    r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$";

/// A DNS-1123 label: a namespace name, a host name.
pub(crate) const DNS_LABEL: &str = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$";

/// CEL rule: every request and limit of a `ResourceRequirements` is a quantity. The schema of
/// `Quantity` is int-or-string, which the API server accepts as is; the pod would be refused.
pub(crate) const RESOURCES_ARE_QUANTITIES: &str = "(!has(self.limits) || self.limits.all(k, isQuantity(string(self.limits[k])))) && (!has(self.requests) || self.requests.all(k, isQuantity(string(self.requests[k]))))";

/// CEL rule: no request above its limit (the API server refuses such a pod, not the instance).
pub(crate) const REQUESTS_WITHIN_LIMITS: &str = "!has(self.requests) || !has(self.limits) || self.requests.all(k, !(k in self.limits) || !isQuantity(string(self.requests[k])) || !isQuantity(string(self.limits[k])) || quantity(string(self.requests[k])).compareTo(quantity(string(self.limits[k]))) <= 0)";

/// CEL rule: a quantity field (int-or-string) holds a quantity.
pub(crate) const IS_QUANTITY: &str = "isQuantity(string(self))";

fn rule(rule: impl Into<String>, path: &str, message: &str) -> Rule {
    Rule::new(rule).message(Message::Message(format!("{path}: {message}")))
}

/// Rule of a `ResourceRequirements` at `path`: every value a quantity.
pub(crate) fn resources_are_quantities(path: &str) -> Rule {
    rule(
        RESOURCES_ARE_QUANTITIES,
        path,
        "every request and limit must be a quantity, such as 500m, 2, 512Mi or 4Gi",
    )
}

/// Rule of a `ResourceRequirements` at `path`: no request above its limit.
pub(crate) fn requests_within_limits(path: &str) -> Rule {
    rule(
        REQUESTS_WITHIN_LIMITS,
        path,
        "a request cannot exceed its limit",
    )
}

/// Rule of a quantity field at `path`.
pub(crate) fn is_quantity(path: &str, example: &str) -> Rule {
    rule(
        IS_QUANTITY,
        path,
        &format!("must be a quantity, such as {example}"),
    )
}

/// Schema of `ResourceRequirements` (see [`k8s`]) with its `limits` and `requests` maps bounded,
/// so the CEL rules over them have a cost the API server can bound.
pub(crate) fn resource_requirements(generator: &mut SchemaGenerator) -> Schema {
    let mut schema = k8s::<k8s_openapi::api::core::v1::ResourceRequirements>(generator);
    if let Some(properties) = schema
        .as_object_mut()
        .and_then(|s| s.get_mut("properties"))
        .and_then(Value::as_object_mut)
    {
        for map in ["limits", "requests"] {
            if let Some(Value::Object(map)) = properties.get_mut(map) {
                map.insert("maxProperties".into(), 16.into());
                if let Some(Value::Object(value)) = map.get_mut("additionalProperties") {
                    value.insert("maxLength".into(), 64.into());
                }
            }
        }
    }
    schema
}

/// A label value: empty, or at most 63 characters starting and ending alphanumeric.
pub(crate) const LABEL_VALUE: &str = r"^(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?$";

/// CEL rule on the instance: its name fits everything derived from it. It names the StatefulSet,
/// whose pods carry `controller-revision-hash: <name>-<10 characters>` (a label value, at most
/// 63), and the Service, a DNS-1035 label (starts with a letter).
pub(crate) const INSTANCE_NAME: &str =
    "self.metadata.name.size() <= 52 && self.metadata.name.matches('^[a-z]([-a-z0-9]*[a-z0-9])?$')";

/// A ConfigMap or Secret data key.
pub(crate) const DATA_KEY: &str = r"^[-._a-zA-Z0-9]+$";

/// `true`, for `#[serde(default = "yes")]`.
pub(crate) fn yes() -> bool {
    true
}

/// `true` when `value` equals its type's default; used to keep defaults out of serialized specs
/// and out of the schema's `default:` (the apiserver then only defaults what we ask it to).
pub(crate) fn is_default<T: Default + PartialEq>(value: &T) -> bool {
    *value == T::default()
}

/// Schema of an embedded Kubernetes type, without the upstream descriptions of its nested fields.
///
/// The upstream text is long (a `Volume` alone is 80 KiB of JSON) and `kubectl explain pod.spec`
/// already shows it; dropping it keeps the CRD well under the 256 KiB that client-side
/// `kubectl apply` can store. The field's own doc comment still describes it.
pub(crate) fn k8s<T: JsonSchema>(generator: &mut SchemaGenerator) -> Schema {
    let mut schema = generator.subschema_for::<T>();
    strip_descriptions(schema.as_object_mut());
    schema
}

/// Like [`k8s`] for a list of named objects (containers, volumes), with each name capped at 63
/// characters (a DNS label, which Kubernetes requires anyway) so that CEL rules over the names
/// stay cheap.
pub(crate) fn named<T: JsonSchema>(generator: &mut SchemaGenerator) -> Schema {
    let mut schema = k8s::<T>(generator);
    if let Some(name) = schema
        .as_object_mut()
        .and_then(|list| list.get_mut("items"))
        .and_then(|item| item.get_mut("properties"))
        .and_then(|properties| properties.get_mut("name"))
        .and_then(Value::as_object_mut)
    {
        name.insert("maxLength".into(), 63.into());
    }
    schema
}

/// A free-form JSON object kept verbatim by the apiserver (`x-kubernetes-preserve-unknown-fields`).
pub(crate) fn free_form_object(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "object",
        "x-kubernetes-preserve-unknown-fields": true,
    })
}

/// Removes `description` from every nested subschema. Property *names* are left alone: a
/// property called `description` is a key of `properties`, not a keyword of the schema.
fn strip_descriptions(schema: Option<&mut serde_json::Map<String, Value>>) {
    let Some(schema) = schema else { return };
    schema.remove("description");
    for keyword in ["items", "additionalProperties", "not"] {
        strip_descriptions(schema.get_mut(keyword).and_then(Value::as_object_mut));
    }
    if let Some(properties) = schema.get_mut("properties").and_then(Value::as_object_mut) {
        for property in properties.values_mut() {
            strip_descriptions(property.as_object_mut());
        }
    }
    for keyword in ["allOf", "anyOf", "oneOf"] {
        if let Some(variants) = schema.get_mut(keyword).and_then(Value::as_array_mut) {
            for variant in variants {
                strip_descriptions(variant.as_object_mut());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_nested_descriptions_but_keeps_properties_named_description() {
        let mut schema = serde_json::json!({
            "description": "top",
            "properties": {
                "description": {"type": "string", "description": "a property named description"},
                "list": {"items": {"description": "item", "type": "object"}},
            },
        });
        strip_descriptions(schema.as_object_mut());
        assert_eq!(
            schema,
            serde_json::json!({
                "properties": {
                    "description": {"type": "string"},
                    "list": {"items": {"type": "object"}},
                },
            })
        );
    }

    fn matches(pattern: &str, value: &str) -> bool {
        regex::Regex::new(pattern).is_ok_and(|re| re.is_match(value))
    }

    #[test]
    fn patterns_accept_good_values_and_refuse_bad_ones() {
        for (pattern, good, bad) in [
            (
                DURATION,
                &["24h", "12h", "30m", "1h30m", "1.5h", "10s"][..],
                &["", "24", "1d", "h", "-1h"][..],
            ),
            (
                DIGEST,
                &["sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"],
                &["sha256:abc", "md5:0"],
            ),
            (
                IMAGE_TAG,
                &["2026.9.6", "latest", "v1_2-rc.1"],
                &["", ".hidden", "a b", "tag:x"],
            ),
            (
                IMAGE_REPOSITORY,
                &[
                    "ghcr.io/openclaw/openclaw",
                    "localhost:5000/openclaw",
                    "ollama/ollama",
                ],
                &["", "Upper/Case", "trailing/"],
            ),
            (
                DNS_SUBDOMAIN,
                &["openclaw-api-keys", "corporate-ca-bundle", "a.b"],
                &["", "Upper", "-x", "a_b"],
            ),
            (DNS_LABEL, &["my-agent", "openclaw"], &["a.b", "-x", ""]),
            (
                DATA_KEY,
                &["ca-bundle.crt", "openclaw.json", "authkey"],
                &["", "a/b"],
            ),
        ] {
            for value in good {
                assert!(matches(pattern, value), "{pattern} should accept {value:?}");
            }
            for value in bad {
                assert!(
                    !matches(pattern, value),
                    "{pattern} should refuse {value:?}"
                );
            }
        }
    }
}
