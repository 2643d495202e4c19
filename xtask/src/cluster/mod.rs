//! `cargo xtask cluster up|down|status|env`: the local control plane on loopback.

pub mod chart;
mod files;
mod operator;
mod pki;
mod procs;
pub mod real_node;

pub use files::namespace as namespace_manifest;

use std::{
    fs,
    path::{Path, PathBuf},
    process::Command,
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail};
use clap::Subcommand;

use crate::tools::{self, Tools, repo_root};
use procs::Daemon;

/// Ports of the control plane, all on 127.0.0.1 and away from the usual defaults.
pub const ETCD_CLIENT_PORT: u16 = 12379;
pub const ETCD_PEER_PORT: u16 = 12380;
pub const APISERVER_PORT: u16 = 16443;
pub const KCM_PORT: u16 = 20257;
pub const SCHEDULER_PORT: u16 = 20259;
pub const KWOK_PORT: u16 = 20247;

#[derive(Debug, Subcommand)]
pub enum Action {
    /// Build what is missing, start etcd, kube-apiserver, kube-controller-manager,
    /// kube-scheduler, the real node `node-0` (containerd, runc, kubelet, CNI bridge, kube-proxy,
    /// kube-router, local-path provisioner, image registry) and KWOK with two fake nodes (one with
    /// GPUs), install the CRDs, and write `.cluster/kubeconfig`.
    Up {
        /// Start only the control plane and the KWOK nodes, without the real node `node-0`
        /// (which needs root, see docs/real-node.md); the operator then runs as a host process.
        #[arg(long, env = "OPENCLAW_KWOK_ONLY")]
        kwok_only: bool,
    },
    /// Stop every process `up` started and remove `.cluster/`.
    Down,
    /// Say which control-plane processes are running.
    Status,
    /// Print shell exports (KUBECONFIG, PATH) for the running control plane.
    Env,
}

pub fn run(action: Action) -> Result<()> {
    let dir = state_dir()?;
    match action {
        Action::Up { kwok_only } => up_with(&dir, !kwok_only),
        Action::Down => down(&dir),
        Action::Status => status(&dir),
        Action::Env => {
            println!("export KUBECONFIG={}", dir.join("kubeconfig").display());
            println!("export PATH={}:$PATH", dir.join("bin").display());
            Ok(())
        }
    }
}

/// `.cluster/` at the repository root: certificates, data, logs, pid files, kubeconfig.
pub fn state_dir() -> Result<PathBuf> {
    Ok(repo_root()?.join(".cluster"))
}

const DAEMONS: [&str; 5] = [
    "etcd",
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kwok",
];

/// Marker file: the running control plane has the real node.
const REAL_NODE_MARKER: &str = "real-node";

/// Whether the control plane in `dir` was started with the real node.
pub fn has_real_node(dir: &Path) -> bool {
    dir.join(REAL_NODE_MARKER).is_file()
}

/// True when every daemon of the control plane runs and the apiserver is ready.
pub fn is_running(dir: &Path) -> bool {
    let node_daemons: &[&str] = if has_real_node(dir) {
        &real_node::DAEMONS
    } else {
        &[]
    };
    DAEMONS
        .iter()
        .chain(node_daemons)
        .all(|name| procs::alive(dir, name).is_some())
        && apiserver_ready(dir)
}

/// Brings the control plane up, with the real node unless `OPENCLAW_KWOK_ONLY` is set.
pub fn up(dir: &Path) -> Result<()> {
    let kwok_only = std::env::var("OPENCLAW_KWOK_ONLY")
        .is_ok_and(|v| !v.is_empty() && v != "0" && v != "false");
    up_with(dir, !kwok_only)
}

pub fn up_with(dir: &Path, real: bool) -> Result<()> {
    if is_running(dir) && has_real_node(dir) == real {
        install_crds(dir)?;
        start_operator(dir, real)?;
        println!(
            "==> local control plane already running; KUBECONFIG={}",
            dir.join("kubeconfig").display()
        );
        return Ok(());
    }
    if dir.exists() {
        println!("==> a partial or different control plane is there; stopping it first");
        down(dir)?;
    }
    let tools = tools::ensure_tools()?;
    let node_tools = if real {
        Some(real_node::tools::ensure()?)
    } else {
        None
    };
    let started = Instant::now();
    prepare_dirs(dir, &tools)?;
    if real {
        fs::write(dir.join(REAL_NODE_MARKER), "")?;
        println!(
            "==> network: bridge {} on {}",
            real_node::addr::BRIDGE,
            real_node::addr::NODE_IP
        );
        real_node::network::up()?;
    }
    println!("==> certificates");
    pki::generate(&dir.join("pki"))?;
    files::write_all(dir, &tools, real)?;

    let result = start_all(dir, &tools, node_tools.as_ref());
    if let Err(err) = result {
        eprintln!(
            "==> start-up failed; logs are in {}",
            dir.join("logs").display()
        );
        if real {
            let _ = real_node::stop(dir, &tools);
        }
        let _ = procs::stop_all(dir, &DAEMONS);
        return Err(err);
    }
    install_crds(dir)?;
    start_operator(dir, real)?;
    println!(
        "==> local control plane ready in {:.1}s\n    export KUBECONFIG={}\n    export PATH={}:$PATH",
        started.elapsed().as_secs_f64(),
        dir.join("kubeconfig").display(),
        dir.join("bin").display()
    );
    Ok(())
}

