//! `cargo xtask bench node`: start-up on the real node, from pod creation to Ready.
//!
//! - **cold start**: a new instance (the guide's `my-agent` with an empty volume) — init
//!   container, the supervisor's pipeline, the gateway's start, the kubelet's probes;
//! - **warm start**: its pod deleted — the StatefulSet's new pod, every cached step skipped;
//! - **baseline**: the bare gateway, `node /app/openclaw.mjs gateway` in a plain pod of the same
//!   image on the same node, with the same probe timings on the gateway's own endpoints.
//!
//! Each is run `--runs` times and the median is reported, with the ratios DESIGN.md §6 names
//! and where the cold start's time goes.

use std::{
    path::Path,
    thread::sleep,
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

use crate::cluster::{self, chart};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Runs of each measurement (the median is reported).
    #[arg(long, default_value_t = 3)]
    runs: usize,
}

const NAMESPACE: &str = "bench-node";
const OPERATOR_NAMESPACE: &str = "bench-node-operator";
const TIMEOUT: Duration = Duration::from_secs(300);

pub fn run(args: &Args) -> Result<()> {
    let dir = cluster::state_dir()?;
    let owned = !cluster::is_running(&dir);
    cluster::up(&dir)?;
    if !cluster::has_real_node(&dir) {
        bail!(
            "bench node needs the real node: the control plane runs without it \
             (cargo xtask cluster down && cargo xtask cluster up, as root)"
        );
    }
    let result = bench(&dir, args);
    operator().uninstall(&dir);
    for ns in [NAMESPACE, OPERATOR_NAMESPACE] {
        let _ = cluster::kubectl_quiet(
            &dir,
            &[
                "delete",
                "namespace",
                ns,
                "--wait=false",
                "--ignore-not-found",
            ],
        );
    }
    if owned {
        cluster::down(&dir)?;
    }
    result
}

/// The benchmark's own operator release, watching only its namespace.
fn operator() -> chart::Release<'static> {
    chart::Release {
        name: "bench-node",
        namespace: OPERATOR_NAMESPACE,
        values: vec![format!("watchNamespace={NAMESPACE}")],
    }
}

fn bench(dir: &Path, args: &Args) -> Result<()> {
    let images = chart::ChartImages::build_and_push()?;
    operator().install(dir, &images)?;
    cluster::kubectl_apply(dir, &cluster::namespace_manifest(NAMESPACE, true))?;
    cluster::kubectl_apply(
        dir,
        &json!({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "openclaw-api-keys", "namespace": NAMESPACE},
            "stringData": {"ANTHROPIC_API_KEY": "sk-ant-bench-not-a-real-key"}
        })
        .to_string(),
    )?;

    // One instance first, so that every image is on the node before anything is timed.
    let (warm_up, _) = cold_start(dir, "warm-up")?;
    println!("warm-up (image pulls included): {warm_up:.1} s");
    let probes = probes_of(dir, "warm-up")?;
    delete_instance(dir, "warm-up")?;

    let mut bare = Vec::new();
    let mut cold = Vec::new();
    let mut warm = Vec::new();
    let mut rss = Vec::new();
    let mut phases = Vec::new();
    for run in 0..args.runs {
        let took = bare_gateway(dir, &format!("bare-{run}"), &probes)?;
        println!("run {run}: bare gateway pod → Ready {took:.1} s");
        bare.push(took);
        let name = format!("agent-{run}");
        let (took, pod) = cold_start(dir, &name)?;
        println!("run {run}: cold start (empty volume) → Ready {took:.1} s");
        cold.push(took);
        phases.push(where_the_time_goes(dir, &name, &pod)?);
        let took = warm_start(dir, &name)?;
        println!("run {run}: warm start (pod deleted) → Ready {took:.1} s");
        warm.push(took);
        rss.push(supervisor_rss_mib(dir, &format!("{name}-0"))?);
        delete_instance(dir, &name)?;
    }
    let (bare, cold, warm, rss) = (median(bare), median(cold), median(warm), median(rss));
    println!("\nnode start-up, median of {} runs:", args.runs);
    println!("bare_gateway_seconds: {bare:.2}");
    println!("cold_start_seconds: {cold:.2}");
    println!("warm_start_seconds: {warm:.2}");
    println!("cold_start_ratio: {:.2}", cold / bare);
    println!("warm_start_ratio: {:.2}", warm / bare);
    println!("supervisor_rss_mib_in_pod: {rss:.1}");
    println!("images: {}", images.profile_note());
    println!("\nwhere the cold start's time goes (each run):");
    for (run, line) in phases.iter().enumerate() {
        println!("  run {run}: {line}");
    }
    Ok(())
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(f64::NAN)
}

