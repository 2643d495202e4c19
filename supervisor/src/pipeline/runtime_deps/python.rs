//! Step `python`: uv and Python 3.12 into `~/.openclaw/.local`. uv comes from a PyPI simple index
//! (its wheel holds the binary; no Python needed to unpack it) or a direct URL; Python comes from
//! `uv python install 3.12` (python-build-standalone, through a mirror when one is set) or is an
//! existing interpreter linked in place.

use std::{
    fs, io,
    path::{Path, PathBuf},
    time::Duration,
};

use serde::Serialize;

use super::{
    link, parse_page, pick_uv_wheel, stage_uv,
    stream::{Sha256Reader, StreamError, consume_body},
};
use crate::pipeline::{
    ca_bundle::BUNDLE_FILE,
    exec::CommandSpec,
    http::{self, HttpError, RetryPolicy},
    step::{BoxFuture, Done, Step, StepCtx, StepError, StepOutput, inputs_json, names},
};

/// The Python the plan's `runtimeDeps.python` means.
pub const PYTHON_VERSION: &str = "3.12";

/// Why uv or Python could not be installed.
#[derive(Debug, thiserror::Error)]
pub enum PythonError {
    #[error(transparent)]
    Http(#[from] HttpError),
    /// The index has no uv wheel for this machine.
    #[error("no uv wheel for {arch} on {index}")]
    NoWheel { arch: &'static str, index: String },
    /// The uv archive could not be downloaded or unpacked.
    #[error("failed to download and unpack {url}")]
    Download {
        url: String,
        #[source]
        error: StreamError,
    },
    /// The download does not match the index's checksum.
    #[error("{url}: SHA-256 is {actual}, the index says {expected}")]
    Checksum {
        url: String,
        expected: String,
        actual: String,
    },
    /// A program failed.
    #[error("`{command}` failed ({code:?}): {tail}")]
    Command {
        command: String,
        code: Option<i32>,
        tail: String,
    },
    /// `uv python install` left no interpreter behind.
    #[error("no python{PYTHON_VERSION} found under {0} after uv installed it")]
    NotFound(String),
    /// Local files or spawning.
    #[error("failed to use {path}")]
    Io {
        path: String,
        #[source]
        error: io::Error,
    },
}

fn io_error(path: &Path) -> impl FnOnce(io::Error) -> PythonError {
    let path = path.display().to_string();
    move |error| PythonError::Io { path, error }
}

/// The `python` step (only in the graph when the plan asks for Python).
#[derive(Debug)]
pub struct PythonStep {
    /// The plan has a CA bundle: wait for the combined bundle and hand it to uv.
    pub with_ca: bool,
}

#[derive(Serialize)]
struct Inputs<'a> {
    python: &'static str,
    uv_version: Option<&'a str>,
    pypi: &'a str,
    uv_url: Option<&'a str>,
    python_mirror: Option<&'a str>,
    interpreter: Option<&'a Path>,
}

impl Step for PythonStep {
    fn name(&self) -> &'static str {
        names::PYTHON
    }

    fn deps(&self) -> Vec<&'static str> {
        if self.with_ca {
            vec![names::RESTORE, names::CA_BUNDLE]
        } else {
            vec![names::RESTORE]
        }
    }

    fn inputs<'a>(&'a self, ctx: &'a StepCtx) -> BoxFuture<'a, Result<Option<Vec<u8>>, StepError>> {
        Box::pin(async move {
            let env = &ctx.env;
            inputs_json(&Inputs {
                python: PYTHON_VERSION,
                uv_version: env.uv_version.as_deref(),
                pypi: &env.mirrors.pypi_index,
                uv_url: env.mirrors.uv_url.as_deref(),
                python_mirror: env.mirrors.python_install.as_deref(),
                interpreter: env.python.as_deref(),
            })
        })
    }

    fn outputs_present(&self, ctx: &StepCtx, _recorded: &StepOutput) -> bool {
        let bin = ctx.env.bin_dir();
        bin.join("uv").is_file() && bin.join("python3").exists()
    }

    fn run<'a>(&'a self, ctx: &'a StepCtx) -> BoxFuture<'a, Result<Done, StepError>> {
        Box::pin(async move {
            let bin = ctx.env.bin_dir();
            let uv_version = install_uv(ctx, &bin).await?;
            let python = match &ctx.env.python {
                Some(interpreter) => {
                    for name in ["python3", "python", "python3.12"] {
                        link(interpreter, &bin.join(name)).map_err(io_error(&bin.join(name)))?;
                    }
                    format!("{} (existing)", interpreter.display())
                }
                None => install_python(ctx, &bin, self.with_ca).await?,
            };
            let mut output = StepOutput::summary(format!(
                "uv {uv_version}, Python {python} in {}",
                bin.display()
            ));
            output.path.push(bin);
            output.versions.insert("uv".into(), uv_version);
            output.versions.insert("python".into(), python);
            Ok(Done::Ran(output))
        })
    }
}

