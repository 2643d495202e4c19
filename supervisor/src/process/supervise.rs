//! The gateway's life: start it hardened, pass signals on, restart it by [`policy`], drain and
//! kill it on stop, and keep the [`Board`] current.
//!
//! Decisions come from [`policy::decide`]; this file only waits and acts. The gateway runs in
//! a process group of its own: signals meant for it go to its pid (it stops its own children),
//! the final SIGKILL goes to the whole group.

use std::{path::PathBuf, sync::Arc, time::Duration};

use nix::{
    sys::signal::{Signal, kill, killpg},
    unistd::Pid,
};
use tokio::{
    process::Child,
    sync::mpsc,
    time::{Instant, sleep, sleep_until},
};

use super::{
    cgroup,
    harden::{self, HardenPlan},
    policy::{self, Decision, ExitKind, History, RestartPolicy},
    reaper::Reaper,
    recovery,
    signals::Control,
    spec::GatewayCommand,
};
use crate::board::Board;

/// A run that stays up this long after a configuration error clears the error: OpenClaw
/// rejects a bad configuration within about 5 s of starting.
pub const CONFIG_OK_AFTER: Duration = Duration::from_secs(20);

/// How supervision ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stopped {
    /// The last run's end, if the gateway ran or was tried at all.
    pub last_exit: Option<ExitKind>,
    /// The gateway did not finish draining in time and was killed.
    pub killed_after_drain: bool,
}

/// Supervises one gateway.
#[derive(Debug)]
pub struct Supervisor {
    command: GatewayCommand,
    board: Board,
    hardening: Option<Arc<HardenPlan>>,
    policy: RestartPolicy,
    reaper: Option<Reaper>,
    stale_locks: Option<(PathBuf, u32)>,
    config_ok_after: Duration,
    memory_events: Option<PathBuf>,
}

impl Supervisor {
    /// Supervision of `command` reporting to `board`, with the default [`RestartPolicy`] and no
    /// hardening yet (see [`Supervisor::hardening`]).
    pub fn new(command: GatewayCommand, board: Board) -> Supervisor {
        Supervisor {
            command,
            board,
            hardening: None,
            policy: RestartPolicy::default(),
            reaper: None,
            stale_locks: None,
            memory_events: None,
            config_ok_after: CONFIG_OK_AFTER,
        }
    }

    /// Confines every start of the gateway with `plan`.
    pub fn hardening(mut self, plan: Arc<HardenPlan>) -> Supervisor {
        self.hardening = Some(plan);
        self
    }

    /// Replaces the restart timings.
    pub fn policy(mut self, policy: RestartPolicy) -> Supervisor {
        self.policy = policy;
        self
    }

    /// Registers each gateway with the PID-1 reaper so that it does not take its exit status.
    pub fn reaper(mut self, reaper: Reaper) -> Supervisor {
        self.reaper = Some(reaper);
        self
    }

    /// Removes the gateway's stale lock files under `state_dir` before restarting a gateway that
    /// was killed (an OOM kill leaves them behind); `uid` is the gateway's user.
    pub fn stale_locks(mut self, state_dir: PathBuf, uid: u32) -> Supervisor {
        self.stale_locks = Some((state_dir, uid));
        self
    }

    /// How long a run after a configuration error must last to clear it ([`CONFIG_OK_AFTER`]).
    pub fn config_ok_after(mut self, after: Duration) -> Supervisor {
        self.config_ok_after = after;
        self
    }

    /// Counts the gateway's OOM kills from this cgroup `memory.events` file: a gateway killed by
    /// SIGKILL while its `oom_kill` counter grew was killed by the kernel's OOM killer.
    pub fn memory_events(mut self, events: Option<PathBuf>) -> Supervisor {
        self.memory_events = events;
        self
    }

