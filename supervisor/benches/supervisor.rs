//! The supervisor benchmark (`cargo xtask bench supervisor`), printed as `name: value` lines:
//!
//! - `cold_ratio`: the pipeline of a fresh workspace run by the supervisor (independent steps in
//!   parallel), over the same steps run one after another (one supervisor per step, like a chain
//!   of init containers; each step's own duration is summed);
//! - `warm_restart_seconds`: a restart with nothing changed, from the supervisor's start to the
//!   gateway's exec;
//! - `supervisor_rss_mib`: the supervisor's resident memory (VmRSS) while the real gateway runs.
//!
//! Workload: the config, a CA bundle, three skills from a loopback ClawHub, pnpm from the npm
//! registry, uv from PyPI with a local Python 3.12 (when one is found), and one model pulled
//! from a loopback Ollama. pnpm and uv are real downloads, so the network is needed. ClawHub and
//! Ollama sit behind a proxy that delays every chunk they send by `--rtt-ms` (default 50), so
//! they cost what a remote registry and a model download cost instead of nothing. Cold runs are
//! repeated `--runs` times (default 3) and the medians reported.

#[allow(dead_code, unused_imports)]
#[path = "../tests/support/mod.rs"]
mod support;

use std::{
    collections::BTreeMap,
    fs,
    path::{Path, PathBuf},
    process::{Child, Command, ExitCode, Stdio},
    time::{Duration, Instant},
};

use nix::{
    sys::signal::{Signal, kill},
    unistd::Pid,
};
use openclaw_api::{
    instance::{SkillRef, SkillSource},
    plan::{CaBundlePlan, GatewayBind, OllamaPlan, RuntimePlan},
};
use openclaw_supervisor::status::client::HttpClient;
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_openclaw-supervisor");
const GATEWAY_PORT: u16 = 38789;
const STATUS_PORT: u16 = 39090;
const SKILLS: [&str; 3] = ["weather", "calendar", "github-issues"];

type Result<T, E = Box<dyn std::error::Error>> = std::result::Result<T, E>;

/// The loopback servers and the local tools the runs share.
struct World {
    clawhub: String,
    ollama: String,
    python: Option<PathBuf>,
    gateway_command: String,
    node_bin: Option<PathBuf>,
    ca_file: PathBuf,
}

