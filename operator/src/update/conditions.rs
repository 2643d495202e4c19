//! The auto-update conditions, derived from `status.autoUpdate` alone (so every reconcile
//! writes the same ones, not only those that talk to the registry): `AutoUpdateAvailable` and,
//! while paused, `AutoUpdatePaused`.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use openclaw_api::instance::status::{AutoUpdateStatus, UpdatePhase, condition};

use super::machine::Base;
use crate::controller::conditions::cond;

/// The conditions of an instance with auto-update on (`None` status: not looked at yet).
pub fn conditions(base: &Base, status: Option<&AutoUpdateStatus>) -> Vec<Condition> {
    if *base == Base::Digest {
        return vec![cond(
            condition::AUTO_UPDATE_AVAILABLE,
            false,
            "DigestPinned",
            "spec.image.digest pins the image; auto-update never changes a digest-pinned instance \
             (set spec.image.tag instead to follow releases)"
                .into(),
        )];
    }
    let Some(status) = status else {
        return vec![cond(
            condition::AUTO_UPDATE_AVAILABLE,
            false,
            "NotChecked",
            "the registry has not been checked yet".into(),
        )];
    };
    let mut out = vec![available(status)];
    if let Some(pause) = &status.paused {
        out.push(cond(
            condition::AUTO_UPDATE_PAUSED,
            true,
            &pause.reason,
            format!(
                "{}; change the spec or set the openclaw.rocks/auto-update-resume annotation to a new value to resume",
                status.last_error.as_deref().unwrap_or("auto-update paused itself")
            ),
        ));
    }
    out
}

fn available(status: &AutoUpdateStatus) -> Condition {
    let current = status.current_version.as_deref();
    let pending = status.pending_version.as_deref().unwrap_or("?");
    let (ok, reason, message) = match (status.update_phase, current) {
        (Some(UpdatePhase::CheckingConfig), _) => (
            true,
            "CheckingConfig",
            format!("{pending} is available; its image is checking this instance's configuration"),
        ),
        (Some(UpdatePhase::BackingUp), _) => (
            true,
            "BackingUp",
            format!("{pending} is available; backing the workspace up before the update"),
        ),
        (Some(UpdatePhase::RollingOut), _) => (
            true,
            "RollingOut",
            format!(
                "rolling out {pending} (from {})",
                status.previous_version.as_deref().unwrap_or("?")
            ),
        ),
        (Some(UpdatePhase::RollingBack), _) => (
            true,
            "RollingBack",
            format!(
                "{pending} failed ({}); rolling back to {}",
                status.last_error.as_deref().unwrap_or("unhealthy"),
                status.previous_version.as_deref().unwrap_or("?")
            ),
        ),
        (None, None) => (
            false,
            "VersionUnknown",
            format!(
                "the running tag {} is not a release version and the gateway has not reported its version yet",
                status.base_tag.as_deref().unwrap_or("latest")
            ),
        ),
        (None, Some(current)) => match (&status.last_error, &status.latest_version) {
            (Some(error), _) if status.failed_reason.as_deref() == Some("ConfigRefused") => {
                (false, "ConfigRefused", error.clone())
            }
            (Some(error), _) if status.failed_version.is_some() => (
                false,
                "UpdateFailed",
                format!(
                    "{} failed and is not tried again until a newer release appears: {error}",
                    status.failed_version.as_deref().unwrap_or("?")
                ),
            ),
            (Some(error), _) => (false, "CheckFailed", error.clone()),
            (None, Some(latest))
                if latest != current && status.failed_version.as_ref() != Some(latest) =>
            {
                (
                    true,
                    "NewVersionAvailable",
                    format!("{latest} is available (running {current})"),
                )
            }
            (None, _) => (
                false,
                "UpToDate",
                format!("{current} is the newest stable release"),
            ),
        },
    };
    cond(condition::AUTO_UPDATE_AVAILABLE, ok, reason, message)
}
