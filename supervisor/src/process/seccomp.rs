//! OCI `LinuxSeccomp` profiles (the files in `seccomp-profiles/`) compiled to seccompiler BPF.
//!
//! The kubelet loads the same JSON as a `Localhost` profile; the supervisor compiles it here for
//! the gateway child. Pure: no filter is installed in this module.
//!
//! seccompiler gives one filter a single on-match action, so a profile becomes one or more
//! filters: a main filter returning `defaultAction` for every syscall the profile does not
//! mention, and one filter per other action (e.g. `clone3` → `ENOSYS`) that allows everything
//! else. The kernel runs all of them and keeps the strictest result, which is what libseccomp's
//! single filter would return. Syscall names unknown on the target architecture are skipped, as
//! runc does.

use std::{collections::BTreeMap, str::FromStr};

use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
    SeccompRule, TargetArch,
};
use serde::{Deserialize, Serialize};

/// The gateway's profile, embedded at build time from `seccomp-profiles/openclaw-gateway.json`
/// (the same bytes the node agent installs as the pod's Localhost profile).
pub use openclaw_api::node::GATEWAY_PROFILE_JSON;

const EPERM: u32 = 1;

/// An OCI runtime-spec `LinuxSeccomp` object, with the `comment` field Docker's and
/// firecracker's profiles carry on each syscall entry. Unknown fields are refused so that a
/// typo cannot silently weaken the profile.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Profile {
    /// Action for every syscall no entry matches.
    pub default_action: String,
    /// errno returned by an `SCMP_ACT_ERRNO` default (EPERM when unset).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_errno_ret: Option<u32>,
    /// `SCMP_ARCH_*` names the profile is written for.
    #[serde(default)]
    pub architectures: Vec<String>,
    /// The syscall entries.
    #[serde(default)]
    pub syscalls: Vec<Syscall>,
}

/// One OCI `LinuxSyscall` entry.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Syscall {
    /// Syscall names.
    pub names: Vec<String>,
    /// `SCMP_ACT_*` action when the entry matches.
    pub action: String,
    /// errno for `SCMP_ACT_ERRNO` (EPERM when unset), or the tracer's value for `SCMP_ACT_TRACE`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub errno_ret: Option<u32>,
    /// Argument conditions, all of which must hold.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<Arg>,
    /// Why these syscalls have this action.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

/// One OCI `LinuxSeccompArg` condition.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Arg {
    /// Argument index (0–5).
    pub index: u8,
    /// Value compared with, or the mask for `SCMP_CMP_MASKED_EQ`.
    pub value: u64,
    /// The value the masked argument must equal for `SCMP_CMP_MASKED_EQ`.
    #[serde(default)]
    pub value_two: u64,
    /// `SCMP_CMP_*` operator.
    pub op: String,
}

/// An architecture seccompiler can build filters for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arch {
    /// `SCMP_ARCH_X86_64`.
    X86_64,
    /// `SCMP_ARCH_AARCH64`.
    Aarch64,
}

impl Arch {
    /// The architecture this binary runs on, when seccompiler supports it.
    pub fn native() -> Option<Arch> {
        match std::env::consts::ARCH {
            "x86_64" => Some(Arch::X86_64),
            "aarch64" => Some(Arch::Aarch64),
            _ => None,
        }
    }

    /// The OCI name of the architecture.
    pub fn oci_name(self) -> &'static str {
        match self {
            Arch::X86_64 => "SCMP_ARCH_X86_64",
            Arch::Aarch64 => "SCMP_ARCH_AARCH64",
        }
    }

    fn target(self) -> TargetArch {
        match self {
            Arch::X86_64 => TargetArch::x86_64,
            Arch::Aarch64 => TargetArch::aarch64,
        }
    }
}

/// A profile compiled for one architecture.
#[derive(Debug, Clone, PartialEq)]
pub struct Compiled {
    /// Filters to install, in order.
    pub filters: Vec<BpfProgram>,
    /// Names in the profile that do not exist on the architecture (ignored).
    pub skipped: Vec<String>,
}

