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

/// Installs ring as the process's TLS crypto provider (idempotent). reqwest is built without a
/// provider of its own (oci-client's `rustls-no-provider`), so every HTTP client, even a
/// plain-HTTP one such as `probe`'s, needs it installed before it is built.
pub fn install_crypto_provider() {
    let _ = tokio_rustls::rustls::crypto::ring::default_provider().install_default();
}
