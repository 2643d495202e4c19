//! The OpenClaw operator: reconciles `OpenClawInstance`s into hardened agent workloads.

pub mod build;
pub mod cli;
pub mod controller;
pub mod http;
pub mod metrics;
pub mod run;
pub mod telemetry;
pub mod update;
pub mod webhook;
