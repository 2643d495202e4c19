//! Supervision with real processes: signals reach the gateway, a gateway that does not drain
//! in time is killed with its whole process group, crashes restart with a growing backoff, and
//! exit 78 waits for a configuration change instead of looping.
//!
//! The "gateway" is a shell script, started through the same path as the real one (own
//! process group, hardened with the gateway's profile).

mod process_support;

use std::{
    path::{Path, PathBuf},
    sync::Arc,
    time::{Duration, Instant},
};

use nix::{
    sys::signal::{Signal, kill},
    unistd::Pid,
};
use openclaw_supervisor::{
    board::Board,
    process::{
        harden::HardenPlan,
        policy::{ExitKind, RestartPolicy},
        signals::{Control, Signals},
        spec::GatewayCommand,
        supervise::{Stopped, Supervisor},
    },
};
use process_support::{helper, lines, role, wait_for};
use tokio::{sync::mpsc, task::JoinHandle};

const SECOND: Duration = Duration::from_secs(1);

fn script(dir: &Path, body: &str, drain: Duration) -> GatewayCommand {
    GatewayCommand {
        program: "/bin/sh".into(),
        args: vec!["-c".into(), body.into()],
        env: vec![
            ("PATH".into(), "/usr/bin:/bin".into()),
            ("LOG".into(), dir.join("log").to_string_lossy().into_owned()),
            ("CFG".into(), dir.join("cfg").to_string_lossy().into_owned()),
        ],
        cwd: dir.to_path_buf(),
        drain,
    }
}

fn fast_policy() -> RestartPolicy {
    RestartPolicy {
        initial_backoff: Duration::from_millis(100),
        max_backoff: Duration::from_millis(400),
        reset_after: Duration::from_secs(600),
        config_retry: Duration::from_secs(3600),
    }
}

struct Running {
    tx: mpsc::Sender<Control>,
    task: JoinHandle<Stopped>,
    board: Board,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

fn start(
    body: &str,
    drain: Duration,
    policy: RestartPolicy,
    tweak: impl FnOnce(Supervisor) -> Supervisor,
) -> Running {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("cfg"), "bad").expect("cfg");
    let board = Board::default();
    let supervisor = Supervisor::new(script(dir.path(), body, drain), board.clone())
        .hardening(Arc::new(HardenPlan::gateway().expect("profile")))
        .policy(policy);
    let (tx, rx) = mpsc::channel(8);
    let task = tokio::spawn(tweak(supervisor).run(rx));
    Running {
        tx,
        task,
        board,
        log: dir.path().join("log"),
        _dir: dir,
    }
}