/// The operator: a host process next to KWOK, the chart's pod on the real node.
fn start_operator(dir: &Path, real: bool) -> Result<()> {
    if real {
        chart::install(dir)
    } else {
        operator::restart(dir)
    }
}

fn prepare_dirs(dir: &Path, tools: &Tools) -> Result<()> {
    if dir.exists() {
        fs::remove_dir_all(dir).with_context(|| format!("removing stale {}", dir.display()))?;
    }
    for sub in ["pki", "etcd", "logs", "pids", "bin"] {
        fs::create_dir_all(dir.join(sub))?;
    }
    for (name, path) in tools.binaries() {
        std::os::unix::fs::symlink(path, dir.join("bin").join(name))
            .with_context(|| format!("linking {name}"))?;
    }
    Ok(())
}

fn start_all(dir: &Path, tools: &Tools, node: Option<&real_node::tools::NodeTools>) -> Result<()> {
    use real_node::addr;
    let pki = dir.join("pki");
    let real = node.is_some();
    // With the real node the API server listens on the bridge, so that pods reach it through
    // the `kubernetes` Service; without it, on loopback only.
    let bind = if real { addr::NODE_IP } else { "127.0.0.1" };
    let kubeconfig = dir.join("kubeconfig");
    let p = |path: PathBuf| path.display().to_string();

    println!("==> etcd {}", tools::ETCD_VERSION);
    Daemon::new("etcd", &tools.etcd)
        .args([
            format!("--data-dir={}", p(dir.join("etcd"))),
            format!("--listen-client-urls=http://127.0.0.1:{ETCD_CLIENT_PORT}"),
            format!("--advertise-client-urls=http://127.0.0.1:{ETCD_CLIENT_PORT}"),
            format!("--listen-peer-urls=http://127.0.0.1:{ETCD_PEER_PORT}"),
            format!("--initial-advertise-peer-urls=http://127.0.0.1:{ETCD_PEER_PORT}"),
            format!("--initial-cluster=default=http://127.0.0.1:{ETCD_PEER_PORT}"),
            "--unsafe-no-fsync".into(),
            "--log-level=warn".into(),
        ])
        .spawn(dir)?;
    wait_for("etcd", dir, Duration::from_secs(30), || {
        procs::port_open(ETCD_CLIENT_PORT)
    })?;

    println!("==> kube-apiserver v{}", tools::K8S_VERSION);
    Daemon::new("kube-apiserver", &tools.kube_apiserver)
        .args([
            format!("--etcd-servers=http://127.0.0.1:{ETCD_CLIENT_PORT}"),
            format!("--bind-address={bind}"),
            format!("--advertise-address={bind}"),
            format!("--secure-port={APISERVER_PORT}"),
            format!("--cert-dir={}", p(pki.clone())),
            format!("--tls-cert-file={}", p(pki.join("apiserver.crt"))),
            format!("--tls-private-key-file={}", p(pki.join("apiserver.key"))),
            format!("--client-ca-file={}", p(pki.join("ca.crt"))),
            format!("--token-auth-file={}", p(pki.join("tokens.csv"))),
            "--authorization-mode=Node,RBAC".into(),
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local".into(),
            format!("--service-account-key-file={}", p(pki.join("sa.pub"))),
            format!(
                "--service-account-signing-key-file={}",
                p(pki.join("sa.key"))
            ),
            format!("--service-cluster-ip-range={}", addr::SERVICE_CIDR),
            "--allow-privileged=true".into(),
            format!(
                "--endpoint-reconciler-type={}",
                if real { "lease" } else { "none" }
            ),
            format!(
                "--kubelet-client-certificate={}",
                p(pki.join("apiserver-kubelet-client.crt"))
            ),
            format!(
                "--kubelet-client-key={}",
                p(pki.join("apiserver-kubelet-client.key"))
            ),
            "--kubelet-preferred-address-types=InternalIP".into(),
            format!(
                "--enable-admission-plugins={}",
                if real {
                    "PodNodeSelector"
                } else {
                    "NamespaceLifecycle"
                }
            ),
            "--enable-priority-and-fairness=false".into(),
            "--profiling=false".into(),
            "--shutdown-delay-duration=0s".into(),
            "--shutdown-watch-termination-grace-period=0s".into(),
            format!(
                "--admission-control-config-file={}",
                p(dir.join("admission.yaml"))
            ),
            "--v=1".into(),
        ])
        .spawn(dir)?;
    wait_for("kube-apiserver", dir, Duration::from_secs(90), || {
        apiserver_ready(dir)
    })?;

    println!("==> kube-controller-manager, kube-scheduler");
    Daemon::new("kube-controller-manager", &tools.kube_controller_manager)
        .args([
            format!("--kubeconfig={}", p(kubeconfig.clone())),
            "--bind-address=127.0.0.1".into(),
            format!("--secure-port={KCM_PORT}"),
            "--authorization-always-allow-paths=/healthz,/readyz,/livez,/metrics".into(),
            "--leader-elect=false".into(),
            format!("--root-ca-file={}", p(pki.join("ca.crt"))),
            format!(
                "--service-account-private-key-file={}",
                p(pki.join("sa.key"))
            ),
            "--use-service-account-credentials=false".into(),
            format!("--service-cluster-ip-range={}", addr::SERVICE_CIDR),
            "--controllers=*".into(),
            "--kube-api-qps=500".into(),
            "--kube-api-burst=1000".into(),
            "--concurrent-statefulset-syncs=20".into(),
        ])
        .spawn(dir)?;
    Daemon::new("kube-scheduler", &tools.kube_scheduler)
        .args([
            format!("--kubeconfig={}", p(kubeconfig.clone())),
            "--bind-address=127.0.0.1".into(),
            format!("--secure-port={SCHEDULER_PORT}"),
            "--authorization-always-allow-paths=/healthz,/readyz,/livez,/metrics".into(),
            "--leader-elect=false".into(),
            "--kube-api-qps=500".into(),
            "--kube-api-burst=1000".into(),
        ])
        .spawn(dir)?;

    println!(
        "==> KWOK v{} with nodes {} and {} (2 GPUs)",
        tools::KWOK_VERSION,
        files::NODE_NAME,
        files::GPU_NODE_NAME
    );
    Daemon::new("kwok", &tools.kwok)
        .args([
            format!("--kubeconfig={}", p(kubeconfig.clone())),
            format!("--config={}", p(dir.join("kwok.yaml"))),
            // Only the fake nodes: node-0 belongs to its kubelet.
            "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake".into(),
            format!("--server-address=127.0.0.1:{KWOK_PORT}"),
            "--node-lease-duration-seconds=40".into(),
            format!("--cidr={}", addr::KWOK_POD_CIDR),
            format!("--node-ip={}", addr::KWOK_NODE_IP),
        ])
        .spawn(dir)?;
    if let Some(node) = node {
        real_node::start(dir, tools, node)?;
    }
    kubectl(dir, &["apply", "-f", &p(dir.join("node.yaml"))])?;
    kubectl(dir, &["apply", "-f", &p(dir.join("storageclass.yaml"))])?;
    wait_for("fake nodes Ready", dir, Duration::from_secs(60), || {
        [files::NODE_NAME, files::GPU_NODE_NAME].iter().all(|node| {
            let jsonpath = "jsonpath={.status.conditions[?(@.type==\"Ready\")].status}";
            kubectl_out(dir, &["get", "node", node, "-o", jsonpath])
                .is_ok_and(|s| s.trim() == "True")
        })
    })?;
    wait_for(
        "kube-controller-manager (default ServiceAccount)",
        dir,
        Duration::from_secs(60),
        || {
            kubectl_out(
                dir,
                &[
                    "get",
                    "serviceaccount",
                    "default",
                    "-n",
                    "default",
                    "-o",
                    "name",
                ],
            )
            .is_ok()
        },
    )?;

    // The user guide's examples live in namespace `openclaw`.
    kubectl(dir, &["apply", "-f", &p(dir.join("namespace.yaml"))])?;
    Ok(())
}

