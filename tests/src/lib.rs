//! Shared harness of the tests that run against the real local control plane.

pub mod backup;
pub mod cluster;
pub mod images;
pub mod instances;
pub mod json;
pub mod operator;
pub mod pod;
pub mod process;
pub mod real_node;
pub mod seed;
pub mod wait;

pub use cluster::{TestCluster, TestNamespace};
