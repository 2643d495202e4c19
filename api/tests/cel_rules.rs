//! The CRDs' CEL rules, evaluated client-side with kube-cel: each refuses what it should, with
//! a message that names the field, and lets valid manifests through.

mod support;

use kube::core::cel::{ScopeContext, WarningKind, analyze_rule, compile_schema};
use serde_json::{Value, json};
use support::{cel_errors, defaults_schema, instance, instance_schema};

const DIGEST: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

/// (spec, the start of the one expected message, or "" when the spec is valid)
fn cases() -> Vec<(String, &'static str)> {
    let cases = [
        ("{}", ""),
        ("image: {tag: '2026.9.6'}", ""),
        (&format!("image: {{digest: '{DIGEST}'}}"), ""),
        (
            &format!("image: {{tag: latest, digest: '{DIGEST}'}}"),
            "spec.image: digest and tag are mutually exclusive",
        ),
        (
            &format!("chromium: {{enabled: true, image: {{tag: x, digest: '{DIGEST}'}}}}"),
            "spec.chromium.image:",
        ),
        (
            &format!("ollama: {{image: {{tag: x, digest: '{DIGEST}'}}}}"),
            "spec.ollama.image:",
        ),
        (
            &format!(
                "tailscale: {{authKeySecretRef: {{name: k}}, image: {{tag: x, digest: '{DIGEST}'}}}}"
            ),
            "spec.tailscale.image:",
        ),
        (
            "tailscale: {enabled: true}",
            "spec.tailscale.authKeySecretRef: required",
        ),
        ("tailscale: {enabled: false, hostname: x}", ""),
        (
            "security: {caBundle: {configMapName: a, secretName: b}}",
            "spec.security.caBundle: set exactly one",
        ),
        (
            "security: {caBundle: {key: ca.crt}}",
            "spec.security.caBundle: set exactly one",
        ),
        ("security: {caBundle: {secretName: b}}", ""),
        (
            "storage: {persistence: {existingClaim: a, storageClass: b}}",
            "spec.storage.persistence: existingClaim and storageClass",
        ),
        (
            "ollama: {storage: {sizeLimit: 1Gi, existingClaim: a}}",
            "spec.ollama.storage: sizeLimit and existingClaim",
        ),
        (
            "security: {podSecurityContext: {runAsUser: 0}}",
            "spec.security.podSecurityContext.runAsUser: 0 (root)",
        ),
        (
            "security: {podSecurityContext: {runAsNonRoot: false}}",
            "spec.security.podSecurityContext.runAsNonRoot: must not be false",
        ),
        (
            "security: {podSecurityContext: {runAsUser: 2000, runAsGroup: 0}}",
            "",
        ),
        (
            "security: {containerSecurityContext: {runAsUser: 0}}",
            "spec.security.containerSecurityContext.runAsUser: 0 (root)",
        ),
        (
            "security: {containerSecurityContext: {runAsNonRoot: false}}",
            "spec.security.containerSecurityContext.runAsNonRoot",
        ),
        (
            "security: {containerSecurityContext: {allowPrivilegeEscalation: true}}",
            "spec.security.containerSecurityContext.allowPrivilegeEscalation",
        ),
        (
            "security: {containerSecurityContext: {readOnlyRootFilesystem: false}}",
            "",
        ),
        (
            "security: {rbac: {createServiceAccount: false}}",
            "spec.security.rbac.serviceAccountName: required",
        ),
        (
            "security: {rbac: {createServiceAccount: false, serviceAccountName: agent}}",
            "",
        ),
        (
            "security: {networkPolicy: {allowedIngressCIDRs: ['10.0.0.0/8', 'fd00::/8']}}",
            "",
        ),
        (
            "security: {networkPolicy: {allowedIngressCIDRs: ['10.0.0.300/8']}}",
            "spec.security.networkPolicy.allowedIngressCIDRs",
        ),
        (
            "config: {raw: {a: 1}, configMapRef: {name: cm}}",
            "spec.config: raw and configMapRef",
        ),
        (
            "config: {raw: {a: 1}, format: json5}",
            "spec.config.format: json5",
        ),
        (
            "config: {configMapRef: {name: cm}, format: json5, mergeMode: merge}",
            "",
        ),
        ("autoUpdate: {enabled: true, checkInterval: 1h30m}", ""),
        (
            "autoUpdate: {enabled: true, checkInterval: 30s}",
            "spec.autoUpdate.checkInterval: must be between",
        ),
        (
            "autoUpdate: {enabled: true, checkInterval: 200h}",
            "spec.autoUpdate.checkInterval: must be between",
        ),
        // Malformed: left to the pattern, so the user sees one error, not two.
        ("autoUpdate: {checkInterval: 1d}", ""),
        (
            "autoUpdate: {healthCheckTimeout: 5s}",
            "spec.autoUpdate.healthCheckTimeout: must be between",
        ),
        (
            "backup: {timeout: 30s}",
            "spec.backup.timeout: must be between",
        ),
        ("backup: {schedule: '0 3 * * *', timeout: 1h}", ""),
        (
            "networking: {ingress: {enabled: true}}",
            "spec.networking.ingress.hosts: at least one host",
        ),
        (
            "networking: {ingress: {enabled: true, hosts: [{host: agent.example.com}]}}",
            "",
        ),
        (
            "sidecars: [{name: openclaw, image: x}]",
            "spec.sidecars: the names",
        ),
        (
            "sidecars: [{name: openclaw-proxy, image: x}]",
            "spec.sidecars: the names",
        ),
        ("sidecars: [{name: cloudsql-proxy, image: x}]", ""),
        (
            "initContainers: [{name: chromium, image: x}]",
            "spec.initContainers: the names",
        ),
        (
            "extraVolumes: [{name: data, emptyDir: {}}]",
            "spec.extraVolumes: the names",
        ),
        (
            "sidecarVolumes: [{name: openclaw-plan, emptyDir: {}}]",
            "spec.sidecarVolumes: the names",
        ),
        ("extraVolumes: [{name: cache, emptyDir: {}}]", ""),
        (
            "observability: {metrics: {port: 18790}}",
            "spec.observability.metrics.port:",
        ),
        (
            "observability: {metrics: {port: 11434}}",
            "spec.observability.metrics.port:",
        ),
        ("observability: {metrics: {port: 9100}}", ""),
    ];
    cases
        .into_iter()
        .map(|(spec, expected)| (spec.to_owned(), expected))
        .collect()
}

