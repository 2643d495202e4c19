//! What the node agent changes in an agent's pod: the gateway's Localhost seccomp profile on the
//! `openclaw` and init containers only, the node requirement, and the node cache as a mirror
//! that the NetworkPolicy lets the pod reach.

use openclaw_api::node::LocalhostProfile;

use super::{context, instance, violations};
use crate::build::{NodeAgent, build};

fn seccomp_types(
    containers: &[k8s_openapi::api::core::v1::Container],
) -> Vec<(String, String, Option<String>)> {
    containers
        .iter()
        .map(|c| {
            let profile = c
                .security_context
                .as_ref()
                .and_then(|s| s.seccomp_profile.clone())
                .unwrap_or_default();
            (c.name.clone(), profile.type_, profile.localhost_profile)
        })
        .collect()
}

#[test]
fn the_gateway_runs_under_the_nodes_profile_and_the_cache_is_its_mirror() -> anyhow::Result<()> {
    let instance = instance("spec: {chromium: {enabled: true}, ollama: {enabled: true}}");
    let mut ctx = context(&instance);
    let profile = LocalhostProfile::gateway();
    ctx.node_agent = NodeAgent {
        localhost_profile: Some(profile.clone()),
        cache_port: Some(18_800),
    };
    let children = build(&ctx)?;
    let pod = children
        .stateful_set
        .spec
        .and_then(|s| s.template.spec)
        .unwrap_or_default();
    let localhost = ("Localhost".to_owned(), Some(profile.localhost_path()));
    for (name, kind, path) in seccomp_types(&pod.containers)
        .into_iter()
        .chain(seccomp_types(
            pod.init_containers.as_deref().unwrap_or_default(),
        ))
    {
        if name == "openclaw" || name == "openclaw-init" {
            assert_eq!((kind, path), localhost.clone(), "{name}");
        } else {
            assert_eq!(kind, "RuntimeDefault", "{name}");
        }
    }
    assert_eq!(
        pod.security_context
            .as_ref()
            .and_then(|s| s.seccomp_profile.as_ref())
            .map(|p| p.type_.as_str()),
        Some("RuntimeDefault"),
        "the pod's own default stays RuntimeDefault"
    );
    assert!(violations(&pod).is_empty(), "{:?}", violations(&pod));
    let required = pod
        .affinity
        .and_then(|a| {
            a.node_affinity?
                .required_during_scheduling_ignored_during_execution
        })
        .map(|r| r.node_selector_terms)
        .unwrap_or_default();
    assert!(
        required[0]
            .match_expressions
            .iter()
            .flatten()
            .any(|e| e.key == profile.node_label()),
        "{required:?}"
    );

    let env = &pod.containers[0].env.clone().unwrap_or_default();
    let position = |name: &str| env.iter().position(|e| e.name == name);
    let (Some(ip), Some(cache)) = (
        position("OPENCLAW_NODE_IP"),
        position("OPENCLAW_NODE_CACHE"),
    ) else {
        panic!("no node cache variables: {env:?}");
    };
    assert!(ip < cache, "the node IP must be defined before it is used");
    assert_eq!(
        env[ip]
            .value_from
            .as_ref()
            .and_then(|v| v.field_ref.as_ref())
            .map(|f| f.field_path.as_str()),
        Some("status.hostIP")
    );
    assert_eq!(
        env[cache].value.as_deref(),
        Some("http://$(OPENCLAW_NODE_IP):18800")
    );
    let policy = children
        .network_policy
        .and_then(|p| p.spec)
        .unwrap_or_default();
    let egress_ports: Vec<String> = policy
        .egress
        .iter()
        .flatten()
        .flat_map(|rule| rule.ports.iter().flatten())
        .filter_map(|p| p.port.as_ref().map(|p| format!("{p:?}")))
        .collect();
    assert!(
        egress_ports.iter().any(|p| p.contains("18800")),
        "{egress_ports:?}"
    );
    Ok(())
}

#[test]
fn without_the_node_agent_nothing_changes() -> anyhow::Result<()> {
    let instance = instance("spec: {}");
    let children = build(&context(&instance))?;
    let pod = children
        .stateful_set
        .spec
        .and_then(|s| s.template.spec)
        .unwrap_or_default();
    assert!(
        seccomp_types(&pod.containers)
            .iter()
            .all(|(_, kind, _)| kind == "RuntimeDefault")
    );
    assert_eq!(pod.affinity, None);
    assert!(
        pod.containers[0]
            .env
            .iter()
            .flatten()
            .all(|e| !e.name.starts_with("OPENCLAW_NODE"))
    );
    Ok(())
}
