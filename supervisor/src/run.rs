//! `openclaw-supervisor run`: read the plan, serve the status port, run the start-up pipeline,
//! start and supervise the gateway, and stop it gracefully on SIGTERM.
//!
//! The order matters: the status server starts first, so the pod's probes answer truthfully
//! during a long start-up (installs, model pulls), and it stops last, after the gateway drained.

use std::{
    future::Future,
    net::{IpAddr, Ipv4Addr, SocketAddr},
    path::{Path, PathBuf},
    process::ExitCode,
    sync::Arc,
    time::Duration,
};

use openclaw_api::plan::{
    CONTROL_TOKEN_ENV, GATEWAY_COMMAND_ENV, PLAN_PATH_ENV, PlanError, RuntimePlan,
    STATUS_ADDRESS_ENV, STATUS_PORT_ENV, TERMINATION_GRACE_ENV, TERMINATION_GRACE_SECONDS,
};
use tokio::sync::{mpsc, watch};

use crate::{
    backup::manager::BackupManager,
    board::Board,
    pipeline::{self, PipelineEnv, gateway_token::GatewayToken, node_cache},
    process::{
        cgroup,
        harden::{self, HardenPlan},
        reaper::Reaper,
        recovery,
        signals::{Control, Signals, control_for},
        spec::{self, GatewayCommand},
        supervise::Supervisor,
    },
    status::{
        control::ControlToken,
        gateway_probe::{self, StartupFlag},
        server::{self, ServerError, ServerState},
    },
};

/// Kept out of the drain budget for what follows the gateway's exit: backups, WAL checkpoints.
pub const STOP_RESERVE: Duration = Duration::from_secs(15);

/// The upstream image's gateway: `/app` is the `openclaw` package root.
pub const DEFAULT_GATEWAY_COMMAND: &str = "node /app/openclaw.mjs gateway run";

/// Flags of `openclaw-supervisor run`.
#[derive(Debug, Clone, clap::Args)]
pub struct RunArgs {
    /// The runtime plan the operator rendered.
    #[arg(long, env = PLAN_PATH_ENV, default_value = "/etc/openclaw/plan.json")]
    pub plan: PathBuf,
    /// The gateway's command line, split on whitespace (e.g. `node <prefix>/node_modules/openclaw/openclaw.mjs gateway run`).
    #[arg(long, env = GATEWAY_COMMAND_ENV, default_value = DEFAULT_GATEWAY_COMMAND)]
    pub gateway_command: String,
    /// Address the status server listens on.
    #[arg(long, env = STATUS_ADDRESS_ENV, default_value_t = IpAddr::V4(Ipv4Addr::UNSPECIFIED))]
    pub status_address: IpAddr,
    /// Port of the status server; the plan's `statusPort` when unset.
    #[arg(long, env = STATUS_PORT_ENV)]
    pub status_port: Option<u16>,
    /// Bearer token of the control endpoints (`POST /backup`). Pass it in the environment, not
    /// on the command line; without it the control endpoints refuse every caller.
    #[arg(long, env = CONTROL_TOKEN_ENV, hide_env_values = true)]
    pub control_token: Option<String>,
    /// The pod's termination grace period, in seconds; the gateway may drain for all of it but
    /// the last 15 s (kept for backups and WAL checkpoints).
    #[arg(long, env = TERMINATION_GRACE_ENV, default_value_t = TERMINATION_GRACE_SECONDS.unsigned_abs())]
    pub termination_grace_seconds: u64,
}

