//! The NetworkPolicy `<name>`: deny by default; egress to DNS, HTTPS (and what the instance
//! needs besides); ingress to the gateway from the namespace and to the supervisor's status
//! port from the operator only. Chromium's and Ollama's ports stay on the pod's loopback.

use std::collections::BTreeMap;

use k8s_openapi::{
    api::networking::v1::{
        IPBlock, NetworkPolicy, NetworkPolicyEgressRule, NetworkPolicyIngressRule,
        NetworkPolicyPeer, NetworkPolicyPort, NetworkPolicySpec,
    },
    apimachinery::pkg::{apis::meta::v1::LabelSelector, util::intstr::IntOrString},
};
use openclaw_api::plan::GATEWAY_PORT;

use super::{BuildContext, labels, paths, service};

/// Label every namespace carries with its own name.
const NAMESPACE_NAME_LABEL: &str = "kubernetes.io/metadata.name";

/// Tailscale's STUN (NAT traversal) and WireGuard ports.
const TAILSCALE_UDP_PORTS: [i32; 2] = [3478, 41641];

/// The NetworkPolicy, unless `security.networkPolicy.enabled` is false.
pub fn network_policy(ctx: &BuildContext<'_>) -> Option<NetworkPolicy> {
    let spec = &ctx.spec().security.network_policy;
    if !spec.enabled {
        return None;
    }
    Some(NetworkPolicy {
        metadata: ctx.meta(ctx.name()),
        spec: Some(NetworkPolicySpec {
            pod_selector: Some(LabelSelector {
                match_labels: Some(labels::selector_labels(ctx.name())),
                ..LabelSelector::default()
            }),
            policy_types: Some(vec!["Ingress".to_owned(), "Egress".to_owned()]),
            ingress: Some(ingress(ctx)),
            egress: Some(egress(ctx)),
        }),
    })
}

fn ingress(ctx: &BuildContext<'_>) -> Vec<NetworkPolicyIngressRule> {
    let spec = &ctx.spec().security.network_policy;
    let status = i32::from(ctx.status_port());
    // The gateway, and the targets of the user's extra Service ports (never a loopback-only
    // sidecar port, never the status port).
    let mut gateway_ports = vec![tcp(i32::from(GATEWAY_PORT))];
    for port in service::ports(ctx).into_iter().skip(1) {
        let Some(IntOrString::Int(target)) = port.target_port else {
            continue;
        };
        if ![status, paths::CDP_PORT, paths::OLLAMA_PORT].contains(&target) {
            gateway_ports.push(NetworkPolicyPort {
                port: Some(IntOrString::Int(target)),
                protocol: port.protocol,
                ..NetworkPolicyPort::default()
            });
        }
    }
    let mut clients = vec![NetworkPolicyPeer {
        pod_selector: Some(LabelSelector::default()),
        ..NetworkPolicyPeer::default()
    }];
    clients.extend(
        spec.allowed_ingress_namespaces
            .iter()
            .map(|ns| namespace(ns)),
    );
    clients.extend(
        spec.allowed_ingress_cidrs
            .iter()
            .map(|cidr| NetworkPolicyPeer {
                ip_block: Some(IPBlock {
                    cidr: cidr.clone(),
                    except: None,
                }),
                ..NetworkPolicyPeer::default()
            }),
    );
    vec![
        NetworkPolicyIngressRule {
            from: Some(clients),
            ports: Some(gateway_ports),
        },
        // Probes come from the kubelet, which NetworkPolicies do not filter.
        NetworkPolicyIngressRule {
            from: Some(vec![namespace(ctx.operator_namespace)]),
            ports: Some(vec![tcp(status)]),
        },
    ]
}

fn egress(ctx: &BuildContext<'_>) -> Vec<NetworkPolicyEgressRule> {
    let spec = ctx.spec();
    let mut rules = Vec::new();
    if spec.security.network_policy.allow_dns {
        rules.push(anywhere(vec![port(53, "UDP"), port(53, "TCP")]));
    }
    let mut tcp_ports = vec![tcp(443)];
    if let Some(s3_port) = s3_port(ctx).filter(|p| *p != 443) {
        tcp_ports.push(tcp(s3_port));
    }
    // The node-local download cache, on the node's address.
    if let Some(cache) = ctx.node_agent.cache_port {
        tcp_ports.push(tcp(i32::from(cache)));
    }
    rules.push(anywhere(tcp_ports));
    if spec.tailscale.enabled {
        rules.push(anywhere(
            TAILSCALE_UDP_PORTS
                .iter()
                .map(|p| port(*p, "UDP"))
                .collect(),
        ));
    }
    rules.extend(
        spec.security
            .network_policy
            .additional_egress
            .iter()
            .cloned(),
    );
    rules
}

/// Port of the S3 endpoint the supervisor backs up to or restores from, when it uses one.
fn s3_port(ctx: &BuildContext<'_>) -> Option<i32> {
    if !ctx.uses_s3() {
        return None;
    }
    let endpoint = ctx.s3()?.endpoint?;
    let (default, rest) = match endpoint.split_once("://") {
        Some(("http", rest)) => (80, rest),
        Some((_, rest)) => (443, rest),
        None => (443, endpoint.as_str()),
    };
    let authority = rest.split(['/', '?']).next().unwrap_or_default();
    let authority = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    match authority.rsplit_once(':') {
        Some((host, port)) if !host.ends_with(':') && !port.ends_with(']') => {
            port.parse::<u16>().ok().map(i32::from)
        }
        _ => Some(default),
    }
}

