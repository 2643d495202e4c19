//! Zombie reaping for PID 1 (or a child subreaper) that never races tokio's own child handling.
//!
//! Orphans anywhere in the pod are re-parented to PID 1 and must be waited for, or they stay
//! zombies. But the supervisor also has children that tokio (or std) waits for by pid: pipeline
//! steps and the gateway. A blind `waitpid(-1)` would steal their exit status, and tokio's wait
//! would fail with ECHILD (the race fly.io's init had to paper over with a mutex).
//!
//! Choice: on every SIGCHLD (and every few seconds as a safety net) read `/proc` and reap, by
//! pid with `waitpid(pid, WNOHANG)`, only the zombie children that are
//! - **not in the supervisor's process group**: everything the supervisor spawns without a
//!   group of its own stays in its group and is left to tokio/std;
//! - **not registered** with [`Reaper::spawn_owned`]: the gateway runs in its own process group
//!   (so one SIGKILL reaches its whole tree) and is registered under the reaper's lock at spawn,
//!   so it cannot be seen unregistered.
//!
//! Orphans come from the gateway's tree (its process group) or from programs that made a
//! session or group of their own, so they are reaped. `waitid(P_ALL, WNOWAIT)` was the
//! alternative: it only shows the first zombie, and one that tokio is about to collect would
//! hide every orphan behind it.

use std::{
    collections::BTreeSet,
    fs, io,
    sync::{Arc, Mutex, MutexGuard, PoisonError},
    time::Duration,
};

use nix::{
    sys::wait::{WaitPidFlag, WaitStatus, waitpid},
    unistd::{Pid, getpgrp, getpid},
};
use tokio::signal::unix::{SignalKind, signal};

/// Safety-net period between scans when no SIGCHLD arrives.
pub const RESCAN_EVERY: Duration = Duration::from_secs(5);

/// The fields of `/proc/<pid>/stat` the reaper needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcStat {
    /// Process id.
    pub pid: i32,
    /// State letter (`Z` for a zombie).
    pub state: char,
    /// Parent process id.
    pub ppid: i32,
    /// Process group id.
    pub pgrp: i32,
}

/// Parses `/proc/<pid>/stat` (the command name may contain spaces and parentheses).
pub fn parse_stat(text: &str) -> Option<ProcStat> {
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    let pid = text.get(..open)?.trim().parse().ok()?;
    let mut rest = text.get(close + 1..)?.split_whitespace();
    let state = rest.next()?.chars().next()?;
    let ppid = rest.next()?.parse().ok()?;
    let pgrp = rest.next()?.parse().ok()?;
    Some(ProcStat {
        pid,
        state,
        ppid,
        pgrp,
    })
}

/// Whether `stat` is a zombie the reaper may collect (see the module documentation).
pub fn should_reap(stat: &ProcStat, me: i32, my_pgrp: i32, owned: &BTreeSet<i32>) -> bool {
    stat.state == 'Z' && stat.ppid == me && stat.pgrp != my_pgrp && !owned.contains(&stat.pid)
}

/// A collected zombie.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reaped {
    /// Its pid.
    pub pid: i32,
    /// Its exit code, or 128 + the signal that killed it.
    pub code: i32,
}

/// The reaper; clones share state.
#[derive(Debug, Clone)]
pub struct Reaper {
    owned: Arc<Mutex<BTreeSet<i32>>>,
    me: i32,
    my_pgrp: i32,
}

impl Default for Reaper {
    fn default() -> Self {
        Reaper::new()
    }
}

impl Reaper {
    /// A reaper for the calling process.
    pub fn new() -> Reaper {
        Reaper {
            owned: Arc::default(),
            me: getpid().as_raw(),
            my_pgrp: getpgrp().as_raw(),
        }
    }

    /// Whether orphans are re-parented to us: we are PID 1, or a child subreaper.
    pub fn is_needed() -> bool {
        getpid().as_raw() == 1 || nix::sys::prctl::get_child_subreaper().unwrap_or(false)
    }

    /// When [`Reaper::is_needed`], starts reaping in a background task and returns the handle
    /// to spawn owned children with; otherwise `None` (nothing is re-parented to us).
    pub fn start_if_needed() -> io::Result<Option<Reaper>> {
        if !Reaper::is_needed() {
            return Ok(None);
        }
        let reaper = Reaper::new();
        let mut sigchld = signal(SignalKind::child())?;
        let task = reaper.clone();
        tokio::spawn(async move { task.run_with(&mut sigchld).await });
        Ok(Some(reaper))
    }