fn main() -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(bench()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn bench() -> Result<()> {
    let gateway_command = std::env::var("OPENCLAW_GATEWAY_COMMAND")
        .map_err(|_| "OPENCLAW_GATEWAY_COMMAND is not set: run `cargo xtask bench supervisor`")?;
    let node_bin = gateway_command
        .split_whitespace()
        .next()
        .and_then(|node| Path::new(node).parent().map(Path::to_path_buf));
    let scratch = tempfile::tempdir()?;
    let ca_file = scratch.path().join("corp-ca.crt");
    fs::copy("/etc/ssl/certs/ca-certificates.crt", &ca_file)
        .map_err(|e| format!("copying the system CA bundle as the instance's: {e}"))?;

    let hub = support::clawhub::Hub {
        skills: SKILLS
            .iter()
            .map(|slug| {
                let body =
                    format!("---\nname: {slug}\ndescription: bench skill {slug}\n---\n# {slug}\n");
                let zip = support::zip(&[
                    ("SKILL.md", &body, 0o644),
                    ("scripts/run.sh", "#!/bin/sh\necho ok\n", 0o755),
                ]);
                let skill = support::clawhub::skill(
                    "bench",
                    support::clawhub::Moderation::Clean,
                    &[("1.0.0", zip)],
                );
                ((*slug).to_owned(), skill)
            })
            .collect(),
        ..support::clawhub::Hub::default()
    };
    let options = Options::parse()?;
    let (clawhub, _hub) = support::clawhub::start(hub).await;
    let sidecar = openclaw_testkit::ollama::Sidecar {
        library: BTreeMap::from([(
            "llama3.2:latest".to_owned(),
            openclaw_testkit::ollama::two_layers(2_019_393_189),
        )]),
        ..openclaw_testkit::ollama::Sidecar::default()
    };
    let (ollama, _sidecar) = openclaw_testkit::ollama::start(sidecar).await;
    let world = World {
        clawhub: slow_link(&clawhub, options.rtt).await?,
        ollama: slow_link(&ollama, options.rtt).await?,
        python: find_python(),
        gateway_command,
        node_bin,
        ca_file,
    };
    let plan = full_plan(&world);
    eprintln!(
        "workload: {} skills, pnpm, python {}, one Ollama model, link delay {:?}",
        SKILLS.len(),
        world
            .python
            .as_ref()
            .map_or("(none: no local python3.12)".to_owned(), |p| p
                .display()
                .to_string()),
        options.rtt
    );

    // Cold, in parallel, then each step alone on a fresh workspace; `runs` times.
    let mut walls = Vec::new();
    let mut serials = Vec::new();
    for run in 0..options.runs {
        let home = scratch.path().join(format!("cold-{run}"));
        let parallel = run_pipeline(&world, &plan, &home, "sleep 600").await?;
        let mut serial = Duration::ZERO;
        let mut alone_times = Vec::new();
        for step in parallel.durations.keys() {
            let home = scratch.path().join(format!("alone-{run}-{step}"));
            let alone = run_pipeline(&world, &only(&plan, step), &home, "sleep 600").await?;
            let took = alone
                .durations
                .get(step)
                .copied()
                .ok_or_else(|| format!("step {step} missing when alone"))?;
            alone_times.push(format!("{step} {:.2}s", took.as_secs_f64()));
            serial += took;
        }
        eprintln!(
            "run {}: parallel {:.2}s (in it: {}); one after another {:.2}s ({})",
            run + 1,
            parallel.wall.as_secs_f64(),
            parallel
                .durations
                .iter()
                .map(|(n, d)| format!("{n} {:.2}s", d.as_secs_f64()))
                .collect::<Vec<_>>()
                .join(", "),
            serial.as_secs_f64(),
            alone_times.join(", ")
        );
        walls.push(parallel.wall.as_secs_f64());
        serials.push(serial.as_secs_f64());
    }

    // Warm restart of the first cold workspace, this time with the real gateway.
    let (to_exec, rss_kib) = warm_restart(&world, &plan, &scratch.path().join("cold-0")).await?;

    let (wall, serial) = (median(&mut walls), median(&mut serials));
    println!("cold_seconds: {wall:.2}");
    println!("serial_seconds: {serial:.2}");
    println!("cold_ratio: {:.2}", wall / serial.max(1e-9));
    println!("warm_restart_seconds: {:.3}", to_exec.as_secs_f64());
    #[allow(clippy::cast_precision_loss)]
    let rss = rss_kib as f64 / 1024.0;
    println!("supervisor_rss_mib: {rss:.1}");
    Ok(())
}

/// A Python 3.12 to link instead of downloading one (uv's download needs GitHub).
fn find_python() -> Option<PathBuf> {
    let mut candidates: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| {
            std::env::split_paths(&p)
                .map(|d| d.join("python3.12"))
                .collect()
        })
        .unwrap_or_default();
    if let Ok(entries) = fs::read_dir("/root/.pyenv/versions") {
        candidates.extend(entries.flatten().map(|e| e.path().join("bin/python3.12")));
    }
    candidates.into_iter().find(|p| {
        Command::new(p)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    })
}

fn full_plan(world: &World) -> RuntimePlan {
    let mut plan = support::plan();
    plan.config.raw = json!({
        "gateway": {"mode": "local", "bind": "loopback", "port": GATEWAY_PORT, "auth": {"mode": "token"}},
        "agents": {"defaults": {"model": {"primary": "ollama/llama3.2"}}}
    })
    .as_object()
    .cloned();
    plan.gateway.port = GATEWAY_PORT;
    plan.gateway.bind = GatewayBind::Loopback;
    plan.status_port = STATUS_PORT;
    plan.ca_bundle = Some(CaBundlePlan {
        path: world.ca_file.display().to_string(),
    });
    plan.skills = SKILLS
        .iter()
        .map(|slug| SkillRef {
            source: SkillSource::ClawHub {
                owner: Some("bench".into()),
                slug: (*slug).into(),
            },
            version: None,
            sha256: None,
        })
        .collect();
    plan.runtime_deps.pnpm = true;
    plan.runtime_deps.python = world.python.is_some();
    plan.ollama = Some(OllamaPlan {
        host: world.ollama.clone(),
        models: vec!["llama3.2".into()],
        gpu: 0,
    });
    plan
}

