//! Asking a pod's supervisor for a backup: `POST /backup` on its status port, authenticated with
//! the instance's control token (key `supervisor-token` of the `<name>-gateway-token` Secret,
//! read when needed and never cached or logged).
//!
//! Used on deletion (the final backup), for the `openclaw.rocks/backup-now` annotation (served
//! here), and by auto-update before it replaces the image.

use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use kube::{Api, ResourceExt, runtime::events::EventType};
use openclaw_api::{
    OpenClawInstance,
    backup::{
        BACKUP_NOW_ANNOTATION, BACKUP_PATH, BackupReason, BackupRecord, BackupRequest, BackupState,
        valid_request_id,
    },
};
use sha2::{Digest, Sha256};

use super::{Context, conditions::Observations, events::publish, supervisor::supervisor_address};
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

/// Serves the `openclaw.rocks/backup-now` annotation: each new value asks the supervisor for
/// one backup. Returns true while that backup is still to finish (poll again soon).
pub async fn serve_backup_now(
    ctx: &Context,
    instance: &OpenClawInstance,
    port: u16,
    obs: &mut Observations,
) -> bool {
    let Some(value) = instance
        .annotations()
        .get(BACKUP_NOW_ANNOTATION)
        .filter(|v| !v.trim().is_empty())
    else {
        return false;
    };
    let served = instance
        .status
        .as_ref()
        .and_then(|s| s.backup.as_ref())
        .and_then(|b| b.last_request.as_ref());
    if served == Some(value) {
        return false;
    }
    let ns = instance.namespace().unwrap_or_default();
    let id = request_id("request", value);
    let answer = request(
        ctx,
        &ns,
        &instance.name_any(),
        port,
        &id,
        BackupReason::Request,
    )
    .await;
    let (type_, reason, note) = match answer {
        Answer::Running(_) | Answer::Busy(_) | Answer::Unreachable(_) => return true,
        Answer::Finished(record) if record.state == BackupState::Succeeded => (
            EventType::Normal,
            "BackupComplete",
            format!(
                "backup {} ({} bytes) taken as asked by {BACKUP_NOW_ANNOTATION}",
                record.key.as_deref().unwrap_or("?"),
                record.size_bytes
            ),
        ),
        Answer::Finished(record) => (
            EventType::Warning,
            "BackupFailed",
            format!(
                "the backup asked by {BACKUP_NOW_ANNOTATION} failed: {}",
                record.error.unwrap_or_default()
            ),
        ),
        Answer::NoTarget(message) => (
            EventType::Warning,
            "BackupFailed",
            format!("{BACKUP_NOW_ANNOTATION} is set but there is no S3 target: {message}"),
        ),
    };
    publish(ctx, instance, type_, reason, note).await;
    obs.served_backup_request = Some(value.clone());
    false
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
    format!("{prefix}-{}", hex::encode(&digest[..12]))
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
