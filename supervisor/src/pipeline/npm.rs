//! npm packages for the pipeline. pnpm and plugins are installed natively
//! ([`install::install_into`]: the registry protocol, the registry's checksum, safe extraction);
//! npm itself runs only for what needs it: `npm:` skills (downloaded with `npm pack`, checked
//! against their SHA-256 pin, then installed globally from that very tarball under
//! `~/.openclaw/.local`) and the runtime dependencies a plugin declares. Lifecycle scripts are
//! always disabled (the ClawHavoc mitigation).

pub mod install;
pub mod registry;
pub mod tarball;

use std::{
    fs, io,
    path::{Path, PathBuf},
};

pub use registry::RegistryError;

use crate::pipeline::{
    cache::sha256_hex,
    exec::{CommandSpec, Executor},
    fsutil,
    skills::ExtractError,
    step::StepCtx,
};

/// Why a package could not be installed.
#[derive(Debug, thiserror::Error)]
pub enum NpmError {
    /// npm could not be started.
    #[error("failed to run {command}")]
    Spawn {
        command: String,
        #[source]
        error: io::Error,
    },
    /// npm failed.
    #[error("`{command}` exited with {code:?}: {tail}")]
    Failed {
        command: String,
        code: Option<i32>,
        tail: String,
    },
    /// The tarball does not match its pin.
    #[error("refused {package}: the npm tarball's SHA-256 is {actual}, the pin expects {expected}")]
    PinMismatch {
        package: String,
        expected: String,
        actual: String,
    },
    /// Local files.
    #[error("failed to use {path}")]
    Io {
        path: String,
        #[source]
        error: io::Error,
    },
    /// The registry did not give the package, or gave one that fails its checksum.
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// The tarball could not be downloaded or read.
    #[error("failed to download {package}")]
    Download {
        package: String,
        #[source]
        error: crate::pipeline::runtime_deps::stream::StreamError,
    },
    /// The tarball holds an entry that could leave the package directory.
    #[error("unsafe tarball")]
    Extract(#[from] ExtractError),
    /// The package is not an OpenClaw plugin.
    #[error("refused {package}: not an OpenClaw plugin (none of {expected} in the package)")]
    NotAPlugin { package: String, expected: String },
    /// A `bin` entry of `package.json` that could leave the package or the `bin` directory.
    #[error("refused {package}: its executable {name:?} is unsafe: {reason}")]
    UnsafeBin {
        package: String,
        name: String,
        reason: &'static str,
    },
}

/// Where and how npm installs.
#[derive(Debug, Clone)]
pub struct Npm<'a> {
    pub exec: &'a Executor,
    pub program: &'a Path,
    /// Global prefix (`~/.openclaw/.local`): binaries in `bin/`, packages in `lib/node_modules/`.
    pub prefix: PathBuf,
    /// npm cache on the volume.
    pub cache: PathBuf,
    pub home: &'a Path,
    pub registry: Option<&'a str>,
    /// The private CA, for `NODE_EXTRA_CA_CERTS`.
    pub extra_ca: Option<&'a str>,
}

impl<'a> Npm<'a> {
    /// npm as the pipeline runs it: prefix `~/.openclaw/.local`, cache on the volume, the
    /// configured registry mirror and the private CA.
    pub fn of(ctx: &'a StepCtx) -> Npm<'a> {
        Npm {
            exec: &ctx.env.exec,
            program: &ctx.env.npm,
            prefix: ctx.env.local_dir(),
            cache: ctx.env.state_dir.join(".cache/npm"),
            home: &ctx.env.home,
            registry: ctx.env.mirrors.npm_registry.as_deref(),
            extra_ca: ctx.plan.ca_bundle.as_ref().map(|c| c.path.as_str()),
        }
    }
}

impl Npm<'_> {
    fn command(&self, args: Vec<String>) -> CommandSpec {
        let mut spec = CommandSpec::new(self.program, args)
            .env("HOME", self.home.display().to_string())
            .env("NPM_CONFIG_CACHE", self.cache.display().to_string())
            .env("NPM_CONFIG_IGNORE_SCRIPTS", "true")
            .env("NPM_CONFIG_UPDATE_NOTIFIER", "false")
            .env("NPM_CONFIG_FUND", "false")
            .env("NPM_CONFIG_AUDIT", "false");
        if let Some(registry) = self.registry {
            spec = spec.env("NPM_CONFIG_REGISTRY", registry);
        }
        if let Some(ca) = self.extra_ca {
            spec = spec.env("NODE_EXTRA_CA_CERTS", ca);
        }
        spec
    }