#[test]
fn each_rule_refuses_what_it_should_and_names_the_field() {
    let schema = instance_schema();
    for (spec, expected) in cases() {
        let errors = cel_errors(&schema, &instance(&spec), None);
        if expected.is_empty() {
            assert!(errors.is_empty(), "{spec} should pass: {errors:#?}");
        } else {
            assert_eq!(
                errors.len(),
                1,
                "{spec} should break exactly one rule: {errors:#?}"
            );
            let message = errors[0]
                .split_once(": ")
                .map(|(_, message)| message)
                .unwrap_or_default();
            assert!(
                message.starts_with(expected),
                "{spec}: expected {expected:?}, got {errors:#?}"
            );
        }
    }
}

#[test]
fn storage_class_cannot_change_once_set() {
    let schema = instance_schema();
    let old = instance("storage: {persistence: {storageClass: fast}}");
    let same = cel_errors(&schema, &old, Some(&old));
    assert!(same.is_empty(), "{same:#?}");
    let changed = cel_errors(
        &schema,
        &instance("storage: {persistence: {storageClass: slow}}"),
        Some(&old),
    );
    assert_eq!(changed.len(), 1, "{changed:#?}");
    assert!(
        changed[0].contains("spec.storage.persistence.storageClass: cannot change once set"),
        "{changed:#?}"
    );
}