/// Applies the guide's `my-agent` as `name`; seconds from its pod's creation to Ready.
fn cold_start(dir: &Path, name: &str) -> Result<(f64, Value)> {
    let manifest = std::fs::read_to_string(
        crate::tools::repo_root()?.join("tests/fixtures/seed/01-my-agent.yaml"),
    )?
    .replace("name: my-agent", &format!("name: {name}"))
    .replace("namespace: openclaw", &format!("namespace: {NAMESPACE}"));
    let pod = format!("{name}-0");
    let watch = PodWatch::start(dir, &pod)?;
    cluster::kubectl_apply(dir, &manifest)?;
    let took = watch.created_to_ready(None)?;
    Ok((took, get(dir, "pod", &pod)?))
}

/// Deletes the instance's pod; seconds from the new pod's creation to Ready.
fn warm_start(dir: &Path, name: &str) -> Result<f64> {
    let pod = format!("{name}-0");
    let old = get(dir, "pod", &pod)?["metadata"]["uid"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let watch = PodWatch::start(dir, &pod)?;
    cluster::kubectl_quiet(
        dir,
        &["delete", "pod", "-n", NAMESPACE, &pod, "--wait=false"],
    )?;
    watch.created_to_ready(Some(&old))
}

/// The bare gateway in a plain pod: same image, same restrictions, the operator's probe
/// timings on the gateway's own `/startupz`, `/readyz` and `/healthz`.
fn bare_gateway(dir: &Path, name: &str, probes: &Value) -> Result<f64> {
    let probe = |kind: &str, path: &str| {
        let mut probe = probes[kind].clone();
        probe["httpGet"] = json!({"path": path, "port": 18789});
        probe
    };
    let pod = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {
            "securityContext": {
                "runAsNonRoot": true, "runAsUser": 1000, "runAsGroup": 1000, "fsGroup": 1000,
                "seccompProfile": {"type": "RuntimeDefault"}
            },
            "terminationGracePeriodSeconds": 0,
            "containers": [{
                "name": "gateway",
                "image": "ghcr.io/openclaw/openclaw:latest",
                "command": ["node", "/app/openclaw.mjs", "gateway", "--allow-unconfigured",
                            "--bind", "lan", "--port", "18789"],
                "env": [
                    {"name": "HOME", "value": "/home/node"},
                    {"name": "OPENCLAW_GATEWAY_TOKEN", "value": "bench-token"},
                    {"name": "ANTHROPIC_API_KEY", "value": "sk-ant-bench-not-a-real-key"}
                ],
                "startupProbe": probe("startupProbe", "/startupz"),
                "readinessProbe": probe("readinessProbe", "/readyz"),
                "livenessProbe": probe("livenessProbe", "/healthz"),
                "securityContext": {
                    "allowPrivilegeEscalation": false, "readOnlyRootFilesystem": true,
                    "capabilities": {"drop": ["ALL"]}
                },
                "volumeMounts": [
                    {"name": "home", "mountPath": "/home/node"},
                    {"name": "tmp", "mountPath": "/tmp"}
                ]
            }],
            "volumes": [{"name": "home", "emptyDir": {}}, {"name": "tmp", "emptyDir": {}}]
        }
    });
    let watch = PodWatch::start(dir, name)?;
    cluster::kubectl_apply(dir, &pod.to_string())?;
    let took = watch.created_to_ready(None)?;
    cluster::kubectl_quiet(
        dir,
        &["delete", "pod", "-n", NAMESPACE, name, "--wait=true"],
    )?;
    Ok(took)
}

/// The probes the operator gave the instance's container.
fn probes_of(dir: &Path, name: &str) -> Result<Value> {
    let sts = get(dir, "statefulset", name)?;
    let container = sts["spec"]["template"]["spec"]["containers"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["name"] == "openclaw"))
        .context("the StatefulSet has no openclaw container")?;
    Ok(json!({
        "startupProbe": container["startupProbe"],
        "readinessProbe": container["readinessProbe"],
        "livenessProbe": container["livenessProbe"],
    }))
}

/// Init container, the supervisor's steps, and the rest (gateway start and probes), from the
/// pod's and the instance's status.
fn where_the_time_goes(dir: &Path, name: &str, pod: &Value) -> Result<String> {
    let stamp = |v: &Value| v.as_str().and_then(parse_rfc3339);
    let created = stamp(&pod["metadata"]["creationTimestamp"]);
    let init = pod["status"]["initContainerStatuses"][0]["state"]["terminated"].clone();
    let (init_started, init_finished) = (stamp(&init["startedAt"]), stamp(&init["finishedAt"]));
    let ready = pod["status"]["conditions"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["type"] == "Ready"))
        .and_then(|c| stamp(&c["lastTransitionTime"]));
    let instance = get(dir, "openclawinstance", name)?;
    let steps: Vec<String> = instance["status"]["supervisor"]["steps"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| {
            format!(
                "{} {} ms{}",
                s["name"].as_str().unwrap_or("?"),
                s["durationMs"].as_i64().unwrap_or_default(),
                if s["skipped"] == true {
                    " (skipped)"
                } else {
                    ""
                }
            )
        })
        .collect();
    let span = |a: Option<i64>, b: Option<i64>| {
        a.zip(b)
            .map_or("?".to_owned(), |(a, b)| format!("{} s", b - a))
    };
    Ok(format!(
        "scheduled+sandbox+pull {}, init container {}, supervisor steps [{}], gateway start and probes {} (API timestamps, 1 s resolution)",
        span(created, init_started),
        span(init_started, init_finished),
        steps.join(", "),
        span(init_finished, ready)
    ))
}

