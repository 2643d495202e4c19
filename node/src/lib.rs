//! `openclaw-node`, the operator's node agent (a DaemonSet): it installs the project's seccomp
//! profiles into the kubelet's seccomp directory and labels its Node when they are in place,
//! reports the node's GPU facts as Node annotations, and serves the node-local,
//! content-addressed download cache the agent pods on the node use as their mirror.

pub mod agent;
pub mod cache;
pub mod cli;
pub mod http;
pub mod metrics;
pub mod node_patch;
pub mod seccomp;

/// An error and its sources on one line (`a: b: c`).
pub fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
