//! The gateway child is confined: no capabilities, no_new_privs, the seccomp profile (forbidden
//! syscalls fail with EPERM while Node, Python and git still work), and it cannot read the
//! supervisor's environment once the supervisor is non-dumpable.
//!
//! Each property is also checked without the protection, so that a test that would pass
//! anyway shows up as a failure.

mod process_support;

use std::{collections::BTreeMap, path::Path, sync::Arc, time::Duration};

use openclaw_supervisor::process::{
    harden::{self, HardenPlan},
    seccomp::{self, Arch},
    spec::{self, GatewayCommand},
    supervise,
};
use process_support::{POD_UID, helper, program, require_root, role, world_dir};

fn gateway_plan() -> Arc<HardenPlan> {
    Arc::new(HardenPlan::gateway().expect("the gateway profile compiles"))
}

/// Runs `program args` as `uid` (None: as the test, root), confined by `plan`; returns
/// (exit code, stdout, stderr).
fn run(
    plan: Option<Arc<HardenPlan>>,
    uid: Option<u32>,
    program: &Path,
    args: &[&str],
    env: &[(&str, &str)],
) -> (i32, String, String) {
    let mut base: Vec<(String, String)> = vec![
        ("PATH".into(), "/usr/local/bin:/usr/bin:/bin".into()),
        ("LANG".into(), "C.UTF-8".into()),
    ];
    base.extend(env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
    run_with_env(plan, uid, program, args, base)
}

fn run_with_env(
    plan: Option<Arc<HardenPlan>>,
    uid: Option<u32>,
    program: &Path,
    args: &[&str],
    env: Vec<(String, String)>,
) -> (i32, String, String) {
    let command = GatewayCommand {
        program: program.to_path_buf(),
        args: args.iter().map(|s| (*s).to_owned()).collect(),
        env,
        cwd: "/".into(),
        drain: Duration::from_secs(1),
    };
    let mut cmd = supervise::command(&command, plan);
    if let Some(uid) = uid {
        cmd.uid(uid).gid(uid);
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let out =
        rt.block_on(async { tokio::time::timeout(Duration::from_secs(60), cmd.output()).await });
    let out = out.expect("child finished in time").expect("spawn");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn proc_status(plan: Option<Arc<HardenPlan>>, uid: Option<u32>) -> BTreeMap<String, String> {
    let (code, out, err) = run(
        plan,
        uid,
        Path::new("/bin/sh"),
        &[
            "-c",
            "grep -E '^(Cap|NoNewPrivs|Seccomp)' /proc/self/status",
        ],
        &[],
    );
    assert_eq!(code, 0, "stderr: {err}");
    out.lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect()
}

const NO_CAPS: &str = "0000000000000000";

#[test]
fn root_child_loses_every_capability_and_gets_the_filter() {
    require_root();
    let before = proc_status(None, None);
    assert_ne!(
        before["CapEff"], NO_CAPS,
        "control: the test runs with capabilities to drop"
    );
    assert_eq!(
        before["Seccomp"], "0",
        "control: no filter without hardening"
    );

    let after = proc_status(Some(gateway_plan()), None);
    for set in ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"] {
        assert_eq!(after[set], NO_CAPS, "{set} after exec as root: {after:?}");
    }
    assert_eq!(after["NoNewPrivs"], "1");
    assert_eq!(after["Seccomp"], "2", "mode 2 = filter");
}

#[test]
fn pod_uid_child_has_no_capabilities_no_new_privs_and_the_filter() {
    require_root();
    let control = proc_status(None, Some(POD_UID));
    assert_eq!(control["NoNewPrivs"], "0", "control");
    assert_eq!(control["Seccomp"], "0", "control");

    let s = proc_status(Some(gateway_plan()), Some(POD_UID));
    for set in ["CapInh", "CapPrm", "CapEff", "CapAmb"] {
        assert_eq!(s[set], NO_CAPS, "{set}: {s:?}");
    }
    assert_eq!(s["NoNewPrivs"], "1");
    assert_eq!(s["Seccomp"], "2");
}

/// Calls each syscall with harmless arguments and prints `name rc errno` per line.
const SYSCALL_PROBE: &str = r#"
import ctypes, json, os, sys
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
for name, nr, args in json.loads(sys.argv[1]):
    args = [os.getpid() if a == "PID" else a for a in args]
    ctypes.set_errno(0)
    rc = libc.syscall(ctypes.c_long(nr), *[ctypes.c_long(a) for a in args])
    print(name, rc, ctypes.get_errno(), flush=True)
"#;

const EPERM: i32 = 1;
const ESRCH: i32 = 3;
const ENOSYS: i32 = 38;

fn probe(plan: Option<Arc<HardenPlan>>) -> BTreeMap<String, (i64, i32)> {
    let arch = Arch::native().expect("supported machine");
    let calls: Vec<(&str, Vec<serde_json::Value>)> = vec![
        // (name, args); "PID" is replaced with the prober's pid.
        (
            "ptrace",
            vec![16.into(), 2_147_483_647.into(), 0.into(), 0.into()],
        ), // PTRACE_ATTACH to no one
        (
            "process_vm_readv",
            vec![
                "PID".into(),
                0.into(),
                0.into(),
                0.into(),
                0.into(),
                0.into(),
            ],
        ),
        ("unshare", vec![0x1000_0000.into()]), // CLONE_NEWUSER
        ("setns", vec![(-1).into(), 0.into()]),
        (
            "mount",
            vec![0.into(), 0.into(), 0.into(), 0.into(), 0.into()],
        ),
        ("umount2", vec![0.into(), 0.into()]),
        ("kexec_load", vec![0.into(), 0.into(), 0.into(), 0.into()]),
        ("init_module", vec![0.into(), 0.into(), 0.into()]),
        ("bpf", vec![0.into(), 0.into(), 0.into()]),
        ("keyctl", vec![0.into(), (-3).into(), 0.into()]), // KEYCTL_GET_KEYRING_ID(session)
        (
            "add_key",
            vec![0.into(), 0.into(), 0.into(), 0.into(), 0.into()],
        ),
        (
            "perf_event_open",
            vec![0.into(), 0.into(), (-1).into(), (-1).into(), 0.into()],
        ),
        ("io_uring_setup", vec![0.into(), 0.into()]),
        ("userfaultfd", vec![0.into()]),
        (
            "kcmp",
            vec!["PID".into(), "PID".into(), 0.into(), 0.into(), 0.into()],
        ),
        ("clone3", vec![0.into(), 0.into()]),
    ];
    let table: Vec<serde_json::Value> = calls
        .into_iter()
        .map(|(name, args)| {
            let nr = seccomp::syscall_number(arch, name).expect("known syscall");
            serde_json::json!([name, nr, args])
        })
        .collect();
    let arg = serde_json::to_string(&table).expect("json");
    let (code, out, err) = run(
        plan,
        Some(POD_UID),
        &program("python3"),
        &["-c", SYSCALL_PROBE, &arg],
        &[],
    );
    assert_eq!(code, 0, "prober failed: {err}");
    out.lines()
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (
                f[0].to_owned(),
                (f[1].parse().expect("rc"), f[2].parse().expect("errno")),
            )
        })
        .collect()
}

