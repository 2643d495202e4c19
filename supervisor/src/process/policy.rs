//! What to do when the gateway exits: restart it after a backoff, wait for a configuration
//! change, or stop (pure state machine, no processes).
//!
//! - Stopped on purpose (the supervisor is shutting down): stop.
//! - Exit 78 (`EX_CONFIG`): the configuration is wrong and restarting cannot help. Wait for a
//!   configuration change (SIGHUP/SIGUSR2 to the supervisor) or retry slowly.
//! - Anything else (a crash, a kill by the OOM killer, a failed spawn, even exit 0): restart
//!   after 1 s, doubling for each quick failure up to 60 s; a run that lasted 10 minutes
//!   resets the backoff.

use std::time::Duration;

/// The exit status OpenClaw uses for configuration errors (`EX_CONFIG` from sysexits.h).
pub const EX_CONFIG: i32 = 78;

/// How a run of the gateway ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitKind {
    /// It exited with this status.
    Code(i32),
    /// A signal killed it.
    Signal(i32),
    /// It could not be started (missing binary, hardening refused).
    SpawnFailed,
}

impl ExitKind {
    /// From a wait status.
    pub fn from_status(status: std::process::ExitStatus) -> ExitKind {
        use std::os::unix::process::ExitStatusExt;
        match (status.code(), status.signal()) {
            (Some(code), _) => ExitKind::Code(code),
            (None, Some(sig)) => ExitKind::Signal(sig),
            (None, None) => ExitKind::SpawnFailed,
        }
    }

    /// Whether the process ended without running its own shutdown (killed by a signal), so
    /// its lock files may be stale.
    pub fn is_abrupt(self) -> bool {
        matches!(self, ExitKind::Signal(_))
    }

    /// For people and `/status`: `exit 78 (configuration error)`, `signal 9 (SIGKILL)`.
    pub fn describe(self) -> String {
        match self {
            ExitKind::Code(EX_CONFIG) => format!("exit {EX_CONFIG} (configuration error)"),
            ExitKind::Code(code) => format!("exit {code}"),
            ExitKind::Signal(sig) => match nix::sys::signal::Signal::try_from(sig) {
                Ok(name) => format!("signal {sig} ({name})"),
                Err(_) => format!("signal {sig}"),
            },
            ExitKind::SpawnFailed => "failed to start".to_owned(),
        }
    }
}

/// Timings of the policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RestartPolicy {
    /// Delay before the first restart after a quick failure.
    pub initial_backoff: Duration,
    /// Longest delay between restarts.
    pub max_backoff: Duration,
    /// A run at least this long resets the backoff.
    pub reset_after: Duration,
    /// After exit 78 without a configuration change, retry after this long.
    pub config_retry: Duration,
}

impl Default for RestartPolicy {
    fn default() -> Self {
        RestartPolicy {
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(60),
            reset_after: Duration::from_secs(10 * 60),
            config_retry: Duration::from_secs(5 * 60),
        }
    }
}

/// What the policy remembers between runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct History {
    /// Consecutive failures of runs shorter than [`RestartPolicy::reset_after`].
    pub quick_failures: u32,
}

/// What to do next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Start the gateway again after this delay.
    Restart {
        /// The delay.
        after: Duration,
    },
    /// Report a configuration error; start again on a configuration change or after the delay.
    WaitForConfig {
        /// Retry without a change after this long.
        retry_after: Duration,
    },
    /// Do not start it again.
    Stop,
}

/// Decides after a run that ended with `exit` after `uptime`; `stopping` when the supervisor
/// asked it to stop.
pub fn decide(
    policy: &RestartPolicy,
    history: History,
    exit: ExitKind,
    uptime: Duration,
    stopping: bool,
) -> (Decision, History) {
    if stopping {
        return (Decision::Stop, history);
    }
    if exit == ExitKind::Code(EX_CONFIG) {
        return (
            Decision::WaitForConfig {
                retry_after: policy.config_retry,
            },
            History::default(),
        );
    }
    let failures = if uptime >= policy.reset_after {
        0
    } else {
        history.quick_failures
    };
    let after = backoff(policy, failures);
    (
        Decision::Restart { after },
        History {
            quick_failures: failures.saturating_add(1),
        },
    )
}

