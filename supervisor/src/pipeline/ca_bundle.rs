//! Step `ca-bundle`: combines the image's public roots with the instance's private CA into
//! `~/.openclaw/.supervisor/ca-bundle.pem` and exports it to every TLS stack the agent may use.
//!
//! Node appends `NODE_EXTRA_CA_CERTS` to its own roots, so it gets the private CA alone. The
//! others replace their roots with the file they are given, so they get the combined bundle:
//! OpenSSL and uv (`SSL_CERT_FILE`), requests (`REQUESTS_CA_BUNDLE`), pip (`PIP_CERT`), curl
//! (`CURL_CA_BUNDLE`) and git (`GIT_SSL_CAINFO`).

use std::{io, path::Path};

use serde::Serialize;

use super::{
    cache::sha256_hex,
    fsutil,
    step::{BoxFuture, Done, Step, StepCtx, StepError, StepOutput, inputs_json, names},
};

/// File name of the combined bundle in the supervisor's directory.
pub const BUNDLE_FILE: &str = "ca-bundle.pem";

/// Why the bundle could not be built.
#[derive(Debug, thiserror::Error)]
pub enum CaBundleError {
    /// The private CA could not be read.
    #[error("failed to read the CA bundle {path}")]
    Read {
        path: String,
        #[source]
        error: io::Error,
    },
    /// The private CA holds no certificate.
    #[error("the CA bundle {path} holds no PEM certificate")]
    NoCertificate { path: String },
    /// The combined bundle could not be written.
    #[error("failed to write {path}")]
    Write {
        path: String,
        #[source]
        error: io::Error,
    },
}

/// Whether a PEM text holds at least one certificate.
pub fn has_certificate(pem: &str) -> bool {
    pem.contains("-----BEGIN CERTIFICATE-----")
}

/// The combined bundle: the system roots, then the private CA, each ending with a newline.
pub fn combine(system: Option<&str>, custom: &str) -> String {
    let mut out = String::with_capacity(system.map_or(0, str::len) + custom.len() + 2);
    for part in system.into_iter().chain([custom]) {
        out.push_str(part);
        if !part.ends_with('\n') {
            out.push('\n');
        }
    }
    out
}

/// The environment that points every TLS stack at the right file.
pub fn exports(custom: &Path, combined: &Path) -> Vec<(String, String)> {
    let custom = custom.display().to_string();
    let combined = combined.display().to_string();
    let mut env = vec![("NODE_EXTRA_CA_CERTS".to_owned(), custom)];
    for key in [
        "SSL_CERT_FILE",
        "REQUESTS_CA_BUNDLE",
        "PIP_CERT",
        "CURL_CA_BUNDLE",
        "GIT_SSL_CAINFO",
    ] {
        env.push((key.to_owned(), combined.clone()));
    }
    env
}

/// The `ca-bundle` step (only in the graph when the plan has a CA bundle).
#[derive(Debug)]
pub struct CaBundleStep;

fn read(path: &Path) -> Result<Option<String>, CaBundleError> {
    fsutil::read_optional(path)
        .map(|b| b.map(|b| String::from_utf8_lossy(&b).into_owned()))
        .map_err(|error| CaBundleError::Read {
            path: path.display().to_string(),
            error,
        })
}

#[derive(Serialize)]
struct Inputs {
    custom_path: String,
    custom: Option<String>,
    system: Option<String>,
}

impl Step for CaBundleStep {
    fn name(&self) -> &'static str {
        names::CA_BUNDLE
    }

    fn deps(&self) -> Vec<&'static str> {
        vec![names::RESTORE]
    }

    fn inputs<'a>(&'a self, ctx: &'a StepCtx) -> BoxFuture<'a, Result<Option<Vec<u8>>, StepError>> {
        Box::pin(async move {
            let custom_path = ctx
                .plan
                .ca_bundle
                .as_ref()
                .map(|c| c.path.clone())
                .unwrap_or_default();
            inputs_json(&Inputs {
                custom: read(Path::new(&custom_path))?.map(|t| sha256_hex(t.as_bytes())),
                system: read(&ctx.env.system_ca_file)?.map(|t| sha256_hex(t.as_bytes())),
                custom_path,
            })
        })
    }

    fn outputs_present(&self, ctx: &StepCtx, _recorded: &StepOutput) -> bool {
        ctx.env.supervisor_dir().join(BUNDLE_FILE).is_file()
    }

    fn run<'a>(&'a self, ctx: &'a StepCtx) -> BoxFuture<'a, Result<Done, StepError>> {
        Box::pin(async move {
            let Some(plan) = &ctx.plan.ca_bundle else {
                return Ok(Done::Skipped(StepOutput::summary("no CA bundle")));
            };
            let custom_path = Path::new(&plan.path);
            let custom = read(custom_path)?.ok_or_else(|| CaBundleError::Read {
                path: plan.path.clone(),
                error: io::ErrorKind::NotFound.into(),
            })?;
            if !has_certificate(&custom) {
                return Err(CaBundleError::NoCertificate {
                    path: plan.path.clone(),
                }
                .into());
            }
            let system = read(&ctx.env.system_ca_file)?.filter(|s| has_certificate(s));
            let combined = ctx.env.supervisor_dir().join(BUNDLE_FILE);
            fsutil::write_atomic(
                &combined,
                combine(system.as_deref(), &custom).as_bytes(),
                0o644,
            )
            .map_err(|error| CaBundleError::Write {
                path: combined.display().to_string(),
                error,
            })?;
            let summary = match system {
                Some(_) => format!("{} + {}", ctx.env.system_ca_file.display(), plan.path),
                None => format!(
                    "no system roots at {}; the combined bundle holds only {}",
                    ctx.env.system_ca_file.display(),
                    plan.path
                ),
            };
            Ok(Done::Ran(StepOutput {
                env: exports(custom_path, &combined),
                ..StepOutput::summary(summary)
            }))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CERT: &str = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----";

    #[test]
    fn combines_system_roots_and_the_private_ca() {
        assert_eq!(combine(Some("SYSTEM\n"), CERT), format!("SYSTEM\n{CERT}\n"));
        assert_eq!(combine(None, CERT), format!("{CERT}\n"));
        assert!(has_certificate(CERT));
        assert!(!has_certificate("hello"));
    }

    #[test]
    fn node_gets_the_private_ca_and_the_others_the_combined_file() {
        let env = exports(
            Path::new("/etc/ca/custom.crt"),
            Path::new("/v/.supervisor/ca-bundle.pem"),
        );
        let get = |k: &str| {
            env.iter()
                .find(|(key, _)| key == k)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(get("NODE_EXTRA_CA_CERTS"), Some("/etc/ca/custom.crt"));
        for key in [
            "SSL_CERT_FILE",
            "REQUESTS_CA_BUNDLE",
            "PIP_CERT",
            "CURL_CA_BUNDLE",
            "GIT_SSL_CAINFO",
        ] {
            assert_eq!(get(key), Some("/v/.supervisor/ca-bundle.pem"), "{key}");
        }
    }
}
