//! The Prometheus Operator ServiceMonitor `<name>` (`monitoring.coreos.com/v1`), built as a
//! `DynamicObject` because its CRD may not exist.

use kube::api::{ApiResource, DynamicObject, GroupVersionKind};
use serde_json::json;

use super::{BuildContext, labels, service::METRICS_PORT_NAME};

/// The ServiceMonitor's group, version and kind.
pub fn gvk() -> GroupVersionKind {
    GroupVersionKind::gvk("monitoring.coreos.com", "v1", "ServiceMonitor")
}

/// The ServiceMonitor, when metrics and the ServiceMonitor are enabled and its CRD exists.
pub fn service_monitor(ctx: &BuildContext<'_>) -> Option<DynamicObject> {
    let metrics = &ctx.spec().observability.metrics;
    if !(metrics.enabled && metrics.service_monitor.enabled && ctx.service_monitor_crd) {
        return None;
    }
    let mut metadata = ctx.meta(ctx.name());
    let mut object_labels = metrics.service_monitor.labels.clone();
    object_labels.extend(labels::labels(ctx.name()));
    metadata.labels = Some(object_labels);
    let mut monitor = DynamicObject::new(ctx.name(), &ApiResource::from_gvk(&gvk()));
    monitor.metadata = metadata;
    monitor.data = json!({
        "spec": {
            "selector": {"matchLabels": labels::selector_labels(ctx.name())},
            "namespaceSelector": {"matchNames": [ctx.namespace()]},
            "endpoints": [{
                "port": METRICS_PORT_NAME,
                "path": "/metrics",
                "interval": metrics.service_monitor.interval,
            }],
        }
    });
    Some(monitor)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::build::tests::{context, instance};

    #[test]
    fn scrapes_the_metrics_port_when_wanted_and_possible() {
        let instance = instance(
            "spec:\n  observability:\n    metrics:\n      serviceMonitor: {enabled: true, interval: 15s, labels: {release: prom}}\n",
        );
        let mut ctx = context(&instance);
        assert!(service_monitor(&ctx).is_none(), "no CRD, no ServiceMonitor");
        ctx.service_monitor_crd = true;
        let monitor = service_monitor(&ctx).unwrap_or_else(|| panic!("no ServiceMonitor"));
        let types = monitor.types.clone().unwrap_or_default();
        assert_eq!(types.api_version, "monitoring.coreos.com/v1");
        assert_eq!(types.kind, "ServiceMonitor");
        let labels = monitor.metadata.labels.clone().unwrap_or_default();
        assert_eq!(labels["release"], "prom");
        assert_eq!(labels["app.kubernetes.io/instance"], "my-agent");
        assert!(monitor.metadata.owner_references.is_some());
        let endpoint = &monitor.data["spec"]["endpoints"][0];
        assert_eq!(endpoint["port"], "metrics");
        assert_eq!(endpoint["path"], "/metrics");
        assert_eq!(endpoint["interval"], "15s");
        assert_eq!(
            monitor.data["spec"]["selector"]["matchLabels"]["app.kubernetes.io/name"],
            "openclaw"
        );
    }

    #[test]
    fn off_by_default() {
        let instance = instance("spec: {}");
        let mut ctx = context(&instance);
        ctx.service_monitor_crd = true;
        assert!(service_monitor(&ctx).is_none());
    }
}