/// Installs (or updates) the project's CRDs from `crds/` and waits until they are served.
pub fn install_crds(dir: &Path) -> Result<()> {
    println!("==> CRDs from {}", openclaw_api::crd::CRD_FILE);
    let crds = repo_root()?
        .join(openclaw_api::crd::CRD_FILE)
        .display()
        .to_string();
    kubectl_quiet(
        dir,
        &["apply", "--server-side", "--force-conflicts", "-f", &crds],
    )
    .context("the control plane is running, but the API server refused the CRDs")?;
    wait_for(
        "the CRDs to be established",
        dir,
        Duration::from_secs(60),
        || {
            let jsonpath = "jsonpath={range .items[*]}{.status.conditions[?(@.type==\"Established\")].status}{\"\\n\"}{end}";
            let names = [
                "openclawinstances.openclaw.rocks",
                "openclawclusterdefaults.openclaw.rocks",
            ];
            kubectl_out(dir, &["get", "crd", names[0], names[1], "-o", jsonpath])
                .is_ok_and(|out| out.lines().filter(|l| *l == "True").count() == names.len())
        },
    )
}

fn wait_for(what: &str, dir: &Path, timeout: Duration, ready: impl FnMut() -> bool) -> Result<()> {
    wait_until(what, dir, timeout, &DAEMONS, ready)
}

