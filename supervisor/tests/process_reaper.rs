//! Zombie reaping as PID 1 does it, tested in a helper that is a child subreaper (orphans are
//! re-parented to it as they would be to PID 1): orphans of the gateway's tree are reaped, and
//! the exit status of children that tokio waits for is never taken from it.

mod process_support;

use std::{collections::BTreeMap, os::unix::process::CommandExt as _, time::Duration};

use openclaw_supervisor::process::reaper::{Reaper, parse_stat};
use process_support::{helper, role};
use tokio::process::{Child, Command};

/// Runs the helper with or without the reaper and returns its `KEY value` report.
fn scenario(reap: bool) -> BTreeMap<String, String> {
    let out = helper("reaper", None)
        .env("REAP", if reap { "1" } else { "0" })
        .output()
        .expect("helper");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "helper failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
        .lines()
        .filter_map(|l| l.split_once(' '))
        .filter(|(k, _)| k.chars().all(|c| c.is_ascii_uppercase()))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

#[test]
fn orphans_are_reaped_and_owned_children_keep_their_status() {
    let control = scenario(false);
    assert_eq!(
        control["ZOMBIES"], "3",
        "control: without a reaper the orphans stay zombies: {control:?}"
    );

    let report = scenario(true);
    assert_eq!(report["ZOMBIES"], "0", "{report:?}");
    assert_eq!(
        report["OWNED"], "exit status: 0",
        "the registered gateway's status was stolen: {report:?}"
    );
    assert_eq!(
        report["PLAIN"], "exit status: 3",
        "a tokio child in our group was stolen: {report:?}"
    );
    assert_eq!(report["LATE"], "exit status: 4", "{report:?}");
}

#[tokio::test]
async fn the_reaper_only_runs_for_pid_1_or_a_subreaper() {
    // The test harness is neither.
    assert!(!Reaper::is_needed());
    assert!(Reaper::start_if_needed().expect("start").is_none());
}

/// Zombie children of this process, except `known`.
fn zombie_children(known: &[u32]) -> usize {
    let me = i32::try_from(std::process::id()).expect("pid");
    std::fs::read_dir("/proc")
        .expect("/proc")
        .flatten()
        .filter_map(|e| std::fs::read_to_string(e.path().join("stat")).ok())
        .filter_map(|t| parse_stat(&t))
        .filter(|s| s.state == 'Z' && s.ppid == me && !known.contains(&s.pid.unsigned_abs()))
        .count()
}

fn own_group(script: &str) -> Command {
    let mut cmd = std::process::Command::new("/bin/sh");
    cmd.args(["-c", script]).process_group(0);
    Command::from(cmd)
}

/// Helper roles, run in a re-executed copy of this binary (see `process_support::helper`).
#[test]
#[ignore = "helper entry point for the tests above, not a test"]
fn helper_entry() {
    let Some(role) = role() else { return };
    assert_eq!(role, "reaper");
    nix::sys::prctl::set_child_subreaper(true).expect("PR_SET_CHILD_SUBREAPER");
    let reap = std::env::var("REAP").as_deref() == Ok("1");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let reaper = if reap {
            Reaper::start_if_needed().expect("reaper")
        } else {
            None
        };
        assert_eq!(reaper.is_some(), reap);
        let spawn = |mut cmd: Command| -> Child {
            match &reaper {
                Some(r) => r.spawn_owned(|| cmd.spawn(), Child::id).expect("spawn"),
                None => cmd.spawn().expect("spawn"),
            }
        };
        // Like the gateway: own process group, registered; it leaves three orphans behind.
        let mut owned = spawn(own_group(
            "for i in 1 2 3; do (sleep 0.2; true) & done; exit 0",
        ));
        // A pipeline step: tokio child in the supervisor's group, waited for late.
        let mut plain = Command::new("/bin/sh")
            .args(["-c", "exit 3"])
            .spawn()
            .expect("spawn");
        // Another registered child, waited for late.
        let mut late = spawn(own_group("exit 4"));
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let known: Vec<u32> = [&owned, &plain, &late]
            .iter()
            .filter_map(|c| c.id())
            .collect();
        println!("ZOMBIES {}", zombie_children(&known));
        let show = |r: std::io::Result<std::process::ExitStatus>| match r {
            Ok(s) => s.to_string(),
            Err(e) => format!("error {e}"),
        };
        println!("OWNED {}", show(owned.wait().await));
        println!("PLAIN {}", show(plain.wait().await));
        println!("LATE {}", show(late.wait().await));
    });
    std::process::exit(0);
}
