//! What the schema does to values: the defaults an empty or partial spec receives (and that
//! they agree with the Rust defaults), and the malformed values its OpenAPI part refuses.

mod support;

use openclaw_api::{OpenClawInstance, OpenClawInstanceSpec};
use serde_json::json;
use support::{defaulted, instance, instance_schema, openapi_violations};

#[test]
fn an_empty_spec_gets_the_hardened_defaults() {
    let schema = instance_schema();
    let stored = defaulted(&schema, &instance("{}"));
    let spec = &stored["spec"];
    assert_eq!(
        spec["storage"]["persistence"],
        json!({"enabled": true, "size": "10Gi", "orphan": true})
    );
    assert_eq!(
        spec["security"]["podSecurityContext"],
        json!({"runAsUser": 1000, "runAsGroup": 1000, "fsGroup": 1000, "runAsNonRoot": true})
    );
    assert_eq!(
        spec["security"]["containerSecurityContext"],
        json!({"allowPrivilegeEscalation": false, "readOnlyRootFilesystem": true})
    );
    assert_eq!(
        spec["security"]["networkPolicy"],
        json!({"enabled": true, "allowDNS": true})
    );
    assert_eq!(
        spec["security"]["rbac"],
        json!({"createServiceAccount": true})
    );
    assert_eq!(
        spec["config"],
        json!({"mergeMode": "overwrite", "format": "json"})
    );
    assert_eq!(
        spec["availability"]["podDisruptionBudget"],
        json!({"enabled": true, "maxUnavailable": 1})
    );
    assert_eq!(spec["suspend"], json!(false));
    assert!(openapi_violations(&schema, &stored).is_empty());
    let parsed: OpenClawInstance = serde_json::from_value(stored).unwrap_or_default();
    assert_eq!(parsed.spec, OpenClawInstanceSpec::default());
}

/// With every optional object present but empty, the apiserver's defaults and the Rust
/// defaults give the same spec: the two never disagree.
#[test]
fn schema_defaults_agree_with_rust_defaults() {
    let schema = instance_schema();
    let every_object = "{image: {}, config: {configMapRef: {name: cm}}, runtimeDeps: {}, chromium: {image: {}}, \
        ollama: {image: {}, storage: {}}, tailscale: {image: {}}, \
        networking: {service: {ports: [{name: extra, port: 8080}]}, ingress: {hosts: [{host: a.example.com, paths: [{}]}]}}, \
        probes: {liveness: {}, readiness: {}, startup: {}}, observability: {metrics: {serviceMonitor: {}}}, \
        backup: {s3: {}}, gateway: {}, autoUpdate: {}, security: {caBundle: {secretName: ca}}}";
    let stored = defaulted(&schema, &instance(every_object));
    assert!(
        openapi_violations(&schema, &stored).is_empty(),
        "{:#?}",
        openapi_violations(&schema, &stored)
    );
    let from_schema: OpenClawInstanceSpec =
        serde_json::from_value(stored["spec"].clone()).unwrap_or_default();
    let from_rust: OpenClawInstanceSpec =
        serde_json::from_value(instance(every_object)["spec"].clone()).unwrap_or_default();
    assert_eq!(from_schema, from_rust);
    assert_eq!(
        from_schema.security.ca_bundle.map(|ca| ca.key),
        Some("ca-bundle.crt".to_owned())
    );
    assert_eq!(
        from_schema.config.config_map_ref.map(|r| r.key),
        Some("openclaw.json".to_owned())
    );
    assert_eq!(from_schema.tailscale.auth_key_secret_key, "authkey");
    assert_eq!(from_schema.auto_update.check_interval, "24h");
    assert_eq!(
        from_schema.observability.metrics.service_monitor.interval,
        "30s"
    );
}

/// Values the OpenAPI part of the schema refuses (the apiserver names the field in each error).
#[test]
fn openapi_validation_refuses_malformed_values() {
    let schema = instance_schema();
    let too_many_skills = format!(
        "skills: [{}]",
        (0..21)
            .map(|i| format!("s{i}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    for (spec, field) in [
        ("ollama: {models: ['']}", "spec.ollama.models[0]"),
        (
            "ollama: {models: ['llama3.2', 'a b']}",
            "spec.ollama.models[1]",
        ),
        ("ollama: {gpu: 17}", "spec.ollama.gpu"),
        ("ollama: {gpu: -1}", "spec.ollama.gpu"),
        (
            "probes: {liveness: {periodSeconds: 0}}",
            "spec.probes.liveness.periodSeconds",
        ),
        ("skills: ['../evil']", "spec.skills[0]"),
        ("skills: ['Weather']", "spec.skills[0]"),
        ("plugins: ['npm:']", "spec.plugins[0]"),
        ("restoreFrom: 's3://b/x y'", "spec.restoreFrom"),
        ("backup: {schedule: 'every day'}", "spec.backup.schedule"),
        ("backup: {retention: 0}", "spec.backup.retention"),
        (
            "autoUpdate: {checkInterval: 1d}",
            "spec.autoUpdate.checkInterval",
        ),
        ("image: {digest: 'sha256:abc'}", "spec.image.digest"),
        ("image: {pullPolicy: Sometimes}", "spec.image.pullPolicy"),
        ("config: {mergeMode: replace}", "spec.config.mergeMode"),
        ("tailscale: {mode: public}", "spec.tailscale.mode"),
        ("tailscale: {hostname: My_Agent}", "spec.tailscale.hostname"),
        (
            "observability: {metrics: {port: 80}}",
            "spec.observability.metrics.port",
        ),
        (
            "observability: {metrics: {serviceMonitor: {interval: soon}}}",
            "spec.observability.metrics.serviceMonitor.interval",
        ),
        (
            "networking: {service: {type: ExternalName}}",
            "spec.networking.service.type",
        ),
        (
            "security: {podSecurityContext: {runAsUser: -1}}",
            "spec.security.podSecurityContext.runAsUser",
        ),
        (&too_many_skills, "spec.skills"),
        ("bogusField: 1", "spec.bogusField"),
    ] {
        let violations = openapi_violations(&schema, &instance(spec));
        let at_field = |v: &String| v.starts_with(&format!("{field}: "));
        assert!(
            !violations.is_empty() && violations.iter().all(at_field),
            "{spec}: expected violations at {field} only, got {violations:#?}"
        );
    }
}
