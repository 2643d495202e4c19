//! Each example of the user guide produces the objects and the pod the guide promises.

use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use openclaw_api::instance::MergeMode;
use serde_json::Value;

use super::{
    children::{all_containers, built, config, container, env, env_value, names, plan, pod},
    context, seed, seed_blocks, violations,
};
use crate::build::{build, paths};

#[test]
fn every_block_builds_a_restricted_pod() {
    let blocks = seed_blocks();
    assert_eq!(blocks.len(), 20);
    for (name, text) in blocks {
        let children = built(&super::instance(&text));
        let found = violations(&pod(&children));
        assert!(found.is_empty(), "{name}: {found:#?}");
    }
}

#[test]
fn first_agent_gets_every_object_of_the_guide() {
    let children = built(&seed("01-my-agent"));
    assert!(children.service_account.is_some());
    assert!(children.role.is_some() && children.role_binding.is_some());
    assert!(children.pdb.is_some() && children.network_policy.is_some());
    assert!(children.service_monitor.is_none() && children.ingress.is_none());
    let pvc = children.pvc.clone().unwrap_or_default();
    let size = pvc.spec.and_then(|s| s.resources).and_then(|r| r.requests);
    assert_eq!(size.unwrap_or_default()["storage"].0, "10Gi");
    let openclaw = container(&pod(&children), "openclaw");
    let env_from = openclaw.env_from.clone().unwrap_or_default();
    assert_eq!(
        env_from[0].secret_ref.clone().map(|s| s.name).as_deref(),
        Some("openclaw-api-keys")
    );
    assert_eq!(
        config(&children)["agents"]["defaults"]["model"]["primary"],
        "anthropic/claude-sonnet-4-20250514"
    );
    for object in [
        &children.config_map.metadata,
        &children.service.metadata,
        &children.stateful_set.metadata,
    ] {
        let labels = object.labels.clone().unwrap_or_default();
        assert_eq!(labels["app.kubernetes.io/part-of"], "openclaw");
        assert_eq!(object.owner_references.as_ref().map(Vec::len), Some(1));
    }
    let pod = pod(&children);
    assert_eq!(pod.automount_service_account_token, Some(false));
    assert_eq!(pod.service_account_name.as_deref(), Some("my-agent"));
    assert_eq!(names(&pod.containers), ["openclaw"]);
    assert_eq!(
        names(pod.init_containers.as_deref().unwrap_or_default()),
        ["openclaw-init"]
    );
}

#[test]
fn channel_keys_join_the_environment() {
    let pod = pod(&built(&seed("02-spec-envFrom")));
    let sources: Vec<String> = container(&pod, "openclaw")
        .env_from
        .unwrap_or_default()
        .into_iter()
        .filter_map(|s| s.secret_ref.map(|r| r.name))
        .collect();
    assert_eq!(sources, ["openclaw-api-keys", "openclaw-channel-keys"]);
}

#[test]
fn chromium_sidecar_and_its_address() {
    let children = built(&seed("03-spec-chromium"));
    let pod = pod(&children);
    let chromium = container(&pod, "chromium");
    assert_eq!(chromium.restart_policy.as_deref(), Some("Always"));
    let context = chromium.security_context.clone().unwrap_or_default();
    assert_eq!(context.run_as_user, Some(1001));
    assert_eq!(context.read_only_root_filesystem, Some(true));
    let resources = chromium.resources.unwrap_or_default();
    assert_eq!(resources.requests.unwrap_or_default()["memory"].0, "1Gi");
    assert_eq!(resources.limits.unwrap_or_default()["cpu"].0, "1000m");
    let openclaw = container(&pod, "openclaw");
    assert_eq!(
        env_value(&openclaw, "CHROMIUM_URL").as_deref(),
        Some("http://127.0.0.1:9222")
    );
    assert_eq!(
        env_value(&openclaw, "OPENCLAW_CHROMIUM_CDP").as_deref(),
        Some("http://127.0.0.1:9222")
    );
    assert_eq!(config(&children)["browser"]["attachOnly"], true);
}

#[test]
fn skills_and_runtime_deps_reach_the_plan() {
    let plan_of = |name| plan(&built(&seed(name)));
    let skills: Vec<String> = plan_of("04-spec-skills")
        .skills
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        skills,
        [
            "@anthropic/mcp-server-fetch",
            "@anthropic/mcp-server-filesystem"
        ]
    );
    let deps = plan_of("05-spec-runtimeDeps").runtime_deps;
    assert!(deps.pnpm && deps.python);
    assert_eq!(
        plan_of("19-spec-config").config.merge_mode,
        MergeMode::Merge
    );
    assert_eq!(
        plan_of("12-my-agent-restored")
            .restore
            .map(|r| r.source)
            .as_deref(),
        Some("s3://bucket/path/to/backup.tar.gz")
    );
}

