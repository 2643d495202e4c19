//! Leaves nothing of the real node behind: container processes, mounts, cgroups, pod logs.
//!
//! Called by `cluster down` after the daemons are stopped (and again, harmlessly, by a later
//! `up` over the remains of a killed run). Everything it removes is under the node's own
//! directory, the kubelet's `kubepods` cgroups, or links into the node's pod-log directory.

use std::{
    fs,
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use anyhow::Result;
use nix::{
    mount::{MntFlags, umount2},
    sys::signal::{Signal, kill},
    unistd::Pid,
};

/// The cgroup v1 hierarchies (and the v2 mount, when there is one) the kubelet creates
/// `kubepods` in.
const CGROUP_ROOT: &str = "/sys/fs/cgroup";
/// Where the kubelet links container logs (a path the kubelet does not let one configure).
const CONTAINER_LOG_LINKS: &str = "/var/log/containers";

/// Kills every process left in the kubelet's cgroups, then removes them.
pub fn kill_pod_processes() -> Result<()> {
    let groups = kubepods_cgroups();
    for _ in 0..2 {
        for group in &groups {
            for pid in procs_in(group) {
                let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
            }
        }
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline && groups.iter().any(|g| !procs_in(g).is_empty()) {
        std::thread::sleep(Duration::from_millis(100));
    }
    // Deepest first, so that each directory is empty when it is removed.
    let mut all: Vec<PathBuf> = groups.clone();
    all.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    for group in all {
        let _ = fs::remove_dir(&group);
    }
    Ok(())
}

/// Every `kubepods` cgroup directory (recursively) in every hierarchy.
fn kubepods_cgroups() -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(hierarchies) = fs::read_dir(CGROUP_ROOT) else {
        return out;
    };
    for hierarchy in hierarchies.flatten() {
        let top = hierarchy.path().join("kubepods");
        if top.is_dir() {
            collect_dirs(&top, &mut out);
        }
    }
    out
}

fn collect_dirs(dir: &Path, out: &mut Vec<PathBuf>) {
    out.push(dir.to_path_buf());
    if let Ok(entries) = fs::read_dir(dir) {
        for entry in entries.flatten() {
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                collect_dirs(&entry.path(), out);
            }
        }
    }
}

fn procs_in(group: &Path) -> Vec<i32> {
    fs::read_to_string(group.join("cgroup.procs"))
        .map(|s| s.lines().filter_map(|l| l.trim().parse().ok()).collect())
        .unwrap_or_default()
}

/// Unmounts everything mounted under `root` (overlay root filesystems, volume tmpfs, network
/// namespace files), deepest first. Lazily, so a mount still held by a dying process goes too.
pub fn unmount_under(root: &Path) -> Result<()> {
    for _ in 0..3 {
        let mounts = mounts_under(root);
        if mounts.is_empty() {
            return Ok(());
        }
        for mount in mounts {
            let _ = umount2(&mount, MntFlags::MNT_DETACH);
        }
    }
    Ok(())
}

/// Mount points under `root`, deepest first, read from `/proc/self/mountinfo`.
pub fn mounts_under(root: &Path) -> Vec<PathBuf> {
    let Ok(info) = fs::read_to_string("/proc/self/mountinfo") else {
        return Vec::new();
    };
    let mut mounts: Vec<PathBuf> = info
        .lines()
        .filter_map(|line| line.split(' ').nth(4))
        .map(unescape)
        .map(PathBuf::from)
        .filter(|p| p.starts_with(root))
        .collect();
    mounts.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    mounts.dedup();
    mounts
}

/// mountinfo escapes space, tab, newline and backslash as octal.
fn unescape(field: &str) -> String {
    field
        .replace("\\040", " ")
        .replace("\\011", "\t")
        .replace("\\012", "\n")
        .replace("\\134", "\\")
}

/// Removes the kubelet's links to container logs that point into `pod_logs`.
pub fn remove_log_links(pod_logs: &Path) {
    let Ok(entries) = fs::read_dir(CONTAINER_LOG_LINKS) else {
        return;
    };
    for entry in entries.flatten() {
        if fs::read_link(entry.path()).is_ok_and(|target| target.starts_with(pod_logs)) {
            let _ = fs::remove_file(entry.path());
        }
    }
}

/// Removes what the kubelet, kube-proxy and kube-router leave in iptables (chains named
/// `KUBE-*` and every jump to them), for IPv4 and IPv6: the dump is filtered and restored
/// whole, so the rules of anything else on the machine stay as they are.
pub fn remove_kube_iptables() {
    for (save, restore) in [
        ("iptables-save", "iptables-restore"),
        ("ip6tables-save", "ip6tables-restore"),
    ] {
        let Ok(out) = std::process::Command::new(save).output() else {
            continue;
        };
        let dump = String::from_utf8_lossy(&out.stdout);
        if !dump.contains("KUBE-") {
            continue;
        }
        let kept = without_kube_chains(&dump);
        if let Ok(mut child) = std::process::Command::new(restore)
            .stdin(std::process::Stdio::piped())
            .spawn()
        {
            if let Some(mut stdin) = child.stdin.take() {
                use std::io::Write;
                let _ = stdin.write_all(kept.as_bytes());
            }
            let _ = child.wait();
        }
    }
}

/// An iptables-save dump without the `KUBE-*` chains and the rules that jump to them.
pub fn without_kube_chains(dump: &str) -> String {
    dump.lines()
        .filter(|line| {
            !(line.starts_with(":KUBE-")
                || line.starts_with("-A KUBE-")
                || line.contains(" -j KUBE-"))
        })
        .map(|line| format!("{line}\n"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kube_chains_and_jumps_are_dropped_and_the_rest_kept() {
        let dump = "*filter\n:INPUT ACCEPT [0:0]\n:KUBE-FIREWALL - [0:0]\n-A INPUT -j KUBE-FIREWALL\n\
-A INPUT -p tcp --dport 22 -j ACCEPT\n-A KUBE-FIREWALL -j DROP\nCOMMIT\n";
        assert_eq!(
            without_kube_chains(dump),
            "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -p tcp --dport 22 -j ACCEPT\nCOMMIT\n"
        );
    }

    #[test]
    fn mountinfo_paths_are_unescaped() {
        assert_eq!(unescape("/a\\040b/c\\134d"), "/a b/c\\d");
    }
}