/// Seconds since the epoch of an RFC 3339 timestamp (`2026-12-04T05:39:57Z`).
fn parse_rfc3339(text: &str) -> Option<i64> {
    text.parse::<jiff::Timestamp>().ok().map(|t| t.as_second())
}

/// VmRSS of the supervisor (PID 1 of the `openclaw` container), in MiB.
fn supervisor_rss_mib(dir: &Path, pod: &str) -> Result<f64> {
    let status = cluster::kubectl_output(
        dir,
        &[
            "exec",
            "-n",
            NAMESPACE,
            pod,
            "-c",
            "openclaw",
            "--",
            "cat",
            "/proc/1/status",
        ],
    )?;
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .context("no VmRSS in /proc/1/status")?;
    Ok(kib / 1024.0)
}

fn delete_instance(dir: &Path, name: &str) -> Result<()> {
    cluster::kubectl_quiet(
        dir,
        &[
            "delete",
            "openclawinstance",
            "-n",
            NAMESPACE,
            name,
            "--wait=true",
            "--timeout=120s",
        ],
    )?;
    let pod = format!("{name}-0");
    wait("the pod to go", || Ok(get(dir, "pod", &pod).is_err()))?;
    Ok(())
}

/// `kubectl get pods --watch` on one pod name, started before the action it times: each
/// event (uid, Ready) stamped as it arrives, without polling the API server.
struct PodWatch {
    child: std::process::Child,
    events: std::sync::mpsc::Receiver<(Instant, String, bool)>,
}

impl PodWatch {
    fn start(dir: &Path, pod: &str) -> Result<Self> {
        use std::io::BufRead;
        let mut child = std::process::Command::new(dir.join("bin/kubectl"))
            .arg(format!("--kubeconfig={}", dir.join("kubeconfig").display()))
            .args(["get", "pods", "-n", NAMESPACE, "--watch"])
            .arg(format!("--field-selector=metadata.name={pod}"))
            .arg(
                "-o=jsonpath={.metadata.uid} {.status.conditions[?(@.type==\"Ready\")].status}{\"\\n\"}",
            )
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .context("running kubectl get --watch")?;
        let stdout = child.stdout.take().context("kubectl's stdout")?;
        let (send, events) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
            {
                let mut parts = line.split_whitespace();
                let uid = parts.next().unwrap_or_default().to_owned();
                let ready = parts.next() == Some("True");
                if send.send((Instant::now(), uid, ready)).is_err() {
                    break;
                }
            }
        });
        // The watch lists the pod's current state first; give it a moment to be established.
        sleep(Duration::from_millis(300));
        Ok(Self { child, events })
    }

    /// Seconds from the first event of a pod whose uid is not `old` to that pod's Ready.
    fn created_to_ready(self, old: Option<&str>) -> Result<f64> {
        let deadline = Instant::now() + TIMEOUT;
        let mut created: Option<(Instant, String)> = None;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let (at, uid, ready) = self
                .events
                .recv_timeout(left)
                .context("timed out waiting for the pod to be Ready")?;
            if uid.is_empty() || Some(uid.as_str()) == old {
                continue;
            }
            let (since, current) = created.get_or_insert_with(|| (at, uid.clone()));
            if *current == uid && ready {
                return Ok(at.duration_since(*since).as_secs_f64());
            }
        }
    }
}

impl Drop for PodWatch {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn wait(what: &str, mut done: impl FnMut() -> Result<bool>) -> Result<()> {
    let deadline = Instant::now() + TIMEOUT;
    while !done().unwrap_or(false) {
        if Instant::now() > deadline {
            bail!("timed out after {}s waiting for {what}", TIMEOUT.as_secs());
        }
        sleep(Duration::from_millis(250));
    }
    Ok(())
}

fn get(dir: &Path, kind: &str, name: &str) -> Result<Value> {
    let out = cluster::kubectl_output(dir, &["get", kind, name, "-n", NAMESPACE, "-o", "json"])?;
    Ok(serde_json::from_str(&out)?)
}
