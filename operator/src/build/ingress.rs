//! The Ingress `<name>` in front of the gateway, when `spec.networking.ingress.enabled`. Its
//! controller's namespace must be in `security.networkPolicy.allowedIngressNamespaces`.

use k8s_openapi::api::networking::v1::{
    HTTPIngressPath, HTTPIngressRuleValue, Ingress, IngressBackend, IngressRule,
    IngressServiceBackend, IngressSpec, IngressTLS, ServiceBackendPort,
};
use openclaw_api::{instance::networking::PathType, plan::GATEWAY_PORT};

use super::BuildContext;

/// The Ingress, when enabled.
pub fn ingress(ctx: &BuildContext<'_>) -> Option<Ingress> {
    let spec = &ctx.spec().networking.ingress;
    if !spec.enabled {
        return None;
    }
    let mut metadata = ctx.meta(ctx.name());
    if !spec.annotations.is_empty() {
        metadata.annotations = Some(spec.annotations.clone());
    }
    let backend = |port: Option<i32>| IngressBackend {
        service: Some(IngressServiceBackend {
            name: ctx.name().to_owned(),
            port: Some(ServiceBackendPort {
                number: Some(port.unwrap_or(i32::from(GATEWAY_PORT))),
                ..ServiceBackendPort::default()
            }),
        }),
        ..IngressBackend::default()
    };
    let rules = spec
        .hosts
        .iter()
        .map(|host| {
            let paths = if host.paths.is_empty() {
                vec![HTTPIngressPath {
                    path: Some("/".to_owned()),
                    path_type: "Prefix".to_owned(),
                    backend: backend(None),
                }]
            } else {
                host.paths
                    .iter()
                    .map(|path| HTTPIngressPath {
                        path: Some(path.path.clone()),
                        path_type: path_type(path.path_type).to_owned(),
                        backend: backend(path.port),
                    })
                    .collect()
            };
            IngressRule {
                host: Some(host.host.clone()),
                http: Some(HTTPIngressRuleValue { paths }),
            }
        })
        .collect();
    let tls: Vec<IngressTLS> = spec
        .tls
        .iter()
        .map(|tls| IngressTLS {
            hosts: Some(tls.hosts.clone()),
            secret_name: tls.secret_name.clone(),
        })
        .collect();
    Some(Ingress {
        metadata,
        spec: Some(IngressSpec {
            ingress_class_name: spec.class_name.clone(),
            rules: Some(rules),
            tls: (!tls.is_empty()).then_some(tls),
            ..IngressSpec::default()
        }),
        ..Ingress::default()
    })
}

fn path_type(path_type: PathType) -> &'static str {
    match path_type {
        PathType::Prefix => "Prefix",
        PathType::Exact => "Exact",
        PathType::ImplementationSpecific => "ImplementationSpecific",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::build::tests::{context, instance};

    #[test]
    fn routes_hosts_to_the_gateway() {
        let instance = instance(
            r#"
spec:
  networking:
    ingress:
      enabled: true
      className: nginx
      hosts: [{host: agent.example.com}, {host: api.example.com, paths: [{path: /v1, pathType: Exact, port: 9000}]}]
      tls: [{hosts: [agent.example.com], secretName: agent-tls}]
"#,
        );
        let ingress = ingress(&context(&instance)).unwrap_or_default();
        let spec = ingress.spec.unwrap_or_default();
        assert_eq!(spec.ingress_class_name.as_deref(), Some("nginx"));
        let rules = spec.rules.unwrap_or_default();
        let path = |i: usize| rules[i].http.clone().unwrap_or_default().paths[0].clone();
        assert_eq!(path(0).path.as_deref(), Some("/"));
        let port = |i: usize| {
            path(i)
                .backend
                .service
                .and_then(|s| s.port)
                .and_then(|p| p.number)
        };
        assert_eq!(port(0), Some(18789));
        assert_eq!(port(1), Some(9000));
        assert_eq!(path(1).path_type, "Exact");
        assert_eq!(
            spec.tls.unwrap_or_default()[0].secret_name.as_deref(),
            Some("agent-tls")
        );
    }

    #[test]
    fn none_unless_enabled() {
        let instance = instance("spec: {}");
        assert!(ingress(&context(&instance)).is_none());
    }
}
