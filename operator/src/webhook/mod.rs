//! The validating admission webhook for OpenClawInstances: refuses what would take the pod out
//! of Pod Security `restricted`, warns about risky choices, serves TLS with a certificate the
//! operator issues and renews itself (or one from cert-manager).

pub mod certs;
pub mod managed;
pub mod review;
mod server;
pub mod tls;

pub use server::{CertSource, REFRESH, WebhookSettings, serve};
