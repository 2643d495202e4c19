//! Polls the gateway's own probes on loopback every second and records what their JSON bodies
//! say on the [`Board`]: `/readyz` → `gateway.ready` and `gateway.channels`, `/healthz` →
//! `gateway.live`, `/startupz` → [`StartupFlag`].
//!
//! A gateway whose `/readyz` fails only because of channels still serves traffic for the others:
//! `gateway.ready` stays true and the failing channels are reported per channel.
//!
//! Only the body counts: the gateway's Control UI answers unknown paths with `200 text/html`, so
//! a 200 alone proves nothing. Loopback callers get the detailed bodies without a token.

use std::{
    future::Future,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use serde::Deserialize;
use tokio::time::MissedTickBehavior;

use super::{
    channels::{self, ConfiguredChannels},
    client::{Answer, HttpClient},
    gateway_log::ChannelErrors,
};
use crate::board::Board;

/// How often the gateway is asked.
pub const INTERVAL: Duration = Duration::from_secs(1);
/// Deadline of one probe request; the gateway's first answer can take ~0.4 s while it is busy.
pub const TIMEOUT: Duration = Duration::from_secs(2);

/// Whether the gateway's `/startupz` last said `started`; shared with the status server.
#[derive(Debug, Clone, Default)]
pub struct StartupFlag(Arc<AtomicBool>);

impl StartupFlag {
    /// The gateway said it has started.
    pub fn get(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }

    fn set(&self, started: bool) -> bool {
        self.0.swap(started, Ordering::Relaxed) != started
    }
}

/// What `/readyz` said.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Readiness {
    /// 200 with `"ready": true`.
    pub ready: bool,
    /// The checks that fail (`startup-sidecars`, `gateway-draining`, channel ids).
    pub failing: Vec<String>,
}

/// What `/startupz` said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Startup {
    /// 200 `{"ok":true,"status":"started"}`.
    Started {
        /// The gateway's version, from the detailed body.
        version: Option<String>,
    },
    /// 503 `{"ok":false,"status":"starting"|"draining"}`.
    NotStarted {
        /// `status`, and `pendingReason` when present.
        reason: String,
    },
    /// No JSON probe body: a gateway older than 2026.8.1 (no `/startupz`; its Control UI
    /// answers instead), or no answer at all.
    Unknown,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ReadyBody {
    ready: bool,
    #[serde(default)]
    failing: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct OkBody {
    ok: bool,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    version: Option<String>,
    #[serde(default)]
    pending_reason: Option<String>,
}

/// Reads a `/readyz` answer.
pub fn readiness(answer: Option<&Answer>) -> Readiness {
    let Some(answer) = answer else {
        return Readiness {
            ready: false,
            failing: vec!["unreachable".to_owned()],
        };
    };
    match serde_json::from_slice::<ReadyBody>(&answer.body) {
        Ok(body) => Readiness {
            ready: body.ready && answer.status.is_success(),
            failing: body.failing,
        },
        Err(_) => Readiness {
            ready: false,
            failing: vec![format!(
                "no readiness JSON (HTTP {})",
                answer.status.as_u16()
            )],
        },
    }
}

/// Reads a `/healthz` answer: live when 200 with `"ok": true`.
pub fn liveness(answer: Option<&Answer>) -> bool {
    answer.is_some_and(|a| {
        a.status.is_success() && serde_json::from_slice::<OkBody>(&a.body).is_ok_and(|body| body.ok)
    })
}

/// Reads a `/startupz` answer.
pub fn startup(answer: Option<&Answer>) -> Startup {
    let Some(body) = answer.and_then(|a| serde_json::from_slice::<OkBody>(&a.body).ok()) else {
        return Startup::Unknown;
    };
    let success = answer.is_some_and(|a| a.status.is_success());
    let status = body.status.unwrap_or_default();
    if body.ok && success && status == "started" {
        return Startup::Started {
            version: body.version,
        };
    }
    let reason = match body.pending_reason {
        Some(pending) => format!("{status}: {pending}"),
        None => status,
    };
    Startup::NotStarted { reason }
}

/// Whether the gateway serves traffic: `/readyz` says ready, or it fails only because of
/// channels on a gateway that has started (the other channels and the API still work).
pub fn serving(readiness: &Readiness, start: &Startup) -> bool {
    readiness.ready
        || (!readiness.failing.is_empty()
            && readiness.failing.iter().all(|f| channels::is_channel(f))
            && !matches!(start, Startup::NotStarted { .. }))
}

/// Whether the gateway counts as started: its `/startupz` says so, or, on gateways without
/// `/startupz`, its `/readyz` does.
pub fn started(startup: &Startup, readiness: &Readiness) -> bool {
    match startup {
        Startup::Started { .. } => true,
        Startup::NotStarted { .. } => false,
        Startup::Unknown => readiness.ready,
    }
}

/// Where the gateway's channels are found: its config file, and the directory of its log files
/// (the reasons of failing channels).
#[derive(Debug, Clone)]
pub struct ChannelSources {
    /// `openclaw.json`.
    pub config: std::path::PathBuf,
    /// The gateway's log directory ([`super::gateway_log::LOG_DIR`]).
    pub log_dir: std::path::PathBuf,
}

/// Polls the gateway on `127.0.0.1:port` until `shutdown` resolves.
pub async fn run(
    board: Board,
    flag: StartupFlag,
    port: u16,
    sources: ChannelSources,
    shutdown: impl Future<Output = ()>,
) {
    let mut configured = ConfiguredChannels::new(&sources.config);
    let mut errors = ChannelErrors::new(&sources.log_dir);
    let client = HttpClient::new(TIMEOUT);
    let [ready_url, health_url, startup_url] =
        ["readyz", "healthz", "startupz"].map(|path| format!("http://127.0.0.1:{port}/{path}"));
    let mut tick = tokio::time::interval(INTERVAL);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => return,
            _ = tick.tick() => {}
        }
        if !board.update(|s| s.gateway.running) {
            record(
                &board,
                &flag,
                &Readiness::default(),
                false,
                &Startup::Unknown,
                &[],
                &mut errors,
            );
            continue;
        }
        let (ready, live, start) = tokio::join!(
            client.get(&ready_url),
            client.get(&health_url),
            client.get(&startup_url),
        );
        let readiness = readiness(ready.as_ref().ok());
        let live = liveness(live.as_ref().ok());
        let start = startup(start.as_ref().ok());
        record(
            &board,
            &flag,
            &readiness,
            live,
            &start,
            configured.names(),
            &mut errors,
        );
    }
}

