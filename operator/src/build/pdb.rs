//! The PodDisruptionBudget `<name>`, so node drains go through the eviction API.

use k8s_openapi::{
    api::policy::v1::{PodDisruptionBudget, PodDisruptionBudgetSpec},
    apimachinery::pkg::apis::meta::v1::LabelSelector,
};

use super::{BuildContext, labels};

/// The PodDisruptionBudget, unless `availability.podDisruptionBudget.enabled` is false.
pub fn pdb(ctx: &BuildContext<'_>) -> Option<PodDisruptionBudget> {
    let spec = &ctx.spec().availability.pod_disruption_budget;
    spec.enabled.then(|| PodDisruptionBudget {
        metadata: ctx.meta(ctx.name()),
        spec: Some(PodDisruptionBudgetSpec {
            max_unavailable: Some(spec.max_unavailable.clone()),
            selector: Some(LabelSelector {
                match_labels: Some(labels::selector_labels(ctx.name())),
                ..LabelSelector::default()
            }),
            ..PodDisruptionBudgetSpec::default()
        }),
        ..PodDisruptionBudget::default()
    })
}

#[cfg(test)]
mod tests {
    use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

    use super::*;
    use crate::build::tests::{context, instance};

    #[test]
    fn one_pod_may_go_by_default() {
        let instance = instance("spec: {}");
        let spec = pdb(&context(&instance))
            .and_then(|p| p.spec)
            .unwrap_or_default();
        assert_eq!(spec.max_unavailable, Some(IntOrString::Int(1)));
        assert_eq!(
            spec.selector.and_then(|s| s.match_labels),
            Some(labels::selector_labels("my-agent"))
        );
    }

    #[test]
    fn tunable_and_removable() {
        let zero =
            instance("spec:\n  availability:\n    podDisruptionBudget: {maxUnavailable: 0}\n");
        let spec = pdb(&context(&zero))
            .and_then(|p| p.spec)
            .unwrap_or_default();
        assert_eq!(spec.max_unavailable, Some(IntOrString::Int(0)));
        let off = instance("spec:\n  availability:\n    podDisruptionBudget: {enabled: false}\n");
        assert!(pdb(&context(&off)).is_none());
    }
}
