//! `openclaw-supervisor status`: fetches `/status` and renders it as a table for a person
//! (typically at the end of a `kubectl port-forward`).

use std::{fmt::Write as _, time::Duration};

use openclaw_api::{
    backup::{BackupReport, BackupState, RestoreRecord, RestoreState},
    instance::status::StepState,
    supervisor::GpuReport,
};

use super::client::{ClientError, HttpClient};
use crate::board::{Snapshot, reason_name};

/// Default address of the status server, as `kubectl port-forward pod/<pod> 9090` makes it.
pub const DEFAULT_URL: &str = "http://127.0.0.1:9090";

/// Why the status could not be shown.
#[derive(Debug, thiserror::Error)]
pub enum TableError {
    /// The supervisor could not be reached.
    #[error("the supervisor is unreachable")]
    Unreachable(#[source] ClientError),
    /// It answered with an error status.
    #[error("the supervisor answered HTTP {status} on {url}")]
    Status {
        /// The URL asked.
        url: String,
        /// The status code.
        status: u16,
    },
    /// The body is not a status document.
    #[error("the answer of {url} is not a supervisor status")]
    Parse {
        /// The URL asked.
        url: String,
        #[source]
        source: serde_json::Error,
    },
}

/// The `/status` document: the supervisor's [`Snapshot`].
pub type StatusView = Snapshot;

/// GETs `<base>/status`.
pub async fn fetch(base: &str) -> Result<StatusView, TableError> {
    let url = format!("{}/status", base.trim_end_matches('/'));
    let answer = HttpClient::new(Duration::from_secs(5))
        .get(&url)
        .await
        .map_err(TableError::Unreachable)?;
    if !answer.status.is_success() {
        return Err(TableError::Status {
            url,
            status: answer.status.as_u16(),
        });
    }
    serde_json::from_slice(&answer.body).map_err(|source| TableError::Parse { url, source })
}

/// Renders the status for a terminal.
pub fn render(view: &StatusView) -> String {
    let mut out = String::new();
    let pipeline = if view.pipeline_failed {
        "failed"
    } else if view.pipeline_done {
        "done"
    } else {
        "running"
    };
    let _ = writeln!(out, "pipeline: {pipeline}");
    let rows: Vec<[String; 5]> = view
        .steps
        .iter()
        .map(|s| {
            let ran = match (s.state, s.skipped) {
                (StepState::Succeeded | StepState::Failed, true) => "skipped",
                (StepState::Succeeded | StepState::Failed, false) => "ran",
                _ => "-",
            };
            [
                s.name.clone(),
                state_word(s.state).to_owned(),
                s.duration_ms.map_or_else(|| "-".to_owned(), took),
                ran.to_owned(),
                s.error.clone().unwrap_or_default(),
            ]
        })
        .collect();
    table(&mut out, ["STEP", "STATE", "TOOK", "RAN", "ERROR"], &rows);

    let g = &view.gateway;
    let mut gateway = if g.running {
        format!(
            "running (pid {})",
            g.pid.map_or_else(|| "?".to_owned(), |p| p.to_string())
        )
    } else {
        "not running".to_owned()
    };
    if g.running {
        gateway.push_str(if g.ready { ", ready" } else { ", not ready" });
        gateway.push_str(if g.live { ", live" } else { ", not live" });
    }
    if g.config_error {
        gateway.push_str(", configuration error (exit 78)");
    }
    let _ = write!(out, "\ngateway: {gateway}; restarts {}", g.restarts);
    if let Some(exit) = &g.last_exit {
        let _ = write!(out, "; last exit: {exit}");
    }
    out.push('\n');

    if !view.model_pulls.is_empty() {
        let rows: Vec<[String; 5]> = view
            .model_pulls
            .iter()
            .map(|p| {
                let percent = p.total_bytes.filter(|t| *t > 0).map_or_else(
                    || "-".to_owned(),
                    |t| format!("{}%", p.completed_bytes.saturating_mul(100) / t),
                );
                let size = match p.total_bytes {
                    Some(t) => format!("{} of {}", bytes(p.completed_bytes), bytes(t)),
                    None => bytes(p.completed_bytes),
                };
                [
                    p.model.clone(),
                    state_word(p.state).to_owned(),
                    percent,
                    size,
                    p.error.clone().unwrap_or_default(),
                ]
            })
            .collect();
        out.push('\n');
        table(
            &mut out,
            ["MODEL", "STATE", "PROGRESS", "BYTES", "ERROR"],
            &rows,
        );
    }
    if !view.skills.is_empty() {
        let rows: Vec<[String; 3]> = view
            .skills
            .iter()
            .map(|s| {
                let sha = s
                    .sha256
                    .as_deref()
                    .map_or("-", |h| h.get(..12).unwrap_or(h));
                [
                    s.name.clone(),
                    s.version.clone().unwrap_or_else(|| "-".to_owned()),
                    sha.to_owned(),
                ]
            })
            .collect();
        out.push('\n');
        table(&mut out, ["SKILL", "VERSION", "SHA256"], &rows);
    }
    if let Some(line) = backup_line(&view.backup) {
        let _ = writeln!(out, "\nbackup: {line}");
    }
    if let Some(restore) = &view.backup.restore {
        let _ = writeln!(out, "restore: {}", restore_line(restore));
    }
    if let Some(recovery) = &view.recovered_from_unclean_stop {
        let _ = writeln!(out, "\nrecovered from an unclean stop: {recovery}");
    }
    if let Some(gpu) = &view.gpu {
        let _ = writeln!(out, "\ngpu: {}", gpu_line(gpu));
    }
    if !view.gateway.channels.is_empty() {
        let channels: Vec<String> = view
            .gateway
            .channels
            .iter()
            .map(|c| match (&c.reason, c.healthy) {
                (_, true) => format!("{} ok", c.name),
                (Some(reason), false) => format!("{} FAILING ({reason})", c.name),
                (None, false) => format!("{} FAILING", c.name),
            })
            .collect();
        let _ = writeln!(out, "\nchannels: {}", channels.join(", "));
    }
    if !view.versions.is_empty() {
        let versions: Vec<String> = view
            .versions
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect();
        let _ = writeln!(out, "\nversions: {}", versions.join(", "));
    }
    out
}

/// One line about the GPUs: the node's driver and GPU count, then the VRAM verdict.
fn gpu_line(gpu: &GpuReport) -> String {
    let mut parts = Vec::new();
    if let Some(node) = &gpu.node {
        parts.push(format!(
            "driver {}, {} GPU(s)",
            node.driver_version.as_deref().unwrap_or("?"),
            node.gpus.len()
        ));
    }
    if let Some(check) = &gpu.ollama {
        parts.push(match &check.message {
            Some(message) => format!("models not all in VRAM: {message}"),
            None => "every model entirely in VRAM".to_owned(),
        });
    }
    parts.join("; ")
}

/// One line about backups: what runs, how the last one ended, when the next is due.
fn backup_line(report: &BackupReport) -> Option<String> {
    if !report.enabled {
        return None;
    }
    let mut parts = Vec::new();
    if let Some(current) = &report.current {
        parts.push(format!(
            "running {} ({}, {} so far)",
            current.id,
            reason_name(current.reason),
            bytes(i64::try_from(current.size_bytes).unwrap_or(i64::MAX))
        ));
    }
    match &report.last {
        Some(last) if last.state == BackupState::Failed => parts.push(format!(
            "last {} failed at {}: {}",
            last.id,
            last.finished_at.as_deref().unwrap_or("-"),
            last.error.as_deref().unwrap_or("unknown error")
        )),
        Some(last) => parts.push(format!(
            "last {} succeeded at {}: {}, {}",
            last.id,
            last.finished_at.as_deref().unwrap_or("-"),
            last.key.as_deref().unwrap_or("-"),
            bytes(i64::try_from(last.size_bytes).unwrap_or(i64::MAX))
        )),
        None => parts.push("none yet".to_owned()),
    }
    if let Some(next) = &report.next_scheduled {
        parts.push(format!("next at {next}"));
    }
    Some(parts.join("; "))
}

fn restore_line(restore: &RestoreRecord) -> String {
    let state = match restore.state {
        RestoreState::Running => "running",
        RestoreState::Succeeded => "succeeded",
        RestoreState::Failed => "failed",
        RestoreState::SkippedNotEmpty => "skipped (workspace not empty)",
    };
    let mut line = format!("{} from {}", state, restore.source);
    if restore.state == RestoreState::Succeeded {
        let _ = write!(
            line,
            ": {} files, {}{}",
            restore.files,
            bytes(i64::try_from(restore.bytes).unwrap_or(i64::MAX)),
            if restore.verified_manifest {
                ", verified against its manifest"
            } else {
                ", no manifest"
            }
        );
    }
    if let Some(error) = &restore.error {
        let _ = write!(line, ": {error}");
    }
    line
}

fn state_word(state: StepState) -> &'static str {
    match state {
        StepState::Pending => "pending",
        StepState::Running => "running",
        StepState::Succeeded => "succeeded",
        StepState::Failed => "failed",
    }
}