/// `initial_backoff · 2^failures`, at most `max_backoff`.
fn backoff(policy: &RestartPolicy, failures: u32) -> Duration {
    let factor = 1u32.checked_shl(failures.min(31)).unwrap_or(u32::MAX);
    policy
        .initial_backoff
        .checked_mul(factor)
        .unwrap_or(policy.max_backoff)
        .min(policy.max_backoff)
}

#[cfg(test)]
mod tests {
    use super::*;

    const QUICK: Duration = Duration::from_secs(3);

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    /// Feeds a sequence of (exit, uptime) and returns the delays decided.
    fn run(exits: &[(ExitKind, Duration)]) -> Vec<Decision> {
        let policy = RestartPolicy::default();
        let mut history = History::default();
        exits
            .iter()
            .map(|&(exit, uptime)| {
                let (d, h) = decide(&policy, history, exit, uptime, false);
                history = h;
                d
            })
            .collect()
    }

    fn restart(n: u64) -> Decision {
        Decision::Restart { after: secs(n) }
    }

    #[test]
    fn crashes_back_off_from_one_second_doubling_to_a_minute() {
        let crashes = vec![(ExitKind::Code(1), QUICK); 9];
        assert_eq!(
            run(&crashes),
            [
                restart(1),
                restart(2),
                restart(4),
                restart(8),
                restart(16),
                restart(32),
                restart(60),
                restart(60),
                restart(60)
            ]
        );
    }

    #[test]
    fn ten_minutes_up_resets_the_backoff() {
        let exits = [
            (ExitKind::Code(1), QUICK),
            (ExitKind::Code(1), QUICK),
            (ExitKind::Code(1), QUICK),
            (ExitKind::Signal(9), secs(600)),
            (ExitKind::Code(1), QUICK),
            (ExitKind::Code(1), secs(599)),
        ];
        assert_eq!(
            run(&exits),
            [
                restart(1),
                restart(2),
                restart(4),
                restart(1),
                restart(2),
                restart(4)
            ]
        );
    }

    #[test]
    fn exit_78_waits_for_a_config_change_instead_of_looping() {
        let exits = [
            (ExitKind::Code(78), QUICK),
            (ExitKind::Code(78), QUICK),
            (ExitKind::Code(1), QUICK),
        ];
        let wait = Decision::WaitForConfig {
            retry_after: secs(300),
        };
        assert_eq!(run(&exits), [wait, wait, restart(1)]);
    }

    #[test]
    fn kills_exit_zero_and_spawn_failures_restart() {
        let exits = [
            (ExitKind::Signal(9), QUICK),
            (ExitKind::Code(0), QUICK),
            (ExitKind::SpawnFailed, Duration::ZERO),
        ];
        assert_eq!(run(&exits), [restart(1), restart(2), restart(4)]);
    }

    #[test]
    fn a_requested_stop_always_stops() {
        let policy = RestartPolicy::default();
        for exit in [
            ExitKind::Code(0),
            ExitKind::Code(1),
            ExitKind::Code(78),
            ExitKind::Signal(9),
        ] {
            let (d, _) = decide(&policy, History::default(), exit, QUICK, true);
            assert_eq!(d, Decision::Stop, "{exit:?}");
        }
    }

    #[test]
    fn backoff_saturates() {
        let policy = RestartPolicy::default();
        assert_eq!(backoff(&policy, 40), secs(60));
        assert_eq!(backoff(&policy, u32::MAX), secs(60));
        let h = History {
            quick_failures: u32::MAX,
        };
        let (d, h) = decide(&policy, h, ExitKind::Code(1), QUICK, false);
        assert_eq!((d, h.quick_failures), (restart(60), u32::MAX));
    }

    #[test]
    fn descriptions() {
        assert_eq!(
            ExitKind::Code(78).describe(),
            "exit 78 (configuration error)"
        );
        assert_eq!(ExitKind::Code(1).describe(), "exit 1");
        assert_eq!(ExitKind::Signal(9).describe(), "signal 9 (SIGKILL)");
        assert!(ExitKind::Signal(9).is_abrupt());
        assert!(!ExitKind::Code(1).is_abrupt());
    }
}
