//! The gateway as a hardened, supervised child of PID 1: how it is started, confined,
//! restarted, reaped and stopped cleanly.
//!
//! Decisions are pure: [`spec`] (command line and environment), [`seccomp`] (OCI profile →
//! BPF), [`policy`] (what to do when the gateway exits). Effects are thin: [`harden`] (applied in
//! the child between fork and exec), [`supervise`] (the loop), [`signals`], [`reaper`],
//! [`recovery`] and [`checkpoint`] (clean stops), [`cgroup`] (the memory limit).
//!
//! Order for `run`:
//! 1. first thing in `main`: [`harden::set_non_dumpable`], then [`signals::Signals::install`]
//!    and [`reaper::Reaper::start_if_needed`] (inside the runtime);
//! 2. [`recovery::begin`] before the pipeline (reports on the board with
//!    [`recovery::StartReport::report`]);
//! 3. after the pipeline: [`spec::child_env`] with [`spec::scrub_list`] and
//!    [`cgroup::memory_limit`], a [`spec::GatewayCommand`], [`harden::HardenPlan::gateway`], and
//!    [`supervise::Supervisor::run`] fed by [`signals::Signals::forward`];
//! 4. when `run` returns (the gateway and its group are gone): backups, then
//!    [`recovery::finish`] (WAL checkpoints, clean-stop marker), then exit.

pub mod cgroup;
pub mod checkpoint;
pub mod harden;
pub mod policy;
mod preexec;
pub mod reaper;
pub mod recovery;
pub mod seccomp;
pub mod signals;
pub mod spec;
pub mod supervise;
