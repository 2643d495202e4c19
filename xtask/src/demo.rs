//! `cargo xtask demo [--smoke]`: the quick start. Local control plane, the chart, the guide's
//! `my-agent`, and then the pod's supervisor run *locally* with the plan the operator rendered
//! (KWOK runs no containers), so the real gateway answers on localhost:18789.
//!
//! `--smoke` checks the supervisor's `/readyz` and the gateway's `/healthz` JSON, tears
//! everything down and exits 0 or 1.

use std::{
    fs,
    net::SocketAddr,
    path::{Path, PathBuf},
    process::{Child, Command, ExitStatus, Stdio},
    thread::sleep,
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail};
use nix::{
    sys::signal::{Signal, kill},
    unistd::Pid,
};

use openclaw_api::plan::{GatewayBind, RuntimePlan};

use crate::{
    cluster,
    node::{self, NodeTools},
    tools::repo_root,
};

#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Check that it works, tear everything down, exit 0 or 1.
    #[arg(long)]
    smoke: bool,
    /// Port of the local supervisor's status server (the pod's is the plan's, 9090).
    #[arg(long, default_value_t = 9090)]
    status_port: u16,
}

const NAMESPACE: &str = "openclaw";
const INSTANCE: &str = "my-agent";
const RELEASE: &str = "openclaw-operator";
const RELEASE_NAMESPACE: &str = "openclaw-operator-system";
const GATEWAY: &str = "127.0.0.1:18789";

pub fn run(args: &DemoArgs) -> Result<()> {
    let dir = cluster::state_dir()?;
    let owned = !cluster::is_running(&dir);
    let result = demo(&dir, args);
    if args.smoke || result.is_err() {
        teardown(&dir, owned);
    }
    match (&result, args.smoke) {
        (Ok(()), true) => println!("==> smoke test passed"),
        (Err(_), true) => eprintln!("==> smoke test FAILED"),
        _ => {}
    }
    result
}

fn demo(dir: &Path, args: &DemoArgs) -> Result<()> {
    let started = Instant::now();
    let node = node::ensure()?;
    cluster::up(dir)?;
    let chart = repo_root()?.join("charts/openclaw-operator");
    println!("==> helm install {RELEASE} (namespace {RELEASE_NAMESPACE})");
    tool(
        dir,
        "helm",
        &[
            "upgrade",
            "--install",
            RELEASE,
            &chart.display().to_string(),
            "--namespace",
            RELEASE_NAMESPACE,
            "--create-namespace",
        ],
    )?;

    println!("==> Secret openclaw-api-keys and the guide's my-agent.yaml");
    let key =
        std::env::var("ANTHROPIC_API_KEY").unwrap_or_else(|_| "sk-ant-demo-not-a-real-key".into());
    let _ = cluster::kubectl_quiet(
        dir,
        &[
            "delete",
            "secret",
            "openclaw-api-keys",
            "-n",
            NAMESPACE,
            "--ignore-not-found",
        ],
    );
    cluster::kubectl_quiet(
        dir,
        &[
            "create",
            "secret",
            "generic",
            "openclaw-api-keys",
            "-n",
            NAMESPACE,
            &format!("--from-literal=ANTHROPIC_API_KEY={key}"),
        ],
    )?;
    let manifest = repo_root()?.join("tests/fixtures/seed/01-my-agent.yaml");
    cluster::kubectl(dir, &["apply", "-f", &manifest.display().to_string()])?;
    wait("my-agent Running", Duration::from_secs(180), || {
        Ok(kubectl_get(dir, "openclawinstance", INSTANCE, "{.status.phase}")? == "Running")
    })?;

    let plan = kubectl_get(
        dir,
        "configmap",
        &format!("{INSTANCE}-config"),
        "{.data.plan\\.json}",
    )?;
    if plan.is_empty() {
        bail!("ConfigMap {INSTANCE}-config has no plan.json");
    }
    let secret = format!("{INSTANCE}-gateway-token");
    let token = secret_key(dir, &secret, "token")?;
    let control = secret_key(dir, &secret, "supervisor-token")?;

    let work = dir.join("demo");
    let home = work.join("home");
    fs::create_dir_all(&home)?;
    let plan_path = work.join("plan.json");
    fs::write(&plan_path, local_plan(&plan)?)?;
    let supervisor = build_supervisor(false)?;
    println!(
        "==> running the pod's supervisor locally (HOME={})",
        home.display()
    );
    let env = vec![
        ("OPENCLAW_GATEWAY_TOKEN".to_owned(), token.clone()),
        ("OPENCLAW_SUPERVISOR_TOKEN".to_owned(), control),
        ("ANTHROPIC_API_KEY".to_owned(), key),
    ];
    let mut local = LocalSupervisor::start(
        &supervisor,
        &plan_path,
        &home,
        &node,
        args.status_port,
        &env,
        &work.join("supervisor.log"),
    )?;
    local.wait_ready(Duration::from_secs(180))?;
    let status_url = format!("http://127.0.0.1:{}", args.status_port);
    println!(
        "==> the real gateway is ready ({:.0}s after the demo started)",
        started.elapsed().as_secs_f64()
    );

    if args.smoke {
        let (code, body) = http_get(&local.status_addr(), "/readyz")?;
        let ready = code == 200 && json_has(&body, "status", "\"ready\"");
        check(
            "supervisor /readyz says ready",
            ready,
            format!("{code} {body}"),
        )?;
        let (code, body) = http_get(GATEWAY, "/healthz")?;
        let live = code == 200 && json_true(&body, "ok");
        check("gateway /healthz says ok", live, format!("{code} {body}"))?;
        let phase = kubectl_get(dir, "openclawinstance", INSTANCE, "{.status.phase}")?;
        check("my-agent is Running", phase == "Running", &phase)?;
        let status = local.stop()?;
        check(
            "the supervisor stops cleanly on SIGTERM",
            status.success(),
            status,
        )?;
        return Ok(());
    }

    println!(
        "\nOpenClaw runs locally under its supervisor, with the plan the operator rendered for {NAMESPACE}/{INSTANCE}.\n\
         \n  Control UI       http://{GATEWAY}/#token={token}\
         \n  gateway health   curl http://{GATEWAY}/healthz\
         \n  supervisor       cargo run -q -p openclaw-supervisor -- status --url {status_url}\
         \n  the instance     export KUBECONFIG={}; kubectl get openclawinstances -n {NAMESPACE}\
         \n  logs             {}\
         \n\nCtrl-C stops the supervisor and the gateway; `cargo xtask cluster down` stops the control plane.",
        dir.join("kubeconfig").display(),
        work.join("supervisor.log").display(),
    );
    let status = local.wait()?;
    println!("==> the supervisor exited ({status})");
    Ok(())
}

