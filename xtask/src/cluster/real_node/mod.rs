//! The real node `node-0` of the local control plane: containerd and runc under a real kubelet,
//! a CNI bridge, kube-proxy, kube-router's NetworkPolicy firewall, the local-path provisioner and
//! a local image registry, all on this machine and on the 198.18.0.0/15 test range.
//!
//! Start order: [`network::up`] before the API server (which listens on the bridge address, so
//! pods reach it through the `kubernetes` Service), then [`start`] once the API server is ready.
//! [`stop`] undoes everything, also after a run that was killed half-way.

pub mod addr;
mod cleanup;
pub mod config;
pub mod network;
mod pause;
mod storage;
pub mod tools;

use std::{fs, path::Path, process::Command, time::Duration};

use anyhow::{Context, Result, bail};

use super::procs::{self, Daemon};
use crate::tools::Tools;
use addr::{NODE_IP, NODE_NAME, REGISTRY_PORT, registry_host};
use config::NodePaths;
use tools::NodeTools;

/// The node's daemons, in start order (stopped in reverse).
pub const DAEMONS: [&str; 6] = [
    "docker-registry",
    "containerd",
    "kubelet",
    "kube-proxy",
    "kube-router",
    "local-path-provisioner",
];

/// Starts the registry, containerd, the kubelet, kube-proxy, kube-router and the provisioner,
/// and waits until `node-0` is Ready. The API server must already serve on the bridge.
pub fn start(dir: &Path, cp: &Tools, node: &NodeTools) -> Result<()> {
    let paths = NodePaths::new(dir);
    write_files(dir, &paths, node)?;

    println!("==> image registry on {NODE_IP}:{REGISTRY_PORT}");
    Daemon::new("docker-registry", Path::new("/usr/bin/docker-registry"))
        .args([
            "serve".into(),
            paths.registry_config().display().to_string(),
        ])
        .spawn(dir)?;
    wait_for(dir, "the registry", Duration::from_secs(20), || {
        std::net::TcpStream::connect((NODE_IP, REGISTRY_PORT)).is_ok()
    })?;
    pause::publish(dir)?;

    println!(
        "==> containerd v{}, runc v{}",
        tools::CONTAINERD_VERSION,
        tools::RUNC_VERSION
    );
    Daemon::new("containerd", &node.containerd)
        .args([
            format!("--config={}", paths.containerd_config().display()),
            "--log-level=warn".into(),
        ])
        .env("PATH", system_path(node))
        .spawn(dir)?;
    wait_for(dir, "containerd", Duration::from_secs(30), || {
        crictl(&paths, node, &["info"]).is_ok()
    })?;

    println!("==> kubelet v{} on {NODE_NAME}", crate::tools::K8S_VERSION);
    super::kubectl_quiet(
        dir,
        &[
            "apply",
            "-f",
            &dir.join("node").join("node.yaml").display().to_string(),
        ],
    )?;
    Daemon::new("kubelet", &cp.kubelet)
        .args([
            format!("--config={}", paths.kubelet_config().display()),
            format!("--kubeconfig={}", paths.kubelet_kubeconfig().display()),
            format!("--root-dir={}", paths.kubelet_root().display()),
            format!("--hostname-override={NODE_NAME}"),
            format!("--node-ip={NODE_IP}"),
            "--v=1".into(),
        ])
        .env("PATH", system_path(node))
        .spawn(dir)?;

    println!(
        "==> kube-proxy (iptables), kube-router v{} (NetworkPolicy)",
        tools::KUBE_ROUTER_VERSION
    );
    Daemon::new("kube-proxy", &cp.kube_proxy)
        .args([
            format!("--config={}", paths.kube_proxy_config().display()),
            "--v=1".into(),
        ])
        .env("PATH", system_path(node))
        .spawn(dir)?;

    wait_for(dir, "node-0 Ready", Duration::from_secs(120), || {
        let jsonpath = "jsonpath={.status.conditions[?(@.type==\"Ready\")].status}";
        super::kubectl_output(dir, &["get", "node", NODE_NAME, "-o", jsonpath])
            .is_ok_and(|s| s.trim() == "True")
    })?;

    // kube-router reads the node's address from its status, which the kubelet writes once
    // registered.
    Daemon::new("kube-router", &node.kube_router)
        .args([
            format!("--kubeconfig={}", dir.join("kubeconfig").display()),
            format!("--hostname-override={NODE_NAME}"),
            "--run-firewall=true".into(),
            "--run-router=false".into(),
            "--run-service-proxy=false".into(),
            "--enable-cni=false".into(),
            "--enable-pod-egress=false".into(),
            "--enable-ipv6=false".into(),
            format!("--service-cluster-ip-range={}", addr::SERVICE_CIDR),
            "--health-port=0".into(),
            "--metrics-port=0".into(),
            "--iptables-sync-period=30s".into(),
            "--v=1".into(),
        ])
        .env("PATH", system_path(node))
        .spawn(dir)?;
    storage::start(dir, &paths, node)?;
    Ok(())
}

