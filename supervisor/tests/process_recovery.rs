//! Clean stops and recovery on a real volume layout: unclean stops are detected, exactly the
//! gateway's lock files are removed, SQLite WAL files are checkpointed into their databases,
//! and a gateway killed by a signal is restarted without its stale locks.

mod process_support;

use std::{
    fs,
    path::{Path, PathBuf},
    time::Duration,
};

use nix::sys::signal::Signal;
use openclaw_supervisor::{
    board::Board,
    process::{
        policy::RestartPolicy,
        recovery::{self, CLEAN_STOP_MARKER, STARTED_MARKER, SUPERVISOR_DIR},
        signals::Control,
        spec::GatewayCommand,
        supervise::Supervisor,
    },
};
use process_support::{lines, program, wait_for};

const UID: u32 = 1000;

fn touch(path: &Path) {
    fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    fs::write(path, b"").expect("write");
}

#[test]
fn a_first_start_is_clean_and_a_clean_stop_is_remembered() {
    let state = tempfile::tempdir().expect("tempdir");
    let first = recovery::begin(state.path(), UID).expect("begin");
    assert!(!first.unclean, "nothing ran before: {first:?}");
    assert!(
        state
            .path()
            .join(SUPERVISOR_DIR)
            .join(STARTED_MARKER)
            .is_file()
    );

    recovery::finish(state.path()).expect("finish");
    assert!(
        state
            .path()
            .join(SUPERVISOR_DIR)
            .join(CLEAN_STOP_MARKER)
            .is_file()
    );

    let second = recovery::begin(state.path(), UID).expect("begin");
    assert!(!second.unclean, "{second:?}");
    assert!(
        !state
            .path()
            .join(SUPERVISOR_DIR)
            .join(CLEAN_STOP_MARKER)
            .exists(),
        "the marker is consumed at start"
    );
    let board = Board::default();
    second.report(&board);
    assert_eq!(board.snapshot().recovered_from_unclean_stop, None);
}

#[test]
fn an_unclean_stop_is_detected_and_only_the_gateway_lock_files_are_removed() {
    let state = tempfile::tempdir().expect("tempdir");
    let s = state.path();
    recovery::begin(s, UID).expect("begin"); // a run that never finishes: an OOM kill

    let locks = s.join("tmp/openclaw-1000");
    let removable = [
        locks.join("gateway.state.lock.sqlite"),
        locks.join("gateway.067be706.lock.sqlite"),
        locks.join("device-identity.1563a749.lock.sqlite"),
        locks.join("gateway.state.lock.sqlite-wal"),
        locks.join("gateway.state.lock"),
    ];
    let kept = [
        locks.join("notes.txt"),
        locks.join("state.sqlite"),
        locks.join("nested/gateway.state.lock.sqlite"),
        s.join("tmp/openclaw-0/gateway.state.lock.sqlite"),
        s.join("tmp/gateway.state.lock.sqlite"),
        s.join("state/openclaw.sqlite"),
        s.join("state/openclaw.sqlite-wal"),
        s.join("workspace/project.lock"),
        s.join("openclaw.json"),
    ];
    for f in removable.iter().chain(&kept) {
        touch(f);
    }
    fs::create_dir_all(locks.join("empty.lock")).expect("mkdir");
    touch(&locks.join("full.lock/owner"));

    let report = recovery::begin(s, UID).expect("begin");
    assert!(report.unclean);
    let mut expected: Vec<PathBuf> = removable.to_vec();
    expected.push(locks.join("empty.lock"));
    expected.sort();
    assert_eq!(report.removed_locks, expected);
    for f in &removable {
        assert!(!f.exists(), "{} should be gone", f.display());
    }
    for f in &kept {
        assert!(f.exists(), "{} must not be touched", f.display());
    }
    assert!(
        locks.join("full.lock/owner").exists(),
        "a non-empty directory is not a plain lock"
    );

    let board = Board::default();
    report.report(&board);
    let said = board
        .snapshot()
        .recovered_from_unclean_stop
        .expect("reported");
    assert!(
        said.contains("did not stop cleanly") && said.contains("removed 6"),
        "{said}"
    );
}

#[test]
fn a_symlinked_lock_directory_is_left_alone() {
    let state = tempfile::tempdir().expect("tempdir");
    let elsewhere = tempfile::tempdir().expect("tempdir");
    let victim = elsewhere.path().join("important.lock");
    touch(&victim);
    fs::create_dir_all(state.path().join("tmp")).expect("mkdir");
    std::os::unix::fs::symlink(elsewhere.path(), recovery::lock_dir(state.path(), UID))
        .expect("symlink");
    recovery::begin(state.path(), UID).expect("begin");
    let report = recovery::begin(state.path(), UID).expect("begin");
    assert!(report.unclean);
    assert!(report.removed_locks.is_empty());
    assert!(victim.exists());
}