/// True when the JSON object `body` has `"key": true` (xtask has no JSON parser; the bodies
/// checked here are flat and small).
pub fn json_true(body: &str, key: &str) -> bool {
    json_has(body, key, "true")
}

/// True when the JSON object `body` has `"key": <value>` (value as JSON text).
pub fn json_has(body: &str, key: &str, value: &str) -> bool {
    let compact: String = body.chars().filter(|c| !c.is_whitespace()).collect();
    compact.contains(&format!("\"{key}\":{value}"))
}

fn check(name: &str, ok: bool, what: impl std::fmt::Display) -> Result<()> {
    if ok {
        println!("    ok  {name}");
        Ok(())
    } else {
        bail!("check failed: {name}: {what}")
    }
}

/// The operator's plan, with the gateway bound to loopback: in the pod it listens on the pod IP
/// behind the Service; on a laptop it should not listen on every interface.
fn local_plan(text: &str) -> Result<String> {
    let mut plan = RuntimePlan::from_json(text).context("the rendered plan.json is not a plan")?;
    plan.gateway.bind = GatewayBind::Loopback;
    if let Some(gateway) = plan
        .config
        .raw
        .as_mut()
        .and_then(|raw| raw.get_mut("gateway"))
        .and_then(|gateway| gateway.as_object_mut())
    {
        gateway.insert("bind".to_owned(), "loopback".into());
    }
    Ok(plan.to_json()?)
}

fn teardown(dir: &Path, owned: bool) {
    println!("==> tearing down");
    if owned {
        if let Err(error) = cluster::down(dir) {
            eprintln!("warning: stopping the control plane failed: {error:#}");
        }
        return;
    }
    let _ = cluster::kubectl_quiet(
        dir,
        &[
            "delete",
            "openclawinstance",
            INSTANCE,
            "-n",
            NAMESPACE,
            "--ignore-not-found",
        ],
    );
    let _ = cluster::kubectl_quiet(
        dir,
        &[
            "delete",
            "secret",
            "openclaw-api-keys",
            "-n",
            NAMESPACE,
            "--ignore-not-found",
        ],
    );
    let _ = tool(
        dir,
        "helm",
        &["uninstall", RELEASE, "--namespace", RELEASE_NAMESPACE],
    );
    let _ = fs::remove_dir_all(dir.join("demo"));
}

