//! Where the pipeline works and which sources it downloads from, read once from the process
//! environment.
//!
//! Environment variables (all optional):
//!
//! | variable | meaning | default |
//! |---|---|---|
//! | `HOME` | home of the gateway user | `/home/node` |
//! | `OPENCLAW_STATE_DIR` | OpenClaw's state directory, the workspace volume | `$HOME/.openclaw` |
//! | `PATH` | the gateway's `PATH`, extended with `$OPENCLAW_STATE_DIR/.local/bin` | `/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin` |
//! | `OPENCLAW_MIRROR_CLAWHUB`, else `CLAWHUB_REGISTRY` (`CLAWDHUB_REGISTRY`) | ClawHub base URL (its API under `/api/v1/`) | `https://clawhub.ai` |
//! | `CLAWHUB_TOKEN` (`CLAWDHUB_TOKEN`) | bearer token for ClawHub (higher rate limits) | none |
//! | `OPENCLAW_ALLOW_SUSPICIOUS_SKILLS` | `true`/`1`: install skills ClawHub flags as suspicious (never blocked ones) | refused |
//! | `OPENCLAW_MIRROR_NPM`, else `NPM_CONFIG_REGISTRY` | npm registry for pnpm, `npm:` skills and plugins | npm's own default |
//! | `OPENCLAW_MIRROR_PYPI`, else `PIP_INDEX_URL` | PyPI simple index the uv wheel comes from | `https://pypi.org/simple` |
//! | `OPENCLAW_MIRROR_UV_URL` | direct URL of a uv wheel or `.tar.gz` (replaces the index) | none |
//! | `OPENCLAW_MIRROR_PYTHON`, else `UV_PYTHON_INSTALL_MIRROR` | mirror of python-build-standalone releases, passed to `uv python install` | uv's default |
//! | `OPENCLAW_PYTHON` | an existing Python 3.12 interpreter to link instead of downloading one | none |
//! | `OPENCLAW_PNPM_VERSION` | npm version spec of pnpm | `10` |
//! | `OPENCLAW_UV_VERSION` | uv version to take from the index | the newest release |
//! | `OPENCLAW_NPM` | the npm executable | `npm` |
//! | `OPENCLAW_MIRROR_OLLAMA` | base URL of an Ollama model registry mirror (`http(s)://host[:port]`, the registry protocol at its root) the sidecar pulls models through, falling back to a direct pull | none (Ollama's registry) |
//! | `OPENCLAW_OLLAMA_WAIT_SECONDS` | how long to wait for the Ollama sidecar to answer | `300` |
//! | `OPENCLAW_SYSTEM_CA_FILE` | the image's CA bundle, the base of the combined bundle | `/etc/ssl/certs/ca-certificates.crt` |
//! | `OPENCLAW_HOST_ROOT` | root under which `/proc/driver/nvidia` is read | `/` |

use std::{fmt, path::PathBuf, time::Duration};

use super::exec::Executor;

/// Default ClawHub registry.
pub const DEFAULT_CLAWHUB_URL: &str = "https://clawhub.ai";
/// Default PyPI simple index.
pub const DEFAULT_PYPI_INDEX: &str = "https://pypi.org/simple";
/// Default `PATH` when the process has none.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Download sources, each replaceable by a mirror for air-gapped clusters.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Mirrors {
    /// npm registry URL (`NPM_CONFIG_REGISTRY` of the npm processes); npm's default when `None`.
    pub npm_registry: Option<String>,
    /// PyPI simple index URL, for the uv wheel.
    pub pypi_index: String,
    /// A direct URL of the uv archive (wheel, zip or `.tar.gz`), instead of the index.
    pub uv_url: Option<String>,
    /// Mirror of python-build-standalone (`UV_PYTHON_INSTALL_MIRROR`).
    pub python_install: Option<String>,
    /// Ollama model registry mirror (`OPENCLAW_MIRROR_OLLAMA`), e.g. the node cache's root.
    pub ollama_registry: Option<String>,
}

/// A secret value that never shows in `Debug` output.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Everything the pipeline needs to know about its surroundings.
#[derive(Clone, Debug)]
pub struct PipelineEnv {
    /// Home of the gateway user (`/home/node`).
    pub home: PathBuf,
    /// OpenClaw's state directory on the workspace volume (`~/.openclaw`).
    pub state_dir: PathBuf,
    /// The `PATH` the gateway would get without the pipeline's additions.
    pub path: String,
    /// ClawHub base URL.
    pub clawhub_url: String,
    /// ClawHub bearer token.
    pub clawhub_token: Option<Secret>,
    /// Install skills ClawHub flags as suspicious.
    pub allow_suspicious_skills: bool,
    /// Download sources.
    pub mirrors: Mirrors,
    /// Existing Python interpreter to use instead of downloading one.
    pub python: Option<PathBuf>,
    /// npm version spec of pnpm.
    pub pnpm_version: String,
    /// uv version; the newest when `None`.
    pub uv_version: Option<String>,
    /// The npm executable.
    pub npm: PathBuf,
    /// How long to wait for the Ollama sidecar.
    pub ollama_wait: Duration,
    /// The image's CA bundle.
    pub system_ca_file: PathBuf,
    /// Root of the host paths read for GPU facts.
    pub host_root: PathBuf,
    /// Delays between HTTP retries are at least this long (tests shorten them).
    pub retry_base: Duration,
    /// Runs npm and uv.
    pub exec: Executor,
}

impl PipelineEnv {
    /// Reads the process environment.
    pub fn from_env() -> PipelineEnv {
        PipelineEnv::from_lookup(|key| std::env::var(key).ok())
    }