/// Command-line options (after `cargo bench ... --`).
struct Options {
    rtt: Duration,
    runs: usize,
}

impl Options {
    fn parse() -> Result<Options> {
        let mut options = Options {
            rtt: Duration::from_millis(50),
            runs: 3,
        };
        let mut args = std::env::args().skip(1);
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "--rtt-ms" => {
                    options.rtt =
                        Duration::from_millis(args.next().ok_or("--rtt-ms needs a value")?.parse()?)
                }
                "--runs" => {
                    options.runs = args
                        .next()
                        .ok_or("--runs needs a value")?
                        .parse::<usize>()?
                        .max(1)
                }
                _ => {} // `cargo bench` passes `--bench`
            }
        }
        Ok(options)
    }
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or_default()
}

/// A loopback proxy in front of `base` that holds every chunk the server sends for `delay`, as
/// a remote link would; returns the proxy's base URL.
async fn slow_link(base: &str, delay: Duration) -> Result<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let upstream = base.trim_start_matches("http://").to_owned();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?;
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let upstream = upstream.clone();
            tokio::spawn(async move {
                let Ok(server) = tokio::net::TcpStream::connect(&upstream).await else {
                    return;
                };
                let (mut client_read, mut client_write) = client.into_split();
                let (mut server_read, mut server_write) = server.into_split();
                let requests = tokio::spawn(async move {
                    let _ = tokio::io::copy(&mut client_read, &mut server_write).await;
                    let _ = server_write.shutdown().await;
                });
                let mut buffer = vec![0u8; 64 * 1024];
                while let Ok(n) = server_read.read(&mut buffer).await {
                    if n == 0 {
                        break;
                    }
                    tokio::time::sleep(delay).await;
                    if client_write
                        .write_all(buffer.get(..n).unwrap_or_default())
                        .await
                        .is_err()
                    {
                        break;
                    }
                }
                let _ = client_write.shutdown().await;
                requests.abort();
            });
        }
    });
    Ok(format!("http://{address}"))
}

/// `plan` with only `step` (besides the restore and config steps every plan has).
fn only(plan: &RuntimePlan, step: &str) -> RuntimePlan {
    let mut plan = plan.clone();
    if step != "ca-bundle" {
        plan.ca_bundle = None;
    }
    if step != "skills" {
        plan.skills.clear();
    }
    plan.runtime_deps.pnpm &= step == "pnpm";
    plan.runtime_deps.python &= step == "python";
    if step != "ollama" {
        plan.ollama = None;
    }
    plan
}

struct PipelineRun {
    /// From the supervisor's start to `pipelineDone`.
    wall: Duration,
    /// Each step's own duration, by name (restore and config excluded when alone).
    durations: BTreeMap<String, Duration>,
}

