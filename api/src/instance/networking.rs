//! `spec.networking` (the Service and an optional Ingress) and `spec.gateway` (the gateway's
//! token and allowed Control UI origins).

use std::collections::BTreeMap;

use kube::KubeSchema;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::schema::{DNS_LABEL, DNS_SUBDOMAIN, is_default};

/// A host name, optionally a wildcard (`*.example.com`).
const HOST: &str = r"^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$";

/// How the gateway is reached from inside and outside the cluster.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NetworkingSpec {
    /// The Service named after the instance, in front of the gateway port 18789.
    #[serde(default, skip_serializing_if = "is_default")]
    pub service: ServiceSpec,

    /// An optional Ingress to the gateway.
    #[serde(default, skip_serializing_if = "is_default")]
    pub ingress: IngressSpec,
}

/// The instance's Service.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct ServiceSpec {
    /// Service type: `ClusterIP` (the default), `NodePort` or `LoadBalancer`. Anything but
    /// ClusterIP publishes the gateway beyond the cluster; keep the gateway token secret.
    #[serde(default, rename = "type")]
    pub type_: ServiceType,

    /// Annotations on the Service (for a cloud load balancer, for example).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(extend("maxProperties" = 64))]
    pub annotations: BTreeMap<String, String>,

    /// Extra ports on the Service, besides the gateway port (`gateway`, 18789).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 20), extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["name"]))]
    #[x_kube(validation = Rule::new("self.all(p, p.port != 18789)")
        .message("spec.networking.service.ports: port 18789 is the gateway's"))]
    pub ports: Vec<ServicePortSpec>,
}

/// Kubernetes Service type.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
pub enum ServiceType {
    /// Reachable inside the cluster only.
    #[default]
    ClusterIP,
    /// Also on a port of every node.
    NodePort,
    /// Also through a cloud load balancer.
    LoadBalancer,
}

/// One extra port of the Service.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct ServicePortSpec {
    /// Port name, unique in the Service (at most 15 characters, with a letter, no `--`).
    #[schemars(length(min = 1, max = 15), regex(pattern = DNS_LABEL))]
    #[x_kube(validation = Rule::new("self.matches('[a-z]') && !self.contains('--')")
        .message("spec.networking.service.ports[].name: a Service port name needs a letter and no '--' (an IANA service name)"))]
    pub name: String,

    /// Port the Service listens on.
    #[schemars(range(min = 1, max = 65535))]
    pub port: i32,

    /// Container port the traffic goes to; `port` when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 65535))]
    pub target_port: Option<i32>,

    /// `TCP` (the default), `UDP` or `SCTP`.
    #[serde(default)]
    pub protocol: Protocol,
}

/// Transport protocol of a port.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum Protocol {
    /// TCP.
    #[default]
    Tcp,
    /// UDP.
    Udp,
    /// SCTP.
    Sctp,
}

/// An Ingress in front of the gateway. Serve it over TLS: the admission webhook warns when
/// `tls` is empty.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("!has(self.enabled) || !self.enabled || (has(self.hosts) && size(self.hosts) > 0)")
    .message("spec.networking.ingress.hosts: at least one host is required when the ingress is enabled"))]
pub struct IngressSpec {
    /// Create the Ingress. Defaults to false.
    #[serde(default)]
    pub enabled: bool,

    /// IngressClass to use; the cluster's default class when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    pub class_name: Option<String>,

    /// Annotations on the Ingress (for the ingress controller or cert-manager).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(extend("maxProperties" = 64))]
    pub annotations: BTreeMap<String, String>,

    /// Host names routed to the gateway, each with its paths.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 20))]
    pub hosts: Vec<IngressHost>,

    /// TLS termination: which hosts use which certificate Secret.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 20))]
    pub tls: Vec<IngressTls>,
}

/// One host of the Ingress.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct IngressHost {
    /// Host name, for example `agent.example.com` (a leading `*.` wildcard is allowed).
    #[schemars(length(min = 1, max = 253), regex(pattern = HOST))]
    pub host: String,

    /// Paths routed to the gateway; `/` (Prefix) when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 20))]
    pub paths: Vec<IngressPath>,
}

/// One path of an Ingress host.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct IngressPath {
    /// URL path, starting with `/`. Defaults to `/`.
    #[serde(default = "root_path")]
    #[schemars(length(min = 1, max = 1024), regex(pattern = r"^/"))]
    pub path: String,

    /// How `path` matches: `Prefix` (the default), `Exact` or `ImplementationSpecific`.
    #[serde(default)]
    pub path_type: PathType,

    /// Service port the path goes to; the gateway port (18789) when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 65535))]
    pub port: Option<i32>,
}

/// How an Ingress path matches.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
pub enum PathType {
    /// Matches the path and everything below it.
    #[default]
    Prefix,
    /// Matches the path exactly.
    Exact,
    /// Left to the ingress controller.
    ImplementationSpecific,
}

/// TLS settings of some Ingress hosts.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct IngressTls {
    /// Hosts covered by the certificate.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 20), inner(length(min = 1, max = 253), regex(pattern = HOST)))]
    pub hosts: Vec<String>,

    /// Secret holding the certificate (`tls.crt`, `tls.key`); the ingress controller's default
    /// certificate when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253), regex(pattern = DNS_SUBDOMAIN))]
    pub secret_name: Option<String>,
}

/// The gateway's authentication and browser origins.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GatewaySpec {
    /// Secret (in the instance's namespace) whose `token` key is the gateway token. When unset
    /// the operator generates a random token per instance into a Secret it owns; the token never
    /// goes into a ConfigMap.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253), regex(pattern = DNS_SUBDOMAIN))]
    pub existing_secret: Option<String>,

    /// Extra origins allowed to open the Control UI, for example `https://agent.example.com`.
    /// Localhost and the Ingress hosts are always allowed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(
        length(max = 20),
        inner(length(min = 1, max = 253), regex(pattern = r"^https?://[^\s/]+$"))
    )]
    pub control_ui_origins: Vec<String>,
}

fn root_path() -> String {
    "/".to_owned()
}
