//! The auto-update state machine, without I/O: from what one reconcile observed (the registry's
//! newest release, the pre-update backup's answer, the pod) to the next `status.autoUpdate`,
//! the Events to publish and the one action the reconcile must take (delete a pod stuck on a
//! bad image).
//!
//! ```text
//!  idle ──newer release──► BackingUp ──backup done──► RollingOut ──new image ready──► idle
//!   ▲   (backupBeforeUpdate)   │ failed: abort          │ not ready in healthCheckTimeout
//!   │                          ▼                        ▼ (rollbackOnFailure)
//!   └──────────────────────── idle ◄──old image ready── RollingBack ──restore failed──► paused
//! ```
//!
//! The spec is never written. The pod runs `runningTag` (or the spec's tag when unset); a change
//! of the spec's own tag drops everything and starts from the new tag, so the user's tag always
//! wins. The new version counts as healthy only on a pod whose image ID is the digest the
//! registry gave for it and whose gateway reports that version.

use std::time::Duration;

use k8s_openapi::{apimachinery::pkg::apis::meta::v1::Time, jiff::Timestamp};
use openclaw_api::instance::{
    AutoUpdateSpec,
    status::{AutoUpdateStatus, UpdatePause, UpdatePhase},
    update::MAX_CONSECUTIVE_ROLLBACKS,
};

use super::version::{self, Target, Version};

/// What the spec pins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Base {
    /// A digest: auto-update never changes the image.
    Digest,
    /// A tag (cluster defaults applied; `latest` when none).
    Tag(String),
}

/// The registry's answer to a check that was due.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Check {
    /// Every tag of the repository, and the digest of the one auto-update would move to (when
    /// there is one).
    Listed {
        tags: Vec<String>,
        digest: Option<Result<String, String>>,
    },
    /// The listing failed.
    Failed(String),
}

/// The supervisor's answer about the pre-update backup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BackupAnswer {
    /// Still running, or the supervisor is busy or unreachable for now.
    Waiting,
    /// Done, at this key.
    Succeeded(String),
    /// It failed, or there is nowhere to back up to.
    Failed(String),
}

/// What the new image said of the configuration rendered for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckAnswer {
    /// The check runs (or its Job is being created).
    Waiting,
    /// Accepted.
    Passed,
    /// Refused: the keys and why.
    Refused(String),
    /// The check could not run (the image did not pull, the Job timed out).
    Failed(String),
}

/// A restore the rollback asked the pod for, as its supervisor reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RestoreAnswer {
    Waiting,
    Succeeded,
    Failed(String),
}

/// The instance's pod, as the reconcile saw it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PodView {
    /// The pod exists and was made from the StatefulSet's current template.
    pub current_template: bool,
    /// The digest in the `openclaw` container's image ID (`…@sha256:…`).
    pub image_digest: Option<String>,
    /// The pod is Ready.
    pub ready: bool,
    /// The version its gateway reports (`/startupz`), through the supervisor.
    pub gateway_version: Option<String>,
    /// The rollback restore, when one was asked for.
    pub restore: Option<RestoreAnswer>,
}

/// Everything one decision needs.
#[derive(Debug, Clone)]
pub struct Facts<'a> {
    pub now: Timestamp,
    pub spec: &'a AutoUpdateSpec,
    pub base: Base,
    pub generation: Option<i64>,
    /// The `openclaw.rocks/auto-update-resume` annotation.
    pub resume: Option<&'a str>,
    /// An S3 target is known: backups can be taken.
    pub backups: bool,
    /// The registry's answer, when a check was due and made.
    pub check: Option<Check>,
    /// The config check's answer, while checking.
    pub config_check: Option<CheckAnswer>,
    /// The pre-update backup's answer, while backing up.
    pub backup: Option<BackupAnswer>,
    pub pod: PodView,
}

/// An Event to publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    pub warning: bool,
    pub reason: &'static str,
    pub message: String,
}

/// What to do.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Decision {
    /// The next `status.autoUpdate` (`None` when auto-update is off and nothing is in flight).
    pub status: Option<AutoUpdateStatus>,
    pub notes: Vec<Note>,
    /// Counter `auto_update_total{event}` to increment.
    pub counted: Vec<&'static str>,
    /// Delete the pod: it runs the old template and is not ready, so the StatefulSet would
    /// wait for it forever.
    pub delete_stuck_pod: bool,
    /// Look again soon: an update is in flight.
    pub soon: bool,
}

/// Whether a registry check is due for this status.
pub fn check_due(
    spec: &AutoUpdateSpec,
    base: &Base,
    status: Option<&AutoUpdateStatus>,
    now: Timestamp,
) -> bool {
    if !spec.enabled || *base == Base::Digest {
        return false;
    }
    let Some(status) = status.filter(|s| same_base(s, base)) else {
        return true;
    };
    if status.update_phase.is_some() || status.paused.is_some() {
        return false;
    }
    let interval = duration(&spec.check_interval, Duration::from_secs(24 * 3600));
    status
        .last_check_time
        .as_ref()
        .is_none_or(|last| elapsed(&last.0, now) >= interval)
}

