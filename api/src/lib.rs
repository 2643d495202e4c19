//! Shared API of OpenClaw on Kubernetes: the CRD types and the operator-to-supervisor runtime plan.
//!
//! This crate has no HTTP client and no async runtime: the operator, the in-pod supervisor and the
//! tooling all read the same types, so a change on one side shows up as a compile error on the
//! other.
//!
//! - [`instance`]: `OpenClawInstance` (`openclawinstances.openclaw.rocks/v1alpha1`), spec and status.
//! - [`defaults`]: `OpenClawClusterDefaults`, the cluster-wide singleton named `cluster`.
//! - [`plan`]: [`RuntimePlan`], what the operator tells the supervisor to do in the pod.
//! - [`supervisor`]: [`SupervisorReport`], what the supervisor tells the operator (`/status`).
//! - [`crd`]: the generated CRD YAML, the only source of `crds/` and the chart's copy.
//!
//! Every doc comment on a CRD field becomes its `kubectl explain` description, so they are
//! written for the platform engineer who applies the manifest.

#![deny(missing_docs)]

pub mod backup;
pub mod config_check;
pub mod crd;
pub mod defaults;
pub mod gpu;
pub mod instance;
pub mod node;
pub mod plan;
mod schema;
pub mod supervisor;

pub use defaults::{OpenClawClusterDefaults, OpenClawClusterDefaultsSpec};
pub use instance::{OpenClawInstance, OpenClawInstanceSpec, OpenClawInstanceStatus};
pub use plan::RuntimePlan;
pub use supervisor::SupervisorReport;

/// API group of every OpenClaw custom resource.
pub const GROUP: &str = "openclaw.rocks";

/// API version served and stored for every OpenClaw custom resource.
pub const VERSION: &str = "v1alpha1";
