//! The operator benchmark: convergence of N instances, peak RSS, steady-state writes.

use std::{
    fs,
    path::Path,
    process::{Child, Command, Stdio},
    thread::sleep,
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail};

use crate::{cluster, tools::repo_root};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Instances created at once.
    #[arg(long, default_value_t = 500)]
    instances: usize,
    /// Give up when they are not all Running after this many seconds.
    #[arg(long, default_value_t = 900)]
    timeout: u64,
}

const NAMESPACE: &str = "bench-operator";
const METRICS: &str = "127.0.0.1:18081";
const RESYNC_SECONDS: u64 = 20;

struct Operator(Child);

impl Drop for Operator {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn run(args: &Args) -> Result<()> {
    let dir = cluster::state_dir()?;
    let owned = !cluster::is_running(&dir);
    cluster::up(&dir)?;
    let result = bench(&dir, args);
    let _ = cluster::kubectl(
        &dir,
        &[
            "delete",
            "namespace",
            NAMESPACE,
            "--wait=false",
            "--ignore-not-found",
        ],
    );
    if owned {
        cluster::down(&dir)?;
    }
    result
}

fn bench(dir: &Path, args: &Args) -> Result<()> {
    let root = repo_root()?;
    println!("==> building the operator (release)");
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["build", "--release", "--quiet", "-p", "openclaw-operator"])
        .current_dir(&root)
        .status()?;
    if !status.success() {
        bail!("building the operator failed");
    }
    let _ = cluster::kubectl(
        dir,
        &[
            "delete",
            "namespace",
            NAMESPACE,
            "--ignore-not-found",
            "--wait=true",
        ],
    );
    cluster::kubectl(dir, &["create", "namespace", NAMESPACE])?;

    let log = fs::File::create(dir.join("logs").join("bench-operator.log"))?;
    let child = Command::new(root.join("target/release/openclaw-operator"))
        .args([
            "run",
            &format!("--metrics-bind-address={METRICS}"),
            &format!("--watch-namespace={NAMESPACE}"),
            &format!("--resync-interval={RESYNC_SECONDS}s"),
            "--pod-name=bench",
            "--log-format=plain",
        ])
        .env("KUBECONFIG", dir.join("kubeconfig"))
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .context("starting the operator")?;
    let operator = Operator(child);
    let pid = operator.0.id();

    println!(
        "==> creating {} instances at once in namespace {NAMESPACE}",
        args.instances
    );
    let manifests: String = (0..args.instances)
        .map(|i| format!("apiVersion: openclaw.rocks/v1alpha1\nkind: OpenClawInstance\nmetadata:\n  name: agent-{i:04}\n  namespace: {NAMESPACE}\nspec: {{}}\n---\n"))
        .collect();
    let file = dir.join("bench-instances.yaml");
    fs::write(&file, manifests)?;
    let started = Instant::now();
    cluster::kubectl_quiet(dir, &["create", "-f", &file.display().to_string()])?;

    let deadline = started + Duration::from_secs(args.timeout);
    loop {
        let running = running_count(dir)?;
        if running == args.instances {
            break;
        }
        if Instant::now() > deadline {
            bail!(
                "only {running} of {} instances Running after {}s",
                args.instances,
                args.timeout
            );
        }
        sleep(Duration::from_millis(500));
    }
    let converge = started.elapsed().as_secs_f64();
    println!("==> all Running after {converge:.1}s; waiting for one steady-state resync");

    // Let status writes and rollouts settle, then count writes across a full resync.
    sleep(Duration::from_secs(RESYNC_SECONDS));
    let before = writes()?;
    sleep(Duration::from_secs(RESYNC_SECONDS + 5));
    let steady = writes()? - before;
    let rss = peak_rss_kib(pid)? as f64 / 1024.0;

    println!("converge_seconds: {converge:.1}");
    println!("operator_peak_rss_mib: {rss:.1}");
    println!("steady_state_writes: {steady}");
    Ok(())
}

fn running_count(dir: &Path) -> Result<usize> {
    let out = cluster::kubectl_output(
        dir,
        &[
            "get",
            "openclawinstances",
            "-n",
            NAMESPACE,
            "-o",
            "jsonpath={range .items[*]}{.status.phase}{\"\\n\"}{end}",
        ],
    )?;
    Ok(out.lines().filter(|l| *l == "Running").count())
}

/// Sum of `openclaw_api_writes_total` from the operator's /metrics.
fn writes() -> Result<u64> {
    use std::io::{Read, Write};
    let mut stream =
        std::net::TcpStream::connect(METRICS).context("connecting to the operator's /metrics")?;
    write!(stream, "GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n")?;
    let mut body = String::new();
    stream.read_to_string(&mut body)?;
    Ok(body
        .lines()
        .filter(|l| l.starts_with("openclaw_api_writes_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum())
}

fn peak_rss_kib(pid: u32) -> Result<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .context("no VmHWM in /proc/<pid>/status")
}