fn took(ms: i64) -> String {
    if ms < 1000 {
        format!("{ms} ms")
    } else {
        #[allow(clippy::cast_precision_loss)]
        let seconds = ms as f64 / 1000.0;
        format!("{seconds:.1} s")
    }
}

fn bytes(n: i64) -> String {
    #[allow(clippy::cast_precision_loss)]
    let f = n as f64;
    match n {
        n if n >= 1 << 30 => format!("{:.1} GiB", f / f64::from(1u32 << 30)),
        n if n >= 1 << 20 => format!("{:.1} MiB", f / f64::from(1u32 << 20)),
        n if n >= 1 << 10 => format!("{:.1} KiB", f / 1024.0),
        n => format!("{n} B"),
    }
}

/// Left-aligned columns separated by two spaces; trailing spaces trimmed.
fn table<const N: usize>(out: &mut String, header: [&str; N], rows: &[[String; N]]) {
    let mut widths = header.map(str::len);
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut line = |cells: [&str; N]| {
        let mut text = String::new();
        for (cell, w) in cells.iter().zip(widths) {
            let _ = write!(text, "{cell:<w$}  ");
        }
        let _ = writeln!(out, "{}", text.trim_end());
    };
    line(header);
    for row in rows {
        line(std::array::from_fn(|i| row[i].as_str()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view() -> Result<StatusView, serde_json::Error> {
        serde_json::from_value(serde_json::json!({
            "steps": [
                {"name": "config", "state": "Succeeded", "durationMs": 3, "skipped": true},
                {"name": "skills", "state": "Failed", "durationMs": 1250, "error": "skill evil is blocked"},
                {"name": "ollama", "state": "Running"}
            ],
            "pipelineDone": false,
            "pipelineFailed": true,
            "gateway": {"running": false, "ready": false, "live": false, "restarts": 1,
                        "lastExit": "exit 78 (configuration error)", "configError": true,
                        "channels": [{"name": "slack", "healthy": true},
                                     {"name": "telegram", "healthy": false, "reason": "token refused"}]},
            "gpu": {"node": {"driverVersion": "580.159.04", "gpus": [{"busId": "0000:00:06.0"}]},
                    "ollama": {"healthy": false, "requestedGpus": 1, "models": [],
                               "message": "qwen3:8b: 0 B of 5.0 GiB in VRAM (0%)"}},
            "modelPulls": [{"model": "llama3.2", "state": "Running", "completedBytes": 1_073_741_824_i64, "totalBytes": 2_147_483_648_i64}],
            "skills": [{"name": "weather", "version": "1.0.0", "sha256": "0123456789abcdef0123"}],
            "versions": {"openclaw": "2026.9.6", "supervisor": "0.1.0"},
            "recoveredFromUncleanStop": "removed stale gateway.state.lock",
            "backup": {
                "enabled": true,
                "last": {"id": "r7", "reason": "request", "state": "Failed", "startedAt": "2026-11-26T03:00:00Z",
                         "finishedAt": "2026-11-26T03:00:09Z", "error": "S3 refused the credentials (SignatureDoesNotMatch)"},
                "nextScheduled": "2026-11-27T03:00:00Z",
                "restore": {"source": "s3://b/a.tar.gz", "state": "Succeeded", "files": 12, "bytes": 2048}
            }
        }))
    }

    #[test]
    fn renders_steps_gateway_pulls_and_versions() -> Result<(), serde_json::Error> {
        let text = render(&view()?);
        for expected in [
            "pipeline: failed",
            "STEP    STATE      TOOK   RAN      ERROR",
            "config  succeeded  3 ms   skipped",
            "skills  failed     1.2 s  ran      skill evil is blocked",
            "ollama  running    -      -",
            "gateway: not running, configuration error (exit 78); restarts 1; last exit: exit 78 (configuration error)",
            "llama3.2  running  50%       1.0 GiB of 2.0 GiB",
            "weather  1.0.0    0123456789ab",
            "recovered from an unclean stop: removed stale gateway.state.lock",
            "versions: openclaw 2026.9.6, supervisor 0.1.0",
            "backup: last r7 failed at 2026-11-26T03:00:09Z: S3 refused the credentials (SignatureDoesNotMatch); next at 2026-11-27T03:00:00Z",
            "restore: succeeded from s3://b/a.tar.gz: 12 files, 2.0 KiB, no manifest",
            "channels: slack ok, telegram FAILING (token refused)",
            "gpu: driver 580.159.04, 1 GPU(s); models not all in VRAM: qwen3:8b: 0 B of 5.0 GiB in VRAM (0%)",
        ] {
            assert!(
                text.lines().any(|l| l == expected),
                "{expected:?} missing in\n{text}"
            );
        }
        Ok(())
    }

    #[test]
    fn an_empty_status_still_renders() {
        let text = render(&StatusView::default());
        assert!(text.contains("pipeline: running"));
        assert!(text.contains("gateway: not running; restarts 0"));
    }
}
