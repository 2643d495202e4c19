//! Where the pod may run: the user's affinity, plus, when the pod runs under the node agent's
//! Localhost seccomp profile, a required node affinity on the label that says a node holds that
//! version of it. The kubelet refuses to start a container whose Localhost profile file is
//! missing, so a pod must never be placed where the file is not; the label is the node agent's
//! promise that it is.

use k8s_openapi::api::core::v1::{
    Affinity, NodeAffinity, NodeSelector, NodeSelectorRequirement, NodeSelectorTerm,
};

use super::super::BuildContext;

/// The pod's affinity: the user's, with the profile's node requirement added to each of its
/// required node selector terms (terms are alternatives, so each must carry it).
pub fn affinity(user: Option<Affinity>, ctx: &BuildContext<'_>) -> Option<Affinity> {
    let Some(profile) = &ctx.node_agent.localhost_profile else {
        return user;
    };
    let requirement = NodeSelectorRequirement {
        key: profile.node_label(),
        operator: "Exists".to_owned(),
        values: None,
    };
    let mut affinity = user.unwrap_or_default();
    let node = affinity
        .node_affinity
        .get_or_insert_with(NodeAffinity::default);
    let required = node
        .required_during_scheduling_ignored_during_execution
        .get_or_insert_with(NodeSelector::default);
    if required.node_selector_terms.is_empty() {
        required
            .node_selector_terms
            .push(NodeSelectorTerm::default());
    }
    for term in &mut required.node_selector_terms {
        term.match_expressions
            .get_or_insert_with(Vec::new)
            .push(requirement.clone());
    }
    Some(affinity)
}

#[cfg(test)]
mod tests {
    use openclaw_api::node::LocalhostProfile;

    use super::*;
    use crate::build::{
        NodeAgent,
        tests::{context, instance},
    };

    #[test]
    fn without_the_profile_the_users_affinity_is_untouched() {
        let instance = instance("spec: {}");
        let ctx = context(&instance);
        assert_eq!(affinity(None, &ctx), None);
    }

    #[test]
    fn every_required_term_needs_the_profile() -> anyhow::Result<()> {
        let instance = instance("spec: {}");
        let mut ctx = context(&instance);
        let profile = LocalhostProfile::gateway();
        ctx.node_agent = NodeAgent {
            localhost_profile: Some(profile.clone()),
            cache_port: None,
        };
        let alone = affinity(None, &ctx).unwrap_or_default();
        let terms = alone
            .node_affinity
            .and_then(|n| n.required_during_scheduling_ignored_during_execution)
            .map(|r| r.node_selector_terms)
            .unwrap_or_default();
        assert_eq!(terms.len(), 1);
        let keys = |term: &NodeSelectorTerm| -> Vec<String> {
            term.match_expressions
                .iter()
                .flatten()
                .map(|e| format!("{} {}", e.key, e.operator))
                .collect()
        };
        assert_eq!(
            keys(&terms[0]),
            [format!("{} Exists", profile.node_label())]
        );

        let user: Affinity = serde_json::from_value(serde_json::json!({
            "nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
                {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]},
                {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["b"]}]}
            ]}},
            "podAntiAffinity": {}
        }))?;
        let merged = affinity(Some(user), &ctx).unwrap_or_default();
        assert!(merged.pod_anti_affinity.is_some());
        let terms = merged
            .node_affinity
            .and_then(|n| n.required_during_scheduling_ignored_during_execution)
            .map(|r| r.node_selector_terms)
            .unwrap_or_default();
        for term in &terms {
            assert_eq!(
                keys(term),
                [
                    "zone In".to_owned(),
                    format!("{} Exists", profile.node_label())
                ]
            );
        }
        Ok(())
    }
}