/// The tag the pod runs: auto-update's choice while it applies to the spec's tag, else the
/// spec's own.
pub fn running_tag<'s>(base: &'s Base, status: Option<&'s AutoUpdateStatus>) -> Option<&'s str> {
    let Base::Tag(tag) = base else { return None };
    Some(
        status
            .filter(|s| same_base(s, base))
            .and_then(|s| s.running_tag.as_deref())
            .unwrap_or(tag),
    )
}

/// The version the instance runs, as far as known: the confirmed one, else the running tag when
/// it is a release, else what the gateway reports (a `latest` pod).
pub fn current_version(
    status: Option<&AutoUpdateStatus>,
    base: &Base,
    gateway_version: Option<&str>,
) -> Option<String> {
    let status = status.filter(|s| same_base(s, base));
    status
        .and_then(|s| s.current_version.clone())
        .or_else(|| {
            running_tag(base, status)
                .filter(|t| Version::parse(t).is_some())
                .map(str::to_owned)
        })
        .or_else(|| {
            gateway_version
                .filter(|v| Version::parse(v).is_some())
                .map(str::to_owned)
        })
}

/// The id of the config check of `status.pendingVersion`.
pub fn check_id(status: &AutoUpdateStatus) -> String {
    request_id("check", status)
}

/// The id of the backup auto-update asks for before moving to `status.pendingVersion`.
pub fn backup_id(status: &AutoUpdateStatus) -> String {
    request_id("update", status)
}

/// The id of the restore a rollback asks the pod for.
pub fn restore_id(status: &AutoUpdateStatus) -> String {
    request_id("rollback", status)
}

fn request_id(kind: &str, status: &AutoUpdateStatus) -> String {
    let since = status
        .update_phase_since
        .as_ref()
        .map_or(0, |t| t.0.as_second());
    let version = status.pending_version.as_deref().unwrap_or("unknown");
    format!("{kind}-{}-{since}", version.replace(['.', '+'], "-"))
}

/// The next state.
pub fn decide(previous: Option<&AutoUpdateStatus>, facts: &Facts<'_>) -> Decision {
    let mut status = match previous {
        Some(s) if same_base(s, &facts.base) => s.clone(),
        // A new spec tag: the user's choice wins and auto-update starts over from it.
        _ => fresh(&facts.base),
    };
    let mut decision = Decision::default();
    // An update in flight finishes even if auto-update was just turned off (a half-rolled pod
    // must not be left behind), but no new one starts.
    if status.update_phase.is_none() && (!facts.spec.enabled || facts.base == Base::Digest) {
        // Off: what it moved to stays (the spec's tag comes back when the user changes it).
        decision.status = (facts.spec.enabled || previous.is_some()).then_some(status);
        return decision;
    }
    resume_if_asked(&mut status, facts, &mut decision);
    match status.update_phase {
        None => idle(&mut status, facts, &mut decision),
        Some(UpdatePhase::CheckingConfig) => checking_config(&mut status, facts, &mut decision),
        Some(UpdatePhase::BackingUp) => backing_up(&mut status, facts, &mut decision),
        Some(UpdatePhase::RollingOut) => rolling_out(&mut status, facts, &mut decision),
        Some(UpdatePhase::RollingBack) => rolling_back(&mut status, facts, &mut decision),
    }
    decision.soon = status.update_phase.is_some();
    decision.status = Some(status);
    decision
}

fn fresh(base: &Base) -> AutoUpdateStatus {
    AutoUpdateStatus {
        base_tag: match base {
            Base::Tag(tag) => Some(tag.clone()),
            Base::Digest => None,
        },
        current_version: match base {
            Base::Tag(tag) => Version::parse(tag).map(|_| tag.clone()),
            Base::Digest => None,
        },
        ..AutoUpdateStatus::default()
    }
}

fn same_base(status: &AutoUpdateStatus, base: &Base) -> bool {
    match base {
        Base::Tag(tag) => status.base_tag.as_deref() == Some(tag.as_str()),
        Base::Digest => status.base_tag.is_none(),
    }
}

fn resume_if_asked(status: &mut AutoUpdateStatus, facts: &Facts<'_>, decision: &mut Decision) {
    let Some(pause) = &status.paused else { return };
    let spec_changed = pause.generation.is_some() && pause.generation != facts.generation;
    let annotated = facts.resume.is_some() && facts.resume != pause.resume_annotation.as_deref();
    if spec_changed || annotated {
        status.paused = None;
        status.rollback_count = 0;
        status.failed_version = None;
        status.failed_reason = None;
        decision.notes.push(Note {
            warning: false,
            reason: "AutoUpdateResumed",
            message: if annotated {
                "auto-update resumed by the openclaw.rocks/auto-update-resume annotation".into()
            } else {
                "auto-update resumed: the spec changed".into()
            },
        });
    }
}

