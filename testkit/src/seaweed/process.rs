//! The `weed` process: spawned in its own process group under a guard that kills it if the test
//! process dies, and killed as a group.

use std::{
    fs::OpenOptions,
    io,
    os::unix::process::CommandExt,
    path::Path,
    process::{Child, ChildStdin, Command, Stdio},
};

use nix::{
    sys::signal::{Signal, killpg},
    unistd::Pid,
};

/// `sh -c GUARD weed args...`: runs weed in the background and waits for it (so the shell exits
/// with weed's status), while a second background job blocks reading the pipe that only the
/// test process writes to. When the test process goes away, even by SIGKILL, the pipe closes,
/// the read returns, weed is killed and its directory and sockets are removed. (A background
/// job's stdin is /dev/null in a shell without job control, so the pipe is read through fd 3,
/// duplicated before.) [`Weed::kill`] kills the reader too, so a stop leaves the data for a
/// restart.
const GUARD: &str = r#"exec 3<&0
"$0" "$@" </dev/null 3<&- &
weed=$!
(
  read -r _ <&3
  kill -9 "$weed" 2>/dev/null
  sleep 1
  rm -rf "$SEAWEEDFS_DIR"
  for port in $SEAWEEDFS_PORTS; do rm -f /tmp/seaweedfs-*-"$port".sock; done
) &
wait "$weed""#;

/// A running `weed` and its guard, one process group.
#[derive(Debug)]
pub struct Weed {
    guard: Child,
    // Held open: closing it tells the guard to kill weed.
    _lifeline: Option<ChildStdin>,
}

impl Weed {
    /// Starts `binary args...`, with stdout and stderr appended to `log`; should this process
    /// die first, `dir` and weed's sockets for `ports` are removed after weed is killed.
    pub fn spawn(
        binary: &Path,
        args: &[String],
        log: &Path,
        dir: &Path,
        ports: &[u16],
    ) -> io::Result<Self> {
        let ports: Vec<String> = ports.iter().map(u16::to_string).collect();
        let out = OpenOptions::new().create(true).append(true).open(log)?;
        let err = out.try_clone()?;
        let mut guard = Command::new("sh")
            .arg("-c")
            .arg(GUARD)
            .arg(binary)
            .args(args)
            .env("SEAWEEDFS_DIR", dir)
            .env("SEAWEEDFS_PORTS", ports.join(" "))
            .stdin(Stdio::piped())
            .stdout(out)
            .stderr(err)
            .process_group(0)
            .spawn()?;
        let lifeline = guard.stdin.take();
        Ok(Self {
            guard,
            _lifeline: lifeline,
        })
    }

    /// Whether weed still runs (the guard exits as soon as weed does).
    pub fn is_running(&mut self) -> bool {
        matches!(self.guard.try_wait(), Ok(None))
    }

    /// SIGKILL to the whole group (guard, weed, the guard's reader), then reaps the guard.
    pub fn kill(mut self) {
        if let Ok(pid) = i32::try_from(self.guard.id()) {
            let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
        }
        let _ = self.guard.wait();
    }
}
