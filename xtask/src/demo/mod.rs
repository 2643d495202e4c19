//! `cargo xtask demo [--smoke]`: the quick start. Local control plane, the chart's operator,
//! the guide's `my-agent`, and its gateway on localhost:18789: the one in the pod on the real
//! node (`pod.rs`), or, on a control plane without it, the pod's supervisor run locally with
//! the plan the operator rendered (`local.rs`).
//!
//! `--smoke` checks the supervisor's `/readyz` and the gateway's `/healthz` JSON, tears
//! everything down and exits 0 or 1.

mod local;
mod pod;

use std::{
    fs,
    net::SocketAddr,
    path::Path,
    process::Command,
    thread::sleep,
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail};

use crate::{cluster, tools::repo_root};

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
    cluster::up(dir)?;
    if !cluster::has_real_node(dir) {
        // Without the real node the chart's pod is a KWOK stand-in and the operator a host
        // process; the release is installed all the same, as a user would.
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
    }

    println!("==> Secret openclaw-api-keys and the guide's my-agent.yaml");
    let key =
        std::env::var("ANTHROPIC_API_KEY").unwrap_or_else(|_| "sk-ant-demo-not-a-real-key".into());
    let _ = delete_if_present(dir, "secret", "openclaw-api-keys");
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
    wait("my-agent Running", Duration::from_secs(300), || {
        Ok(kubectl_get(dir, "openclawinstance", INSTANCE, "{.status.phase}")? == "Running")
    })?;

    if cluster::has_real_node(dir) {
        pod::serve(dir, args.smoke, started)
    } else {
        local::serve(dir, args, started)
    }
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

fn teardown(dir: &Path, owned: bool) {
    println!("==> tearing down");
    if owned {
        if let Err(error) = cluster::down(dir) {
            eprintln!("warning: stopping the control plane failed: {error:#}");
        }
        return;
    }
    let _ = delete_if_present(dir, "openclawinstance", INSTANCE);
    let _ = delete_if_present(dir, "secret", "openclaw-api-keys");
    // With the real node the release is the control plane's own operator: it stays.
    if !cluster::has_real_node(dir) {
        let _ = tool(
            dir,
            "helm",
            &["uninstall", RELEASE, "--namespace", RELEASE_NAMESPACE],
        );
    }
    let _ = fs::remove_dir_all(dir.join("demo"));
}

/// Deletes `kind/name` in the guide's namespace if it is there.
fn delete_if_present(dir: &Path, kind: &str, name: &str) -> Result<()> {
    cluster::kubectl_quiet(
        dir,
        &["delete", kind, name, "-n", NAMESPACE, "--ignore-not-found"],
    )
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

/// A plain HTTP/1.0 GET on loopback: status code and body.
pub fn http_get(addr: &str, path: &str) -> Result<(u16, String)> {
    let addr: SocketAddr = addr.parse()?;
    Ok(openclaw_testkit::raw_http::exchange(
        addr,
        &format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\nAccept: application/json\r\n\r\n"),
    )?)
}
