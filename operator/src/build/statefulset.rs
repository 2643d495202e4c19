//! The StatefulSet `<name>`: one pod (none when suspended), replaced in place on every change
//! of its template, which carries the hashes of the configuration and of what it references.

use k8s_openapi::{
    api::apps::v1::{StatefulSet, StatefulSetSpec, StatefulSetUpdateStrategy},
    apimachinery::pkg::apis::meta::v1::LabelSelector,
};

use super::{BuildContext, BuildError, labels, pod};

/// The StatefulSet; `config_hash` is the content hash of the instance's ConfigMap.
pub fn stateful_set(ctx: &BuildContext<'_>, config_hash: &str) -> Result<StatefulSet, BuildError> {
    Ok(StatefulSet {
        metadata: ctx.meta(ctx.name()),
        spec: Some(StatefulSetSpec {
            replicas: Some(if ctx.spec().suspend { 0 } else { 1 }),
            selector: LabelSelector {
                match_labels: Some(labels::selector_labels(ctx.name())),
                ..LabelSelector::default()
            },
            service_name: Some(ctx.name().to_owned()),
            pod_management_policy: Some("Parallel".to_owned()),
            update_strategy: Some(StatefulSetUpdateStrategy {
                type_: Some("RollingUpdate".to_owned()),
                rolling_update: None,
            }),
            template: pod::template(ctx, config_hash)?,
            ..StatefulSetSpec::default()
        }),
        ..StatefulSet::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::build::tests::{context, instance};

    #[test]
    fn one_pod_or_none_when_suspended() -> Result<(), BuildError> {
        let running =
            instance("spec:\n  podAnnotations: {team: a, openclaw.rocks/config-hash: mine}\n");
        let set = stateful_set(&context(&running), "abc")?;
        let spec = set.spec.unwrap_or_default();
        assert_eq!(spec.replicas, Some(1));
        assert_eq!(spec.service_name.as_deref(), Some("my-agent"));
        assert_eq!(spec.pod_management_policy.as_deref(), Some("Parallel"));
        assert_eq!(
            spec.selector.match_labels,
            Some(labels::selector_labels("my-agent"))
        );
        let annotations = spec
            .template
            .metadata
            .and_then(|m| m.annotations)
            .unwrap_or_default();
        assert_eq!(annotations["openclaw.rocks/config-hash"], "abc");
        assert_eq!(annotations["openclaw.rocks/inputs-hash"], "inputs");
        assert_eq!(annotations["team"], "a");
        let suspended = instance("spec:\n  suspend: true\n");
        let spec = stateful_set(&context(&suspended), "abc")?
            .spec
            .unwrap_or_default();
        assert_eq!(spec.replicas, Some(0));
        Ok(())
    }
}
