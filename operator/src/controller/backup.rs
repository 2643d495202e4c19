//! Asking a pod's supervisor for a backup: `POST /backup` on its status port, authenticated with
//! the instance's control token (key `supervisor-token` of the `<name>-gateway-token` Secret,
//! read when needed and never cached or logged).
//!
//! Used on deletion (the final backup), for the `openclaw.rocks/backup-now` annotation, and by
//! auto-update before it replaces the image.

use std::time::Duration;

use k8s_openapi::api::core::v1::{Pod, Secret};
use kube::Api;
use openclaw_api::backup::{
    BACKUP_PATH, BackupReason, BackupRecord, BackupRequest, valid_request_id,
};
use sha2::{Digest, Sha256};

use super::Context;
use crate::build::{CONTROL_TOKEN_KEY, names};

/// What the supervisor answered.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    /// The backup of this id runs (just started or already running).
    Running(BackupRecord),
    /// The backup of this id finished, succeeded or failed.
    Finished(BackupRecord),
    /// Another backup runs; ask again later.
    Busy(BackupRecord),
    /// The pod's plan has no S3 target.
    NoTarget(String),
    /// The supervisor could not be reached or answered something unexpected.
    Unreachable(String),
}

/// Asks the supervisor of `<instance>-0` for the backup `id`. Idempotent: asking again with the
/// same id reports on that backup.
pub async fn request(
    ctx: &Context,
    namespace: &str,
    instance: &str,
    port: u16,
    id: &str,
    reason: BackupReason,
) -> Answer {
    let Some(address) = supervisor_address(ctx, namespace, instance, port).await else {
        return Answer::Unreachable(format!("pod {instance}-0 has no IP address (not running)"));
    };
    let token = match control_token(ctx, namespace, instance).await {
        Ok(token) => token,
        Err(message) => return Answer::Unreachable(message),
    };
    let body = BackupRequest {
        id: id.to_owned(),
        reason,
    };
    let response = match ctx
        .http
        .post(format!("http://{address}{BACKUP_PATH}"))
        .bearer_auth(token)
        .json(&body)
        .timeout(Duration::from_secs(10))
        .send()
        .await
    {
        Ok(response) => response,
        Err(err) => {
            return Answer::Unreachable(format!("supervisor at {address} did not answer: {err}"));
        }
    };
    let status = response.status().as_u16();
    let text = response.text().await.unwrap_or_default();
    interpret(status, &text)
}

/// The meaning of an answer of `POST /backup` (see `openclaw_api::backup::BackupRequest`).
pub fn interpret(status: u16, body: &str) -> Answer {
    let record = || serde_json::from_str::<BackupRecord>(body);
    let error = || {
        serde_json::from_str::<serde_json::Value>(body)
            .ok()
            .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_owned))
            .unwrap_or_else(|| body.chars().take(200).collect())
    };
    match status {
        200 => record().map_or_else(|e| bad(status, &e), Answer::Finished),
        202 => record().map_or_else(|e| bad(status, &e), Answer::Running),
        409 => record().map_or_else(|e| bad(status, &e), Answer::Busy),
        412 => Answer::NoTarget(error()),
        _ => Answer::Unreachable(format!("supervisor answered {status}: {}", error())),
    }
}

fn bad(status: u16, err: &serde_json::Error) -> Answer {
    Answer::Unreachable(format!(
        "supervisor answered {status} with an unreadable body: {err}"
    ))
}

/// A request id from a free-form annotation value: kept when it is a valid id, hashed otherwise.
pub fn request_id(prefix: &str, value: &str) -> String {
    let candidate = format!("{prefix}-{value}");
    if valid_request_id(&candidate) {
        return candidate;
    }
    let digest = Sha256::digest(value.as_bytes());
    let hex: String = digest.iter().take(12).map(|b| format!("{b:02x}")).collect();
    format!("{prefix}-{hex}")
}

async fn supervisor_address(
    ctx: &Context,
    namespace: &str,
    instance: &str,
    port: u16,
) -> Option<String> {
    if let Some(address) = &ctx.settings.supervisor_address {
        return Some(address.clone());
    }
    let pods: Api<Pod> = Api::namespaced(ctx.client.clone(), namespace);
    let pod = pods.get_opt(&format!("{instance}-0")).await.ok()??;
    Some(format!("{}:{port}", pod.status?.pod_ip?))
}

async fn control_token(ctx: &Context, namespace: &str, instance: &str) -> Result<String, String> {
    let name = names::gateway_token(instance);
    let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), namespace);
    let secret = secrets
        .get_opt(&name)
        .await
        .map_err(|e| format!("reading Secret {name}: {e}"))?
        .ok_or_else(|| format!("Secret {name} does not exist"))?;
    secret
        .data
        .and_then(|mut data| data.remove(CONTROL_TOKEN_KEY))
        .and_then(|bytes| String::from_utf8(bytes.0).ok())
        .filter(|token| !token.trim().is_empty())
        .ok_or_else(|| format!("Secret {name} has no key {CONTROL_TOKEN_KEY}"))
}

#[cfg(test)]
mod tests {
    use openclaw_api::backup::BackupState;

    use super::*;

    const RECORD: &str = r#"{"id":"deletion-1","reason":"deletion","state":"Running","sizeBytes":0,
        "files":0,"startedAt":"2026-11-26T00:00:00Z"}"#;

    #[test]
    fn answers_follow_the_contract() {
        assert!(matches!(interpret(202, RECORD), Answer::Running(r) if r.id == "deletion-1"));
        assert!(matches!(interpret(409, RECORD), Answer::Busy(_)));
        let finished = RECORD.replace("Running", "Succeeded");
        assert!(
            matches!(interpret(200, &finished), Answer::Finished(r) if r.state == BackupState::Succeeded)
        );
        assert!(matches!(
            interpret(412, r#"{"error":"no S3 target"}"#),
            Answer::NoTarget(m) if m == "no S3 target"
        ));
        assert!(matches!(
            interpret(401, r#"{"error":"a valid bearer token is required"}"#),
            Answer::Unreachable(m) if m.contains("401") && m.contains("bearer")
        ));
        assert!(matches!(interpret(200, "nonsense"), Answer::Unreachable(_)));
    }

    #[test]
    fn request_ids_are_valid_whatever_the_annotation() {
        assert_eq!(request_id("request", "1764115200"), "request-1764115200");
        let hashed = request_id("request", "now please / thanks");
        assert!(valid_request_id(&hashed), "{hashed}");
        assert_ne!(hashed, request_id("request", "now please / thanks!"));
    }
}