/// No update in flight: look at the registry's answer, start an update when there is a newer
/// release that did not fail before.
fn idle(status: &mut AutoUpdateStatus, facts: &Facts<'_>, decision: &mut Decision) {
    // The version of a `latest` pod is what its gateway says.
    if status.current_version.is_none() {
        status.current_version = facts
            .pod
            .gateway_version
            .clone()
            .filter(|v| Version::parse(v).is_some());
    }
    let Some(check) = &facts.check else { return };
    status.last_check_time = Some(Time(facts.now));
    decision.counted.push("checked");
    let (tags, digest) = match check {
        Check::Failed(error) => {
            status.last_error = Some(format!("registry check failed: {error}"));
            decision.notes.push(Note {
                warning: true,
                reason: "AutoUpdateCheckFailed",
                message: format!("could not list the image's tags: {error}"),
            });
            return;
        }
        Check::Listed { tags, digest } => (tags, digest),
    };
    let current = status.current_version.clone();
    let newest = version::target("0.0.0", tags.iter().map(String::as_str));
    status.latest_version = match &newest {
        Target::Newer { tag, .. } => Some(tag.clone()),
        _ => None,
    };
    let Some(current) = current else { return };
    let Target::Newer { tag, version } = version::target(&current, tags.iter().map(String::as_str))
    else {
        status.last_error = None;
        return;
    };
    if status.paused.is_some() {
        return;
    }
    if let Some(failed) = status.failed_version.as_deref().and_then(Version::parse) {
        if failed >= version {
            return;
        }
        // A newer release than the one that failed: try it.
        status.failed_version = None;
        status.failed_reason = None;
    }
    let digest = match digest {
        Some(Ok(digest)) => digest.clone(),
        Some(Err(error)) => {
            status.last_error = Some(format!("could not resolve the digest of {tag}: {error}"));
            return;
        }
        None => return,
    };
    status.pending_version = Some(tag.clone());
    status.pending_digest = Some(digest);
    status.previous_version = Some(current.clone());
    status.pre_update_backup = None;
    status.last_error = None;
    decision.notes.push(Note {
        warning: false,
        reason: "AutoUpdateStarted",
        message: format!(
            "updating from {current} to {tag}: checking the configuration with {tag}'s image first"
        ),
    });
    enter(status, UpdatePhase::CheckingConfig, facts.now);
}

/// The new image's verdict on the configuration: nothing rolls before it accepts it.
fn checking_config(status: &mut AutoUpdateStatus, facts: &Facts<'_>, decision: &mut Decision) {
    let version = status.pending_version.clone().unwrap_or_default();
    match &facts.config_check {
        Some(CheckAnswer::Passed) => {
            if facts.spec.backup_before_update && facts.backups {
                enter(status, UpdatePhase::BackingUp, facts.now);
            } else {
                roll_out(status, facts.now, decision);
            }
        }
        Some(CheckAnswer::Refused(why)) => {
            status.failed_version = Some(version.clone());
            status.failed_reason = Some("ConfigRefused".into());
            status.last_error = Some(format!(
                "{version} refuses this instance's configuration, nothing was rolled: {why}"
            ));
            abort(status);
            decision.counted.push("refused");
            decision.notes.push(Note {
                warning: true,
                reason: "AutoUpdateConfigRefused",
                message: format!(
                    "not updating to {version}: its image refuses the configuration: {why}"
                ),
            });
        }
        Some(CheckAnswer::Failed(why)) => {
            status.last_error = Some(format!(
                "the configuration check of {version} failed: {why}"
            ));
            abort(status);
            decision.notes.push(Note {
                warning: true,
                reason: "AutoUpdateAborted",
                message: format!(
                    "not updating to {version}: its configuration check could not run: {why}"
                ),
            });
        }
        Some(CheckAnswer::Waiting) | None => {}
    }
}

fn enter(status: &mut AutoUpdateStatus, phase: UpdatePhase, now: Timestamp) {
    status.update_phase = Some(phase);
    status.update_phase_since = Some(Time(now));
}

fn roll_out(status: &mut AutoUpdateStatus, now: Timestamp, decision: &mut Decision) {
    status.running_tag = status.pending_version.clone();
    enter(status, UpdatePhase::RollingOut, now);
    decision.counted.push("applied");
}

fn backing_up(status: &mut AutoUpdateStatus, facts: &Facts<'_>, decision: &mut Decision) {
    match &facts.backup {
        Some(BackupAnswer::Succeeded(key)) => {
            status.pre_update_backup = Some(key.clone());
            decision.notes.push(Note {
                warning: false,
                reason: "PreUpdateBackupComplete",
                message: format!("backed up to {key} before the update"),
            });
            roll_out(status, facts.now, decision);
        }
        Some(BackupAnswer::Failed(error)) => {
            let version = status.pending_version.take().unwrap_or_default();
            abort(status);
            status.last_error = Some(format!(
                "the backup before updating to {version} failed: {error}"
            ));
            decision.notes.push(Note {
                warning: true,
                reason: "AutoUpdateAborted",
                message: format!(
                    "not updating to {version}: the pre-update backup failed: {error}"
                ),
            });
        }
        Some(BackupAnswer::Waiting) | None => {}
    }
}

