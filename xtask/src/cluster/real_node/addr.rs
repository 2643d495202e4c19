//! Names and addresses of the real node, all inside the benchmarking range 198.18.0.0/15.

/// The whole test range: anything in it that is not on the bridge is unreachable.
pub const TEST_RANGE: &str = "198.18.0.0/15";
/// The bridge the node's pods are attached to (no outside interface is ever added to it).
pub const BRIDGE: &str = "ocbr0";
/// The node's address on the bridge: the pods' gateway, the kubelet, the API server, the
/// registry and every host service a pod may reach.
pub const NODE_IP: &str = "198.18.0.1";
/// Prefix length of the node's pod subnet on the bridge.
pub const POD_PREFIX: u8 = 24;
/// `node-0`'s pod CIDR (its `spec.podCIDR`), on the bridge.
pub const NODE_POD_CIDR: &str = "198.18.0.0/24";
/// The cluster's pod CIDR (kube-proxy's local-traffic detection).
pub const CLUSTER_POD_CIDR: &str = "198.18.0.0/16";
/// First address host-local IPAM hands out (below it: the gateway and spare addresses).
pub const POD_RANGE_START: &str = "198.18.0.10";
/// Last address host-local IPAM hands out.
pub const POD_RANGE_END: &str = "198.18.0.250";
/// Service ClusterIPs.
pub const SERVICE_CIDR: &str = "198.19.0.0/16";
/// Fake pod IPs KWOK hands out on its nodes (never routed: inside the unreachable range).
pub const KWOK_POD_CIDR: &str = "198.18.128.0/17";
/// The KWOK nodes' fake InternalIP.
pub const KWOK_NODE_IP: &str = "198.18.255.254";
/// The real node's name.
pub const NODE_NAME: &str = "node-0";
/// Port of the local image registry on the node's address.
pub const REGISTRY_PORT: u16 = 5000;

/// `198.18.0.1:5000`: the registry as pods, containerd and the host reach it.
pub fn registry_host() -> String {
    format!("{NODE_IP}:{REGISTRY_PORT}")
}
