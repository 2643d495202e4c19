//! `openclaw-node`, the operator's node agent (a DaemonSet): it installs the project's seccomp
//! profiles into the kubelet's seccomp directory and labels its Node when they are in place,
//! reports the node's GPU facts as Node annotations, and serves the node-local,
//! content-addressed download cache the agent pods on the node use as their mirror.

pub mod cache;