#[test]
fn only_the_cluster_defaults_named_cluster_are_accepted() {
    let schema = defaults_schema();
    let named = |name: &str| json!({"apiVersion": "openclaw.rocks/v1alpha1", "kind": "OpenClawClusterDefaults", "metadata": {"name": name}, "spec": {}});
    assert!(cel_errors(&schema, &named("cluster"), None).is_empty());
    let errors = cel_errors(&schema, &named("default"), None);
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert!(
        errors[0].contains("metadata.name: must be cluster"),
        "{errors:#?}"
    );
}

/// Every rule compiles, uses only `self`/`oldSelf`, and fits the apiserver's cost budget given
/// the schema's bounds.
#[test]
fn rules_compile_within_scope_and_budget() {
    for schema in [instance_schema(), defaults_schema()] {
        let compiled = compile_schema(&schema);
        let mut rules = Vec::new();
        collect_rules(&schema, &mut rules);
        assert!(!rules.is_empty());
        for (node, rule) in rules {
            let compiled_node = compile_schema(node);
            assert!(
                !compiled_node.has_errors(),
                "{rule}: {:?}",
                compiled_node.compilation_errors()
            );
            let warnings: Vec<_> = analyze_rule(&rule, &compiled_node, ScopeContext::CrdValidation)
                .into_iter()
                // kube-cel 0.8 counts the variables of `all(x, ...)` as out of scope.
                .filter(|w| {
                    !(w.kind == WarningKind::WrongScope
                        && is_comprehension_variable(&rule, &w.message))
                })
                .collect();
            assert!(warnings.is_empty(), "{rule}: {warnings:#?}");
        }
        assert!(!compiled.has_errors());
    }
}

fn is_comprehension_variable(rule: &str, message: &str) -> bool {
    ["c", "v", "m", "k", "p"].iter().any(|var| {
        message.starts_with(&format!("variable '{var}'")) && rule.contains(&format!(".all({var},"))
    })
}

fn collect_rules<'a>(schema: &'a Value, out: &mut Vec<(&'a Value, String)>) {
    for rule in schema
        .get("x-kubernetes-validations")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        out.push((schema, rule["rule"].as_str().unwrap_or_default().to_owned()));
    }
    for child in schema
        .get("properties")
        .and_then(Value::as_object)
        .into_iter()
        .flat_map(|p| p.values())
    {
        collect_rules(child, out);
    }
    for key in ["items", "additionalProperties"] {
        if let Some(child) = schema.get(key).filter(|c| c.is_object()) {
            collect_rules(child, out);
        }
    }
}

/// The apiserver checks each `default` against the rules of its node *before* defaulting the
/// default's own fields, so a rule must not assume a defaulted field is there.
#[test]
fn object_defaults_pass_their_rules_as_written() {
    let mut checked = 0;
    for schema in [instance_schema(), defaults_schema()] {
        each_default(&schema, "", &mut |path, node, default| {
            checked += 1;
            let bare = without_defaults(node);
            if let Err(errors) = kube::core::cel::Validator::new().validate(&bare, default, None) {
                panic!("{path}: default {default} breaks {:#?}", errors.as_slice());
            }
        });
    }
    assert!(checked >= 8, "only {checked} object defaults checked");
}

fn each_default(node: &Value, path: &str, f: &mut dyn FnMut(&str, &Value, &Value)) {
    if let Some(default) = node.get("default").filter(|d| d.is_object()) {
        f(path, node, default);
    }
    for (key, child) in node
        .get("properties")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        each_default(child, &format!("{path}.{key}"), f);
    }
}

fn without_defaults(node: &Value) -> Value {
    match node {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(k, _)| *k != "default")
                .map(|(k, v)| (k.clone(), without_defaults(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(without_defaults).collect()),
        other => other.clone(),
    }
}
