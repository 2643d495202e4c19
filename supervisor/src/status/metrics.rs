//! `/metrics`: Prometheus metrics read from the [`Board`] at scrape time (step durations,
//! gateway up/ready/restarts, pipeline done, model-pull bytes), in the OpenMetrics text format.

use prometheus_client::{
    collector::Collector,
    encoding::{DescriptorEncoder, EncodeMetric, text},
    metrics::{counter::ConstCounter, gauge::ConstGauge},
    registry::{Registry, Unit},
};

use crate::board::Board;

/// Prefix of every metric name.
pub const PREFIX: &str = "openclaw_supervisor";

/// Content type of [`render`]'s output.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The registry `/metrics` encodes.
pub fn registry(board: Board) -> Registry {
    let mut registry = Registry::with_prefix(PREFIX);
    registry.register_collector(Box::new(BoardCollector { board }));
    registry
}

/// Encodes the registry as OpenMetrics text.
pub fn render(registry: &Registry) -> Result<String, std::fmt::Error> {
    let mut out = String::new();
    text::encode(&mut out, registry)?;
    Ok(out)
}

#[derive(Debug)]
struct BoardCollector {
    board: Board,
}

fn gauge(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    value: i64,
) -> Result<(), std::fmt::Error> {
    let metric = ConstGauge::new(value);
    metric.encode(encoder.encode_descriptor(name, help, None, metric.metric_type())?)
}

/// Backups by reason and result, and the last backup's time, duration and size.
fn backup_metrics(
    encoder: &mut DescriptorEncoder,
    s: &crate::board::Snapshot,
    stats: &crate::board::BackupStats,
) -> Result<(), std::fmt::Error> {
    if !s.backup.enabled {
        return Ok(());
    }
    let mut family = encoder.encode_descriptor(
        "backups",
        "Finished backups by reason and result",
        None,
        ConstCounter::new(0_u64).metric_type(),
    )?;
    for ((reason, result), count) in &stats.totals {
        let labels = [("reason", reason.as_str()), ("result", result.as_str())];
        ConstCounter::new(*count).encode(family.encode_family(&labels)?)?;
    }
    if let Some(unix) = stats.last_success_unix {
        gauge(
            encoder,
            "backup_last_success_timestamp_seconds",
            "Unix time the last successful backup finished",
            unix,
        )?;
    }
    if let Some(took) = s.backup.last.as_ref().and_then(|l| l.duration_seconds) {
        let metric = ConstGauge::new(took);
        metric.encode(encoder.encode_descriptor(
            "backup_last_duration",
            "Wall-clock time of the last finished backup",
            Some(&Unit::Seconds),
            metric.metric_type(),
        )?)?;
    }
    if let Some(last) = &s.backup.last_success {
        gauge(
            encoder,
            "backup_last_size_bytes",
            "Size of the last successful backup's compressed archive",
            i64::try_from(last.size_bytes).unwrap_or(i64::MAX),
        )?;
    }
    if !stats.drills.is_empty() {
        let mut family = encoder.encode_descriptor(
            "backup_drills",
            "Finished restore drills by result (passed, failed, no_snapshot)",
            None,
            ConstCounter::new(0_u64).metric_type(),
        )?;
        for (result, count) in &stats.drills {
            ConstCounter::new(*count)
                .encode(family.encode_family(&[("result", result.as_str())])?)?;
        }
    }
    if let Some(unix) = stats.last_drill_pass_unix {
        gauge(
            encoder,
            "backup_drill_last_pass_timestamp_seconds",
            "Unix time the last restore drill that passed finished",
            unix,
        )?;
    }
    gauge(
        encoder,
        "backup_running",
        "1 while a backup runs",
        i64::from(s.backup.current.is_some()),
    )
}

