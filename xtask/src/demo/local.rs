//! Without the real node (`cluster up --kwok-only`) KWOK runs no containers: the pod's
//! supervisor runs *locally* with the plan the operator rendered, so the real gateway answers
//! on localhost:18789.

use std::{
    fs,
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

use super::{
    DemoArgs, GATEWAY, INSTANCE, NAMESPACE, check, http_get, json_has, json_true, kubectl_get,
    secret_key,
};
use crate::{
    node::{self, NodeTools},
    tools::repo_root,
};

pub fn serve(dir: &Path, args: &DemoArgs, started: Instant) -> Result<()> {
    let node = node::ensure()?;
    let key = secret_key(dir, "openclaw-api-keys", "ANTHROPIC_API_KEY")?;
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
    // The kubelet would mount the token Secret; here it is a file beside HOME.
    let token_file = work.join("gateway-token");
    fs::write(&token_file, &token)?;
    fs::write(&plan_path, local_plan(&plan, &token_file)?)?;
    let supervisor = build_supervisor(false)?;
    println!(
        "==> running the pod's supervisor locally (HOME={})",
        home.display()
    );
    let env = vec![
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

/// The operator's plan, with the gateway bound to loopback: in the pod it listens on the pod IP
/// behind the Service; on a laptop it should not listen on every interface.
fn local_plan(text: &str, token_file: &Path) -> Result<String> {
    let mut plan = RuntimePlan::from_json(text).context("the rendered plan.json is not a plan")?;
    plan.gateway.bind = GatewayBind::Loopback;
    if plan.gateway.token_file.is_some() {
        plan.gateway.token_file = Some(token_file.display().to_string());
    }
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
