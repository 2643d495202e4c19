//! The one place that registers code to run in a child between fork and exec.
//!
//! `CommandExt::pre_exec` is `unsafe` because the closure runs in a copy of a multi-threaded
//! process where only async-signal-safe work is sound. This module is the crate's only
//! exception to `unsafe_code = "deny"`, and it only accepts closures from [`super::harden`].
#![allow(unsafe_code)]

use std::{io, os::unix::process::CommandExt};

/// Runs `f` in the child of `cmd` after fork (and after std has applied uid, gid, cwd and the
/// process group) and right before exec; an error aborts the spawn with its errno.
pub(super) fn before_exec<F>(cmd: &mut std::process::Command, f: F)
where
    F: FnMut() -> io::Result<()> + Send + Sync + 'static,
{
    // SAFETY: the only caller passes `HardenPlan::apply_in_child`, which on its success path
    // makes nothing but raw system calls (prctl, capget/capset, seccomp) on data prepared in the
    // parent and shared read-only through an `Arc`; it takes no lock another parent thread
    // could have held at fork time. Its error paths may allocate a message (the caps crate),
    // which glibc's and musl's fork handlers keep usable in the child; the child then exits.
    unsafe {
        cmd.pre_exec(f);
    }
}