struct Running {
    child: Child,
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(pid) = i32::try_from(self.child.id()) {
            let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(world: &World, plan: &RuntimePlan, home: &Path, gateway: &str) -> Result<Running> {
    fs::create_dir_all(home)?;
    let plan_file = home.join("plan.json");
    fs::write(&plan_file, plan.to_json()?)?;
    let path = match &world.node_bin {
        Some(dir) => format!(
            "{}:{}",
            dir.display(),
            std::env::var("PATH").unwrap_or_default()
        ),
        None => std::env::var("PATH").unwrap_or_default(),
    };
    let log = fs::File::create(home.join("supervisor.log"))?;
    let mut command = Command::new(BIN);
    command
        .args(["run", "--plan"])
        .arg(&plan_file)
        .env("HOME", home)
        .env_remove("OPENCLAW_STATE_DIR")
        .env("PATH", path)
        .env("OPENCLAW_GATEWAY_COMMAND", gateway)
        .env("OPENCLAW_GATEWAY_TOKEN", "bench-gateway-token-0123456789")
        .env("OPENCLAW_DISABLE_BONJOUR", "1")
        .env("OPENCLAW_NO_AUTO_UPDATE", "1")
        .env("OPENCLAW_STATUS_ADDRESS", "127.0.0.1")
        .env("OPENCLAW_MIRROR_CLAWHUB", &world.clawhub)
        .env("OPENCLAW_LOG_FORMAT", "plain")
        .current_dir(home)
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log);
    if let Some(python) = &world.python {
        command.env("OPENCLAW_PYTHON", python);
    }
    Ok(Running {
        child: command.spawn()?,
    })
}

async fn status(client: &HttpClient) -> Option<Value> {
    let answer = client
        .get(&format!("http://127.0.0.1:{STATUS_PORT}/status"))
        .await
        .ok()?;
    serde_json::from_slice(&answer.body).ok()
}

/// Runs the supervisor on `home` until its pipeline is done; returns the timings.
async fn run_pipeline(
    world: &World,
    plan: &RuntimePlan,
    home: &Path,
    gateway: &str,
) -> Result<PipelineRun> {
    let client = HttpClient::new(Duration::from_secs(2));
    let started = Instant::now();
    let mut running = start(world, plan, home, gateway)?;
    loop {
        if let Some(status) = status(&client).await {
            if status["pipelineFailed"] == true {
                return Err(format!("the pipeline failed: {}", status["steps"]).into());
            }
            if status["pipelineDone"] == true {
                let wall = started.elapsed();
                let durations = status["steps"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|s| {
                        !["restore", "config"].contains(&s["name"].as_str().unwrap_or_default())
                    })
                    .filter_map(|s| {
                        Some((
                            s["name"].as_str()?.to_owned(),
                            Duration::from_millis(s["durationMs"].as_u64()?),
                        ))
                    })
                    .collect();
                return Ok(PipelineRun { wall, durations });
            }
        }
        if let Some(exit) = running.child.try_wait()? {
            return Err(format!(
                "the supervisor exited ({exit}); see {}",
                home.join("supervisor.log").display()
            )
            .into());
        }
        if started.elapsed() > Duration::from_secs(600) {
            return Err("the pipeline took more than 10 minutes".into());
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Restarts on the cold run's workspace with the real gateway: time to its exec, then the
/// supervisor's VmRSS once the gateway is ready.
async fn warm_restart(world: &World, plan: &RuntimePlan, home: &Path) -> Result<(Duration, u64)> {
    let client = HttpClient::new(Duration::from_secs(2));
    let started = Instant::now();
    let running = start(world, plan, home, &world.gateway_command)?;
    let to_exec = loop {
        if let Some(status) = status(&client).await
            && status["gateway"]["pid"].is_u64()
        {
            let skipped = status["steps"]
                .as_array()
                .into_iter()
                .flatten()
                .all(|s| s["skipped"] == true);
            if !skipped {
                return Err(format!("the restart ran steps: {}", status["steps"]).into());
            }
            break started.elapsed();
        }
        if started.elapsed() > Duration::from_secs(60) {
            return Err("the gateway was not started within 60 s of a warm restart".into());
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    };
    loop {
        if let Ok(answer) = client
            .get(&format!("http://127.0.0.1:{STATUS_PORT}/readyz"))
            .await
            && answer.status.as_u16() == 200
        {
            break;
        }
        if started.elapsed() > Duration::from_secs(300) {
            return Err("the gateway was not ready within 300 s".into());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_secs(5)).await;
    let text = fs::read_to_string(format!("/proc/{}/status", running.child.id()))?;
    let rss = text
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .ok_or("no VmRSS")?;
    drop(running);
    Ok((to_exec, rss))
}