fn abort(status: &mut AutoUpdateStatus) {
    status.update_phase = None;
    status.update_phase_since = None;
    status.pending_version = None;
    status.pending_digest = None;
    status.previous_version = None;
}

/// The new version's pod: healthy only when it provably runs the new image and its gateway
/// says it is that version.
fn rolling_out(status: &mut AutoUpdateStatus, facts: &Facts<'_>, decision: &mut Decision) {
    let pod = &facts.pod;
    let pending = status.pending_version.clone().unwrap_or_default();
    let new_image = pod.current_template
        && pod.image_digest.is_some()
        && pod.image_digest == status.pending_digest;
    let reports_version = pod
        .gateway_version
        .as_deref()
        .is_none_or(|v| v == pending || v.strip_prefix('v') == Some(pending.as_str()));
    if new_image && pod.ready && reports_version {
        let previous = status.previous_version.take().unwrap_or_default();
        status.current_version = Some(pending.clone());
        status.rollback_count = 0;
        status.failed_version = None;
        status.failed_reason = None;
        status.last_error = None;
        abort(status);
        decision.notes.push(Note {
            warning: false,
            reason: "AutoUpdateApplied",
            message: format!("updated from {previous} to {pending}; the new pod is ready"),
        });
        return;
    }
    let timeout = duration(&facts.spec.health_check_timeout, Duration::from_secs(600));
    let since = status
        .update_phase_since
        .as_ref()
        .map_or(facts.now, |t| t.0);
    if elapsed(&since, facts.now) < timeout {
        return;
    }
    let why = if !new_image {
        format!(
            "no pod ran the image of {pending} within {}",
            facts.spec.health_check_timeout
        )
    } else if !reports_version {
        format!(
            "the gateway reports version {} instead of {pending}",
            pod.gateway_version.as_deref().unwrap_or("?")
        )
    } else {
        format!(
            "the pod of {pending} was not ready within {}",
            facts.spec.health_check_timeout
        )
    };
    status.last_error = Some(why.clone());
    status.failed_version = Some(pending.clone());
    status.failed_reason = Some("Unhealthy".into());
    if facts.spec.rollback_on_failure {
        let previous = status.previous_version.clone().unwrap_or_default();
        decision.notes.push(Note {
            warning: true,
            reason: "AutoUpdateHealthCheckFailed",
            message: format!("{why}; rolling back to {previous}"),
        });
        status.running_tag = rollback_tag(status);
        enter(status, UpdatePhase::RollingBack, facts.now);
    } else {
        decision.notes.push(Note {
            warning: true,
            reason: "AutoUpdateHealthCheckFailed",
            message: format!("{why}; rollbackOnFailure is false, so {pending} stays"),
        });
        status.current_version = Some(pending);
        failed(status, facts, decision);
        abort(status);
    }
}

/// The tag of the previous version, or none when it was the spec's own.
fn rollback_tag(status: &AutoUpdateStatus) -> Option<String> {
    status
        .previous_version
        .clone()
        .filter(|v| Some(v) != status.base_tag.as_ref())
}

/// Why the pre-update backup cannot come back, if it cannot: the rolled-back pod's restore
/// failed, or the snapshot has no store any more (the backup target was removed from the spec
/// meanwhile). Either way the gateway must not start on the migrated state.
fn restore_failure(status: &AutoUpdateStatus, facts: &Facts<'_>) -> Option<String> {
    status.pre_update_backup.as_ref()?;
    if !facts.backups {
        return Some("the instance has no backup target any more".to_owned());
    }
    match &facts.pod.restore {
        Some(RestoreAnswer::Failed(error)) if facts.pod.current_template => Some(error.clone()),
        _ => None,
    }
}

/// Back on the previous version, with the pre-update backup restored as the pod starts.
fn rolling_back(status: &mut AutoUpdateStatus, facts: &Facts<'_>, decision: &mut Decision) {
    let pod = &facts.pod;
    let pending = status.pending_version.clone().unwrap_or_default();
    let previous = status.previous_version.clone().unwrap_or_default();
    if !pod.current_template && !pod.ready {
        decision.delete_stuck_pod = true;
    }
    if let Some(error) = restore_failure(status, facts) {
        status.last_error = Some(format!(
            "rolling back from {pending}: restoring the pre-update backup failed: {error}"
        ));
        pause(status, facts, "RestoreFailed");
        decision.counted.push("paused");
        decision.notes.push(Note {
            warning: true,
            reason: "AutoUpdatePaused",
            message: format!(
                "auto-update paused: the pre-update backup could not be restored after {pending} failed ({error}); \
                 the pod does not start the gateway on a workspace migrated by {pending}"
            ),
        });
        return;
    }
    let restored =
        status.pre_update_backup.is_none() || matches!(pod.restore, Some(RestoreAnswer::Succeeded));
    if !(pod.current_template && pod.ready && restored) {
        return;
    }
    decision.notes.push(Note {
        warning: true,
        reason: "AutoUpdateRolledBack",
        message: match &status.pre_update_backup {
            Some(key) => format!("rolled back from {pending} to {previous} with the backup {key}"),
            None => format!("rolled back from {pending} to {previous}"),
        },
    });
    decision.counted.push("rolled_back");
    status.current_version = Some(previous);
    failed(status, facts, decision);
    abort(status);
}