#[test]
fn forbidden_syscalls_fail_with_eperm() {
    require_root();
    // Control: the same prober, no_new_privs and no capabilities but no filter. These two work
    // for an unprivileged process (also under Docker's default profile), so EPERM below can
    // only come from the gateway's filter.
    let control = probe(Some(Arc::new(HardenPlan::new(None))));
    assert_eq!(control["ptrace"].1, ESRCH, "control ptrace: {control:?}");
    assert_eq!(
        control["process_vm_readv"],
        (0, 0),
        "control process_vm_readv: {control:?}"
    );

    let confined = probe(Some(gateway_plan()));
    assert_eq!(confined.len(), 16, "{confined:?}");
    for (name, (rc, errno)) in &confined {
        if name == "clone3" {
            assert_eq!(
                (*rc, *errno),
                (-1, ENOSYS),
                "clone3 must answer ENOSYS so libc falls back to clone"
            );
        } else {
            assert_eq!(
                (*rc, *errno),
                (-1, EPERM),
                "{name} must fail with EPERM under the gateway profile"
            );
        }
    }
}

#[test]
fn unshare_tool_is_refused() {
    require_root();
    let unshare = program("unshare");
    let (code, _, err) = run(
        Some(gateway_plan()),
        Some(POD_UID),
        &unshare,
        &["-U", "true"],
        &[],
    );
    assert_ne!(code, 0);
    assert!(err.contains("Operation not permitted"), "stderr: {err}");
}