    /// Reads the variables through `lookup`; empty values count as unset.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> PipelineEnv {
        let get = |keys: &[&str]| {
            keys.iter()
                .find_map(|k| lookup(k).filter(|v| !v.trim().is_empty()))
        };
        let home = PathBuf::from(get(&["HOME"]).unwrap_or_else(|| "/home/node".into()));
        let state_dir = get(&["OPENCLAW_STATE_DIR"])
            .map(PathBuf::from)
            .unwrap_or_else(|| home.join(".openclaw"));
        let flag = |key| {
            get(&[key]).is_some_and(|v| {
                matches!(v.trim().to_ascii_lowercase().as_str(), "1" | "true" | "yes")
            })
        };
        PipelineEnv {
            path: get(&["PATH"]).unwrap_or_else(|| DEFAULT_PATH.into()),
            clawhub_url: get(&[
                "OPENCLAW_MIRROR_CLAWHUB",
                "CLAWHUB_REGISTRY",
                "CLAWDHUB_REGISTRY",
            ])
            .unwrap_or_else(|| DEFAULT_CLAWHUB_URL.into()),
            clawhub_token: get(&["CLAWHUB_TOKEN", "CLAWDHUB_TOKEN"]).map(Secret),
            allow_suspicious_skills: flag("OPENCLAW_ALLOW_SUSPICIOUS_SKILLS"),
            mirrors: Mirrors {
                npm_registry: get(&[
                    "OPENCLAW_MIRROR_NPM",
                    "NPM_CONFIG_REGISTRY",
                    "npm_config_registry",
                ]),
                pypi_index: get(&["OPENCLAW_MIRROR_PYPI", "PIP_INDEX_URL"])
                    .unwrap_or_else(|| DEFAULT_PYPI_INDEX.into()),
                uv_url: get(&["OPENCLAW_MIRROR_UV_URL"]),
                python_install: get(&["OPENCLAW_MIRROR_PYTHON", "UV_PYTHON_INSTALL_MIRROR"]),
                ollama_registry: get(&["OPENCLAW_MIRROR_OLLAMA"]),
            },
            python: get(&["OPENCLAW_PYTHON"]).map(PathBuf::from),
            pnpm_version: get(&["OPENCLAW_PNPM_VERSION"]).unwrap_or_else(|| "10".into()),
            uv_version: get(&["OPENCLAW_UV_VERSION"]),
            npm: get(&["OPENCLAW_NPM"])
                .map(PathBuf::from)
                .unwrap_or_else(|| "npm".into()),
            ollama_wait: Duration::from_secs(
                get(&["OPENCLAW_OLLAMA_WAIT_SECONDS"])
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(300),
            ),
            system_ca_file: get(&["OPENCLAW_SYSTEM_CA_FILE"])
                .map(PathBuf::from)
                .unwrap_or_else(|| "/etc/ssl/certs/ca-certificates.crt".into()),
            host_root: get(&["OPENCLAW_HOST_ROOT"])
                .map(PathBuf::from)
                .unwrap_or_else(|| "/".into()),
            retry_base: Duration::from_millis(300),
            exec: Executor::default(),
            home,
            state_dir,
        }
    }

    /// Prefix of what the pipeline installs (`~/.openclaw/.local`).
    pub fn local_dir(&self) -> PathBuf {
        self.state_dir.join(".local")
    }

    /// Directory added to the gateway's `PATH` (`~/.openclaw/.local/bin`).
    pub fn bin_dir(&self) -> PathBuf {
        self.local_dir().join("bin")
    }

    /// The supervisor's own files on the volume (`~/.openclaw/.supervisor`).
    pub fn supervisor_dir(&self) -> PathBuf {
        self.state_dir.join(".supervisor")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_overrides() {
        let env = PipelineEnv::from_lookup(|_| None);
        assert_eq!(env.home, PathBuf::from("/home/node"));
        assert_eq!(env.state_dir, PathBuf::from("/home/node/.openclaw"));
        assert_eq!(env.clawhub_url, DEFAULT_CLAWHUB_URL);
        assert_eq!(
            env.bin_dir(),
            PathBuf::from("/home/node/.openclaw/.local/bin")
        );
        assert!(!env.allow_suspicious_skills);
        assert_eq!(env.mirrors.ollama_registry, None);

        let env = PipelineEnv::from_lookup(|k| {
            Some(match k {
                "HOME" => "/h".into(),
                "CLAWHUB_REGISTRY" => "http://hub".into(),
                "OPENCLAW_MIRROR_CLAWHUB" => "http://mirror".into(),
                "NPM_CONFIG_REGISTRY" => "http://npm".into(),
                "CLAWHUB_TOKEN" => "clh_secret".into(),
                "OPENCLAW_ALLOW_SUSPICIOUS_SKILLS" => "TRUE".into(),
                "OPENCLAW_OLLAMA_WAIT_SECONDS" => "7".into(),
                "OPENCLAW_MIRROR_OLLAMA" => "http://cache:18800".into(),
                _ => return None,
            })
        });
        assert_eq!(env.state_dir, PathBuf::from("/h/.openclaw"));
        assert_eq!(env.clawhub_url, "http://mirror");
        assert_eq!(env.mirrors.npm_registry.as_deref(), Some("http://npm"));
        assert!(env.allow_suspicious_skills);
        assert_eq!(env.ollama_wait, Duration::from_secs(7));
        assert_eq!(
            env.mirrors.ollama_registry.as_deref(),
            Some("http://cache:18800")
        );
        assert!(
            !format!("{env:?}").contains("clh_secret"),
            "the token never shows"
        );
    }
}
