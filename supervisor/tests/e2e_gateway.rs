//! End to end: the supervisor binary runs the REAL OpenClaw gateway (npm `openclaw@2026.9.6` on
//! Node 24.21.0) with a seeded configuration and a skill from a loopback ClawHub in a temporary
//! HOME, reports `/readyz` 200 once the gateway's own `/readyz` JSON says ready, shows every step
//! in `/status`, the gateway lists the skill, the supervisor stops cleanly on SIGTERM, a restart
//! with nothing changed skips every step, and a rotated token file (swapped the way the kubelet
//! swaps a Secret volume) reaches the running gateway without a restart or a refused connection.
//!
//! Node and openclaw come from `cargo xtask node` (the tools cache, outside the repository);
//! without them this test fails and says so. It never skips.

#[allow(dead_code)]
mod support;

use std::{
    fs,
    net::TcpListener,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use nix::{
    sys::signal::{Signal, kill, killpg},
    unistd::Pid,
};
use openclaw_supervisor::status::client::HttpClient;
use openclaw_testkit::location::{GatewayTools as NodeTools, OPENCLAW_VERSION, gateway_tools};
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_openclaw-supervisor");
/// Away from 18789 (a demo may run there) and from what the gateway derives from it (+1..+110).
const GATEWAY_PORT: u16 = 28789;
const GATEWAY_TOKEN: &str = "e2e-gateway-token-0123456789abcdef";
const ROTATED_TOKEN: &str = "e2e-rotated-token-fedcba9876543210";
const CONTROL_TOKEN: &str = "e2e-control-token";
/// Measured: ready 8-12 s after spawn on 2 vCPUs, up to ~35 s on a busy machine's first start.
const READY_WITHIN: Duration = Duration::from_secs(180);

type TestResult<T = ()> = Result<T, Box<dyn std::error::Error>>;

/// Node 24 and openclaw, where `cargo xtask node` installs them; the test fails without them.
fn node_tools() -> NodeTools {
    gateway_tools().unwrap_or_else(|missing| panic!("{missing}"))
}

/// A running supervisor; SIGTERM then SIGKILL (and its gateway's group) when dropped.
struct Supervisor {
    child: Option<Child>,
    gateway_pid: Option<i32>,
    log: PathBuf,
}

impl Supervisor {
    fn start(
        dir: &Path,
        tools: &NodeTools,
        status_port: u16,
        clawhub: &str,
        log_name: &str,
    ) -> TestResult<Self> {
        let home = dir.join("home");
        let tmp = dir.join("tmp");
        fs::create_dir_all(&home)?;
        fs::create_dir_all(&tmp)?;
        let log = dir.join(log_name);
        let out = fs::File::create(&log)?;
        let bin_dir = tools
            .node
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default();
        let child = Command::new(BIN)
            .args(["run", "--plan"])
            .arg(dir.join("plan.json"))
            .env_clear()
            .env("HOME", &home)
            .env("TMPDIR", &tmp)
            .env(
                "PATH",
                format!("{}:/usr/local/bin:/usr/bin:/bin", bin_dir.display()),
            )
            .env("LANG", "C.UTF-8")
            .env("OPENCLAW_SUPERVISOR_TOKEN", CONTROL_TOKEN)
            .env("OPENCLAW_DISABLE_BONJOUR", "1")
            .env("OPENCLAW_NO_AUTO_UPDATE", "1")
            .env(
                "OPENCLAW_GATEWAY_COMMAND",
                format!(
                    "{} {} gateway run",
                    tools.node.display(),
                    tools.openclaw.display()
                ),
            )
            .env("OPENCLAW_STATUS_ADDRESS", "127.0.0.1")
            .env("OPENCLAW_STATUS_PORT", status_port.to_string())
            .env("OPENCLAW_MIRROR_CLAWHUB", clawhub)
            .env("OPENCLAW_LOG_FORMAT", "plain")
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .spawn()?;
        Ok(Self {
            child: Some(child),
            gateway_pid: None,
            log,
        })
    }

    fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child
            .as_mut()
            .and_then(|c| c.try_wait().ok().flatten())
    }

    /// SIGTERM; waits for the exit.
    fn stop(&mut self, within: Duration) -> TestResult<std::process::ExitStatus> {
        let mut child = self.child.take().ok_or("already stopped")?;
        kill(Pid::from_raw(i32::try_from(child.id())?), Signal::SIGTERM)?;
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if let Some(status) = child.try_wait()? {
                return Ok(status);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
        Err(format!("the supervisor did not exit within {within:?} of SIGTERM").into())
    }
}

impl Drop for Supervisor {
    fn drop(&mut self) {
        if self.child.is_some() {
            let _ = self.stop(Duration::from_secs(20));
        }
        if let Some(pid) = self.gateway_pid {
            let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
        }
    }
}

async fn get(client: &HttpClient, url: &str) -> Option<(u16, Value)> {
    let answer = client.get(url).await.ok()?;
    Some((
        answer.status.as_u16(),
        serde_json::from_slice(&answer.body).unwrap_or(Value::Null),
    ))
}

/// Polls `/readyz` until 200; returns the time it took.
async fn wait_ready(
    client: &HttpClient,
    base: &str,
    supervisor: &mut Supervisor,
) -> TestResult<Duration> {
    let started = Instant::now();
    loop {
        if let Some((200, _)) = get(client, &format!("{base}/readyz")).await {
            return Ok(started.elapsed());
        }
        if let Some(status) = supervisor.exited() {
            return Err(format!("the supervisor exited ({status}):\n{}", supervisor.log()).into());
        }
        if started.elapsed() > READY_WITHIN {
            let status = get(client, &format!("{base}/status")).await;
            return Err(format!(
                "/readyz not 200 after {READY_WITHIN:?}; /status: {status:?}\n{}",
                supervisor.log()
            )
            .into());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn free_port() -> TestResult<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// A Secret volume as the kubelet lays it out: `token -> ..data/token`, `..data -> ..<version>`.
fn secret_volume(dir: &Path, token: &str) -> TestResult<PathBuf> {
    fs::create_dir_all(dir)?;
    std::os::unix::fs::symlink("..data/token", dir.join("token"))?;
    swap_secret(dir, "v1", token)?;
    Ok(dir.join("token"))
}

/// The kubelet's atomic update: a new version directory, then `..data` renamed over.
fn swap_secret(dir: &Path, version: &str, token: &str) -> TestResult {
    let versioned = dir.join(format!("..{version}"));
    fs::create_dir_all(&versioned)?;
    fs::write(versioned.join("token"), token)?;
    let tmp = dir.join("..data_tmp");
    std::os::unix::fs::symlink(format!("..{version}"), &tmp)?;
    fs::rename(&tmp, dir.join("..data"))?;
    Ok(())
}

/// `POST /tools/invoke` (a read-only tool) with `token`: the gateway's HTTP status, or `None`
/// when the connection was refused or broke.
fn invoke(token: &str) -> Option<u16> {
    use std::io::{Read, Write};
    let body = r#"{"tool":"sessions_list","args":{}}"#;
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", GATEWAY_PORT)).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    let request = format!(
        "POST /tools/invoke HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).ok()?;
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).ok()?;
    std::str::from_utf8(&head[9..12]).ok()?.parse().ok()
}

fn plan(status_port: u16, token_file: &Path) -> Value {
    json!({
        "version": 1,
        "instance": {"name": "e2e-agent", "namespace": "e2e"},
        "config": {
            "raw": {
                "gateway": {"mode": "local", "bind": "loopback", "port": GATEWAY_PORT, "auth": {"mode": "token"}},
                "agents": {"defaults": {"model": {"primary": "anthropic/claude-sonnet-4-20250514"}}}
            },
            "mergeMode": "merge",
            "format": "json"
        },
        "skills": [{"source": {"kind": "clawHub", "owner": "e2e", "slug": "weather"}, "version": "1.0.0"}],
        "gateway": {"port": GATEWAY_PORT, "bind": "loopback", "tokenEnv": "OPENCLAW_GATEWAY_TOKEN", "tokenFile": token_file},
        "statusPort": status_port
    })
}

fn steps(status: &Value) -> Vec<(String, String, bool)> {
    status["steps"]
        .as_array()
        .map(|steps| {
            steps
                .iter()
                .map(|s| {
                    (
                        s["name"].as_str().unwrap_or_default().to_owned(),
                        s["state"].as_str().unwrap_or_default().to_owned(),
                        s["skipped"].as_bool().unwrap_or(false),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// A ClawHub serving the skill `weather` 1.0.0.
async fn loopback_clawhub() -> String {
    let skill_md = "---\nname: weather\ndescription: Current weather for a city (e2e test skill).\n---\n# Weather\n";
    let zip = support::zip(&[("SKILL.md", skill_md, 0o644)]);
    let mut hub = support::clawhub::Hub::default();
    hub.skills.insert(
        "weather".into(),
        support::clawhub::skill(
            "e2e",
            support::clawhub::Moderation::Clean,
            &[("1.0.0", zip)],
        ),
    );
    support::clawhub::start(hub).await.0
}

/// `openclaw skills list --json` with the gateway's HOME and token.
fn skills_listed(tools: &NodeTools, home: &Path) -> TestResult<Vec<Value>> {
    let out = Command::new(&tools.node)
        .arg(&tools.openclaw)
        .args(["skills", "list", "--json"])
        .env_clear()
        .env("HOME", home)
        .env("PATH", "/usr/bin:/bin")
        .env("OPENCLAW_GATEWAY_TOKEN", GATEWAY_TOKEN)
        .env("OPENCLAW_DISABLE_BONJOUR", "1")
        .current_dir(home)
        .output()?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let start = stdout
        .find('{')
        .ok_or_else(|| format!("no JSON from skills list: {stdout}"))?;
    let listed: Value = serde_json::from_str(stdout.get(start..).unwrap_or_default())?;
    Ok(listed["skills"].as_array().cloned().unwrap_or_default())
}

/// The gateway's environment, from `/proc` (the gateway is dumpable; the supervisor is not).
fn environ(pid: i32) -> TestResult<Vec<String>> {
    let bytes = fs::read(format!("/proc/{pid}/environ"))?;
    Ok(bytes
        .split(|b| *b == 0)
        .map(|v| String::from_utf8_lossy(v).into_owned())
        .collect())
}

#[tokio::test(flavor = "multi_thread")]
async fn real_gateway_becomes_ready_and_a_restart_skips_every_step() -> TestResult {
    let tools = node_tools();
    assert!(
        TcpListener::bind(("127.0.0.1", GATEWAY_PORT)).is_ok(),
        "port {GATEWAY_PORT} is taken: another gateway (an earlier run of this test?) still listens there"
    );
    let dir = tempfile::tempdir()?;
    let status_port = free_port()?;
    let token_file = secret_volume(&dir.path().join("gateway-token"), GATEWAY_TOKEN)?;
    fs::write(
        dir.path().join("plan.json"),
        plan(status_port, &token_file).to_string(),
    )?;
    let base = format!("http://127.0.0.1:{status_port}");
    let client = HttpClient::new(Duration::from_secs(5));
    let clawhub = loopback_clawhub().await;

    // First start: every step runs.
    let mut first = Supervisor::start(dir.path(), &tools, status_port, &clawhub, "first.log")?;
    let took = wait_ready(&client, &base, &mut first).await?;
    eprintln!("first start: /readyz 200 after {:.1}s", took.as_secs_f64());
    let (_, status) = get(&client, &format!("{base}/status"))
        .await
        .ok_or("no /status")?;
    first.gateway_pid = status["gateway"]["pid"]
        .as_i64()
        .and_then(|p| i32::try_from(p).ok());
    let steps_first = steps(&status);
    assert!(!steps_first.is_empty(), "{status}");
    assert!(
        steps_first
            .iter()
            .any(|(name, _, skipped)| name == "config" && !skipped),
        "{status}"
    );
    assert!(
        steps_first.iter().all(|(_, state, _)| state == "Succeeded"),
        "{status}"
    );
    assert_eq!(status["pipelineDone"], true);
    assert_eq!(status["gateway"]["ready"], true);
    assert_eq!(status["gateway"]["live"], true);
    assert_eq!(status["versions"]["openclaw"], OPENCLAW_VERSION);
    assert_eq!(
        get(&client, &format!("{base}/startupz"))
            .await
            .map(|(c, _)| c),
        Some(200)
    );
    assert_eq!(
        get(&client, &format!("{base}/livez")).await.map(|(c, _)| c),
        Some(200)
    );

    // The seeded configuration kept the operator's keys, and the gateway answers itself.
    let config: Value = serde_json::from_str(&fs::read_to_string(
        dir.path().join("home/.openclaw/openclaw.json"),
    )?)?;
    assert_eq!(config["gateway"]["mode"], "local");
    let (code, health) = get(&client, &format!("http://127.0.0.1:{GATEWAY_PORT}/healthz"))
        .await
        .ok_or("gateway /healthz")?;
    assert_eq!((code, &health["ok"]), (200, &Value::Bool(true)));

    // The skill is installed, fingerprinted in /status, and the real gateway lists it.
    assert_eq!(status["skills"][0]["name"], "@e2e/weather", "{status}");
    assert!(
        status["skills"][0]["sha256"]
            .as_str()
            .is_some_and(|h| h.len() == 64),
        "{status}"
    );
    let listed = skills_listed(&tools, &dir.path().join("home"))?;
    assert!(
        listed
            .iter()
            .any(|s| s["name"] == "weather" && s["source"] == "openclaw-managed"),
        "the gateway does not list the managed skill: {listed:?}"
    );

    // The gateway got no-respawn, not the supervisor's control token; its own token comes
    // through the config's file SecretRef, never written into the config itself.
    let gateway = first.gateway_pid.ok_or("no gateway pid in /status")?;
    let env = environ(gateway)?;
    assert!(env.iter().any(|v| v == "OPENCLAW_NO_RESPAWN=1"), "{env:?}");
    assert!(
        !env.iter()
            .any(|v| v.starts_with("OPENCLAW_SUPERVISOR_TOKEN=")),
        "control token leaked: {env:?}"
    );
    assert!(
        !env.iter().any(|v| v.starts_with("OPENCLAW_GATEWAY_TOKEN=")),
        "{env:?}"
    );
    assert_eq!(config["gateway"]["auth"]["token"]["source"], "file");
    assert!(!config.to_string().contains(GATEWAY_TOKEN), "{config}");
    assert_eq!(invoke(GATEWAY_TOKEN), Some(200));
    assert_eq!(invoke("not-the-token"), Some(401));

    let exit = first.stop(Duration::from_secs(60))?;
    assert!(exit.success(), "exit {exit} on SIGTERM:\n{}", first.log());
    assert!(
        kill(Pid::from_raw(gateway), None).is_err(),
        "the gateway outlived the supervisor"
    );
    first.gateway_pid = None;

    // Second start, nothing changed: every step skipped, the gateway ready again.
    let started = Instant::now();
    let mut second = Supervisor::start(dir.path(), &tools, status_port, &clawhub, "second.log")?;
    let took = wait_ready(&client, &base, &mut second).await?;
    eprintln!("restart: /readyz 200 after {:.1}s", took.as_secs_f64());
    let (_, status) = get(&client, &format!("{base}/status"))
        .await
        .ok_or("no /status")?;
    second.gateway_pid = status["gateway"]["pid"]
        .as_i64()
        .and_then(|p| i32::try_from(p).ok());
    let steps_second = steps(&status);
    assert_eq!(
        steps_second.iter().map(|(n, _, _)| n).collect::<Vec<_>>(),
        steps_first.iter().map(|(n, _, _)| n).collect::<Vec<_>>()
    );
    assert!(
        steps_second
            .iter()
            .all(|(_, state, skipped)| state == "Succeeded" && *skipped),
        "{status}"
    );
    assert_eq!(
        status["recoveredFromUncleanStop"],
        Value::Null,
        "the first run stopped cleanly"
    );
    eprintln!("restart cycle took {:.1}s", started.elapsed().as_secs_f64());

    // Token rotation: the Secret volume swapped as the kubelet does; the running gateway takes
    // the new token, refuses the old one, and never stops listening.
    assert_eq!(invoke(GATEWAY_TOKEN), Some(200));
    let rotated_at = Instant::now();
    swap_secret(&dir.path().join("gateway-token"), "v2", ROTATED_TOKEN)?;
    let (mut attempts, mut refused) = (0_u32, 0_u32);
    let accepted_after = loop {
        attempts += 1;
        match invoke(ROTATED_TOKEN) {
            Some(200) => break rotated_at.elapsed(),
            Some(_) => {}
            None => refused += 1,
        }
        if rotated_at.elapsed() > Duration::from_secs(60) {
            return Err(format!(
                "the rotated token was not accepted within 60 s:\n{}",
                second.log()
            )
            .into());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    eprintln!(
        "token rotation: new token accepted {:.2}s after the Secret swap (supervisor poll {}s + gateway reload); {refused} of {attempts} requests refused",
        accepted_after.as_secs_f64(),
        openclaw_supervisor::pipeline::gateway_token::POLL.as_secs()
    );
    assert_eq!(
        refused, 0,
        "the gateway refused connections during the rotation"
    );
    assert_eq!(
        invoke(GATEWAY_TOKEN),
        Some(401),
        "the old token still works"
    );
    let (_, status) = get(&client, &format!("{base}/status"))
        .await
        .ok_or("no /status")?;
    assert_eq!(
        status["gateway"]["pid"]
            .as_i64()
            .and_then(|p| i32::try_from(p).ok()),
        second.gateway_pid,
        "the gateway restarted: {status}"
    );
    assert_eq!(status["gateway"]["restarts"], 0, "{status}");
    assert_eq!(status["gateway"]["tokenRotations"], 1, "{status}");
    let config = fs::read_to_string(dir.path().join("home/.openclaw/openclaw.json"))?;
    assert!(
        !config.contains(GATEWAY_TOKEN) && !config.contains(ROTATED_TOKEN),
        "{config}"
    );

    let exit = second.stop(Duration::from_secs(60))?;
    assert!(exit.success(), "exit {exit} on SIGTERM:\n{}", second.log());
    second.gateway_pid = None;
    Ok(())
}