fn tool(dir: &Path, name: &str, args: &[&str]) -> Result<()> {
    let out = Command::new(dir.join("bin").join(name))
        .arg(format!("--kubeconfig={}", dir.join("kubeconfig").display()))
        .args(args)
        .output()
        .with_context(|| format!("running {name}"))?;
    if !out.status.success() {
        bail!(
            "{name} {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

fn kubectl_get(dir: &Path, kind: &str, name: &str, jsonpath: &str) -> Result<String> {
    let out = cluster::kubectl_output(
        dir,
        &[
            "get",
            kind,
            name,
            "-n",
            NAMESPACE,
            "-o",
            &format!("jsonpath={jsonpath}"),
        ],
    )?;
    Ok(out.trim().to_owned())
}

fn secret_key(dir: &Path, secret: &str, key: &str) -> Result<String> {
    let template = format!("go-template={{{{index .data \"{key}\" | base64decode}}}}");
    let value = cluster::kubectl_output(
        dir,
        &["get", "secret", secret, "-n", NAMESPACE, "-o", &template],
    )?;
    if value.is_empty() {
        bail!("Secret {NAMESPACE}/{secret} has no key {key}");
    }
    Ok(value)
}

fn wait(what: &str, timeout: Duration, mut done: impl FnMut() -> Result<bool>) -> Result<()> {
    println!("==> waiting for {what}");
    let deadline = Instant::now() + timeout;
    loop {
        if done().unwrap_or(false) {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("timed out after {}s waiting for {what}", timeout.as_secs());
        }
        sleep(Duration::from_millis(500));
    }
}

/// Builds the supervisor (release for benchmarks) and returns its path.
pub fn build_supervisor(release: bool) -> Result<PathBuf> {
    let root = repo_root()?;
    let mut args = vec!["build", "--quiet", "-p", "openclaw-supervisor"];
    if release {
        args.push("--release");
    }
    println!("==> cargo {}", args.join(" "));
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(&args)
        .current_dir(&root)
        .status()
        .context("running cargo build")?;
    if !status.success() {
        bail!("building the supervisor failed ({status})");
    }
    let target =
        std::env::var("CARGO_TARGET_DIR").map_or_else(|_| root.join("target"), PathBuf::from);
    Ok(target
        .join(if release { "release" } else { "debug" })
        .join("openclaw-supervisor"))
}

/// A supervisor started as a local process, stopped (SIGTERM, then SIGKILL) when dropped.
#[derive(Debug)]
pub struct LocalSupervisor {
    child: Option<Child>,
    status_port: u16,
    log: PathBuf,
}

impl LocalSupervisor {
    /// Starts `binary run --plan <plan>` with `HOME=<home>` and the gateway from `node`.
    pub fn start(
        binary: &Path,
        plan: &Path,
        home: &Path,
        node: &NodeTools,
        status_port: u16,
        env: &[(String, String)],
        log: &Path,
    ) -> Result<Self> {
        let out = fs::File::create(log).with_context(|| format!("creating {}", log.display()))?;
        let child = Command::new(binary)
            .args(["run", "--plan"])
            .arg(plan)
            .env("HOME", home)
            .env("OPENCLAW_STATE_DIR", home.join(".openclaw"))
            .env("PATH", node.path_env())
            .env("OPENCLAW_GATEWAY_COMMAND", node.gateway_command())
            .env("OPENCLAW_STATUS_ADDRESS", "127.0.0.1")
            .env("OPENCLAW_STATUS_PORT", status_port.to_string())
            .env("OPENCLAW_LOG_FORMAT", "plain")
            .envs(env.iter().map(|(k, v)| (k, v)))
            .current_dir(home)
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        Ok(Self {
            child: Some(child),
            status_port,
            log: log.to_owned(),
        })
    }

    /// `127.0.0.1:<status port>`.
    pub fn status_addr(&self) -> String {
        format!("127.0.0.1:{}", self.status_port)
    }

    /// Waits until `/readyz` answers 200; fails early when the supervisor exits.
    pub fn wait_ready(&mut self, timeout: Duration) -> Result<Duration> {
        let started = Instant::now();
        let addr = self.status_addr();
        loop {
            if let Ok((200, _)) = http_get(&addr, "/readyz") {
                return Ok(started.elapsed());
            }
            if let Some(child) = self.child.as_mut()
                && let Some(status) = child.try_wait()?
            {
                bail!(
                    "the supervisor exited ({status}); see {}",
                    self.log.display()
                );
            }
            if started.elapsed() > timeout {
                let (_, body) = http_get(&addr, "/readyz").unwrap_or_default();
                bail!(
                    "not ready after {}s ({body}); see {}",
                    timeout.as_secs(),
                    self.log.display()
                );
            }
            sleep(Duration::from_millis(100));
        }
    }

    /// Waits for the supervisor to exit by itself.
    pub fn wait(&mut self) -> Result<ExitStatus> {
        let mut child = self
            .child
            .take()
            .context("the supervisor was already stopped")?;
        Ok(child.wait()?)
    }

    /// SIGTERM, then SIGKILL after 30 s.
    pub fn stop(&mut self) -> Result<ExitStatus> {
        let mut child = self
            .child
            .take()
            .context("the supervisor was already stopped")?;
        let pid = Pid::from_raw(i32::try_from(child.id())?);
        let _ = kill(pid, Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Some(status) = child.try_wait()? {
                return Ok(status);
            }
            sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        Ok(child.wait()?)
    }
}

impl Drop for LocalSupervisor {
    fn drop(&mut self) {
        if self.child.is_some() {
            let _ = self.stop();
        }
    }
}

/// A plain HTTP/1.0 GET on loopback: status code and body.
pub fn http_get(addr: &str, path: &str) -> Result<(u16, String)> {
    let addr: SocketAddr = addr.parse()?;
    Ok(openclaw_testkit::raw_http::exchange(
        addr,
        &format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\nAccept: application/json\r\n\r\n"),
    )?)
}
