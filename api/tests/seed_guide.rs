//! Every YAML block of the user guide is a valid `OpenClawInstance`, unchanged: the schema knows
//! every field, no rule refuses it, and the Rust types read it without losing a value.

mod support;

use openclaw_api::{
    OpenClawInstance,
    instance::{MergeMode, TailscaleMode},
};
use serde_json::Value;
use support::{cel_errors, instance_schema, lost_paths, manifest, openapi_violations, seed_blocks};

#[test]
fn the_guide_has_twenty_blocks_three_of_them_whole_manifests() {
    let blocks = seed_blocks();
    assert_eq!(
        blocks.len(),
        20,
        "tests/fixtures/seed holds the guide's 20 YAML blocks"
    );
    assert_eq!(
        blocks
            .iter()
            .filter(|(_, text)| text.starts_with("apiVersion:"))
            .count(),
        3
    );
}

#[test]
fn every_block_passes_the_openapi_schema() {
    let schema = instance_schema();
    for (name, text) in seed_blocks() {
        let violations = openapi_violations(&schema, &manifest(&text, "seed"));
        assert!(violations.is_empty(), "{name}: {violations:#?}");
    }
}

#[test]
fn every_block_passes_the_cel_rules() {
    let schema = instance_schema();
    for (name, text) in seed_blocks() {
        let errors = cel_errors(&schema, &manifest(&text, "seed"), None);
        assert!(errors.is_empty(), "{name}: {errors:#?}");
    }
}

#[test]
fn every_block_reads_into_the_types_without_losing_a_value() {
    for (name, text) in seed_blocks() {
        let written = manifest(&text, "seed");
        let instance: OpenClawInstance =
            serde_json::from_value(written.clone()).unwrap_or_else(|e| panic!("{name}: {e}"));
        let kept = serde_json::to_value(&instance).unwrap_or_else(|e| panic!("{name}: {e}"));
        let lost = lost_paths(&written["spec"], &kept["spec"], "spec");
        assert!(lost.is_empty(), "{name}: {lost:?}");
    }
}

#[test]
fn the_complete_example_means_what_the_guide_says() {
    let (_, text) = seed_blocks()
        .into_iter()
        .find(|(name, _)| name.contains("production-agent"))
        .unwrap_or_default();
    let instance: OpenClawInstance =
        serde_json::from_value(manifest(&text, "production-agent")).unwrap_or_default();
    let spec = &instance.spec;
    assert_eq!(instance.metadata.name.as_deref(), Some("production-agent"));
    assert_eq!(spec.config.merge_mode, MergeMode::Merge);
    let primary = spec
        .config
        .raw
        .as_ref()
        .map(|raw| raw["agents"]["defaults"]["model"]["primary"].clone());
    assert_eq!(
        primary,
        Some(Value::from("anthropic/claude-sonnet-4-20250514"))
    );
    assert_eq!(spec.skills, ["@anthropic/mcp-server-fetch"]);
    assert_eq!(spec.runtime_deps.pnpm, Some(true));
    assert!(spec.chromium.enabled);
    assert!(
        spec.ollama.enabled && spec.ollama.gpu == Some(1) && spec.ollama.models == ["llama3.2"]
    );
    assert!(
        spec.tailscale.enabled
            && spec.tailscale.auth_sso
            && spec.tailscale.mode == TailscaleMode::Serve
    );
    assert_eq!(
        spec.tailscale
            .auth_key_secret_ref
            .as_ref()
            .map(|r| r.name.as_str()),
        Some("tailscale-authkey")
    );
    assert_eq!(spec.storage.persistence.size.0, "10Gi");
    assert!(spec.auto_update.enabled && spec.auto_update.check_interval == "24h");
    assert_eq!(
        spec.auto_update.health_check_timeout, "10m",
        "the guide leaves it to the default"
    );
    assert!(spec.observability.metrics.service_monitor.enabled);
    assert_eq!(spec.observability.metrics.service_monitor.interval, "30s");
    assert_eq!(spec.availability.tolerations.len(), 1);
    assert_eq!(
        spec.availability
            .node_selector
            .get("openclaw.rocks/nodepool")
            .map(String::as_str),
        Some("openclaw")
    );
    assert_eq!(spec.env_from.len(), 1);
    assert!(
        spec.security.network_policy.enabled,
        "a NetworkPolicy by default"
    );
    assert_eq!(spec.security.pod_security_context.run_as_user, 1000);
}