async fn wait_line(log: &Path, line: &str, count: usize) {
    let start = Instant::now();
    while lines(log).iter().filter(|l| *l == line).count() < count {
        assert!(
            start.elapsed() < 10 * SECOND,
            "no {count}× {line:?} in {:?}",
            lines(log)
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

const TRAPS: &str = r#"
trap 'echo term >> "$LOG"; exit 0' TERM
trap 'echo usr2 >> "$LOG"' USR2
trap 'echo usr1 >> "$LOG"' USR1
echo started >> "$LOG"
while :; do sleep 0.05; done
"#;

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_is_forwarded_and_the_gateway_exits_within_its_drain() {
    let r = start(TRAPS, 10 * SECOND, fast_policy(), |s| s);
    wait_line(&r.log, "started", 1).await;
    let gw = r.board.snapshot().gateway;
    assert!(gw.running && gw.pid.is_some(), "{gw:?}");

    let t = Instant::now();
    r.tx.send(Control::Stop(Signal::SIGTERM))
        .await
        .expect("send");
    let stopped = r.task.await.expect("join");
    assert!(t.elapsed() < 5 * SECOND, "stop took {:?}", t.elapsed());
    assert_eq!(
        stopped,
        Stopped {
            last_exit: Some(ExitKind::Code(0)),
            killed_after_drain: false
        }
    );
    assert!(
        lines(&r.log).contains(&"term".to_owned()),
        "{:?}",
        lines(&r.log)
    );
    let gw = r.board.snapshot().gateway;
    assert!(!gw.running && gw.pid.is_none(), "{gw:?}");
    assert_eq!(gw.last_exit.as_deref(), Some("exit 0"));
    assert_eq!(gw.restarts, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn reload_sends_sigusr2_and_forward_passes_signals_as_is() {
    let r = start(TRAPS, 10 * SECOND, fast_policy(), |s| s);
    wait_line(&r.log, "started", 1).await;
    r.tx.send(Control::Reload).await.expect("send");
    wait_line(&r.log, "usr2", 1).await;
    r.tx.send(Control::Forward(Signal::SIGUSR1))
        .await
        .expect("send");
    wait_line(&r.log, "usr1", 1).await;
    assert!(
        r.board.snapshot().gateway.running,
        "signals other than stop must not end the gateway"
    );
    drop(r.tx); // closing the control channel is a stop too
    let stopped = r.task.await.expect("join");
    assert_eq!(stopped.last_exit, Some(ExitKind::Code(0)));
    assert_eq!(
        lines(&r.log).iter().filter(|l| *l == "started").count(),
        1,
        "no restart happened"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_gateway_that_does_not_drain_is_killed_with_its_process_group() {
    let body = r#"
trap '' TERM
sleep 300 &
echo "$!" >> "$LOG"
echo started >> "$LOG"
while :; do sleep 0.05; done
"#;
    let drain = Duration::from_millis(400);
    let r = start(body, drain, fast_policy(), |s| s);
    wait_line(&r.log, "started", 1).await;
    let grandchild: i32 = lines(&r.log)[0]
        .parse()
        .expect("pid of the background sleep");

    let t = Instant::now();
    r.tx.send(Control::Stop(Signal::SIGTERM))
        .await
        .expect("send");
    let stopped = r.task.await.expect("join");
    let took = t.elapsed();
    assert!(took >= drain, "killed before the drain budget: {took:?}");
    assert!(took < drain + 3 * SECOND, "stop took {took:?}");
    assert_eq!(
        stopped,
        Stopped {
            last_exit: Some(ExitKind::Signal(9)),
            killed_after_drain: true
        }
    );
    assert_eq!(
        r.board.snapshot().gateway.last_exit.as_deref(),
        Some("signal 9 (SIGKILL)")
    );
    // The gateway's own child died with the group (gone, or a zombie awaiting its new parent).
    wait_for("the grandchild to die", 5 * SECOND, || {
        let stat = std::fs::read_to_string(format!("/proc/{grandchild}/stat")).unwrap_or_default();
        (stat.is_empty() || stat.contains(") Z ")).then_some(())
    });
}

#[tokio::test(flavor = "multi_thread")]
async fn crashes_restart_with_a_doubling_backoff() {
    let r = start(
        r#"date +%s%N >> "$LOG"; exit 1"#,
        SECOND,
        fast_policy(),
        |s| s,
    );
    let starts = wait_for("six starts", 10 * SECOND, || {
        let l = lines(&r.log);
        (l.len() >= 6).then_some(l)
    });
    r.tx.send(Control::Stop(Signal::SIGTERM))
        .await
        .expect("send");
    let stopped = r.task.await.expect("join");
    assert_eq!(stopped.last_exit, Some(ExitKind::Code(1)));

    let ns: Vec<u128> = starts
        .iter()
        .take(6)
        .map(|l| l.parse().expect("ns"))
        .collect();
    let gaps: Vec<u128> = ns.windows(2).map(|w| (w[1] - w[0]) / 1_000_000).collect();
    let expected = [100, 200, 400, 400, 400];
    for (gap, want) in gaps.iter().zip(expected) {
        assert!(
            *gap >= want,
            "restarted after {gap} ms, backoff is {want} ms: {gaps:?}"
        );
        assert!(
            *gap < want + 600,
            "restart after {gap} ms is far beyond the {want} ms backoff: {gaps:?}"
        );
    }
    let gw = r.board.snapshot().gateway;
    assert!(gw.restarts >= 5, "{gw:?}");
    assert_eq!(gw.last_exit.as_deref(), Some("exit 1"));
    assert!(!gw.config_error);
}

const CONFIG_GATE: &str = r#"
echo start >> "$LOG"
if [ "$(cat "$CFG")" = bad ]; then exit 78; fi
trap 'exit 0' TERM
echo running >> "$LOG"
while :; do sleep 0.05; done
"#;

#[tokio::test(flavor = "multi_thread")]
async fn exit_78_is_reported_and_waits_for_a_configuration_change() {
    let r = start(CONFIG_GATE, SECOND, fast_policy(), |s| {
        s.config_ok_after(Duration::from_millis(300))
    });
    wait_for("the configuration error", 10 * SECOND, || {
        r.board.snapshot().gateway.config_error.then_some(())
    });
    tokio::time::sleep(SECOND).await;
    assert_eq!(
        lines(&r.log),
        ["start"],
        "exit 78 was retried without a configuration change"
    );
    let gw = r.board.snapshot().gateway;
    assert_eq!(
        gw.last_exit.as_deref(),
        Some("exit 78 (configuration error)")
    );
    assert!(!gw.running);

    std::fs::write(r.log.with_file_name("cfg"), "good").expect("cfg");
    r.tx.send(Control::Reload).await.expect("send");
    wait_line(&r.log, "running", 1).await;
    wait_for("the configuration error to clear", 5 * SECOND, || {
        (!r.board.snapshot().gateway.config_error).then_some(())
    });
    assert_eq!(r.board.snapshot().gateway.restarts, 1);

    r.tx.send(Control::Stop(Signal::SIGTERM))
        .await
        .expect("send");
    assert_eq!(
        r.task.await.expect("join").last_exit,
        Some(ExitKind::Code(0))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn exit_78_is_retried_slowly_without_a_signal_and_a_stop_ends_the_wait() {
    let policy = RestartPolicy {
        config_retry: Duration::from_millis(500),
        ..fast_policy()
    };
    let r = start(r#"echo start >> "$LOG"; exit 78"#, SECOND, policy, |s| s);
    tokio::time::sleep(Duration::from_millis(1300)).await;
    let starts = lines(&r.log).len();
    assert!(
        (2..=4).contains(&starts),
        "{starts} starts in 1.3 s with a 0.5 s retry"
    );
    assert!(r.board.snapshot().gateway.config_error);
    let t = Instant::now();
    r.tx.send(Control::Stop(Signal::SIGTERM))
        .await
        .expect("send");
    assert_eq!(
        r.task.await.expect("join").last_exit,
        Some(ExitKind::Code(78))
    );
    assert!(
        t.elapsed() < Duration::from_millis(300),
        "a stop must end the wait at once"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_gateway_that_cannot_start_is_retried_and_reported() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cmd = script(dir.path(), "", SECOND);
    cmd.program = "/nonexistent/node".into();
    let board = Board::default();
    let (tx, rx) = mpsc::channel(8);
    let task = tokio::spawn(
        Supervisor::new(cmd, board.clone())
            .policy(fast_policy())
            .run(rx),
    );
    wait_for("two retries", 10 * SECOND, || {
        (board.snapshot().gateway.restarts >= 2).then_some(())
    });
    let gw = board.snapshot().gateway;
    assert!(
        gw.last_exit
            .as_deref()
            .is_some_and(|e| e.starts_with("failed to start")),
        "{gw:?}"
    );
    tx.send(Control::Stop(Signal::SIGTERM)).await.expect("send");
    assert_eq!(
        task.await.expect("join").last_exit,
        Some(ExitKind::SpawnFailed)
    );
}

#[test]
fn os_signals_to_the_supervisor_reach_the_gateway() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("log");
    let mut child = helper("signals", None)
        .env("LOG_DIR", dir.path())
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("helper");
    let pid = Pid::from_raw(i32::try_from(child.id()).expect("pid"));
    wait_for("the gateway", 10 * SECOND, || {
        lines(&log).contains(&"started".to_owned()).then_some(())
    });

    kill(pid, Signal::SIGHUP).expect("SIGHUP");
    wait_for("SIGHUP as SIGUSR2", 5 * SECOND, || {
        (lines(&log).iter().filter(|l| *l == "usr2").count() == 1).then_some(())
    });
    kill(pid, Signal::SIGUSR2).expect("SIGUSR2");
    wait_for("SIGUSR2", 5 * SECOND, || {
        (lines(&log).iter().filter(|l| *l == "usr2").count() == 2).then_some(())
    });

    let t = Instant::now();
    kill(pid, Signal::SIGTERM).expect("SIGTERM");
    let status = wait_for("the supervisor to exit", 10 * SECOND, || {
        child.try_wait().expect("wait")
    });
    assert!(status.success(), "{status:?}");
    assert!(t.elapsed() < 5 * SECOND);
    assert!(
        lines(&log).contains(&"term".to_owned()),
        "{:?}",
        lines(&log)
    );
}

/// Helper roles, run in a re-executed copy of this binary (see `process_support::helper`).
#[test]
#[ignore = "helper entry point for the tests above, not a test"]
fn helper_entry() {
    let Some(role) = role() else { return };
    assert_eq!(role, "signals");
    let dir = PathBuf::from(std::env::var("LOG_DIR").expect("LOG_DIR"));
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let stopped = rt.block_on(async {
        let signals = Signals::install().expect("signal handlers");
        let (tx, rx) = mpsc::channel(8);
        tokio::spawn(signals.forward(tx));
        let supervisor = Supervisor::new(script(&dir, TRAPS, 5 * SECOND), Board::default())
            .hardening(Arc::new(HardenPlan::gateway().expect("profile")));
        supervisor.run(rx).await
    });
    let ok = stopped
        == Stopped {
            last_exit: Some(ExitKind::Code(0)),
            killed_after_drain: false,
        };
    std::process::exit(if ok { 0 } else { 1 });
}

#[tokio::test(flavor = "multi_thread")]
async fn oom_kills_are_counted_from_the_cgroup_events() {
    // Stands in for the kernel: bumps `oom_kill` in a memory.events file, then dies by SIGKILL,
    // as an OOM-killed gateway does.
    let body = r#"
n=$(cat "$LOG.n" 2>/dev/null || echo 0); n=$((n+1)); echo "$n" > "$LOG.n"
printf 'oom %s\noom_kill %s\n' "$n" "$n" > "$LOG.events"
echo started >> "$LOG"
kill -9 $$
"#;
    let dir = tempfile::tempdir().expect("tempdir");
    let events = dir.path().join("log.events");
    std::fs::write(&events, "oom 0\noom_kill 0\n").expect("events");
    let board = Board::default();
    let supervisor = Supervisor::new(script(dir.path(), body, SECOND), board.clone())
        .hardening(Arc::new(HardenPlan::gateway().expect("profile")))
        .policy(fast_policy())
        .memory_events(Some(events));
    let (tx, rx) = mpsc::channel(8);
    let task = tokio::spawn(supervisor.run(rx));
    let start = Instant::now();
    while board.snapshot().gateway.oom_kills < 2 {
        assert!(
            start.elapsed() < 10 * SECOND,
            "{:?}",
            board.snapshot().gateway
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let gateway = board.snapshot().gateway;
    assert!(
        gateway
            .last_exit
            .as_deref()
            .is_some_and(|e| e.starts_with("signal 9 (SIGKILL) (OOM kill")),
        "{gateway:?}"
    );
    drop(tx);
    task.await.expect("join");
}