impl Collector for BoardCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let s = self.board.snapshot();
        let g = &s.gateway;

        gauge(
            &mut encoder,
            "pipeline_done",
            "1 once every start-up step ran or was skipped",
            i64::from(s.pipeline_done),
        )?;
        gauge(
            &mut encoder,
            "pipeline_failed",
            "1 when a start-up step failed",
            i64::from(s.pipeline_failed),
        )?;
        gauge(
            &mut encoder,
            "gateway_up",
            "1 while the gateway runs and its /healthz says ok",
            i64::from(g.running && g.live),
        )?;
        gauge(
            &mut encoder,
            "gateway_ready",
            "1 while the gateway serves traffic: its /readyz says ready, or only channels fail",
            i64::from(g.running && g.ready),
        )?;
        gauge(
            &mut encoder,
            "gateway_config_error",
            "1 when the gateway exited with a configuration error (78)",
            i64::from(g.config_error),
        )?;
        let oom_kills = ConstCounter::new(u64::from(g.oom_kills));
        oom_kills.encode(encoder.encode_descriptor(
            "gateway_oom_kills",
            "Times the kernel's OOM killer killed the gateway since the supervisor started",
            None,
            oom_kills.metric_type(),
        )?)?;
        if !g.channels.is_empty() {
            let mut family = encoder.encode_descriptor(
                "channel_up",
                "1 while the gateway reports the configured channel healthy",
                None,
                ConstGauge::new(0_i64).metric_type(),
            )?;
            for channel in &g.channels {
                let labels = [("channel", channel.name.as_str())];
                ConstGauge::new(i64::from(channel.healthy))
                    .encode(family.encode_family(&labels)?)?;
            }
        }
        let restarts = ConstCounter::new(u64::from(g.restarts));
        restarts.encode(encoder.encode_descriptor(
            "gateway_restarts",
            "Restarts of the gateway since the supervisor started",
            None,
            restarts.metric_type(),
        )?)?;

        let rotations = ConstCounter::new(u64::from(g.token_rotations));
        rotations.encode(encoder.encode_descriptor(
            "gateway_token_rotations",
            "Gateway tokens handed to the running gateway without a restart",
            None,
            rotations.metric_type(),
        )?)?;

        let seconds = Unit::Seconds;
        let finished: Vec<_> = s
            .steps
            .iter()
            .filter_map(|st| Some((st, st.duration_ms?)))
            .collect();
        if !finished.is_empty() {
            let mut family = encoder.encode_descriptor(
                "step_duration",
                "Wall-clock time of each finished start-up step",
                Some(&seconds),
                ConstGauge::new(0.0_f64).metric_type(),
            )?;
            for (step, ms) in &finished {
                #[allow(clippy::cast_precision_loss)]
                let value = *ms as f64 / 1000.0;
                let labels = [("step", step.name.as_str())];
                ConstGauge::new(value).encode(family.encode_family(&labels)?)?;
            }
            let mut family = encoder.encode_descriptor(
                "step_skipped",
                "1 when the step's inputs were unchanged and its cached result was reused",
                None,
                ConstGauge::new(0_i64).metric_type(),
            )?;
            for (step, _) in &finished {
                let labels = [("step", step.name.as_str())];
                ConstGauge::new(i64::from(step.skipped)).encode(family.encode_family(&labels)?)?;
            }
        }

        backup_metrics(&mut encoder, &s, &self.board.backup_stats())?;

        if !s.model_pulls.is_empty() {
            let mut family = encoder.encode_descriptor(
                "model_pull_completed_bytes",
                "Bytes of each Ollama model pulled so far",
                None,
                ConstGauge::new(0_i64).metric_type(),
            )?;
            for pull in &s.model_pulls {
                let labels = [("model", pull.model.as_str())];
                ConstGauge::new(pull.completed_bytes).encode(family.encode_family(&labels)?)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn exposes_steps_gateway_and_pipeline() -> Result<(), std::fmt::Error> {
        let board = Board::default();
        board.declare_steps(&["config", "skills"]);
        board.step_finished("config", Duration::from_millis(1500), true, None);
        board.set_gateway(|g| {
            g.running = true;
            g.live = true;
            g.restarts = 2;
        });
        board.update(|s| s.pipeline_done = true);
        let text = render(&registry(board))?;
        for line in [
            "openclaw_supervisor_pipeline_done 1",
            "openclaw_supervisor_gateway_up 1",
            "openclaw_supervisor_gateway_ready 0",
            "openclaw_supervisor_gateway_restarts_total 2",
            "openclaw_supervisor_step_duration_seconds{step=\"config\"} 1.5",
            "openclaw_supervisor_step_skipped{step=\"config\"} 1",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} missing in\n{text}");
        }
        assert!(!text.contains("step=\"skills\""), "{text}");
        assert!(
            !text.contains("backup"),
            "no backup metrics without a target: {text}"
        );
        assert!(text.ends_with("# EOF\n"));
        Ok(())
    }

    #[test]
    fn exposes_backups_by_reason_and_result() -> Result<(), std::fmt::Error> {
        use openclaw_api::backup::{BackupReason, BackupRecord, BackupState};
        let board = Board::default();
        board.update(|s| s.backup.enabled = true);
        let record = |state, size_bytes| BackupRecord {
            id: "r".into(),
            reason: BackupReason::Schedule,
            state,
            key: None,
            size_bytes,
            files: 1,
            checksum: None,
            started_at: "2026-11-26T03:00:00Z".into(),
            finished_at: Some("2026-11-26T03:00:02Z".into()),
            duration_seconds: Some(2.5),
            error: None,
        };
        board.backup_finished(record(BackupState::Succeeded, 4096), 1_795_748_402);
        board.backup_finished(record(BackupState::Failed, 0), 1_795_748_500);
        let text = render(&registry(board))?;
        for line in [
            "openclaw_supervisor_backups_total{reason=\"schedule\",result=\"succeeded\"} 1",
            "openclaw_supervisor_backups_total{reason=\"schedule\",result=\"failed\"} 1",
            "openclaw_supervisor_backup_last_success_timestamp_seconds 1795748402",
            "openclaw_supervisor_backup_last_duration_seconds 2.5",
            "openclaw_supervisor_backup_last_size_bytes 4096",
            "openclaw_supervisor_backup_running 0",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} missing in\n{text}");
        }
        Ok(())
    }
}