/// One more consecutive failure; pauses at the third.
fn failed(status: &mut AutoUpdateStatus, facts: &Facts<'_>, decision: &mut Decision) {
    status.rollback_count += 1;
    if status.rollback_count >= MAX_CONSECUTIVE_ROLLBACKS {
        pause(status, facts, "TooManyFailures");
        decision.counted.push("paused");
        decision.notes.push(Note {
            warning: true,
            reason: "AutoUpdatePaused",
            message: format!(
                "auto-update paused after {} consecutive failed updates; change the spec or set the \
                 openclaw.rocks/auto-update-resume annotation to resume",
                status.rollback_count
            ),
        });
    }
}

fn pause(status: &mut AutoUpdateStatus, facts: &Facts<'_>, reason: &str) {
    status.paused = Some(UpdatePause {
        reason: reason.to_owned(),
        generation: facts.generation,
        resume_annotation: facts.resume.map(str::to_owned),
    });
}

fn elapsed(since: &Timestamp, now: Timestamp) -> Duration {
    Duration::try_from(now.duration_since(*since)).unwrap_or(Duration::ZERO)
}

/// A duration the schema already validated (`1h30m`), or `fallback`.
fn duration(text: &str, fallback: Duration) -> Duration {
    humantime::parse_duration(text).unwrap_or(fallback)
}

#[cfg(test)]
mod tests {
    use super::*;

    const OLD: &str = "sha256:0000000000000000000000000000000000000000000000000000000000000000";
    const NEW: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";