fn write_files(dir: &Path, paths: &NodePaths, node: &NodeTools) -> Result<()> {
    let pki = dir.join("pki");
    for sub in [
        paths.root.clone(),
        paths.cni_conf_dir(),
        paths.cni_state(),
        paths.kubelet_root(),
        paths.registry_storage(),
        paths.volumes(),
        paths.pod_logs(),
        paths.root.join("local-path"),
    ] {
        fs::create_dir_all(&sub).with_context(|| format!("creating {}", sub.display()))?;
    }
    fs::write(
        paths.containerd_config(),
        config::containerd_toml(paths, &node.runc, &node.cni_bin),
    )?;
    for host in config::MIRRORED_REGISTRIES
        .iter()
        .map(|h| h.to_string())
        .chain([registry_host()])
    {
        let hosts = paths.registry_hosts().join(host);
        fs::create_dir_all(&hosts)?;
        fs::write(hosts.join("hosts.toml"), config::registry_hosts_toml())?;
    }
    fs::write(
        paths.cni_conf_dir().join("10-openclaw-dev.conflist"),
        config::cni_conflist(paths),
    )?;
    fs::write(paths.kubelet_config(), config::kubelet_yaml(paths, &pki))?;
    fs::write(
        paths.kubelet_kubeconfig(),
        super::files::node_kubeconfig(dir),
    )?;
    fs::write(paths.resolv_conf(), config::RESOLV_CONF)?;
    fs::write(
        paths.kube_proxy_config(),
        config::kube_proxy_yaml(&dir.join("kubeconfig")),
    )?;
    fs::write(paths.registry_config(), config::registry_yaml(paths))?;
    fs::write(paths.root.join("node.yaml"), config::node_yaml())?;
    Ok(())
}

/// PATH for the node's daemons: the shim next to containerd, runc, then the system's programs
/// (iptables, ipset, mount).
fn system_path(node: &NodeTools) -> String {
    format!(
        "{}:{}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        node.containerd_dir.display(),
        node.runc
            .parent()
            .map(|p| p.display().to_string())
            .unwrap_or_default()
    )
}

/// Runs crictl against the node's containerd.
pub fn crictl(paths: &NodePaths, node: &NodeTools, args: &[&str]) -> Result<String> {
    let out = Command::new(&node.crictl)
        .arg(format!(
            "--runtime-endpoint=unix://{}",
            paths.containerd_socket().display()
        ))
        .arg(format!(
            "--image-endpoint=unix://{}",
            paths.containerd_socket().display()
        ))
        .arg("--timeout=20s")
        .args(args)
        .output()
        .context("running crictl")?;
    if !out.status.success() {
        bail!(
            "crictl {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Stops the node and removes every trace of it: pods (through the runtime while it still runs),
/// the daemons, leftover container processes, mounts, cgroups, iptables/ipset rules of kube-proxy
/// and kube-router, the bridge and the guard rules.
pub fn stop(dir: &Path, cp: &Tools) -> Result<()> {
    let paths = NodePaths::new(dir);
    let node = NodeTools::locate(&crate::tools::cache_dir()?);
    // The kubelet first, so that it does not restart what the runtime removes next.
    procs::stop_all(
        dir,
        &[
            "local-path-provisioner",
            "kube-router",
            "kube-proxy",
            "kubelet",
        ],
    )?;
    if procs::alive(dir, "containerd").is_some() {
        println!("==> removing the node's pods");
        let _ = crictl(&paths, &node, &["rmp", "--all", "--force"]);
    }
    procs::stop_all(dir, &["containerd", "docker-registry"])?;
    cleanup::kill_pod_processes()?;
    cleanup::unmount_under(&paths.root)?;
    cleanup::remove_log_links(&paths.pod_logs());
    if cp.kube_proxy.is_file() {
        let _ = Command::new(&cp.kube_proxy)
            .arg("--cleanup")
            .env("PATH", system_path(&node))
            .output();
    }
    if node.kube_router.is_file() {
        let _ = Command::new(&node.kube_router)
            .arg("--cleanup-config")
            .env("PATH", system_path(&node))
            .output();
    }
    cleanup::remove_kube_iptables();
    network::down()?;
    let left = cleanup::mounts_under(&paths.root);
    if !left.is_empty() {
        bail!(
            "could not unmount {} (still busy): {}",
            left.len(),
            left.iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    Ok(())
}

fn wait_for(dir: &Path, what: &str, timeout: Duration, ready: impl FnMut() -> bool) -> Result<()> {
    super::wait_until(what, dir, timeout, &DAEMONS, ready)
}