/// Writes 100 rows in WAL mode without checkpointing, then dies by SIGKILL like an OOM-killed
/// gateway, leaving the rows only in the `-wal` file.
const WRITE_AND_DIE: &str = r#"
import os, sqlite3, sys
db = sqlite3.connect(sys.argv[1])
db.execute("pragma journal_mode=wal"); db.execute("pragma wal_autocheckpoint=0")
db.execute("create table t(x)"); db.executemany("insert into t values (?)", [(i,) for i in range(100)])
db.commit()
os.kill(os.getpid(), 9)
"#;

fn killed_writer(db: &Path) {
    fs::create_dir_all(db.parent().expect("parent")).expect("mkdir");
    let status = std::process::Command::new(program("python3"))
        .args(["-c", WRITE_AND_DIE, db.to_str().expect("utf-8")])
        .status()
        .expect("python3");
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&status),
        Some(9)
    );
}

/// Rows in the main database file alone (a copy without its `-wal`), or None without the table.
fn rows_in_main_file(db: &Path) -> Option<i64> {
    let dir = tempfile::tempdir().expect("tempdir");
    let copy = dir.path().join("copy.sqlite");
    fs::copy(db, &copy).expect("copy");
    let conn = rusqlite::Connection::open(&copy).expect("open");
    conn.query_row("select count(*) from t", [], |r| r.get(0))
        .ok()
}

#[test]
fn wal_files_are_checkpointed_into_their_databases_at_a_clean_stop() {
    let state = tempfile::tempdir().expect("tempdir");
    let db = state.path().join("state/openclaw.sqlite");
    let agent_db = state.path().join("agents/main/agent/openclaw-agent.sqlite");
    let vendored = state.path().join("workspace/node_modules/pkg/test.sqlite");
    for path in [&db, &agent_db, &vendored] {
        killed_writer(path);
    }
    let wal = PathBuf::from(format!("{}-wal", db.display()));
    assert!(fs::metadata(&wal).expect("wal").len() > 0);
    assert_eq!(
        rows_in_main_file(&db),
        None,
        "control: the rows are only in the WAL"
    );

    let report = recovery::finish(state.path()).expect("finish");
    assert_eq!(report.checkpointed, [agent_db.clone(), db.clone()]);
    assert!(report.failed.is_empty(), "{:?}", report.failed);
    assert_eq!(rows_in_main_file(&db), Some(100));
    assert_eq!(rows_in_main_file(&agent_db), Some(100));
    assert!(
        fs::metadata(&wal).map(|m| m.len() == 0).unwrap_or(true),
        "the WAL is truncated or removed"
    );
    assert!(
        PathBuf::from(format!("{}-wal", vendored.display())).exists(),
        "node_modules is not entered"
    );
    assert!(
        state
            .path()
            .join(SUPERVISOR_DIR)
            .join(CLEAN_STOP_MARKER)
            .is_file()
    );
}

/// First run: finds no lock, leaves one, dies by SIGKILL. Later runs record whether the lock
/// was still there.
const LEAVE_LOCK_AND_DIE: &str = r#"
mkdir -p "$LOCKS"
if [ -e "$LOCKS/gateway.state.lock.sqlite" ]; then echo present >> "$LOG"; else echo absent >> "$LOG"; fi
: > "$LOCKS/gateway.state.lock.sqlite"
if [ ! -e "$LOG.killed" ]; then : > "$LOG.killed"; kill -9 $$; fi
trap 'exit 0' TERM
while :; do sleep 0.05; done
"#;

async fn second_start_sees_lock(clear: bool) -> String {
    let state = tempfile::tempdir().expect("tempdir");
    let log = state.path().join("log");
    let command = GatewayCommand {
        program: "/bin/sh".into(),
        args: vec!["-c".into(), LEAVE_LOCK_AND_DIE.into()],
        env: vec![
            ("PATH".into(), "/usr/bin:/bin".into()),
            ("LOG".into(), log.to_string_lossy().into_owned()),
            (
                "LOCKS".into(),
                recovery::lock_dir(state.path(), UID)
                    .to_string_lossy()
                    .into_owned(),
            ),
        ],
        cwd: state.path().to_path_buf(),
        drain: Duration::from_secs(1),
    };
    let policy = RestartPolicy {
        initial_backoff: Duration::from_millis(50),
        ..RestartPolicy::default()
    };
    let mut supervisor = Supervisor::new(command, Board::default()).policy(policy);
    if clear {
        supervisor = supervisor.stale_locks(state.path().to_path_buf(), UID);
    }
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    let task = tokio::spawn(supervisor.run(rx));
    let seen = wait_for("the second start", Duration::from_secs(10), || {
        lines(&log).get(1).cloned()
    });
    tx.send(Control::Stop(Signal::SIGTERM)).await.expect("send");
    task.await.expect("join");
    assert_eq!(lines(&log)[0], "absent");
    seen
}

#[tokio::test(flavor = "multi_thread")]
async fn a_gateway_killed_by_a_signal_restarts_without_its_stale_locks() {
    assert_eq!(
        second_start_sees_lock(false).await,
        "present",
        "control: the lock survives a SIGKILL"
    );
    assert_eq!(second_start_sees_lock(true).await, "absent");
}
