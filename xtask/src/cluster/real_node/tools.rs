//! The real node's binaries (built from the Go module proxy, cached by version) and the system
//! programs it needs, each missing one reported in one line.

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{Context, Result, bail};

use crate::tools::{cache_dir, repo_root};

pub const CONTAINERD_VERSION: &str = "2.4.2";
pub const RUNC_VERSION: &str = "1.5.3";
pub const CNI_PLUGINS_VERSION: &str = "1.10.0";
/// kube-router's firewall alone enforces NetworkPolicy (iptables + ipset). The SIG Network
/// reference implementation, kube-network-policies, needs the nftables `queue` expression, which
/// this kind of machine's kernel lacks (CONFIG_NFT_QUEUE unset): see docs/real-node.md.
pub const KUBE_ROUTER_VERSION: &str = "2.1.0";
pub const LOCAL_PATH_VERSION: &str = "0.0.30";
pub const CRICTL_VERSION: &str = "1.37.0";

/// System programs the node runs or calls, with the Debian package that brings each.
const SYSTEM_PROGRAMS: [(&str, &str); 8] = [
    ("ip", "iproute2"),
    ("nft", "nftables"),
    ("iptables", "iptables"),
    ("ipset", "ipset"),
    ("mount", "mount"),
    ("docker-registry", "docker-registry"),
    ("gcc", "gcc (and libc6-dev, for the static pause binary)"),
    ("pkg-config", "pkg-config"),
];

#[derive(Debug, Clone)]
pub struct NodeTools {
    pub containerd: PathBuf,
    pub containerd_dir: PathBuf,
    pub runc: PathBuf,
    pub cni_bin: PathBuf,
    pub kube_router: PathBuf,
    pub local_path: PathBuf,
    pub crictl: PathBuf,
}

impl NodeTools {
    pub fn locate(cache: &Path) -> Self {
        let containerd_dir = cache.join(format!("containerd-v{CONTAINERD_VERSION}"));
        Self {
            containerd: containerd_dir.join("containerd"),
            containerd_dir,
            runc: cache.join(format!("runc-v{RUNC_VERSION}")).join("runc"),
            cni_bin: cache.join(format!("cni-plugins-v{CNI_PLUGINS_VERSION}")),
            kube_router: cache
                .join(format!("kube-router-v{KUBE_ROUTER_VERSION}"))
                .join("kube-router"),
            local_path: cache
                .join(format!("local-path-provisioner-v{LOCAL_PATH_VERSION}"))
                .join("local-path-provisioner"),
            crictl: cache
                .join(format!("crictl-v{CRICTL_VERSION}"))
                .join("crictl"),
        }
    }

    fn all_present(&self) -> bool {
        [
            self.containerd.clone(),
            self.containerd_dir.join("containerd-shim-runc-v2"),
            self.runc.clone(),
            self.cni_bin.join("bridge"),
            self.cni_bin.join("host-local"),
            self.cni_bin.join("loopback"),
            self.cni_bin.join("portmap"),
            self.kube_router.clone(),
            self.local_path.clone(),
            self.crictl.clone(),
        ]
        .iter()
        .all(|p| p.is_file())
    }
}

/// Fails with one line naming every missing system program and its Debian package, or when not
/// running as root (a real node mounts, creates network interfaces and cgroups).
pub fn check_system() -> Result<()> {
    if !nix::unistd::geteuid().is_root() {
        bail!(
            "the real node needs root (it mounts, creates a bridge and cgroups); run as root, or \
             start the control plane with KWOK nodes only: cargo xtask cluster up --kwok-only \
             (OPENCLAW_KWOK_ONLY=1 for cargo xtask test)"
        );
    }
    let missing: Vec<String> = SYSTEM_PROGRAMS
        .iter()
        .filter(|(bin, _)| !on_path(bin))
        .map(|(bin, pkg)| format!("{bin} (apt-get install {pkg})"))
        .collect();
    if !missing.is_empty() {
        bail!(
            "missing prerequisite for the real node: {}",
            missing.join("; ")
        );
    }
    Ok(())
}

fn on_path(bin: &str) -> bool {
    ["/usr/sbin", "/usr/bin", "/sbin", "/bin", "/usr/local/bin"]
        .iter()
        .any(|dir| Path::new(dir).join(bin).is_file())
}

/// Returns the node's binaries, building whatever is missing from the Go module proxy.
pub fn ensure() -> Result<NodeTools> {
    check_system()?;
    let cache = cache_dir()?;
    let tools = NodeTools::locate(&cache);
    if tools.all_present() {
        return Ok(tools);
    }
    println!(
        "==> building the real node's runtime into {} (cached by version)",
        cache.display()
    );
    let script = repo_root()?.join("xtask/scripts/build-node-tools.sh");
    let status = Command::new("bash")
        .arg(&script)
        .arg(&cache)
        .env("CONTAINERD_VERSION", CONTAINERD_VERSION)
        .env("RUNC_VERSION", RUNC_VERSION)
        .env("CNI_PLUGINS_VERSION", CNI_PLUGINS_VERSION)
        .env("KUBE_ROUTER_VERSION", KUBE_ROUTER_VERSION)
        .env("LOCAL_PATH_VERSION", LOCAL_PATH_VERSION)
        .env("CRICTL_VERSION", CRICTL_VERSION)
        .status()
        .with_context(|| format!("running {}", script.display()))?;
    if !status.success() {
        bail!("building the real node's runtime failed ({status}); see the output above");
    }
    if !tools.all_present() {
        bail!(
            "the node tool build finished but binaries are missing under {}",
            cache.display()
        );
    }
    Ok(tools)
}
