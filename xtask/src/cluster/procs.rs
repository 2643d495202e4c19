//! Starting the control plane's daemons detached, and stopping exactly those by pid file.

use std::{
    ffi::OsString,
    fs::{self, File},
    net::{SocketAddr, TcpStream},
    os::unix::process::CommandExt,
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{Context, Result};
use nix::{
    sys::signal::{Signal, killpg},
    unistd::Pid,
};

/// One long-running process of the control plane.
#[derive(Debug)]
pub struct Daemon {
    name: &'static str,
    program: PathBuf,
    args: Vec<OsString>,
    env: Vec<(OsString, OsString)>,
}

impl Daemon {
    pub fn new(name: &'static str, program: &Path) -> Self {
        Self {
            name,
            program: program.to_path_buf(),
            args: Vec::new(),
            env: Vec::new(),
        }
    }

    pub fn args<I: IntoIterator<Item = String>>(mut self, args: I) -> Self {
        self.args.extend(args.into_iter().map(OsString::from));
        self
    }

    pub fn env(mut self, key: &str, value: impl Into<OsString>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    /// Starts the daemon in its own process group, output to `logs/<name>.log`,
    /// and records its pid in `pids/<name>.pid`.
    pub fn spawn(self, dir: &Path) -> Result<()> {
        let log_path = dir.join("logs").join(format!("{}.log", self.name));
        let log =
            File::create(&log_path).with_context(|| format!("creating {}", log_path.display()))?;
        let child = Command::new(&self.program)
            .args(&self.args)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .process_group(0)
            .spawn()
            .with_context(|| format!("starting {}", self.program.display()))?;
        fs::write(pid_file(dir, self.name), child.id().to_string())?;
        Ok(())
    }
}

fn pid_file(dir: &Path, name: &str) -> PathBuf {
    dir.join("pids").join(format!("{name}.pid"))
}

fn read_pid(dir: &Path, name: &str) -> Option<i32> {
    fs::read_to_string(pid_file(dir, name))
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// True while `pid` exists and is not a zombie.
fn running(pid: i32) -> bool {
    fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            stat.rsplit(')')
                .next()
                .map(|rest| !rest.trim_start().starts_with('Z'))
        })
        .unwrap_or(false)
}

/// The pid of `name` if its pid file names a live process running that program
/// (the program check guards against a recycled pid).
pub fn alive(dir: &Path, name: &str) -> Option<i32> {
    let pid = read_pid(dir, name)?;
    let cmdline = fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let argv0 = cmdline.split(|b| *b == 0).next().unwrap_or_default();
    let ours = argv0.is_empty() || String::from_utf8_lossy(argv0).ends_with(name);
    (ours && running(pid)).then_some(pid)
}

/// True when `name` was started (has a pid file) but is no longer running.
pub fn exited(dir: &Path, name: &str) -> bool {
    read_pid(dir, name).is_some_and(|pid| !running(pid))
}

pub fn port_open(port: u16) -> bool {
    TcpStream::connect_timeout(
        &SocketAddr::from(([127, 0, 0, 1], port)),
        Duration::from_millis(200),
    )
    .is_ok()
}

/// Sends SIGTERM to each daemon's process group, waits up to 10 s, then SIGKILLs.
pub fn stop_all(dir: &Path, names: &[&str]) -> Result<()> {
    let running: Vec<(&str, i32)> = names
        .iter()
        .filter_map(|n| alive(dir, n).map(|pid| (*n, pid)))
        .collect();
    for (name, pid) in &running {
        println!("==> stopping {name} (pid {pid})");
        let _ = killpg(Pid::from_raw(*pid), Signal::SIGTERM);
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline && running.iter().any(|(n, _)| alive(dir, n).is_some()) {
        std::thread::sleep(Duration::from_millis(100));
    }
    for (name, pid) in &running {
        if alive(dir, name).is_some() {
            println!("==> {name} ignored SIGTERM; killing");
            let _ = killpg(Pid::from_raw(*pid), Signal::SIGKILL);
        }
    }
    for name in names {
        let _ = fs::remove_file(pid_file(dir, name));
    }
    Ok(())
}