/// Downloads uv (index or direct URL), checks the index's checksum, installs `uv` and `uvx`.
async fn install_uv(ctx: &StepCtx, bin: &Path) -> Result<String, PythonError> {
    let retry = RetryPolicy::new(ctx.env.retry_base);
    let get = |url: String, accept: &'static str| {
        let http = ctx.http.clone();
        async move {
            let response = http::send(&retry, || {
                http.get(&url)
                    .header(reqwest::header::ACCEPT, accept)
                    .timeout(Duration::from_secs(300))
            })
            .await?;
            http::body_limited(response, 200 * 1024 * 1024).await
        }
    };
    let (url, expected, version) = match &ctx.env.mirrors.uv_url {
        Some(url) => (
            url.clone(),
            None,
            ctx.env
                .uv_version
                .clone()
                .unwrap_or_else(|| "from URL".into()),
        ),
        None => {
            let index = ctx.env.mirrors.pypi_index.trim_end_matches('/');
            let page_url = format!("{index}/uv/");
            let accept = "application/vnd.pypi.simple.v1+json, text/html;q=0.1";
            let page = get(page_url.clone(), accept).await?;
            let dists = parse_page(&String::from_utf8_lossy(&page), &page_url);
            let arch = std::env::consts::ARCH;
            let dist =
                pick_uv_wheel(&dists, arch, ctx.env.uv_version.as_deref()).ok_or_else(|| {
                    PythonError::NoWheel {
                        arch,
                        index: index.to_owned(),
                    }
                })?;
            let version = dist
                .filename
                .split('-')
                .nth(1)
                .unwrap_or_default()
                .to_owned();
            (dist.url.clone(), dist.sha256.clone(), version)
        }
    };
    // The wheel is hashed and unpacked while it downloads; the binaries take their names only
    // once the whole download matched the index's checksum.
    let response = http::send(&retry, || {
        ctx.http
            .get(&url)
            .header(reqwest::header::ACCEPT, "*/*")
            .timeout(Duration::from_secs(300))
    })
    .await?;
    let target = bin.to_owned();
    let (actual, staged) = consume_body(response, 200 * 1024 * 1024, move |body| {
        let mut hashed = Sha256Reader::new(body);
        let staged = stage_uv(&mut hashed, &target)?;
        Ok((hashed.finish()?, staged))
    })
    .await
    .map_err(|error| PythonError::Download {
        url: url.clone(),
        error,
    })?;
    if let Some(expected) = expected
        && expected != actual
    {
        return Err(PythonError::Checksum {
            url,
            expected,
            actual,
        });
    }
    staged.commit().map_err(io_error(bin))?;
    Ok(version)
}

/// `uv python install 3.12` into `~/.openclaw/.local/python`, then links `python3`, `python` and
/// `python3.12` in `bin/`. Returns the full version.
async fn install_python(ctx: &StepCtx, bin: &Path, with_ca: bool) -> Result<String, PythonError> {
    let env = &ctx.env;
    let install_dir = env.local_dir().join("python");
    let mut spec = CommandSpec::new(bin.join("uv"), ["python", "install", PYTHON_VERSION])
        .env("HOME", env.home.display().to_string())
        .env("UV_PYTHON_INSTALL_DIR", install_dir.display().to_string())
        .env(
            "UV_CACHE_DIR",
            env.state_dir.join(".cache/uv").display().to_string(),
        )
        .env("UV_NO_PROGRESS", "1");
    if let Some(mirror) = &env.mirrors.python_install {
        spec = spec.env("UV_PYTHON_INSTALL_MIRROR", mirror.clone());
    }
    if with_ca {
        // uv replaces its roots with SSL_CERT_FILE: hand it the combined bundle.
        spec = spec.env(
            "SSL_CERT_FILE",
            env.supervisor_dir().join(BUNDLE_FILE).display().to_string(),
        );
    }
    let command = spec.display();
    let output = env
        .exec
        .run(spec)
        .await
        .map_err(io_error(&bin.join("uv")))?;
    if !output.success() {
        return Err(PythonError::Command {
            command,
            code: output.code,
            tail: output.tail(),
        });
    }
    let (dir, version) = find_installed(&install_dir)?;
    for name in ["python3", "python", "python3.12"] {
        let target = Path::new("../python").join(&dir).join("bin/python3");
        link(&target, &bin.join(name)).map_err(io_error(&bin.join(name)))?;
    }
    Ok(version)
}

/// The newest `cpython-3.12.*` directory uv left with a `bin/python3`, and its version.
fn find_installed(install_dir: &Path) -> Result<(PathBuf, String), PythonError> {
    let prefix = format!("cpython-{PYTHON_VERSION}.");
    let mut found: Vec<(Vec<u64>, String)> = fs::read_dir(install_dir)
        .map_err(io_error(install_dir))?
        .filter_map(Result::ok)
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let version = name.strip_prefix("cpython-")?.split('-').next()?.to_owned();
            let key = version
                .split('.')
                .map(|p| p.parse().ok())
                .collect::<Option<Vec<u64>>>()?;
            (name.starts_with(&prefix) && e.path().join("bin/python3").exists())
                .then_some((key, name))
        })
        .collect();
    found.sort();
    let (_, name) = found
        .pop()
        .ok_or_else(|| PythonError::NotFound(install_dir.display().to_string()))?;
    let version = name
        .trim_start_matches("cpython-")
        .split('-')
        .next()
        .unwrap_or_default()
        .to_owned();
    Ok((PathBuf::from(name), version))
}