/// Why the supervisor could not run.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The plan file could not be read.
    #[error("failed to read the runtime plan {path}")]
    ReadPlan {
        /// Where the plan was looked for.
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The plan is not one this build reads.
    #[error("invalid runtime plan {path}")]
    Plan {
        /// The plan file.
        path: PathBuf,
        #[source]
        source: PlanError,
    },
    /// `--gateway-command` is empty.
    #[error("the gateway command is empty")]
    EmptyGatewayCommand,
    /// The status server failed.
    #[error(transparent)]
    Server(#[from] ServerError),
    /// SIGTERM/SIGINT handlers could not be installed.
    #[error("failed to install the signal handlers")]
    Signals(#[source] std::io::Error),
    /// The zombie reaper could not start.
    #[error("failed to start the zombie reaper")]
    Reaper(#[source] std::io::Error),
    /// The gateway's confinement could not be prepared.
    #[error("failed to prepare the gateway's hardening")]
    Harden(#[source] harden::Error),
}

/// Reads and checks the plan.
pub fn read_plan(path: &Path) -> Result<RuntimePlan, RunError> {
    let text = std::fs::read_to_string(path).map_err(|source| RunError::ReadPlan {
        path: path.to_owned(),
        source,
    })?;
    RuntimePlan::from_json(&text).map_err(|source| RunError::Plan {
        path: path.to_owned(),
        source,
    })
}

/// Splits the gateway command line into program and arguments.
pub fn gateway_argv(command: &str) -> Result<Vec<String>, RunError> {
    let argv: Vec<String> = command.split_whitespace().map(str::to_owned).collect();
    if argv.is_empty() {
        return Err(RunError::EmptyGatewayCommand);
    }
    Ok(argv)
}

/// One shutdown signal, fanned out to every task.
#[derive(Debug, Clone)]
pub struct Shutdown {
    sender: watch::Sender<bool>,
}

impl Default for Shutdown {
    fn default() -> Self {
        Self {
            sender: watch::Sender::new(false),
        }
    }
}

impl Shutdown {
    /// Starts the shutdown; idempotent.
    pub fn trigger(&self) {
        self.sender.send_replace(true);
    }

    /// True once triggered.
    pub fn is_triggered(&self) -> bool {
        *self.sender.borrow()
    }

    /// Resolves once triggered.
    pub fn wait(&self) -> impl Future<Output = ()> + Send + 'static {
        let mut receiver = self.sender.subscribe();
        async move {
            // An error means the sender is gone, which only happens at exit.
            let _ = receiver.wait_for(|stop| *stop).await;
        }
    }
}

/// The gateway's command: `argv`, the supervisor's environment scrubbed of its secrets plus
/// what the pipeline exports, a heap cap from the cgroup limit, run in `HOME`.
pub fn gateway_command(
    argv: &[String],
    plan: &RuntimePlan,
    extra_env: &[(String, String)],
    home: &Path,
    drain: Duration,
) -> Result<GatewayCommand, RunError> {
    let (program, args) = argv.split_first().ok_or(RunError::EmptyGatewayCommand)?;
    let env = spec::child_env(
        std::env::vars(),
        extra_env,
        &spec::scrub_list(plan),
        cgroup::memory_limit(),
    );
    Ok(GatewayCommand {
        program: PathBuf::from(program),
        args: args.to_vec(),
        env,
        cwd: home.to_owned(),
        drain,
    })
}

/// Starts handing rotated gateway tokens to the running gateway, when the plan mounts the token
/// as a file (the `gateway-token` step put the current one in place).
fn watch_gateway_token(
    plan: &RuntimePlan,
    env: &PipelineEnv,
    board: &Board,
    stop: &Shutdown,
) -> Option<tokio::task::JoinHandle<()>> {
    let source = plan.gateway.token_file.as_ref()?;
    let token = GatewayToken::new(source, &env.state_dir, &env.home);
    match token.read_source() {
        Ok((_, digest)) => Some(tokio::spawn(token.watch(
            digest,
            board.clone(),
            stop.wait(),
        ))),
        Err(error) => {
            tracing::warn!(
                error = &error as &dyn std::error::Error,
                "the gateway token will not rotate in place"
            );
            None
        }
    }
}

/// What ended the start-up phase.
enum StartUp {
    /// The pipeline finished; the gateway gets these extra variables.
    Done(Vec<(String, String)>),
    /// A step failed: the gateway is not started; `/status` says why.
    Failed,
    /// SIGTERM/SIGINT arrived first.
    Stopped,
}

/// Runs the pipeline while listening for a stop signal.
async fn start_up(
    plan: &RuntimePlan,
    env: &PipelineEnv,
    board: &Board,
    signals: &mut Signals,
) -> StartUp {
    let pipeline = pipeline::run(plan, env, board);
    tokio::pin!(pipeline);
    loop {
        tokio::select! {
            outcome = &mut pipeline => return match outcome {
                Ok(outcome) => StartUp::Done(outcome.gateway_env),
                Err(error) => {
                    tracing::error!(error = &error as &dyn std::error::Error, "start-up pipeline failed");
                    board.update(|s| {
                        s.pipeline_done = false;
                        s.pipeline_failed = true;
                    });
                    StartUp::Failed
                }
            },
            sig = signals.recv() => match control_for(sig) {
                Some(Control::Stop(_)) => {
                    tracing::info!(signal = %sig, "stopping during start-up");
                    return StartUp::Stopped;
                }
                _ => tracing::info!(signal = %sig, "ignored during start-up"),
            },
        }
    }
}

/// Waits for SIGTERM/SIGINT (after a failed start-up, so `/status` stays readable).
async fn wait_for_stop(signals: &mut Signals) {
    loop {
        let sig = signals.recv().await;
        if let Some(Control::Stop(_)) = control_for(sig) {
            tracing::info!(signal = %sig, "stopping");
            return;
        }
    }
}

/// The pipeline's surroundings: the process environment, with the node cache's routes as the
/// default mirrors when the node agent serves one (see [`node_cache`]).
async fn pipeline_env() -> PipelineEnv {
    let process = |name: &str| std::env::var(name).ok();
    let Some(base) = process(node_cache::NODE_CACHE_ENV).filter(|v| !v.trim().is_empty()) else {
        return PipelineEnv::from_env();
    };
    let Some(sources) = node_cache::sources(&base).await else {
        tracing::warn!(cache = %base, "the node cache does not answer; downloading from the upstreams");
        return PipelineEnv::from_env();
    };
    let defaults = node_cache::mirror_defaults(&base, &sources, process);
    tracing::info!(cache = %base, ?sources, mirrors = ?defaults, "downloading through the node cache");
    PipelineEnv::from_lookup(|name| {
        process(name).or_else(|| {
            defaults
                .iter()
                .find(|(key, _)| *key == name)
                .map(|(_, url)| url.clone())
        })
    })
}

/// Runs the supervisor until SIGTERM/SIGINT; returns the process's exit code.
pub async fn run(args: RunArgs) -> Result<ExitCode, RunError> {
    // As PID 1 a signal without a handler is dropped: install them before anything else.
    let mut signals = Signals::install().map_err(RunError::Signals)?;
    let reaper = Reaper::start_if_needed().map_err(RunError::Reaper)?;
    let plan = read_plan(&args.plan)?;
    let argv = gateway_argv(&args.gateway_command)?;
    let env = pipeline_env().await;
    let uid = nix::unistd::getuid().as_raw();
    let board = Board::default();
    board.update(|s| {
        s.versions.insert(
            "supervisor".to_owned(),
            env!("CARGO_PKG_VERSION").to_owned(),
        );
    });
    tracing::info!(
        instance = %format!("{}/{}", plan.instance.namespace, plan.instance.name),
        plan = %args.plan.display(),
        state_dir = %env.state_dir.display(),
        gateway = ?argv,
        "supervisor starting"
    );

    // Status first: the probes answer from the first second.
    let address = SocketAddr::new(
        args.status_address,
        args.status_port.unwrap_or(plan.status_port),
    );
    let listener = server::bind(address).await?;
    tracing::info!(%address, "status server listening");
    let started = StartupFlag::default();
    let token = args.control_token.as_deref().and_then(ControlToken::new);
    let backups = BackupManager::from_plan(&plan, &env.state_dir, board.clone(), |name| {
        std::env::var(name).ok()
    });
    let state =
        ServerState::new(board.clone(), started.clone(), token).with_backups(backups.clone());
    let server_stop = Shutdown::default();
    let server = tokio::spawn(server::serve(listener, state, server_stop.wait()));
    let schedule_stop = Shutdown::default();
    let schedule = {
        let (backups, stop) = (backups.clone(), schedule_stop.wait());
        tokio::spawn(async move { backups.run_schedule(stop).await })
    };
    let drills = {
        let (backups, stop) = (backups.clone(), schedule_stop.wait());
        tokio::spawn(async move { backups.run_drills(stop).await })
    };
    let probe_stop = Shutdown::default();
    let probe = {
        let (board, port, stop) = (board.clone(), plan.gateway.port, probe_stop.wait());
        let sources = gateway_probe::ChannelSources {
            config: env.state_dir.join(crate::pipeline::config::CONFIG_FILE),
            log_dir: PathBuf::from(crate::status::gateway_log::LOG_DIR),
        };
        tokio::spawn(gateway_probe::run(board, started, port, sources, stop))
    };

    // A run that did not stop cleanly (OOM kill, node loss) left the gateway's locks behind.
    match recovery::begin(&env.state_dir, uid) {
        Ok(report) => {
            if let Some(summary) = report.summary() {
                tracing::warn!(%summary, "recovering from an unclean stop");
            }
            report.report(&board);
        }
        Err(error) => tracing::warn!(
            error = &error as &dyn std::error::Error,
            "failed to check for an unclean stop"
        ),
    }

    match start_up(&plan, &env, &board, &mut signals).await {
        StartUp::Done(extra_env) => {
            let drain = spec::drain_budget(
                Duration::from_secs(args.termination_grace_seconds),
                STOP_RESERVE,
            );
            let command = gateway_command(&argv, &plan, &extra_env, &env.home, drain)?;
            let hardening = HardenPlan::gateway().map_err(RunError::Harden)?;
            let mut supervisor = Supervisor::new(command, board.clone())
                .hardening(Arc::new(hardening))
                .stale_locks(env.state_dir.clone(), uid)
                .memory_events(cgroup::memory_events());
            if let Some(reaper) = reaper {
                supervisor = supervisor.reaper(reaper);
            }
            let token_stop = Shutdown::default();
            let token_watch = watch_gateway_token(&plan, &env, &board, &token_stop);
            let (controls, received) = mpsc::channel(8);
            let forward = tokio::spawn(signals.forward(controls));
            let stopped = supervisor.run(received).await;
            forward.abort();
            token_stop.trigger();
            if let Some(watch) = token_watch {
                let _ = watch.await;
            }
            tracing::info!(last_exit = ?stopped.last_exit, killed = stopped.killed_after_drain, "gateway stopped");
        }
        StartUp::Failed => {
            tracing::error!("start-up failed; the gateway is not started, /status says why");
            wait_for_stop(&mut signals).await;
        }
        StartUp::Stopped => {}
    }

    // The gateway is gone: no new scheduled backup; one that runs (a deletion's final backup)
    // gets the reserve to finish. Then the WAL checkpoints and the clean-stop marker.
    probe_stop.trigger();
    let _ = probe.await;
    schedule_stop.trigger();
    let _ = schedule.await;
    let _ = drills.await;
    if tokio::time::timeout(STOP_RESERVE, backups.idle())
        .await
        .is_err()
    {
        tracing::warn!(
            "a backup was still running at stop; it is abandoned and its upload aborted by S3's lifecycle rules"
        );
    }
    let state_dir = env.state_dir.clone();
    match tokio::task::spawn_blocking(move || recovery::finish(&state_dir)).await {
        Ok(Ok(report)) => tracing::info!(report = ?report, "clean stop recorded"),
        Ok(Err(error)) => tracing::warn!(
            error = &error as &dyn std::error::Error,
            "failed to record the clean stop"
        ),
        Err(error) => tracing::warn!(%error, "the clean-stop task failed"),
    }
    server_stop.trigger();
    match server.await {
        Ok(result) => result?,
        Err(error) => tracing::warn!(%error, "the status server task ended abnormally"),
    }
    tracing::info!("supervisor stopped");
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_the_gateway_command() -> Result<(), RunError> {
        assert_eq!(
            gateway_argv(DEFAULT_GATEWAY_COMMAND)?,
            ["node", "/app/openclaw.mjs", "gateway", "run"]
        );
        assert!(matches!(
            gateway_argv("  "),
            Err(RunError::EmptyGatewayCommand)
        ));
        Ok(())
    }

    #[test]
    fn refuses_a_missing_or_foreign_plan() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let missing = read_plan(&dir.path().join("plan.json"));
        assert!(matches!(missing, Err(RunError::ReadPlan { .. })));
        let path = dir.path().join("plan.json");
        std::fs::write(&path, r#"{"version": 99}"#)?;
        assert!(matches!(read_plan(&path), Err(RunError::Plan { .. })));
        Ok(())
    }

    #[tokio::test]
    async fn shutdown_reaches_every_waiter() {
        let shutdown = Shutdown::default();
        let waiters: Vec<_> = (0..3).map(|_| tokio::spawn(shutdown.wait())).collect();
        assert!(!shutdown.is_triggered());
        shutdown.trigger();
        for waiter in waiters {
            assert!(waiter.await.is_ok());
        }
        // A waiter created after the trigger resolves at once.
        shutdown.wait().await;
    }
}
