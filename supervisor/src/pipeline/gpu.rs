//! NVIDIA facts of the node, read from `/proc/driver/nvidia`: the parsing lives in
//! [`openclaw_api::gpu`], shared with the node agent, which reports the same facts as Node
//! annotations.
//!
//! The driver's `/proc` files are visible in every container of a node with the driver loaded,
//! also in the supervisor's container, which has no GPU of its own: they describe the node.

pub use openclaw_api::gpu::{node_facts, parse_information, parse_version};
pub use openclaw_api::supervisor::{NodeGpu, NodeGpuFacts};