/// Exercises what the gateway and the agent's tools do: threads, child processes, files,
/// sockets, DNS, crypto, fs.watch.
const NODE_WORKOUT: &str = r#"
const assert = require('node:assert');
const cp = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const { Worker } = require('node:worker_threads');
(async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'workout-'));
  const file = path.join(dir, 'a.json');
  fs.writeFileSync(file + '.tmp', '{"ok":true}');
  fs.renameSync(file + '.tmp', file);
  fs.copyFileSync(file, file + '.copy');
  fs.symlinkSync(file, path.join(dir, 'link'));
  fs.chmodSync(file, 0o600);
  const watcher = fs.watch(dir); watcher.close();
  assert.deepStrictEqual(JSON.parse(fs.readFileSync(path.join(dir, 'link'))), { ok: true });
  const worker = await new Promise((resolve, reject) => {
    const w = new Worker('require("node:worker_threads").parentPort.postMessage(6 * 7)', { eval: true });
    w.once('message', resolve); w.once('error', reject);
  });
  assert.strictEqual(worker, 42);
  assert.strictEqual(cp.execFileSync('/bin/sh', ['-c', 'echo child']).toString().trim(), 'child');
  const server = net.createServer((s) => s.end('pong'));
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const reply = await new Promise((resolve, reject) => {
    const c = net.connect(server.address().port, '127.0.0.1');
    let data = ''; c.on('data', (d) => (data += d)); c.on('end', () => resolve(data)); c.on('error', reject);
  });
  server.close();
  assert.strictEqual(reply, 'pong');
  await require('node:dns').promises.lookup('localhost');
  require('node:crypto').randomBytes(32);
  os.networkInterfaces(); os.cpus(); os.totalmem();
  require('node:zlib').gzipSync(Buffer.alloc(1 << 20));
  fs.rmSync(dir, { recursive: true });
  console.log('node-ok', process.version);
})().catch((e) => { console.error(e); process.exit(1); });
"#;

#[test]
fn node_runs_under_the_gateway_profile() {
    require_root();
    let node = std::env::var_os("OPENCLAW_TEST_NODE")
        .map(Into::into)
        .unwrap_or_else(|| program("node"));
    let home = world_dir("node-home");
    let home = home.path().to_str().expect("utf-8");
    let (code, out, err) = run(
        Some(gateway_plan()),
        Some(POD_UID),
        &node,
        &["-e", NODE_WORKOUT],
        &[("HOME", home), ("TMPDIR", home)],
    );
    assert_eq!(code, 0, "node failed under the profile:\n{err}");
    assert!(out.starts_with("node-ok v"), "{out}");
}

