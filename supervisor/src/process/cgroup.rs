//! The container's memory limit, from its cgroup (v2 `memory.max`, v1 `memory.limit_in_bytes`),
//! and its OOM-kill counter (v2 `memory.events`).
//!
//! With a private cgroup namespace (the Kubernetes default on cgroup v2) the container's own
//! cgroup is the root of `/sys/fs/cgroup`; otherwise `/proc/self/cgroup` names it. The smallest
//! finite limit from the process's cgroup up to the visible root wins.

use std::{
    fs,
    path::{Path, PathBuf},
};

/// Where cgroup filesystems are mounted.
pub const CGROUP_ROOT: &str = "/sys/fs/cgroup";

/// cgroup v1 reports "no limit" as a huge page-aligned number; anything above this is no limit.
const UNLIMITED_ABOVE: u64 = 1 << 60;

/// The memory limit of this process's container in bytes; `None` when there is none.
pub fn memory_limit() -> Option<u64> {
    let own = fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    memory_limit_at(Path::new(CGROUP_ROOT), &own)
}

/// [`memory_limit`] with the cgroup mount point and the text of `/proc/self/cgroup` given.
pub fn memory_limit_at(root: &Path, proc_self_cgroup: &str) -> Option<u64> {
    let v2 = proc_self_cgroup.lines().find_map(|l| l.strip_prefix("0::"));
    let v1 = proc_self_cgroup.lines().find_map(|l| {
        let mut parts = l.splitn(3, ':');
        let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
        controllers
            .split(',')
            .any(|c| c == "memory")
            .then_some(path)
    });
    let candidates = if root.join("memory.max").exists() || v2.is_some() && v1.is_none() {
        files_up_to_root(root, v2.unwrap_or("/"), "memory.max")
    } else {
        files_up_to_root(
            &root.join("memory"),
            v1.unwrap_or("/"),
            "memory.limit_in_bytes",
        )
    };
    candidates
        .iter()
        .filter_map(|file| fs::read_to_string(file).ok())
        .filter_map(|text| parse_limit(&text))
        .min()
}

/// Parses a limit file: a number of bytes, or `max` (v2) / a huge number (v1) for no limit.
pub fn parse_limit(text: &str) -> Option<u64> {
    let text = text.trim();
    if text == "max" {
        return None;
    }
    text.parse::<u64>()
        .ok()
        .filter(|&n| n > 0 && n < UNLIMITED_ABOVE)
}

/// The container's `memory.events` (cgroup v2), where the kernel counts `oom_kill`s; `None` on
/// cgroup v1 or outside a cgroup with a memory controller.
pub fn memory_events() -> Option<PathBuf> {
    let own = fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    let v2 = own.lines().find_map(|l| l.strip_prefix("0::"))?;
    // The innermost existing file: the container's own cgroup.
    files_up_to_root(Path::new(CGROUP_ROOT), v2, "memory.events")
        .into_iter()
        .rev()
        .find(|f| f.is_file())
}

/// OOM kills counted in a `memory.events` file; `None` when it cannot be read.
pub fn oom_kills(events: &Path) -> Option<u64> {
    parse_oom_kills(&fs::read_to_string(events).ok()?)
}

/// The `oom_kill <n>` line of a `memory.events` text.
pub fn parse_oom_kills(text: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix("oom_kill "))
        .and_then(|n| n.trim().parse().ok())
}

/// `<base>/<file>`, then the same file in each parent of `path` below `base` (a path from
/// `/proc/self/cgroup` that does not exist under `base` is skipped: we are then in a cgroup
/// namespace whose root is `base` itself).
fn files_up_to_root(base: &Path, path: &str, file: &str) -> Vec<PathBuf> {
    let mut found = vec![base.join(file)];
    let mut dir = PathBuf::from(path.trim_start_matches('/'));
    while !dir.as_os_str().is_empty() {
        found.push(base.join(&dir).join(file));
        if !dir.pop() {
            break;
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_oom_kill_counter() {
        let events = "low 0\nhigh 0\nmax 12\noom 3\noom_kill 2\noom_group_kill 0\n";
        assert_eq!(parse_oom_kills(events), Some(2));
        assert_eq!(parse_oom_kills("low 0\n"), None);
    }

    #[test]
    fn parses_limits() {
        assert_eq!(parse_limit("4294967296\n"), Some(4_294_967_296));
        assert_eq!(parse_limit("max\n"), None);
        assert_eq!(
            parse_limit("9223372036854771712\n"),
            None,
            "cgroup v1 'unlimited'"
        );
        assert_eq!(parse_limit("garbage"), None);
        assert_eq!(parse_limit("0"), None);
    }

    #[test]
    fn v2_namespaced_root() {
        let dir = tempfile::tempdir().expect("tempdir");
        fs::write(dir.path().join("memory.max"), "2147483648\n").expect("write");
        assert_eq!(memory_limit_at(dir.path(), "0::/\n"), Some(2_147_483_648));
        fs::write(dir.path().join("memory.max"), "max\n").expect("write");
        assert_eq!(memory_limit_at(dir.path(), "0::/\n"), None);
    }

    #[test]
    fn v2_without_namespace_takes_the_smallest_limit_on_the_path() {
        let dir = tempfile::tempdir().expect("tempdir");
        let pod = dir.path().join("kubepods/pod1");
        let ctr = pod.join("ctr");
        fs::create_dir_all(&ctr).expect("mkdir");
        fs::write(pod.join("memory.max"), "1073741824\n").expect("write");
        fs::write(ctr.join("memory.max"), "max\n").expect("write");
        assert_eq!(
            memory_limit_at(dir.path(), "0::/kubepods/pod1/ctr\n"),
            Some(1_073_741_824)
        );
    }

    #[test]
    fn v1_memory_controller() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mem = dir.path().join("memory/docker/abc");
        fs::create_dir_all(&mem).expect("mkdir");
        fs::write(mem.join("memory.limit_in_bytes"), "536870912\n").expect("write");
        fs::write(
            dir.path().join("memory/memory.limit_in_bytes"),
            "9223372036854771712\n",
        )
        .expect("write");
        let own = "12:cpu,cpuacct:/docker/abc\n4:memory:/docker/abc\n0::/\n";
        assert_eq!(memory_limit_at(dir.path(), own), Some(536_870_912));
    }

    #[test]
    fn nothing_mounted_means_no_limit() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert_eq!(memory_limit_at(dir.path(), ""), None);
        assert_eq!(memory_limit_at(dir.path(), "0::/x\n"), None);
    }
}