#[test]
fn auto_update_leaves_the_pod_alone() {
    let updated = pod(&built(&seed("06-spec-autoUpdate")));
    let plain = pod(&built(&super::instance("spec: {}")));
    assert_eq!(updated, plain);
}

#[test]
fn service_monitor_on_or_off() {
    let children = built(&seed("07-spec-observability"));
    let monitor = children
        .service_monitor
        .clone()
        .unwrap_or_else(|| panic!("none"));
    assert_eq!(monitor.data["spec"]["endpoints"][0]["interval"], "30s");
    let ports = children
        .service
        .spec
        .and_then(|s| s.ports)
        .unwrap_or_default();
    assert!(ports.iter().any(|p| p.name.as_deref() == Some("metrics")));
    let instance = seed("07-spec-observability");
    let without_crd = build(&context(&instance)).unwrap_or_else(|e| panic!("{e}"));
    assert!(without_crd.service_monitor.is_none());
}

#[test]
fn dedicated_nodes() {
    let pod = pod(&built(&seed("08-spec-availability")));
    assert_eq!(
        pod.node_selector.unwrap_or_default()["openclaw.rocks/nodepool"],
        "openclaw"
    );
    let toleration = pod.tolerations.unwrap_or_default()[0].clone();
    assert_eq!(toleration.key.as_deref(), Some("openclaw.rocks/dedicated"));
    assert_eq!(toleration.effect.as_deref(), Some("NoSchedule"));
}

#[test]
fn additional_egress_and_workload_identity() {
    let children = built(&seed("09-spec-security"));
    let egress = children
        .network_policy
        .and_then(|np| np.spec)
        .and_then(|s| s.egress)
        .unwrap_or_default();
    let last = egress.last().cloned().unwrap_or_default();
    assert_eq!(
        last.ports.unwrap_or_default()[0].port,
        Some(IntOrString::Int(5432))
    );
    let sa = built(&seed("10-spec-security"))
        .service_account
        .unwrap_or_default();
    assert!(
        sa.metadata
            .annotations
            .unwrap_or_default()
            .contains_key("eks.amazonaws.com/role-arn")
    );
}

#[test]
fn ca_bundle_in_every_container() {
    let mut instance = seed("20-production-agent");
    let ca = seed("11-spec-security");
    instance.spec.security = ca.spec.security;
    instance.spec.sidecars = seed("17-spec-sidecars").spec.sidecars;
    instance.spec.init_containers = seed("18-spec-initContainers").spec.init_containers;
    let children = built(&instance);
    let pod = pod(&children);
    let config_volume = pod
        .volumes
        .iter()
        .flatten()
        .find(|v| v.name == paths::CONFIG_VOLUME)
        .and_then(|v| v.projected.clone())
        .and_then(|p| p.sources)
        .unwrap_or_default();
    let projected_ca = config_volume.iter().any(|source| {
        source.config_map.as_ref().is_some_and(|cm| {
            cm.name == "corporate-ca-bundle"
                && cm
                    .items
                    .iter()
                    .flatten()
                    .any(|i| i.path == "ca/ca-bundle.crt")
        })
    });
    assert!(
        projected_ca,
        "openclaw sees the bundle under /etc/openclaw/ca"
    );
    let containers = all_containers(&pod);
    assert!(containers.len() >= 8, "{:?}", names(&containers));
    for container in &containers {
        let mounts = container.volume_mounts.clone().unwrap_or_default();
        let has_ca = mounts.iter().any(|m| {
            (m.name == paths::CA_VOLUME && m.mount_path == paths::CA_DIR)
                || (m.name == paths::CONFIG_VOLUME && m.mount_path == paths::CONFIG_DIR)
        });
        assert!(has_ca, "{} lacks the CA bundle", container.name);
    }
    // The supervisor sets NODE_EXTRA_CA_CERTS (and the other CA variables) for the gateway
    // from the plan's CA bundle; the operator does not set values the supervisor overrides.
    let openclaw = container(&pod, "openclaw");
    assert_eq!(env_value(&openclaw, "NODE_EXTRA_CA_CERTS"), None);
    let ca = plan(&children).ca_bundle.map(|c| c.path);
    assert_eq!(ca.as_deref(), Some("/etc/openclaw/ca/ca-bundle.crt"));
}

