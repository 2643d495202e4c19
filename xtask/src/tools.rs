//! Where the control plane's binaries live, and building them when they are missing.

use std::{
    env,
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{Context, Result, bail};

/// Versions of the components the local control plane is built from.
pub const K8S_VERSION: &str = "1.36.3";
pub const ETCD_VERSION: &str = "3.6.16";
pub const KWOK_VERSION: &str = "0.8.0";
pub const HELM_VERSION: &str = "3.22.0";

/// The workspace root (the parent of `xtask/`).
pub fn repo_root() -> Result<PathBuf> {
    let manifest = env::var("CARGO_MANIFEST_DIR").context("run through cargo xtask")?;
    Path::new(&manifest)
        .parent()
        .map(Path::to_path_buf)
        .context("xtask has no parent directory")
}

/// The cache of built tools, outside the repository so clean clones reuse it.
pub fn cache_dir() -> Result<PathBuf> {
    if let Ok(dir) = env::var("OPENCLAW_TOOLS_CACHE") {
        return Ok(PathBuf::from(dir));
    }
    let base = match env::var("XDG_CACHE_HOME") {
        Ok(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => PathBuf::from(env::var("HOME").context("HOME is not set")?).join(".cache"),
    };
    Ok(base.join("openclaw-dev").join("tools"))
}

/// Paths of every binary the local control plane runs.
#[derive(Debug, Clone)]
pub struct Tools {
    pub etcd: PathBuf,
    pub kube_apiserver: PathBuf,
    pub kube_controller_manager: PathBuf,
    pub kube_scheduler: PathBuf,
    pub kubectl: PathBuf,
    pub kubelet: PathBuf,
    pub kube_proxy: PathBuf,
    pub kwok: PathBuf,
    pub kwok_stages: PathBuf,
    pub helm: PathBuf,
}

impl Tools {
    pub fn locate(cache: &Path) -> Self {
        let k8s = cache.join(format!("kubernetes-v{K8S_VERSION}"));
        let kwok = cache.join(format!("kwok-v{KWOK_VERSION}"));
        Self {
            etcd: cache.join(format!("etcd-v{ETCD_VERSION}")).join("etcd"),
            kube_apiserver: k8s.join("kube-apiserver"),
            kube_controller_manager: k8s.join("kube-controller-manager"),
            kube_scheduler: k8s.join("kube-scheduler"),
            kubectl: k8s.join("kubectl"),
            kubelet: k8s.join("kubelet"),
            kube_proxy: k8s.join("kube-proxy"),
            kwok: kwok.join("kwok"),
            kwok_stages: kwok.join("stages"),
            helm: cache.join(format!("helm-v{HELM_VERSION}")).join("helm"),
        }
    }

    fn all_present(&self) -> bool {
        [
            &self.etcd,
            &self.kube_apiserver,
            &self.kube_controller_manager,
            &self.kube_scheduler,
            &self.kubectl,
            &self.kubelet,
            &self.kube_proxy,
            &self.kwok,
            &self.helm,
        ]
        .iter()
        .all(|p| p.is_file())
            && self.kwok_stages.join("pvc-provision.yaml").is_file()
    }

    /// Named binaries, for symlinking into `.cluster/bin`.
    pub fn binaries(&self) -> [(&'static str, &Path); 7] {
        [
            ("etcd", &self.etcd),
            ("kube-apiserver", &self.kube_apiserver),
            ("kube-controller-manager", &self.kube_controller_manager),
            ("kube-scheduler", &self.kube_scheduler),
            ("kubectl", &self.kubectl),
            ("kwok", &self.kwok),
            ("helm", &self.helm),
        ]
    }
}

/// Fails with one clear line per missing prerequisite.
pub fn check_prerequisites(needs_go: bool) -> Result<()> {
    let mut missing = Vec::new();
    if needs_go && !on_path("go") {
        missing.push("go (Go >= 1.26, https://go.dev/dl) is needed to build the control plane");
    }
    if !on_path("openssl") {
        missing.push(
            "openssl is needed for the control plane's certificates (apt-get install openssl)",
        );
    }
    if missing.is_empty() {
        return Ok(());
    }
    bail!("missing prerequisite: {}", missing.join("; "))
}

fn on_path(bin: &str) -> bool {
    env::var_os("PATH")
        .map(|paths| env::split_paths(&paths).any(|dir| dir.join(bin).is_file()))
        .unwrap_or(false)
}

/// Returns the tools, building whatever is missing from the Go module proxy.
pub fn ensure_tools() -> Result<Tools> {
    let cache = cache_dir()?;
    let tools = Tools::locate(&cache);
    if tools.all_present() {
        check_prerequisites(false)?;
        return Ok(tools);
    }
    check_prerequisites(true)?;
    println!(
        "==> building missing tools into {} (cached by version)",
        cache.display()
    );
    let script = repo_root()?.join("xtask/scripts/build-tools.sh");
    let status = Command::new("bash")
        .arg(&script)
        .arg(&cache)
        .env("K8S_VERSION", K8S_VERSION)
        .env("ETCD_VERSION", ETCD_VERSION)
        .env("KWOK_VERSION", KWOK_VERSION)
        .env("HELM_VERSION", HELM_VERSION)
        .status()
        .with_context(|| format!("running {}", script.display()))?;
    if !status.success() {
        bail!("building the control plane's tools failed ({status}); see the output above");
    }
    if !tools.all_present() {
        bail!(
            "the tool build finished but binaries are missing under {}",
            cache.display()
        );
    }
    Ok(tools)
}
