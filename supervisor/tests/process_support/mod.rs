//! Helpers shared by the `process_*` tests: helper subprocesses, the unprivileged user, and
//! the interpreters the tests run under the gateway's confinement.
#![allow(dead_code)]

use std::{
    os::unix::{fs::PermissionsExt, process::CommandExt},
    path::{Path, PathBuf},
    process::Command,
    sync::OnceLock,
    time::{Duration, Instant},
};

/// The UID/GID the gateway runs as in the pod.
pub const POD_UID: u32 = 1000;

/// Environment variable that selects a helper role in a re-executed test binary.
pub const ROLE_ENV: &str = "OPENCLAW_PROCESS_TEST_ROLE";

/// Name of the `#[ignore]`d entry point each test file defines for its helper roles.
pub const HELPER_ENTRY: &str = "helper_entry";

/// The tests need root: to run children as the pod's UID and to hold capabilities to drop.
pub fn require_root() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "the process tests run as root (as CI does): they switch to UID {POD_UID} \
         and check that capabilities are dropped"
    );
}

/// This test binary re-executed as a helper playing `role` (see [`HELPER_ENTRY`]).
pub fn helper(role: &str, uid: Option<u32>) -> Command {
    let exe = std::env::current_exe().expect("current_exe");
    let exe = match uid {
        Some(uid) if uid != 0 => reachable_by_others(&exe),
        _ => exe,
    };
    let mut cmd = Command::new(exe);
    cmd.args([
        HELPER_ENTRY,
        "--exact",
        "--ignored",
        "--nocapture",
        "--test-threads=1",
        "-q",
    ])
    .env(ROLE_ENV, role);
    if let Some(uid) = uid {
        cmd.uid(uid).gid(uid);
    }
    cmd
}

/// The role this process plays, when it is a helper.
pub fn role() -> Option<String> {
    std::env::var(ROLE_ENV).ok()
}

/// `exe`, or a copy of it in a world-readable place when an unprivileged user could not run it.
fn reachable_by_others(exe: &Path) -> PathBuf {
    let readable = exe.ancestors().skip(1).all(|dir| {
        std::fs::metadata(dir)
            .map(|m| m.permissions().mode() & 0o001 != 0)
            .unwrap_or(false)
    }) && std::fs::metadata(exe)
        .map(|m| m.permissions().mode() & 0o005 == 0o005)
        .unwrap_or(false);
    if readable {
        return exe.to_path_buf();
    }
    // One copy per test process, left in the temporary directory (the binary of a helper that
    // may still run cannot be deleted safely from here).
    static COPY: OnceLock<PathBuf> = OnceLock::new();
    COPY.get_or_init(|| {
        let dir = world_dir("process-test-exe").keep();
        let copy = dir.join("helper");
        std::fs::copy(exe, &copy).expect("copy the test binary");
        std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        copy
    })
    .clone()
}

/// A fresh directory every user may write to, removed when dropped.
pub fn world_dir(prefix: &str) -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix(prefix)
        .tempdir()
        .expect("tempdir");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).expect("chmod");
    dir
}

/// An interpreter by name, preferring system paths an unprivileged user can execute.
pub fn program(name: &str) -> PathBuf {
    for dir in ["/usr/local/bin", "/usr/bin", "/bin"] {
        let p = Path::new(dir).join(name);
        if p.is_file() {
            return p;
        }
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("{name} is needed by the process tests and is not installed"))
}

/// Polls `f` every 20 ms until it returns `Some`, or panics after `timeout`.
pub fn wait_for<T>(what: &str, timeout: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            start.elapsed() < timeout,
            "timed out after {timeout:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Lines of a file, empty if it does not exist yet.
pub fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}