const PYTHON_AND_GIT_WORKOUT: &str = r#"
import os, subprocess, tempfile, threading, sqlite3, socket, multiprocessing
d = tempfile.mkdtemp()
t = threading.Thread(target=lambda: None); t.start(); t.join()
db = sqlite3.connect(os.path.join(d, "x.sqlite")); db.execute("pragma journal_mode=wal")
db.execute("create table t(x)"); db.execute("insert into t values (1)"); db.commit(); db.close()
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(); s.close()
with multiprocessing.Pool(2) as p: assert p.map(abs, [-1, -2]) == [1, 2]
git = lambda *a: subprocess.run(["git", "-C", d, *a], check=True, capture_output=True)
git("init", "-q"); open(os.path.join(d, "f"), "w").write("x")
git("add", "f"); git("-c", "user.name=a", "-c", "user.email=a@b", "commit", "-qm", "m")
print("python-git-ok")
"#;

#[test]
fn python_and_git_run_under_the_gateway_profile() {
    require_root();
    let home = world_dir("py-home");
    let home = home.path().to_str().expect("utf-8");
    let (code, out, err) = run(
        Some(gateway_plan()),
        Some(POD_UID),
        &program("python3"),
        &["-c", PYTHON_AND_GIT_WORKOUT],
        &[("HOME", home), ("TMPDIR", home)],
    );
    assert_eq!(code, 0, "python/git failed under the profile:\n{err}");
    assert_eq!(out.trim(), "python-git-ok");
}

/// Reads the parent's environment and memory from inside a confined child.
const SNOOP: &str = r#"
import os
ppid = os.getppid()
print("OWN", "OPENCLAW_SUPERVISOR_TOKEN" in os.environ)
try:
    print("ENVIRON", "s3cr3t-canary" in open(f"/proc/{ppid}/environ").read())
except PermissionError:
    print("ENVIRON denied")
try:
    open(f"/proc/{ppid}/mem", "rb").close(); print("MEM opened")
except PermissionError:
    print("MEM denied")
"#;

/// Runs the helper role "supervisor-environ" as the pod's UID, with a secret in its environment.
fn snoop(non_dumpable: bool) -> Vec<String> {
    let out = helper("supervisor-environ", Some(POD_UID))
        .env("OPENCLAW_SUPERVISOR_TOKEN", "s3cr3t-canary")
        .env("NON_DUMPABLE", if non_dumpable { "1" } else { "0" })
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
        .filter(|l| ["OWN", "ENVIRON", "MEM"].iter().any(|p| l.starts_with(p)))
        .map(str::to_owned)
        .collect()
}

#[test]
fn child_cannot_read_a_non_dumpable_supervisors_environment() {
    require_root();
    // Control: same UID, supervisor left dumpable: the child reads the secret.
    let control = snoop(false);
    assert!(
        control.contains(&"ENVIRON True".to_owned()),
        "control: {control:?}"
    );

    let confined = snoop(true);
    assert!(
        confined.contains(&"OWN False".to_owned()),
        "the secret was not scrubbed from the child: {confined:?}"
    );
    assert!(
        confined.contains(&"ENVIRON denied".to_owned()),
        "{confined:?}"
    );
    assert!(confined.contains(&"MEM denied".to_owned()), "{confined:?}");
}

/// Helper roles, run in a re-executed copy of this binary (see `process_support::helper`).
#[test]
#[ignore = "helper entry point for the tests above, not a test"]
fn helper_entry() {
    let Some(role) = role() else { return };
    assert_eq!(role, "supervisor-environ");
    if std::env::var("NON_DUMPABLE").as_deref() == Ok("1") {
        harden::set_non_dumpable().expect("prctl");
        assert!(!harden::is_dumpable().expect("prctl"));
    }
    let scrub: Vec<String> = spec::SUPERVISOR_ONLY_ENV
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
    // The child gets the environment the supervisor builds for the gateway.
    let env = spec::child_env(std::env::vars(), &[], &scrub, None);
    let (code, out, err) = run_with_env(
        Some(gateway_plan()),
        None,
        &program("python3"),
        &["-c", SNOOP],
        env,
    );
    print!("{out}");
    eprint!("{err}");
    std::process::exit(code);
}