/// Why a profile could not be read or compiled.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The JSON is not an OCI seccomp profile.
    #[error("failed to parse the seccomp profile")]
    Parse(#[source] serde_json::Error),
    /// seccompiler does not build filters for this machine.
    #[error("seccomp filters are not supported on {0}")]
    UnsupportedMachine(&'static str),
    /// The profile does not list the architecture.
    #[error("the seccomp profile does not cover {0}")]
    ArchNotCovered(&'static str),
    /// An action this compiler does not implement (e.g. `SCMP_ACT_NOTIFY`).
    #[error("unsupported seccomp action {0}")]
    UnsupportedAction(String),
    /// An unknown comparison operator.
    #[error("unsupported seccomp comparison {0}")]
    UnsupportedOperator(String),
    /// seccompiler refused a rule or a filter.
    #[error("failed to build the seccomp filter for {syscall}")]
    Build {
        /// The syscall (or `filter`) being built.
        syscall: String,
        /// seccompiler's error.
        #[source]
        source: seccompiler::BackendError,
    },
}

/// Reads a profile.
pub fn parse(json: &str) -> Result<Profile, Error> {
    serde_json::from_str(json).map_err(Error::Parse)
}

/// The gateway's embedded profile compiled for this machine.
pub fn gateway_filters() -> Result<Compiled, Error> {
    let arch = Arch::native().ok_or(Error::UnsupportedMachine(std::env::consts::ARCH))?;
    compile(&parse(GATEWAY_PROFILE_JSON)?, arch)
}

/// The number of `name` on `arch`, if the syscall exists there. Names are libseccomp's (the
/// kubelet's runtime reads the same file), which differ from the kernel table in one place.
pub fn syscall_number(arch: Arch, name: &str) -> Option<i64> {
    let name = match (arch, name) {
        (Arch::Aarch64, "newfstatat") => "fstatat",
        _ => name,
    };
    match arch {
        Arch::X86_64 => syscalls::x86_64::Sysno::from_str(name)
            .ok()
            .map(|s| i64::from(s.id())),
        Arch::Aarch64 => syscalls::aarch64::Sysno::from_str(name)
            .ok()
            .map(|s| i64::from(s.id())),
    }
}

/// Compiles `profile` for `arch`.
pub fn compile(profile: &Profile, arch: Arch) -> Result<Compiled, Error> {
    if !profile.architectures.iter().any(|a| a == arch.oci_name()) {
        return Err(Error::ArchNotCovered(arch.oci_name()));
    }
    let default = action(&profile.default_action, profile.default_errno_ret)?;
    // Rules of every syscall whose action differs from the default (the main filter lets these
    // through), and the same rules grouped by action (one extra filter per non-allow action).
    let mut mentioned = Rules::default();
    let mut by_action: Vec<(SeccompAction, Rules)> = Vec::new();
    let mut skipped = Vec::new();
    for entry in &profile.syscalls {
        let act = action(&entry.action, entry.errno_ret)?;
        if act == default {
            continue;
        }
        let conditions = rules_of(&entry.args)?;
        for name in &entry.names {
            let Some(nr) = syscall_number(arch, name) else {
                skipped.push(name.clone());
                continue;
            };
            mentioned.add(nr, conditions.clone());
            if act != SeccompAction::Allow {
                match by_action.iter_mut().find(|(a, _)| *a == act) {
                    Some((_, rules)) => rules.add(nr, conditions.clone()),
                    None => {
                        let mut rules = Rules::default();
                        rules.add(nr, conditions.clone());
                        by_action.push((act.clone(), rules));
                    }
                }
            }
        }
    }
    let mut filters = Vec::new();
    if default != SeccompAction::Allow {
        filters.push(build(mentioned, default, SeccompAction::Allow, arch)?);
    }
    for (act, rules) in by_action {
        filters.push(build(rules, SeccompAction::Allow, act, arch)?);
    }
    skipped.sort();
    skipped.dedup();
    Ok(Compiled { filters, skipped })
}

/// Per syscall number: `None` when it matches unconditionally, else the alternative rules.
#[derive(Debug, Default)]
struct Rules(BTreeMap<i64, Option<Vec<SeccompRule>>>);

impl Rules {
    fn add(&mut self, nr: i64, rules: Option<Vec<SeccompRule>>) {
        let slot = self.0.entry(nr).or_insert_with(|| Some(Vec::new()));
        match (slot.as_mut(), rules) {
            (Some(existing), Some(more)) => existing.extend(more),
            (_, None) => *slot = None,
            (None, Some(_)) => {}
        }
    }
}

fn build(
    rules: Rules,
    mismatch: SeccompAction,
    on_match: SeccompAction,
    arch: Arch,
) -> Result<BpfProgram, Error> {
    let map = rules
        .0
        .into_iter()
        .map(|(nr, r)| (nr, r.unwrap_or_default()))
        .collect();
    let filter = SeccompFilter::new(map, mismatch, on_match, arch.target()).map_err(|source| {
        Error::Build {
            syscall: "filter".to_owned(),
            source,
        }
    })?;
    BpfProgram::try_from(filter).map_err(|source| Error::Build {
        syscall: "filter".to_owned(),
        source,
    })
}

/// The OCI `args` of one entry as seccompiler rules: `None` without conditions; one rule with
/// all conditions (they must all hold); or, like runc, one rule per condition when an argument
/// index repeats (libseccomp cannot AND two conditions on one argument).
fn rules_of(args: &[Arg]) -> Result<Option<Vec<SeccompRule>>, Error> {
    if args.is_empty() {
        return Ok(None);
    }
    let conditions = args.iter().map(condition).collect::<Result<Vec<_>, _>>()?;
    let repeated = args
        .iter()
        .enumerate()
        .any(|(i, a)| args[..i].iter().any(|b| b.index == a.index));
    let groups: Vec<Vec<SeccompCondition>> = if repeated {
        conditions.into_iter().map(|c| vec![c]).collect()
    } else {
        vec![conditions]
    };
    groups
        .into_iter()
        .map(|g| {
            SeccompRule::new(g).map_err(|source| Error::Build {
                syscall: "rule".to_owned(),
                source,
            })
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

fn condition(arg: &Arg) -> Result<SeccompCondition, Error> {
    let (op, value) = match arg.op.as_str() {
        "SCMP_CMP_NE" => (SeccompCmpOp::Ne, arg.value),
        "SCMP_CMP_LT" => (SeccompCmpOp::Lt, arg.value),
        "SCMP_CMP_LE" => (SeccompCmpOp::Le, arg.value),
        "SCMP_CMP_EQ" => (SeccompCmpOp::Eq, arg.value),
        "SCMP_CMP_GE" => (SeccompCmpOp::Ge, arg.value),
        "SCMP_CMP_GT" => (SeccompCmpOp::Gt, arg.value),
        "SCMP_CMP_MASKED_EQ" => (SeccompCmpOp::MaskedEq(arg.value), arg.value_two),
        other => return Err(Error::UnsupportedOperator(other.to_owned())),
    };
    // libseccomp compares the full 64-bit register; so do we.
    SeccompCondition::new(arg.index, SeccompCmpArgLen::Qword, op, value).map_err(|source| {
        Error::Build {
            syscall: format!("argument {}", arg.index),
            source,
        }
    })
}

fn action(name: &str, errno: Option<u32>) -> Result<SeccompAction, Error> {
    Ok(match name {
        "SCMP_ACT_ALLOW" => SeccompAction::Allow,
        "SCMP_ACT_ERRNO" => SeccompAction::Errno(errno.unwrap_or(EPERM)),
        "SCMP_ACT_KILL" | "SCMP_ACT_KILL_THREAD" => SeccompAction::KillThread,
        "SCMP_ACT_KILL_PROCESS" => SeccompAction::KillProcess,
        "SCMP_ACT_TRAP" => SeccompAction::Trap,
        "SCMP_ACT_LOG" => SeccompAction::Log,
        "SCMP_ACT_TRACE" => SeccompAction::Trace(errno.unwrap_or(EPERM)),
        other => return Err(Error::UnsupportedAction(other.to_owned())),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gateway() -> Profile {
        parse(GATEWAY_PROFILE_JSON).expect("the shipped profile parses")
    }

    fn all_names(p: &Profile) -> Vec<&str> {
        p.syscalls
            .iter()
            .flat_map(|s| s.names.iter().map(String::as_str))
            .collect()
    }

    #[test]
    fn gateway_profile_compiles_for_both_architectures() {
        let p = gateway();
        let x86 = compile(&p, Arch::X86_64).expect("x86_64");
        assert!(
            x86.skipped.is_empty(),
            "unknown on x86_64: {:?}",
            x86.skipped
        );
        assert_eq!(x86.filters.len(), 2, "main filter + clone3 ENOSYS filter");
        let arm = compile(&p, Arch::Aarch64).expect("aarch64");
        assert_eq!(
            syscall_number(Arch::Aarch64, "newfstatat"),
            Some(79),
            "libseccomp's name"
        );
        assert_eq!(syscall_number(Arch::X86_64, "newfstatat"), Some(262));
        // Legacy syscalls that aarch64 never had (it only has the *at forms).
        let legacy = [
            "access",
            "alarm",
            "arch_prctl",
            "chmod",
            "chown",
            "creat",
            "dup2",
            "epoll_create",
            "epoll_wait",
            "fork",
            "futimesat",
            "getdents",
            "getpgrp",
            "inotify_init",
            "lchown",
            "link",
            "lstat",
            "mkdir",
            "mknod",
            "open",
            "pause",
            "pipe",
            "poll",
            "readlink",
            "rename",
            "rmdir",
            "select",
            "signalfd",
            "stat",
            "symlink",
            "sysfs",
            "time",
            "unlink",
            "utime",
            "utimes",
            "vfork",
            "eventfd",
        ];
        for name in &arm.skipped {
            assert!(
                legacy.contains(&name.as_str()),
                "{name} unexpectedly unknown on aarch64"
            );
        }
    }

    #[test]
    fn every_allowed_syscall_is_explained_in_its_comment() {
        for entry in gateway().syscalls {
            let comment = entry.comment.as_deref().unwrap_or_default();
            assert!(comment.len() > 20, "{:?} has no real comment", entry.names);
            for name in &entry.names {
                let mentioned = comment
                    .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .any(|word| word == name);
                assert!(
                    mentioned,
                    "the comment of {:?} does not mention {name}",
                    entry.names
                );
            }
        }
    }

    #[test]
    fn profile_is_plain_oci_for_the_kubelet() {
        let p = gateway();
        assert_eq!(p.default_action, "SCMP_ACT_ERRNO");
        assert_eq!(p.default_errno_ret, Some(1));
        assert!(p.architectures.contains(&"SCMP_ARCH_X86_64".to_owned()));
        assert!(p.architectures.contains(&"SCMP_ARCH_AARCH64".to_owned()));
        // Round trip: nothing but OCI fields and comments.
        let text = serde_json::to_string(&p).expect("serialize");
        assert_eq!(parse(&text).expect("reparse"), p);
        let mut names = all_names(&p);
        let total = names.len();
        names.sort();
        names.dedup();
        // clone and personality appear once per condition; nothing else twice.
        assert_eq!(total - names.len(), 1, "duplicate names in the profile");
    }

    #[test]
    fn dangerous_syscalls_are_not_allowed() {
        let p = gateway();
        let names = all_names(&p);
        for forbidden in [
            "ptrace",
            "process_vm_readv",
            "process_vm_writev",
            "mount",
            "umount2",
            "pivot_root",
            "chroot",
            "unshare",
            "setns",
            "kexec_load",
            "kexec_file_load",
            "init_module",
            "finit_module",
            "delete_module",
            "bpf",
            "perf_event_open",
            "userfaultfd",
            "keyctl",
            "add_key",
            "request_key",
            "io_uring_setup",
            "open_by_handle_at",
            "reboot",
            "swapon",
            "settimeofday",
            "clock_settime",
            "sethostname",
            "syslog",
            "iopl",
            "ioperm",
            "kcmp",
            "pidfd_getfd",
            "fsopen",
            "fsmount",
            "move_mount",
            "open_tree",
            "acct",
            "quotactl",
        ] {
            assert!(
                !names.contains(&forbidden),
                "{forbidden} must not be allowed"
            );
            assert!(
                syscall_number(Arch::X86_64, forbidden).is_some(),
                "{forbidden} is a real syscall"
            );
        }
    }

    #[test]
    fn clone_is_allowed_only_without_namespace_flags() {
        let clone = gateway()
            .syscalls
            .into_iter()
            .find(|s| s.names == ["clone"])
            .expect("clone entry");
        let arg = &clone.args[0];
        assert_eq!(
            (arg.index, arg.op.as_str(), arg.value_two),
            (0, "SCMP_CMP_MASKED_EQ", 0)
        );
        let ns_flags = [
            0x0002_0000,
            0x0200_0000,
            0x0400_0000,
            0x0800_0000,
            0x1000_0000,
            0x2000_0000,
            0x4000_0000,
        ];
        for flag in ns_flags {
            assert_ne!(
                arg.value & flag,
                0,
                "CLONE_NEW* flag {flag:#x} not in the mask"
            );
        }
        let thread_flags = 0x0000_0100 | 0x0000_0200 | 0x0000_0400 | 0x0000_0800 | 0x0001_0000;
        assert_eq!(
            arg.value & thread_flags,
            0,
            "thread creation must stay possible"
        );
    }

    #[test]
    fn actions_and_operators() {
        assert_eq!(
            action("SCMP_ACT_ERRNO", None).expect("errno"),
            SeccompAction::Errno(1)
        );
        assert_eq!(
            action("SCMP_ACT_ERRNO", Some(38)).expect("errno"),
            SeccompAction::Errno(38)
        );
        assert_eq!(
            action("SCMP_ACT_KILL", None).expect("kill"),
            SeccompAction::KillThread
        );
        assert!(matches!(
            action("SCMP_ACT_NOTIFY", None),
            Err(Error::UnsupportedAction(_))
        ));
        let bad = Arg {
            index: 0,
            value: 1,
            value_two: 0,
            op: "SCMP_CMP_LIKE".into(),
        };
        assert!(matches!(
            condition(&bad),
            Err(Error::UnsupportedOperator(_))
        ));
    }

    #[test]
    fn unknown_fields_and_uncovered_arch_are_refused() {
        let typo = r#"{"defaultAction": "SCMP_ACT_ERRNO", "architectures": ["SCMP_ARCH_X86_64"],
                       "syscalls": [{"names": ["read"], "acton": "SCMP_ACT_ALLOW"}]}"#;
        assert!(matches!(parse(typo), Err(Error::Parse(_))));
        let arm_only =
            parse(r#"{"defaultAction":"SCMP_ACT_ERRNO","architectures":["SCMP_ARCH_AARCH64"]}"#)
                .expect("parse");
        assert!(matches!(
            compile(&arm_only, Arch::X86_64),
            Err(Error::ArchNotCovered(_))
        ));
    }

    #[test]
    fn allow_by_default_profiles_need_no_main_filter() {
        let deny_list = parse(
            r#"{"defaultAction":"SCMP_ACT_ALLOW","architectures":["SCMP_ARCH_X86_64"],
                "syscalls":[{"names":["ptrace","no_such_call"],"action":"SCMP_ACT_ERRNO"}]}"#,
        )
        .expect("parse");
        let compiled = compile(&deny_list, Arch::X86_64).expect("compile");
        assert_eq!(compiled.filters.len(), 1);
        assert_eq!(compiled.skipped, ["no_such_call"]);
    }

    #[test]
    fn repeated_argument_indices_become_alternatives() {
        let args = [
            Arg {
                index: 0,
                value: 0,
                value_two: 0,
                op: "SCMP_CMP_EQ".into(),
            },
            Arg {
                index: 0,
                value: 8,
                value_two: 0,
                op: "SCMP_CMP_EQ".into(),
            },
        ];
        assert_eq!(rules_of(&args).expect("rules").map(|r| r.len()), Some(2));
        let args = [
            Arg {
                index: 0,
                value: 0,
                value_two: 0,
                op: "SCMP_CMP_EQ".into(),
            },
            Arg {
                index: 1,
                value: 8,
                value_two: 0,
                op: "SCMP_CMP_EQ".into(),
            },
        ];
        assert_eq!(rules_of(&args).expect("rules").map(|r| r.len()), Some(1));
    }
}