#[test]
fn ollama_with_gpu_and_models() {
    let children = built(&seed("13-spec-ollama"));
    let pod = pod(&children);
    let ollama = container(&pod, "ollama");
    let resources = ollama.resources.clone().unwrap_or_default();
    assert_eq!(
        resources.limits.clone().unwrap_or_default()["nvidia.com/gpu"].0,
        "1"
    );
    assert_eq!(
        resources.requests.clone().unwrap_or_default()["nvidia.com/gpu"].0,
        "1"
    );
    assert_eq!(resources.limits.unwrap_or_default()["memory"].0, "8Gi");
    let context = ollama.security_context.clone().unwrap_or_default();
    assert_eq!(context.read_only_root_filesystem, Some(true));
    assert_eq!(
        env_value(&container(&pod, "openclaw"), "OLLAMA_HOST").as_deref(),
        Some("http://localhost:11434")
    );
    let models = pod
        .volumes
        .iter()
        .flatten()
        .find(|v| v.name == paths::OLLAMA_MODELS_VOLUME)
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        models
            .empty_dir
            .and_then(|e| e.size_limit)
            .map(|q| q.0)
            .as_deref(),
        Some("30Gi")
    );
    let ollama_plan = plan(&children)
        .ollama
        .unwrap_or_else(|| panic!("no ollama"));
    assert_eq!(ollama_plan.models, ["llama3.2", "nomic-embed-text"]);
    assert_eq!(ollama_plan.gpu, 1);

    let pod = self::pod(&built(&seed("14-spec-ollama")));
    let models = pod
        .volumes
        .iter()
        .flatten()
        .find(|v| v.name == paths::OLLAMA_MODELS_VOLUME)
        .and_then(|v| v.persistent_volume_claim.clone());
    assert_eq!(
        models.map(|p| p.claim_name).as_deref(),
        Some("ollama-models-pvc")
    );
}

#[test]
fn tailscale_env_config_and_egress() {
    let children = built(&seed("15-spec-tailscale"));
    let pod = pod(&children);
    let tailscale = container(&pod, "tailscale");
    assert_eq!(
        env_value(&tailscale, "TS_HOSTNAME").as_deref(),
        Some("my-agent")
    );
    let key = env(&tailscale, "TS_AUTHKEY")
        .and_then(|v| v.value_from.clone())
        .and_then(|s| s.secret_key_ref)
        .unwrap_or_default();
    assert_eq!(
        (key.name.as_str(), key.key.as_str()),
        ("tailscale-authkey", "authkey")
    );
    let config = config(&children);
    assert_eq!(config["gateway"]["tailscale"]["mode"], "serve");
    assert_eq!(config["gateway"]["tailscale"]["resetOnExit"], true);
    let udp: Vec<IntOrString> = children
        .network_policy
        .and_then(|np| np.spec)
        .and_then(|s| s.egress)
        .unwrap_or_default()
        .into_iter()
        .flat_map(|rule| rule.ports.unwrap_or_default())
        .filter(|p| p.protocol.as_deref() == Some("UDP"))
        .filter_map(|p| p.port)
        .collect();
    assert!(udp.contains(&IntOrString::Int(3478)) && udp.contains(&IntOrString::Int(41641)));
    let sso = config_of("16-spec-tailscale");
    assert_eq!(sso["gateway"]["auth"]["allowTailscale"], true);
}

fn config_of(name: &str) -> Value {
    config(&built(&seed(name)))
}

#[test]
fn user_containers_run_after_ours() {
    let with_chromium = {
        let mut instance = seed("18-spec-initContainers");
        instance.spec.chromium.enabled = true;
        instance
    };
    let pod = pod(&built(&with_chromium));
    assert_eq!(
        names(pod.init_containers.as_deref().unwrap_or_default()),
        ["openclaw-init", "chromium", "fetch-data"]
    );
    let fetch = container(&pod, "fetch-data");
    assert_eq!(fetch.volume_mounts.unwrap_or_default()[0].name, "data");

    let pod = self::pod(&built(&seed("17-spec-sidecars")));
    assert_eq!(names(&pod.containers), ["openclaw", "cloudsql-proxy"]);
    let proxy = container(&pod, "cloudsql-proxy");
    assert_eq!(
        proxy.args.unwrap_or_default(),
        ["--structured-logs", "project:region:instance"]
    );
}

#[test]
fn production_example_builds_everything() {
    let children = built(&seed("20-production-agent"));
    let pod = pod(&children);
    assert_eq!(
        names(&all_containers(&pod)),
        [
            "openclaw-init",
            "openclaw-tailscale-cli",
            "chromium",
            "openclaw",
            "ollama",
            "tailscale"
        ]
    );
    assert!(children.service_monitor.is_some());
    let openclaw = container(&pod, "openclaw");
    // The heap cap is the supervisor's (75% of the cgroup's memory limit).
    assert_eq!(env_value(&openclaw, "NODE_OPTIONS"), None);
    let context = openclaw.security_context.unwrap_or_default();
    assert_eq!(context.run_as_user, Some(1000));
    assert_eq!(context.read_only_root_filesystem, Some(true));
    let plan = plan(&children);
    assert_eq!(plan.config.merge_mode, MergeMode::Merge);
    assert!(plan.runtime_deps.pnpm && !plan.runtime_deps.python);
    assert_eq!(pod.node_selector.unwrap_or_default().len(), 1);
}
