//! Shared harness of the tests that run against the real local control plane.

pub mod cluster;
pub mod json;
pub mod seed;

pub use cluster::{TestCluster, TestNamespace};