/// Writes one round of answers, logging what changed; `configured` are the config's channels.
fn record(
    board: &Board,
    flag: &StartupFlag,
    readiness: &Readiness,
    live: bool,
    start: &Startup,
    configured: &[String],
    errors: &mut ChannelErrors,
) {
    let started = started(start, readiness);
    if flag.set(started) {
        tracing::info!(started, "gateway startup changed");
    }
    let serving = serving(readiness, start);
    // Before the gateway started, nothing is known about its channels.
    let channels = if started || serving {
        channels::health(configured, &readiness.failing, |name| {
            errors.reason(name).map(str::to_owned)
        })
    } else {
        Vec::new()
    };
    board.update(|s| {
        if s.gateway.ready != serving {
            tracing::info!(ready = serving, failing = ?readiness.failing, "gateway readiness changed");
            s.gateway.ready = serving;
        }
        for now in &channels {
            let before = s.gateway.channels.iter().find(|c| c.name == now.name);
            if before.map(|c| c.healthy) != Some(now.healthy) {
                if now.healthy {
                    tracing::info!(channel = %now.name, "channel healthy");
                } else {
                    tracing::warn!(channel = %now.name, "channel failing");
                }
            }
        }
        s.gateway.channels = channels;
        if s.gateway.live != live {
            tracing::info!(live, "gateway liveness changed");
            s.gateway.live = live;
        }
        if let Startup::Started {
            version: Some(version),
        } = start
            && s.versions.get("openclaw") != Some(version)
        {
            s.versions.insert("openclaw".to_owned(), version.clone());
        }
    });
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use reqwest::StatusCode;

    use super::*;

    // Bodies captured from openclaw 2026.9.6 (shared fixtures openclaw-gateway/*.json).
    const READY: &str = r#"{"ready":true,"failing":[],"uptimeMs":4053,"eventLoop":{"degraded":true,"reasons":["cpu"]}}"#;
    const STARTING: &str = r#"{"ready":false,"failing":["startup-sidecars"],"uptimeMs":513}"#;
    const HEALTHZ: &str = r#"{"ok":true,"status":"live"}"#;
    const STARTUPZ: &str = r#"{"ok":true,"status":"started","version":"2026.9.6","uptimeMs":4061}"#;
    const STARTUPZ_STARTING: &str = r#"{"ok":false,"status":"starting","version":"2026.9.6","uptimeMs":510,"pendingReason":"startup-sidecars"}"#;
    const SPA: &str = "<!doctype html>\n<html data-openclaw-control-ui-base-path=\"\">";

    fn answer(status: u16, body: &'static str) -> Answer {
        Answer {
            status: StatusCode::from_u16(status).unwrap_or(StatusCode::IM_A_TEAPOT),
            body: Bytes::from_static(body.as_bytes()),
        }
    }

    #[test]
    fn readiness_follows_the_body() {
        assert!(readiness(Some(&answer(200, READY))).ready);
        assert!(readiness(Some(&answer(200, r#"{"ready":true}"#))).ready);
        let starting = readiness(Some(&answer(503, STARTING)));
        assert!(!starting.ready);
        assert_eq!(starting.failing, ["startup-sidecars"]);
        // The Control UI's catch-all 200 is not readiness.
        assert!(!readiness(Some(&answer(200, SPA))).ready);
        assert!(!readiness(None).ready);
        // A body saying ready with an error status is not trusted either.
        assert!(!readiness(Some(&answer(503, r#"{"ready":true}"#))).ready);
    }

    #[test]
    fn liveness_needs_ok_true() {
        assert!(liveness(Some(&answer(200, HEALTHZ))));
        assert!(!liveness(Some(&answer(200, SPA))));
        assert!(!liveness(Some(&answer(200, r#"{"ok":false}"#))));
        assert!(!liveness(None));
    }

    #[test]
    fn startup_reads_status_version_and_reason() {
        assert_eq!(
            startup(Some(&answer(200, STARTUPZ))),
            Startup::Started {
                version: Some("2026.9.6".into())
            }
        );
        assert_eq!(
            startup(Some(&answer(200, r#"{"ok":true,"status":"started"}"#))),
            Startup::Started { version: None }
        );
        assert_eq!(
            startup(Some(&answer(503, STARTUPZ_STARTING))),
            Startup::NotStarted {
                reason: "starting: startup-sidecars".into()
            }
        );
        assert_eq!(startup(Some(&answer(200, SPA))), Startup::Unknown);
        assert_eq!(startup(None), Startup::Unknown);
    }

    #[test]
    fn gateways_without_startupz_count_as_started_once_ready() {
        let ready = readiness(Some(&answer(200, READY)));
        let not_ready = readiness(Some(&answer(503, STARTING)));
        assert!(started(&Startup::Unknown, &ready));
        assert!(!started(&Startup::Unknown, &not_ready));
        let draining = Startup::NotStarted {
            reason: "draining".into(),
        };
        assert!(!started(&draining, &ready));
    }

    #[test]
    fn record_updates_the_board_and_the_version() {
        let board = Board::default();
        let flag = StartupFlag::default();
        let readiness = readiness(Some(&answer(200, READY)));
        let start = startup(Some(&answer(200, STARTUPZ)));
        let mut errors = ChannelErrors::new(std::path::Path::new("/nonexistent"));
        record(&board, &flag, &readiness, true, &start, &[], &mut errors);
        let snapshot = board.snapshot();
        assert!(snapshot.gateway.ready && snapshot.gateway.live && flag.get());
        assert_eq!(
            snapshot.versions.get("openclaw").map(String::as_str),
            Some("2026.9.6")
        );
        record(
            &board,
            &flag,
            &Readiness::default(),
            false,
            &Startup::Unknown,
            &[],
            &mut errors,
        );
        let snapshot = board.snapshot();
        assert!(!snapshot.gateway.ready && !snapshot.gateway.live && !flag.get());
    }

    #[test]
    fn a_failing_channel_keeps_the_gateway_serving_and_is_reported() {
        // What openclaw 2026.9.6 answers with a Telegram token that getMe refuses.
        const TELEGRAM_DOWN: &str = r#"{"ready":false,"failing":["telegram"],"uptimeMs":15000}"#;
        let board = Board::default();
        let flag = StartupFlag::default();
        let readiness = readiness(Some(&answer(503, TELEGRAM_DOWN)));
        let start = startup(Some(&answer(200, STARTUPZ)));
        assert!(serving(&readiness, &start));
        let configured = ["slack".to_owned(), "telegram".to_owned()];
        let mut errors = ChannelErrors::new(std::path::Path::new("/nonexistent"));
        record(
            &board,
            &flag,
            &readiness,
            true,
            &start,
            &configured,
            &mut errors,
        );
        let gateway = board.snapshot().gateway;
        assert!(
            gateway.ready,
            "one dead channel must not make the pod unready"
        );
        let health: Vec<(&str, bool)> = gateway
            .channels
            .iter()
            .map(|c| (c.name.as_str(), c.healthy))
            .collect();
        assert_eq!(health, [("slack", true), ("telegram", false)]);
        // Still starting, or failing for a gateway-wide reason: not serving.
        let starting = readiness_of(STARTING);
        assert!(!serving(
            &starting,
            &startup(Some(&answer(503, STARTUPZ_STARTING)))
        ));
        let draining = Startup::NotStarted {
            reason: "draining".into(),
        };
        assert!(!serving(&readiness, &draining));
        assert!(!serving(&Readiness::default(), &Startup::Unknown));
    }

    fn readiness_of(body: &'static str) -> Readiness {
        readiness(Some(&answer(503, body)))
    }
}