/// Polls `ready` until it holds, failing at `timeout` or as soon as one of `daemons` exits.
pub fn wait_until(
    what: &str,
    dir: &Path,
    timeout: Duration,
    daemons: &[&str],
    mut ready: impl FnMut() -> bool,
) -> Result<()> {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if ready() {
            return Ok(());
        }
        if let Some(name) = daemons.iter().find(|n| procs::exited(dir, n)) {
            bail!(
                "{name} exited during start-up; see {}",
                dir.join("logs").join(format!("{name}.log")).display()
            );
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    bail!(
        "timed out after {}s waiting for {what}; logs are in {}",
        timeout.as_secs(),
        dir.join("logs").display()
    )
}

fn apiserver_ready(dir: &Path) -> bool {
    kubectl_out(dir, &["get", "--raw", "/readyz"]).is_ok_and(|s| s.trim() == "ok")
}

/// Runs kubectl against the local control plane, failing with its stderr.
pub fn kubectl(dir: &Path, args: &[&str]) -> Result<()> {
    kubectl_out(dir, args).map(|out| print!("{out}"))
}

/// Runs kubectl and returns its stdout.
pub fn kubectl_output(dir: &Path, args: &[&str]) -> Result<String> {
    kubectl_out(dir, args)
}

/// Runs kubectl, discarding its stdout.
pub fn kubectl_quiet(dir: &Path, args: &[&str]) -> Result<()> {
    kubectl_out(dir, args).map(|_| ())
}

/// `kubectl apply -f -` with `manifest` (YAML or JSON) on its standard input.
pub fn kubectl_apply(dir: &Path, manifest: &str) -> Result<()> {
    kubectl_with_input(dir, &["apply", "-f", "-"], Some(manifest)).map(|_| ())
}

fn kubectl_out(dir: &Path, args: &[&str]) -> Result<String> {
    kubectl_with_input(dir, args, None)
}

fn kubectl_with_input(dir: &Path, args: &[&str], input: Option<&str>) -> Result<String> {
    use std::io::Write;
    let mut child = Command::new(dir.join("bin").join("kubectl"))
        .arg(format!("--kubeconfig={}", dir.join("kubeconfig").display()))
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .context("running kubectl")?;
    let mut stdin = child.stdin.take().context("kubectl's stdin")?;
    stdin.write_all(input.unwrap_or_default().as_bytes())?;
    drop(stdin);
    let out = child.wait_with_output().context("running kubectl")?;
    if !out.status.success() {
        bail!(
            "kubectl {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

pub fn down(dir: &Path) -> Result<()> {
    if !dir.exists() {
        if real_node::network::link_exists(real_node::addr::BRIDGE) {
            // A run killed before it wrote `.cluster/`: only its network can be left.
            real_node::network::down()?;
        }
        println!("==> no local control plane");
        return Ok(());
    }
    procs::stop_all(dir, &[operator::NAME])?;
    if has_real_node(dir) || real_node::network::link_exists(real_node::addr::BRIDGE) {
        real_node::stop(dir, &Tools::locate(&tools::cache_dir()?))?;
    }
    let mut order = DAEMONS;
    order.reverse();
    procs::stop_all(dir, &order)?;
    fs::remove_dir_all(dir).with_context(|| format!("removing {}", dir.display()))?;
    println!(
        "==> local control plane stopped and {} removed",
        dir.display()
    );
    Ok(())
}

fn status(dir: &Path) -> Result<()> {
    for name in DAEMONS
        .iter()
        .chain(real_node::DAEMONS.iter())
        .chain([&operator::NAME])
    {
        match procs::alive(dir, name) {
            Some(pid) => println!("{name:<24} running (pid {pid})"),
            None => println!("{name:<24} stopped"),
        }
    }
    println!(
        "{:<24} {}",
        "apiserver /readyz",
        if apiserver_ready(dir) {
            "ok"
        } else {
            "not ready"
        }
    );
    Ok(())
}