    async fn run(&self, args: Vec<String>) -> Result<(), NpmError> {
        let spec = self.command(args);
        let command = spec.display();
        let output = self.exec.run(spec).await.map_err(|error| NpmError::Spawn {
            command: command.clone(),
            error,
        })?;
        if !output.success() {
            return Err(NpmError::Failed {
                command,
                code: output.code,
                tail: output.tail(),
            });
        }
        Ok(())
    }

    /// Directory of an installed package.
    pub fn package_dir(&self, package: &str) -> PathBuf {
        self.prefix.join("lib/node_modules").join(package)
    }

    /// Version of an installed package, from its `package.json`.
    pub fn installed_version(&self, package: &str) -> Option<String> {
        let bytes = fs::read(self.package_dir(package).join("package.json")).ok()?;
        let json: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
        json.get("version")?.as_str().map(str::to_owned)
    }

    /// Installs `package@version` (latest when `None`); returns the installed version and the
    /// tarball's SHA-256.
    pub async fn install(
        &self,
        package: &str,
        version: Option<&str>,
        pin: Option<&str>,
        scratch: &Path,
    ) -> Result<(String, String), NpmError> {
        let io_error = |path: &Path| {
            let path = path.display().to_string();
            move |error| NpmError::Io { path, error }
        };
        let dir = fsutil::sibling(&scratch.join("npm-pack"), "dir");
        fs::create_dir_all(&dir).map_err(io_error(&dir))?;
        let result = async {
            let spec = format!("{package}@{}", version.unwrap_or("latest"));
            self.run(vec![
                "pack".into(),
                spec,
                "--pack-destination".into(),
                dir.display().to_string(),
            ])
            .await?;
            let tarball = fs::read_dir(&dir)
                .map_err(io_error(&dir))?
                .filter_map(Result::ok)
                .map(|e| e.path())
                .find(|p| p.extension().is_some_and(|e| e == "tgz"))
                .ok_or_else(|| NpmError::Io {
                    path: dir.display().to_string(),
                    error: io::ErrorKind::NotFound.into(),
                })?;
            let actual = sha256_hex(&fs::read(&tarball).map_err(io_error(&tarball))?);
            if let Some(expected) = pin
                && expected != actual
            {
                return Err(NpmError::PinMismatch {
                    package: package.into(),
                    expected: expected.into(),
                    actual,
                });
            }
            let prefix = self.prefix.display().to_string();
            self.run(vec![
                "install".into(),
                "--global".into(),
                "--prefix".into(),
                prefix,
                tarball.display().to_string(),
            ])
            .await?;
            let installed = self
                .installed_version(package)
                .unwrap_or_else(|| version.unwrap_or("latest").to_owned());
            Ok((installed, actual))
        }
        .await;
        let _ = fsutil::remove_any(&dir);
        result
    }

    /// Installs the runtime dependencies of the package unpacked in `dir` into its own
    /// `node_modules` (no dev or peer dependencies, no lockfile), as OpenClaw does for plugins.
    pub async fn install_dependencies(&self, dir: &Path) -> Result<(), NpmError> {
        let mut spec = self.command(vec![
            "install".into(),
            "--omit=dev".into(),
            "--omit=peer".into(),
            "--legacy-peer-deps".into(),
            "--no-package-lock".into(),
        ]);
        spec.cwd = Some(dir.to_owned());
        let command = format!("{} (in {})", spec.display(), dir.display());
        let output = self.exec.run(spec).await.map_err(|error| NpmError::Spawn {
            command: command.clone(),
            error,
        })?;
        if !output.success() {
            return Err(NpmError::Failed {
                command,
                code: output.code,
                tail: output.tail(),
            });
        }
        Ok(())
    }

    /// Removes a package installed earlier.
    pub async fn uninstall(&self, package: &str) -> Result<(), NpmError> {
        let prefix = self.prefix.display().to_string();
        self.run(vec![
            "uninstall".into(),
            "--global".into(),
            "--prefix".into(),
            prefix,
            package.into(),
        ])
        .await
    }
}