    /// Runs the gateway until a [`Control::Stop`] (or until `controls` is closed), restarting
    /// it as the policy says. Returns once the gateway has exited and whatever was left of its
    /// process group has been sent SIGKILL.
    pub async fn run(self, mut controls: mpsc::Receiver<Control>) -> Stopped {
        let mut history = History::default();
        let mut restarts = 0u32;
        let mut after_config_error = false;
        let mut open = true;
        loop {
            let started = Instant::now();
            let run = match self.spawn() {
                Ok(child) => {
                    self.watch(child, &mut controls, &mut open, after_config_error)
                        .await
                }
                Err(err) => {
                    tracing::warn!(
                        error = &err as &dyn std::error::Error,
                        "failed to start the gateway"
                    );
                    self.board
                        .set_gateway(|g| g.last_exit = Some(format!("failed to start: {err}")));
                    Run {
                        exit: ExitKind::SpawnFailed,
                        stopping: !open,
                        killed: false,
                    }
                }
            };
            if run.stopping {
                return Stopped {
                    last_exit: Some(run.exit),
                    killed_after_drain: run.killed,
                };
            }
            if run.exit.is_abrupt() {
                self.clear_stale_locks();
            }
            let (decision, next) =
                policy::decide(&self.policy, history, run.exit, started.elapsed(), false);
            history = next;
            let wait = match decision {
                Decision::Stop => {
                    return Stopped {
                        last_exit: Some(run.exit),
                        killed_after_drain: false,
                    };
                }
                Decision::Restart { after } => {
                    let exit = run.exit.describe();
                    tracing::warn!(%exit, restart_in = ?after, "gateway exited");
                    after_config_error = false;
                    self.board.set_gateway(|g| g.config_error = false);
                    pause(after, &mut controls, &mut open, false).await
                }
                Decision::WaitForConfig { retry_after } => {
                    tracing::error!(
                        retry_in = ?retry_after,
                        "gateway refused its configuration (exit 78): fix it and send SIGHUP, \
                         or wait for the retry"
                    );
                    after_config_error = true;
                    self.board.set_gateway(|g| g.config_error = true);
                    pause(retry_after, &mut controls, &mut open, true).await
                }
            };
            if wait == Pause::Stop {
                return Stopped {
                    last_exit: Some(run.exit),
                    killed_after_drain: false,
                };
            }
            restarts = restarts.saturating_add(1);
            self.board.set_gateway(|g| g.restarts = restarts);
        }
    }

    fn spawn(&self) -> std::io::Result<Child> {
        let mut cmd = command(&self.command, self.hardening.clone());
        match &self.reaper {
            Some(reaper) => reaper.spawn_owned(|| cmd.spawn(), Child::id),
            None => cmd.spawn(),
        }
    }

    /// Waits for the running gateway to exit, passing controls on.
    async fn watch(
        &self,
        mut child: Child,
        controls: &mut mpsc::Receiver<Control>,
        open: &mut bool,
        after_config_error: bool,
    ) -> Run {
        let pid = child
            .id()
            .and_then(|p| i32::try_from(p).ok())
            .map(Pid::from_raw);
        tracing::info!(pid = ?pid.map(Pid::as_raw), "gateway started");
        self.board.set_gateway(|g| {
            g.running = true;
            g.pid = child.id();
        });
        let oom_before = self.memory_events.as_deref().and_then(cgroup::oom_kills);
        let mut stop_deadline: Option<Instant> = None;
        let mut killed = false;
        let mut config_pending = after_config_error;
        let config_ok = sleep(self.config_ok_after);
        tokio::pin!(config_ok);
        if !*open {
            // Stop was asked for while the gateway was starting.
            stop_deadline = Some(self.begin_stop(pid, Signal::SIGTERM));
        }
        let exit = loop {
            let deadline = stop_deadline.unwrap_or_else(|| later(Duration::from_secs(86_400)));
            tokio::select! {
                status = child.wait() => {
                    break match status {
                        Ok(status) => ExitKind::from_status(status),
                        Err(err) => {
                            let error = &err as &dyn std::error::Error;
                            tracing::error!(error, "failed to wait for the gateway");
                            ExitKind::SpawnFailed
                        }
                    };
                }
                control = controls.recv(), if *open => match control {
                    None | Some(Control::Stop(_)) if stop_deadline.is_some() => {
                        *open = control.is_some();
                        if !killed {
                            tracing::warn!("second stop request: killing the gateway now");
                            kill_tree(pid);
                            killed = true;
                        }
                    }
                    None => {
                        *open = false;
                        stop_deadline = Some(self.begin_stop(pid, Signal::SIGTERM));
                    }
                    Some(Control::Stop(sig)) => stop_deadline = Some(self.begin_stop(pid, sig)),
                    Some(Control::Reload) if stop_deadline.is_none() => {
                        send(pid, Signal::SIGUSR2);
                    }
                    Some(Control::Reload) => {}
                    Some(Control::Forward(sig)) => send(pid, sig),
                },
                () = sleep_until(deadline), if stop_deadline.is_some() && !killed => {
                    let drain = self.command.drain;
                    tracing::warn!(?drain, "gateway still running after its drain budget: SIGKILL");
                    kill_tree(pid);
                    killed = true;
                }
                () = &mut config_ok, if config_pending => {
                    config_pending = false;
                    self.board.set_gateway(|g| g.config_error = false);
                }
            }
        };
        // The gateway's own children normally follow it within ~150 ms; whatever is left of
        // its group must not outlive it (a stale spawn broker would hold the state database).
        kill_leftovers(pid);
        if let (Some(reaper), Some(id)) = (&self.reaper, pid) {
            reaper.release(id.as_raw().unsigned_abs());
        }
        let oom_after = self.memory_events.as_deref().and_then(cgroup::oom_kills);
        let oom_killed = !killed
            && exit == ExitKind::Signal(9)
            && matches!((oom_before, oom_after), (Some(before), Some(after)) if after > before);
        let described = if oom_killed {
            format!(
                "{} (OOM kill: the container's memory limit)",
                exit.describe()
            )
        } else {
            exit.describe()
        };
        if oom_killed {
            tracing::error!(exit = %described, "the kernel's OOM killer killed the gateway");
        } else {
            tracing::info!(exit = %described, "gateway exited");
        }
        self.board.set_gateway(|g| {
            g.running = false;
            g.pid = None;
            g.ready = false;
            g.live = false;
            g.last_exit = Some(described);
            g.channels.clear();
            if oom_killed {
                g.oom_kills = g.oom_kills.saturating_add(1);
            }
        });
        Run {
            exit,
            stopping: stop_deadline.is_some(),
            killed,
        }
    }