    /// Reaps on every SIGCHLD and every [`RESCAN_EVERY`], forever.
    pub async fn run(self) -> io::Result<()> {
        let mut sigchld = signal(SignalKind::child())?;
        self.run_with(&mut sigchld).await;
        Ok(())
    }

    async fn run_with(&self, sigchld: &mut tokio::signal::unix::Signal) {
        loop {
            for reaped in self.reap_now() {
                tracing::debug!(pid = reaped.pid, code = reaped.code, "reaped an orphan");
            }
            let _ = tokio::time::timeout(RESCAN_EVERY, sigchld.recv()).await;
        }
    }

    /// Spawns a child that will live in its own process group, registering its pid before the
    /// reaper can look again, so that its exit status stays with whoever waits for it. Call
    /// [`Reaper::release`] once it has been waited for.
    pub fn spawn_owned<T>(
        &self,
        spawn: impl FnOnce() -> io::Result<T>,
        pid_of: impl FnOnce(&T) -> Option<u32>,
    ) -> io::Result<T> {
        let mut owned = self.lock();
        let child = spawn()?;
        if let Some(pid) = pid_of(&child).and_then(|p| i32::try_from(p).ok()) {
            owned.insert(pid);
        }
        Ok(child)
    }

    /// Forgets an owned pid after it was waited for.
    pub fn release(&self, pid: u32) {
        if let Ok(pid) = i32::try_from(pid) {
            self.lock().remove(&pid);
        }
    }

    /// One pass: collects every zombie that [`should_reap`] allows.
    pub fn reap_now(&self) -> Vec<Reaped> {
        let owned = self.lock();
        let Ok(entries) = fs::read_dir("/proc") else {
            return Vec::new();
        };
        let mut reaped = Vec::new();
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(pid) = name.to_str().and_then(|n| n.parse::<i32>().ok()) else {
                continue;
            };
            let Ok(text) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
                continue;
            };
            let Some(stat) = parse_stat(&text) else {
                continue;
            };
            if !should_reap(&stat, self.me, self.my_pgrp, &owned) {
                continue;
            }
            // A zombie child keeps its pid until we wait for it, so this pid is still ours.
            match waitpid(Pid::from_raw(pid), Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::Exited(_, code)) => reaped.push(Reaped { pid, code }),
                Ok(WaitStatus::Signaled(_, sig, _)) => reaped.push(Reaped {
                    pid,
                    code: 128 + sig as i32,
                }),
                _ => {}
            }
        }
        reaped
    }

    fn lock(&self) -> MutexGuard<'_, BTreeSet<i32>> {
        self.owned.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stat_with_awkward_names() {
        let s = parse_stat("42 (node) S 1 42 42 0 -1 4194560 ...").expect("stat");
        assert_eq!(
            s,
            ProcStat {
                pid: 42,
                state: 'S',
                ppid: 1,
                pgrp: 42
            }
        );
        let s = parse_stat("7 (a) b (c)) Z 1 5 5 0").expect("stat");
        assert_eq!(
            s,
            ProcStat {
                pid: 7,
                state: 'Z',
                ppid: 1,
                pgrp: 5
            }
        );
        assert_eq!(parse_stat("garbage"), None);
        assert_eq!(parse_stat("1 (x)"), None);
    }

    #[test]
    fn reaps_only_foreign_unowned_zombie_children() {
        let owned: BTreeSet<i32> = [20].into();
        let zombie = |pid, ppid, pgrp| ProcStat {
            pid,
            state: 'Z',
            ppid,
            pgrp,
        };
        // An orphan from the gateway's tree: reaped.
        assert!(should_reap(&zombie(30, 1, 20), 1, 1, &owned));
        // The gateway itself (own group, registered): tokio's.
        assert!(!should_reap(&zombie(20, 1, 20), 1, 1, &owned));
        // A pipeline step spawned by tokio in our group: tokio's.
        assert!(!should_reap(&zombie(40, 1, 1), 1, 1, &owned));
        // Someone else's child: not ours to wait for.
        assert!(!should_reap(&zombie(50, 30, 20), 1, 1, &owned));
        // Still running.
        assert!(!should_reap(
            &ProcStat {
                pid: 60,
                state: 'S',
                ppid: 1,
                pgrp: 60
            },
            1,
            1,
            &owned
        ));
    }
}
