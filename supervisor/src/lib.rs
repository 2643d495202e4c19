//! The OpenClaw supervisor: PID 1 of an agent pod.
//!
//! It reads the runtime plan the operator rendered, runs the start-up pipeline (a dependency
//! graph of cached steps), starts the gateway as a hardened child, supervises it, and serves
//! its status.

pub mod archive_path;
pub mod backup;
pub mod board;
pub mod check_config;
pub mod error_chain;
pub mod pipeline;
pub mod process;
pub mod run;
pub mod status;
