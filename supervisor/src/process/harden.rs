//! Confinement of the gateway child (no_new_privs, no capabilities, seccomp), and the
//! supervisor's own non-dumpable flag.
//!
//! Everything that can fail slowly or allocate (compiling the profile, listing capabilities)
//! happens in the parent, in [`HardenPlan::new`]; the child, between fork and exec, only makes
//! the system calls, in the order youki and firecracker use:
//! 1. `PR_SET_NO_NEW_PRIVS`: exec can never grant privileges again (setuid bits, file
//!    capabilities, root's implicit capabilities), and seccomp may be installed without
//!    `CAP_SYS_ADMIN`;
//! 2. capabilities: bounding set first (dropping it needs `CAP_SETPCAP`, so only where the
//!    supervisor still has it), then ambient, inheritable, permitted and effective;
//! 3. seccomp last, so that the calls above are not subject to the filter; after it only
//!    `execve` remains.

use std::{io, sync::Arc};

use caps::{CapSet, Capability};
use seccompiler::BpfProgram;

use super::seccomp;

/// Why hardening could not be prepared or the supervisor's flag not set.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The seccomp profile could not be compiled.
    #[error("failed to compile the gateway's seccomp profile")]
    Seccomp(#[from] seccomp::Error),
    /// `prctl(PR_SET_DUMPABLE)` or `PR_GET_DUMPABLE` failed.
    #[error("failed to change the supervisor's dumpable flag")]
    Dumpable(#[source] nix::Error),
}

/// What is applied to the child, computed in the parent.
#[derive(Clone)]
pub struct HardenPlan {
    bounding: Vec<Capability>,
    filters: Vec<BpfProgram>,
}

impl std::fmt::Debug for HardenPlan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HardenPlan")
            .field("bounding_caps", &self.bounding.len())
            .field("seccomp_filters", &self.filters.len())
            .finish()
    }
}

impl HardenPlan {
    /// no_new_privs and no capabilities, plus the compiled seccomp filters when given.
    pub fn new(seccomp: Option<seccomp::Compiled>) -> HardenPlan {
        let mut bounding: Vec<Capability> =
            caps::runtime::thread_all_supported().into_iter().collect();
        bounding.sort_by_key(|c| c.index());
        HardenPlan {
            bounding,
            filters: seccomp.map(|c| c.filters).unwrap_or_default(),
        }
    }

    /// The gateway's plan: [`seccomp::GATEWAY_PROFILE_JSON`] compiled for this machine.
    pub fn gateway() -> Result<HardenPlan, Error> {
        Ok(HardenPlan::new(Some(seccomp::gateway_filters()?)))
    }

    /// Number of seccomp filters the child installs.
    pub fn seccomp_filters(&self) -> usize {
        self.filters.len()
    }

    /// Applies the plan to the calling process. Meant for the child between fork and exec (see
    /// [`apply_on_exec`]): it makes only system calls on the success path and reports a failed
    /// step on stderr with a fixed message, since the parent only receives the errno.
    pub(super) fn apply_in_child(&self) -> io::Result<()> {
        step(
            "no_new_privs",
            nix::sys::prctl::set_no_new_privs().map_err(io::Error::from),
        )?;
        if caps::has_cap(None, CapSet::Effective, Capability::CAP_SETPCAP).unwrap_or(false) {
            for cap in &self.bounding {
                step(
                    "bounding set",
                    caps::drop(None, CapSet::Bounding, *cap).map_err(|_| last_os_error()),
                )?;
            }
        }
        step(
            "ambient caps",
            caps::clear(None, CapSet::Ambient).map_err(|_| last_os_error()),
        )?;
        step(
            "inheritable caps",
            caps::clear(None, CapSet::Inheritable).map_err(|_| last_os_error()),
        )?;
        // Clearing the permitted set clears the effective set with it.
        step(
            "permitted caps",
            caps::clear(None, CapSet::Permitted).map_err(|_| last_os_error()),
        )?;
        for filter in &self.filters {
            step(
                "seccomp",
                seccompiler::apply_filter(filter).map_err(|e| match e {
                    seccompiler::Error::Seccomp(err) | seccompiler::Error::Prctl(err) => err,
                    _ => io::Error::from_raw_os_error(libc_einval()),
                }),
            )?;
        }
        Ok(())
    }
}

/// Registers `plan` to run in the child of `cmd` between fork and exec.
pub fn apply_on_exec(cmd: &mut std::process::Command, plan: Arc<HardenPlan>) {
    super::preexec::before_exec(cmd, move || plan.apply_in_child());
}

/// Marks the supervisor non-dumpable: processes of the same UID (the gateway and everything
/// the agent runs) can then no longer read `/proc/<supervisor>/environ` or `/proc/<supervisor>/mem`
/// nor attach to it. Call it first thing in `main`, before secrets are read. Children are not
/// affected: `execve` makes them dumpable again.
pub fn set_non_dumpable() -> Result<(), Error> {
    nix::sys::prctl::set_dumpable(false).map_err(Error::Dumpable)
}

/// Whether the supervisor is dumpable (readable by processes of its UID).
pub fn is_dumpable() -> Result<bool, Error> {
    nix::sys::prctl::get_dumpable().map_err(Error::Dumpable)
}

/// Reports a failed step on stderr (a fixed string, no allocation) and passes the result on.
fn step(what: &'static str, result: io::Result<()>) -> io::Result<()> {
    if result.is_err() {
        let stderr = io::stderr();
        for part in [
            "openclaw-supervisor: hardening the gateway failed at ",
            what,
            "\n",
        ] {
            let _ = nix::unistd::write(&stderr, part.as_bytes());
        }
    }
    result
}

/// The errno of the call that just failed (the caps crate only keeps a message).
fn last_os_error() -> io::Error {
    match nix::errno::Errno::last_raw() {
        0 => io::Error::from_raw_os_error(nix::errno::Errno::EPERM as i32),
        raw => io::Error::from_raw_os_error(raw),
    }
}

fn libc_einval() -> i32 {
    nix::errno::Errno::EINVAL as i32
}
