//! The Service `<name>`: the gateway on 18789, the supervisor's metrics when enabled, and the
//! user's extra ports.

use k8s_openapi::{
    api::core::v1::{Service, ServicePort, ServiceSpec},
    apimachinery::pkg::util::intstr::IntOrString,
};
use openclaw_api::{
    instance::networking::{Protocol, ServiceType},
    plan::GATEWAY_PORT,
};

use super::{BuildContext, labels};

/// Name of the gateway port, on the Service and the container.
pub const GATEWAY_PORT_NAME: &str = "gateway";
/// Name of the metrics port on the Service (the container's `status` port).
pub const METRICS_PORT_NAME: &str = "metrics";

/// The Service in front of the pod.
pub fn service(ctx: &BuildContext<'_>) -> Service {
    let spec = &ctx.spec().networking.service;
    let mut metadata = ctx.meta(ctx.name());
    if !spec.annotations.is_empty() {
        metadata.annotations = Some(spec.annotations.clone());
    }
    let type_ = match spec.type_ {
        ServiceType::ClusterIP => "ClusterIP",
        ServiceType::NodePort => "NodePort",
        ServiceType::LoadBalancer => "LoadBalancer",
    };
    Service {
        metadata,
        spec: Some(ServiceSpec {
            type_: Some(type_.to_owned()),
            selector: Some(labels::selector_labels(ctx.name())),
            ports: Some(ports(ctx)),
            ..ServiceSpec::default()
        }),
        ..Service::default()
    }
}

/// The Service's ports; a user port named like one of ours is ignored.
pub fn ports(ctx: &BuildContext<'_>) -> Vec<ServicePort> {
    let gateway = i32::from(GATEWAY_PORT);
    let mut ports = vec![port(GATEWAY_PORT_NAME, gateway, gateway, "TCP")];
    if ctx.spec().observability.metrics.enabled {
        let status = i32::from(ctx.status_port());
        ports.push(port(METRICS_PORT_NAME, status, status, "TCP"));
    }
    for extra in &ctx.spec().networking.service.ports {
        if ports
            .iter()
            .any(|p| p.name.as_deref() == Some(extra.name.as_str()))
        {
            continue;
        }
        let protocol = match extra.protocol {
            Protocol::Tcp => "TCP",
            Protocol::Udp => "UDP",
            Protocol::Sctp => "SCTP",
        };
        ports.push(port(
            &extra.name,
            extra.port,
            extra.target_port.unwrap_or(extra.port),
            protocol,
        ));
    }
    ports
}

fn port(name: &str, port: i32, target: i32, protocol: &str) -> ServicePort {
    ServicePort {
        name: Some(name.to_owned()),
        port,
        target_port: Some(IntOrString::Int(target)),
        protocol: Some(protocol.to_owned()),
        ..ServicePort::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::build::tests::{context, instance};

    fn summary(service: &Service) -> Vec<(String, i32, Option<IntOrString>)> {
        service
            .spec
            .as_ref()
            .and_then(|s| s.ports.clone())
            .unwrap_or_default()
            .into_iter()
            .map(|p| (p.name.unwrap_or_default(), p.port, p.target_port))
            .collect()
    }

    #[test]
    fn gateway_and_metrics_by_default() {
        let instance = instance("spec: {}");
        let service = service(&context(&instance));
        assert_eq!(
            summary(&service),
            [
                ("gateway".to_owned(), 18789, Some(IntOrString::Int(18789))),
                ("metrics".to_owned(), 9090, Some(IntOrString::Int(9090)))
            ]
        );
        let spec = service.spec.unwrap_or_default();
        assert_eq!(spec.type_.as_deref(), Some("ClusterIP"));
        assert_eq!(spec.selector, Some(labels::selector_labels("my-agent")));
    }

    #[test]
    fn type_annotations_and_extra_ports() {
        let instance = instance(
            r#"
spec:
  observability: {metrics: {enabled: false}}
  networking:
    service:
      type: LoadBalancer
      annotations: {service.beta.kubernetes.io/aws-load-balancer-internal: "true"}
      ports: [{name: proxy, port: 5432, targetPort: 15432}, {name: gateway, port: 1}]
"#,
        );
        let service = service(&context(&instance));
        assert_eq!(
            summary(&service),
            [
                ("gateway".to_owned(), 18789, Some(IntOrString::Int(18789))),
                ("proxy".to_owned(), 5432, Some(IntOrString::Int(15432)))
            ]
        );
        assert_eq!(
            service.spec.and_then(|s| s.type_).as_deref(),
            Some("LoadBalancer")
        );
        assert!(service.metadata.annotations.is_some());
    }
}