    fn spec() -> AutoUpdateSpec {
        AutoUpdateSpec {
            enabled: true,
            health_check_timeout: "10m".into(),
            ..AutoUpdateSpec::default()
        }
    }

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + seconds).unwrap_or_else(|e| panic!("{e}"))
    }

    fn facts<'a>(spec: &'a AutoUpdateSpec, now: i64) -> Facts<'a> {
        Facts {
            now: at(now),
            spec,
            base: Base::Tag("2026.9.5".into()),
            generation: Some(1),
            resume: None,
            backups: true,
            check: None,
            config_check: None,
            backup: None,
            pod: PodView::default(),
        }
    }

    /// Past the config check of the update `status` started.
    fn checked(
        spec: &AutoUpdateSpec,
        status: &AutoUpdateStatus,
        now: i64,
        backups: bool,
    ) -> AutoUpdateStatus {
        assert_eq!(status.update_phase, Some(UpdatePhase::CheckingConfig));
        let mut f = facts(spec, now);
        f.backups = backups;
        f.config_check = Some(CheckAnswer::Passed);
        step(Some(status), &f).0
    }

    fn listed(tags: &[&str]) -> Option<Check> {
        Some(Check::Listed {
            tags: tags.iter().map(|t| (*t).to_owned()).collect(),
            digest: Some(Ok(NEW.into())),
        })
    }

    fn step(
        previous: Option<&AutoUpdateStatus>,
        facts: &Facts<'_>,
    ) -> (AutoUpdateStatus, Decision) {
        let decision = decide(previous, facts);
        let status = decision
            .status
            .clone()
            .unwrap_or_else(|| panic!("no status"));
        (status, decision)
    }

    fn reasons(decision: &Decision) -> Vec<&'static str> {
        decision.notes.iter().map(|n| n.reason).collect()
    }

    fn new_pod(ready: bool) -> PodView {
        PodView {
            current_template: true,
            image_digest: Some(NEW.into()),
            ready,
            gateway_version: Some("2026.9.6".into()),
            restore: None,
        }
    }

    /// Up to RollingOut on 2026.9.6, with a backup.
    fn rolling(spec: &AutoUpdateSpec) -> AutoUpdateStatus {
        let mut f = facts(spec, 0);
        f.check = listed(&["latest", "2026.9.5", "2026.9.6", "2026.10.0-beta.1"]);
        let (checking, _) = step(None, &f);
        let backing_up = checked(spec, &checking, 10, true);
        let mut f = facts(spec, 30);
        f.backup = Some(BackupAnswer::Succeeded("ns/a/update.tar.zst".into()));
        step(Some(&backing_up), &f).0
    }

    #[test]
    fn a_newer_stable_release_is_backed_up_for_then_rolled_without_touching_the_spec() {
        let spec = spec();
        let mut f = facts(&spec, 0);
        f.check = listed(&["latest", "2026.9.5", "2026.9.6", "2026.10.0-beta.1"]);
        let (status, decision) = step(None, &f);
        assert_eq!(status.update_phase, Some(UpdatePhase::CheckingConfig));
        assert_eq!(
            status.pending_version.as_deref(),
            Some("2026.9.6"),
            "never a pre-release"
        );
        assert_eq!(status.previous_version.as_deref(), Some("2026.9.5"));
        assert_eq!(status.latest_version.as_deref(), Some("2026.9.6"));
        assert_eq!(status.running_tag, None, "nothing rolls before the backup");
        assert_eq!(reasons(&decision), ["AutoUpdateStarted"]);
        assert!(decision.soon);
        let mut f = facts(&spec, 5);
        f.config_check = Some(CheckAnswer::Waiting);
        assert_eq!(step(Some(&status), &f).0, status, "waits for the check");
        let status = checked(&spec, &status, 8, true);
        assert_eq!(status.update_phase, Some(UpdatePhase::BackingUp));

        let mut f = facts(&spec, 10);
        f.backup = Some(BackupAnswer::Waiting);
        assert_eq!(step(Some(&status), &f).0, status, "waits for the backup");

        let mut f = facts(&spec, 30);
        f.backup = Some(BackupAnswer::Succeeded("ns/a/update.tar.zst".into()));
        let (status, decision) = step(Some(&status), &f);
        assert_eq!(status.update_phase, Some(UpdatePhase::RollingOut));
        assert_eq!(status.running_tag.as_deref(), Some("2026.9.6"));
        assert_eq!(
            status.pre_update_backup.as_deref(),
            Some("ns/a/update.tar.zst")
        );
        assert_eq!(decision.counted, ["applied"]);
        assert_eq!(
            running_tag(&Base::Tag("2026.9.5".into()), Some(&status)),
            Some("2026.9.6")
        );
    }

    #[test]
    fn health_is_judged_only_on_a_pod_that_runs_the_new_image() {
        let spec = spec();
        let rolling = rolling(&spec);
        // The old pod, ready, on the old image: not a success (the Go operator's weak point 11).
        let mut f = facts(&spec, 60);
        f.pod = PodView {
            image_digest: Some(OLD.into()),
            ..new_pod(true)
        };
        assert_eq!(step(Some(&rolling), &f).0, rolling);
        // The new image, not ready yet.
        f.pod = new_pod(false);
        assert_eq!(step(Some(&rolling), &f).0, rolling);
        // The new image but the gateway says another version.
        f.pod = PodView {
            gateway_version: Some("2026.9.5".into()),
            ..new_pod(true)
        };
        assert_eq!(step(Some(&rolling), &f).0, rolling);
        // The new image, ready, reporting the new version.
        f.pod = new_pod(true);
        let (done, decision) = step(Some(&rolling), &f);
        assert_eq!(done.update_phase, None);
        assert_eq!(done.current_version.as_deref(), Some("2026.9.6"));
        assert_eq!(
            done.running_tag.as_deref(),
            Some("2026.9.6"),
            "the pod stays on it"
        );
        assert_eq!((done.pending_version, done.previous_version), (None, None));
        assert_eq!(reasons(&decision), ["AutoUpdateApplied"]);
        assert!(!decision.soon);
    }

    #[test]
    fn a_failed_version_rolls_back_with_its_backup_and_is_not_retried() {
        let spec = spec();
        let rolling = rolling(&spec);
        let mut f = facts(&spec, 30 + 601);
        f.pod = PodView {
            current_template: true,
            image_digest: Some(NEW.into()),
            ..PodView::default()
        };
        let (back, decision) = step(Some(&rolling), &f);
        assert_eq!(back.update_phase, Some(UpdatePhase::RollingBack));
        assert_eq!(back.running_tag, None, "back on the spec's own tag");
        assert_eq!(back.failed_version.as_deref(), Some("2026.9.6"));
        assert_eq!(reasons(&decision), ["AutoUpdateHealthCheckFailed"]);

        // The bad pod is stuck on the old template: deleted so the StatefulSet replaces it.
        let mut f = facts(&spec, 700);
        f.pod = PodView {
            current_template: false,
            image_digest: Some(NEW.into()),
            ..PodView::default()
        };
        let (same, decision) = step(Some(&back), &f);
        assert!(decision.delete_stuck_pod);
        assert_eq!(same, back);

        // The previous version is ready but the restore is still running: not done.
        let old_pod = |restore| PodView {
            current_template: true,
            image_digest: Some(OLD.into()),
            ready: true,
            gateway_version: Some("2026.9.5".into()),
            restore,
        };
        f.pod = old_pod(Some(RestoreAnswer::Waiting));
        assert_eq!(step(Some(&back), &f).0, back);
        f.pod = old_pod(Some(RestoreAnswer::Succeeded));
        let (idle, decision) = step(Some(&back), &f);
        assert_eq!(idle.update_phase, None);
        assert_eq!(idle.current_version.as_deref(), Some("2026.9.5"));
        assert_eq!(idle.rollback_count, 1);
        assert_eq!(decision.counted, ["rolled_back"]);
        assert_eq!(reasons(&decision), ["AutoUpdateRolledBack"]);

        // The same release again: left alone; a newer one: tried.
        let mut f = facts(&spec, 90_000);
        f.check = listed(&["2026.9.5", "2026.9.6"]);
        let (still, _) = step(Some(&idle), &f);
        assert_eq!(still.update_phase, None);
        f.check = listed(&["2026.9.5", "2026.9.6", "2026.9.7"]);
        let (retry, _) = step(Some(&idle), &f);
        assert_eq!(retry.pending_version.as_deref(), Some("2026.9.7"));
        assert_eq!(retry.failed_version, None);
    }

    #[test]
    fn a_refused_configuration_rolls_nothing_and_names_the_key_and_version() {
        let spec = spec();
        let mut f = facts(&spec, 0);
        f.check = listed(&["2026.9.5", "2026.9.6"]);
        let (checking, _) = step(None, &f);
        let mut f = facts(&spec, 20);
        f.config_check = Some(CheckAnswer::Refused(
            r#"gateway: Unrecognized key: "bogus""#.into(),
        ));
        let (refused, decision) = step(Some(&checking), &f);
        assert_eq!(
            (refused.update_phase, refused.running_tag.clone()),
            (None, None)
        );
        assert_eq!(refused.failed_version.as_deref(), Some("2026.9.6"));
        assert_eq!(refused.failed_reason.as_deref(), Some("ConfigRefused"));
        let error = refused.last_error.clone().unwrap_or_default();
        assert!(
            error.contains("2026.9.6") && error.contains("gateway: Unrecognized key"),
            "{error}"
        );
        assert_eq!(reasons(&decision), ["AutoUpdateConfigRefused"]);
        assert_eq!(decision.counted, ["refused"]);
        assert_eq!(refused.rollback_count, 0, "nothing was rolled");
        // The same release is not checked again; a check that could not run is retried later.
        let mut f = facts(&spec, 90_000);
        f.check = listed(&["2026.9.5", "2026.9.6"]);
        assert_eq!(step(Some(&refused), &f).0.update_phase, None);
        let mut f = facts(&spec, 20);
        f.config_check = Some(CheckAnswer::Failed("ImagePullBackOff".into()));
        let (aborted, _) = step(Some(&checking), &f);
        assert_eq!((aborted.update_phase, aborted.failed_version), (None, None));
    }

    #[test]
    fn a_failed_rollback_restore_pauses_closed() {
        let spec = spec();
        let rolling = rolling(&spec);
        let mut f = facts(&spec, 30 + 601);
        let (back, _) = step(Some(&rolling), &f);
        f.pod = PodView {
            current_template: true,
            restore: Some(RestoreAnswer::Failed("checksum mismatch".into())),
            ..PodView::default()
        };
        let (paused, decision) = step(Some(&back), &f);
        assert_eq!(
            paused.paused.as_ref().map(|p| p.reason.as_str()),
            Some("RestoreFailed")
        );
        assert!(
            paused
                .last_error
                .as_deref()
                .is_some_and(|e| e.contains("checksum mismatch"))
        );
        assert_eq!(reasons(&decision), ["AutoUpdatePaused"]);
        assert!(!check_due(&spec, &f.base, Some(&paused), at(10_000_000)));
        // The backup target removed meanwhile: the snapshot cannot come back, same verdict.
        let mut f = facts(&spec, 30 + 700);
        f.backups = false;
        let (paused, _) = step(Some(&back), &f);
        assert_eq!(
            paused.paused.as_ref().map(|p| p.reason.as_str()),
            Some("RestoreFailed")
        );
    }

    #[test]
    fn three_consecutive_failures_pause_until_the_spec_changes_or_a_resume() {
        let spec = AutoUpdateSpec {
            rollback_on_failure: false,
            ..spec()
        };
        let mut status = AutoUpdateStatus {
            rollback_count: 2,
            ..rolling(&spec)
        };
        status.update_phase_since = Some(Time(at(0)));
        let f = facts(&spec, 601);
        let (paused, decision) = step(Some(&status), &f);
        assert_eq!(paused.rollback_count, 3);
        assert_eq!(
            paused.paused.as_ref().map(|p| p.reason.as_str()),
            Some("TooManyFailures")
        );
        assert_eq!(
            paused.current_version.as_deref(),
            Some("2026.9.6"),
            "no rollback asked"
        );
        assert!(decision.counted.contains(&"paused"));
        assert!(!check_due(&spec, &f.base, Some(&paused), at(10_000_000)));

        let mut f = facts(&spec, 700);
        f.resume = Some("now");
        let (resumed, decision) = step(Some(&paused), &f);
        assert_eq!((resumed.paused.clone(), resumed.rollback_count), (None, 0));
        assert_eq!(reasons(&decision), ["AutoUpdateResumed"]);
        let mut f = facts(&spec, 700);
        f.generation = Some(2);
        assert_eq!(
            step(Some(&paused), &f).0.paused,
            None,
            "a spec change resumes too"
        );
    }

    #[test]
    fn the_users_tag_wins_over_auto_update() {
        let spec = spec();
        let rolling = rolling(&spec);
        let mut f = facts(&spec, 60);
        f.base = Base::Tag("2026.9.4".into());
        let (fresh, _) = step(Some(&rolling), &f);
        assert_eq!(fresh.base_tag.as_deref(), Some("2026.9.4"));
        assert_eq!((fresh.running_tag, fresh.update_phase), (None, None));
        assert_eq!(running_tag(&f.base, Some(&rolling)), Some("2026.9.4"));
        assert!(check_due(&spec, &f.base, Some(&rolling), at(60)));
    }

    #[test]
    fn a_pinned_digest_or_disabled_update_changes_nothing() {
        let spec = spec();
        let mut f = facts(&spec, 0);
        f.base = Base::Digest;
        assert!(!check_due(&spec, &Base::Digest, None, at(0)));
        f.check = listed(&["2026.9.6"]);
        let (status, decision) = step(None, &f);
        assert_eq!(status.update_phase, None);
        assert!(decision.notes.is_empty());
        assert_eq!(running_tag(&Base::Digest, Some(&status)), None);
        let off = AutoUpdateSpec::default();
        assert!(!check_due(&off, &Base::Tag("2026.9.5".into()), None, at(0)));
        assert_eq!(decide(None, &facts(&off, 0)).status, None);
    }

    #[test]
    fn without_a_backup_target_it_rolls_at_once_and_a_failed_backup_aborts() {
        let spec = spec();
        let mut f = facts(&spec, 0);
        f.backups = false;
        f.check = listed(&["2026.9.6"]);
        let (checking, _) = step(None, &f);
        let status = checked(&spec, &checking, 5, false);
        assert_eq!(status.update_phase, Some(UpdatePhase::RollingOut));

        let mut f = facts(&spec, 0);
        f.check = listed(&["2026.9.6"]);
        let (checking, _) = step(None, &f);
        let backing_up = checked(&spec, &checking, 5, true);
        let mut f = facts(&spec, 20);
        f.backup = Some(BackupAnswer::Failed("bucket unreachable".into()));
        let (aborted, decision) = step(Some(&backing_up), &f);
        assert_eq!(
            (aborted.update_phase, aborted.running_tag.clone()),
            (None, None)
        );
        assert_eq!(reasons(&decision), ["AutoUpdateAborted"]);
        assert!(
            aborted
                .last_error
                .as_deref()
                .is_some_and(|e| e.contains("bucket unreachable"))
        );
    }

    #[test]
    fn latest_is_compared_through_the_version_the_gateway_reports() {
        let spec = spec();
        let mut f = facts(&spec, 0);
        f.base = Base::Tag("latest".into());
        f.check = listed(&["2026.9.5", "2026.9.6"]);
        let (unknown, _) = step(None, &f);
        assert_eq!(unknown.current_version, None);
        assert_eq!(unknown.update_phase, None, "nothing to compare to yet");
        f.pod.gateway_version = Some("2026.9.6".into());
        assert_eq!(
            current_version(None, &f.base, Some("2026.9.6")).as_deref(),
            Some("2026.9.6")
        );
        let (known, _) = step(None, &f);
        assert_eq!(known.current_version.as_deref(), Some("2026.9.6"));
        assert_eq!(known.update_phase, None, "up to date");
    }

    #[test]
    fn turned_off_it_keeps_the_version_it_moved_to() {
        let spec = spec();
        let mut f = facts(&spec, 60);
        f.pod = new_pod(true);
        let (updated, _) = step(Some(&rolling(&spec)), &f);
        let off = AutoUpdateSpec::default();
        let (kept, decision) = step(Some(&updated), &facts(&off, 100));
        assert_eq!(kept, updated);
        assert!(decision.notes.is_empty());
        assert_eq!(
            running_tag(&Base::Tag("2026.9.5".into()), Some(&kept)),
            Some("2026.9.6")
        );
    }

    #[test]
    fn checks_come_due_after_the_interval() {
        let spec = spec();
        let base = Base::Tag("2026.9.5".into());
        let checked = AutoUpdateStatus {
            last_check_time: Some(Time(at(0))),
            ..fresh(&base)
        };
        assert!(!check_due(&spec, &base, Some(&checked), at(3600)));
        assert!(check_due(&spec, &base, Some(&checked), at(24 * 3600)));
        assert!(check_due(&spec, &base, None, at(0)));
    }
}