    fn begin_stop(&self, pid: Option<Pid>, sig: Signal) -> Instant {
        tracing::info!(signal = %sig, drain = ?self.command.drain, "stopping the gateway");
        send(pid, sig);
        later(self.command.drain)
    }

    fn clear_stale_locks(&self) {
        let Some((state_dir, uid)) = &self.stale_locks else {
            return;
        };
        match recovery::clear_stale_locks(state_dir, *uid) {
            Ok(removed) if !removed.is_empty() => {
                tracing::info!(
                    count = removed.len(),
                    "removed the killed gateway's lock files"
                );
            }
            Ok(_) => {}
            Err(err) => tracing::warn!(
                error = &err as &dyn std::error::Error,
                "failed to remove stale lock files"
            ),
        }
    }
}

/// The tokio command that starts `spec`, confined by `plan` when given; the child is killed if
/// its handle is dropped.
pub fn command(spec: &GatewayCommand, plan: Option<Arc<HardenPlan>>) -> tokio::process::Command {
    let mut std = spec.to_command();
    if let Some(plan) = plan {
        harden::apply_on_exec(&mut std, plan);
    }
    let mut cmd = tokio::process::Command::from(std);
    cmd.kill_on_drop(true);
    cmd
}

struct Run {
    exit: ExitKind,
    stopping: bool,
    killed: bool,
}

#[derive(Debug, PartialEq, Eq)]
enum Pause {
    Elapsed,
    Stop,
}

/// Waits `delay` between runs; a stop ends the wait, and so does a reload when `wake_on_reload`.
async fn pause(
    delay: Duration,
    controls: &mut mpsc::Receiver<Control>,
    open: &mut bool,
    wake_on_reload: bool,
) -> Pause {
    let until = later(delay);
    loop {
        if !*open {
            return Pause::Stop;
        }
        tokio::select! {
            () = sleep_until(until) => return Pause::Elapsed,
            control = controls.recv() => match control {
                None => *open = false,
                Some(Control::Stop(_)) => return Pause::Stop,
                Some(Control::Reload) if wake_on_reload => {
                    tracing::info!("configuration change signalled: starting the gateway again");
                    return Pause::Elapsed;
                }
                Some(Control::Reload | Control::Forward(_)) => {}
            },
        }
    }
}

fn send(pid: Option<Pid>, sig: Signal) {
    if let Some(pid) = pid
        && let Err(err) = kill(pid, sig)
    {
        tracing::debug!(error = %err, signal = %sig, "failed to signal the gateway");
    }
}

/// SIGKILL to the running gateway and its process group (its pgid is its pid; the gateway is
/// not waited for yet, so neither number can belong to another process).
fn kill_tree(pid: Option<Pid>) {
    if let Some(pid) = pid {
        let _ = kill(pid, Signal::SIGKILL);
        let _ = killpg(pid, Signal::SIGKILL);
    }
}

/// SIGKILL to what is left of the group of a gateway that has exited. The kernel does not reuse
/// a process group id while a member lives, so this reaches the gateway's tree; once the group
/// is empty it finds nothing (short of a pid wrap-around in between).
fn kill_leftovers(pid: Option<Pid>) {
    if let Some(pid) = pid {
        let _ = killpg(pid, Signal::SIGKILL);
    }
}

/// Now plus `delay`, saturating far in the future.
fn later(delay: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(delay)
        .unwrap_or_else(|| now + Duration::from_secs(100 * 365 * 86_400))
}