fn namespace(name: &str) -> NetworkPolicyPeer {
    NetworkPolicyPeer {
        namespace_selector: Some(LabelSelector {
            match_labels: Some(BTreeMap::from([(
                NAMESPACE_NAME_LABEL.to_owned(),
                name.to_owned(),
            )])),
            ..LabelSelector::default()
        }),
        ..NetworkPolicyPeer::default()
    }
}

fn anywhere(ports: Vec<NetworkPolicyPort>) -> NetworkPolicyEgressRule {
    NetworkPolicyEgressRule {
        to: None,
        ports: Some(ports),
    }
}

fn tcp(number: i32) -> NetworkPolicyPort {
    port(number, "TCP")
}

fn port(number: i32, protocol: &str) -> NetworkPolicyPort {
    NetworkPolicyPort {
        port: Some(IntOrString::Int(number)),
        protocol: Some(protocol.to_owned()),
        ..NetworkPolicyPort::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::build::tests::{context, instance};

    fn ports(rule_ports: &Option<Vec<NetworkPolicyPort>>) -> Vec<(i32, String)> {
        rule_ports
            .clone()
            .unwrap_or_default()
            .into_iter()
            .filter_map(|p| match p.port {
                Some(IntOrString::Int(n)) => Some((n, p.protocol.unwrap_or_default())),
                _ => None,
            })
            .collect()
    }

    fn spec_of(yaml: &str) -> NetworkPolicySpec {
        let instance = instance(yaml);
        network_policy(&context(&instance))
            .and_then(|np| np.spec)
            .unwrap_or_default()
    }

    #[test]
    fn default_allows_dns_and_https_out_gateway_and_status_in() {
        let spec = spec_of("spec: {}");
        assert_eq!(
            spec.policy_types,
            Some(vec!["Ingress".to_owned(), "Egress".to_owned()])
        );
        let egress = spec.egress.unwrap_or_default();
        assert_eq!(egress.len(), 2);
        assert_eq!(
            ports(&egress[0].ports),
            [(53, "UDP".into()), (53, "TCP".into())]
        );
        assert_eq!(ports(&egress[1].ports), [(443, "TCP".into())]);
        assert!(egress.iter().all(|rule| rule.to.is_none()));
        let ingress = spec.ingress.unwrap_or_default();
        assert_eq!(ingress.len(), 2);
        assert_eq!(ports(&ingress[0].ports), [(18789, "TCP".into())]);
        let own_namespace = ingress[0].from.clone().unwrap_or_default();
        assert_eq!(own_namespace.len(), 1);
        assert!(own_namespace[0].namespace_selector.is_none());
        assert_eq!(ports(&ingress[1].ports), [(9090, "TCP".into())]);
        let operator = ingress[1].from.clone().unwrap_or_default();
        assert_eq!(
            operator[0]
                .namespace_selector
                .clone()
                .and_then(|s| s.match_labels)
                .unwrap_or_default()[NAMESPACE_NAME_LABEL],
            "openclaw-operator-system"
        );
        let all: Vec<i32> = ingress
            .iter()
            .flat_map(|r| ports(&r.ports))
            .map(|p| p.0)
            .collect();
        assert!(!all.contains(&9222) && !all.contains(&11434));
    }

    #[test]
    fn additions_tailscale_s3_and_extra_sources() {
        let spec = spec_of(
            r#"
spec:
  tailscale: {enabled: true, authKeySecretRef: {name: ts}}
  chromium: {enabled: true}
  backup: {s3: {bucket: agents, endpoint: "http://seaweed.storage:8333"}}
  networking: {service: {ports: [{name: cdp, port: 9222}, {name: db, port: 5432}]}}
  security:
    networkPolicy:
      allowDNS: false
      allowedIngressNamespaces: [ingress-nginx]
      allowedIngressCIDRs: [192.168.0.0/16]
      additionalEgress:
        - to: [{ipBlock: {cidr: 10.0.0.0/8}}]
          ports: [{port: 5432, protocol: TCP}]
"#,
        );
        let egress = spec.egress.unwrap_or_default();
        assert_eq!(
            ports(&egress[0].ports),
            [(443, "TCP".into()), (8333, "TCP".into())]
        );
        assert_eq!(
            ports(&egress[1].ports),
            [(3478, "UDP".into()), (41641, "UDP".into())]
        );
        assert_eq!(ports(&egress[2].ports), [(5432, "TCP".into())]);
        assert_eq!(
            egress[2].to.clone().unwrap_or_default()[0]
                .ip_block
                .clone()
                .map(|b| b.cidr)
                .as_deref(),
            Some("10.0.0.0/8")
        );
        let ingress = spec.ingress.unwrap_or_default();
        assert_eq!(
            ports(&ingress[0].ports),
            [(18789, "TCP".into()), (5432, "TCP".into())],
            "never CDP, even through a Service port"
        );
        assert_eq!(ingress[0].from.clone().unwrap_or_default().len(), 3);
    }

    #[test]
    fn s3_endpoint_ports() {
        for (endpoint, expected) in [
            ("https://s3.eu-west-3.amazonaws.com", None),
            ("http://minio.storage:9000/", Some(9000)),
            ("http://minio.storage", Some(80)),
            ("http://[fd00::1]:9000", Some(9000)),
        ] {
            let instance = instance(&format!(
                "spec:\n  backup: {{s3: {{bucket: b, endpoint: \"{endpoint}\"}}}}\n"
            ));
            let egress = network_policy(&context(&instance))
                .and_then(|np| np.spec)
                .and_then(|s| s.egress)
                .unwrap_or_default();
            let extra = ports(&egress[1].ports).get(1).map(|p| p.0);
            assert_eq!(extra, expected, "{endpoint}");
        }
        assert!(
            network_policy(&context(&instance(
                "spec:\n  security: {networkPolicy: {enabled: false}}\n"
            )))
            .is_none()
        );
    }
}
