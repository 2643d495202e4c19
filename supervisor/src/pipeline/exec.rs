//! The seam through which steps run programs (npm, uv). By default a tokio child waited on by
//! pid. It stays in the supervisor's process group, which the PID-1 reaper
//! (`process::reaper`) leaves to tokio, so the two never race for an exit status; a caller with
//! another reaping scheme can plug in its own [`Executor`].

use std::{ffi::OsString, fmt, io, path::PathBuf, process::Stdio, sync::Arc};

use super::step::BoxFuture;

/// A program to run.
#[derive(Debug, Clone, Default)]
pub struct CommandSpec {
    pub program: PathBuf,
    pub args: Vec<OsString>,
    /// Variables set on top of the supervisor's environment.
    pub env: Vec<(String, String)>,
    pub cwd: Option<PathBuf>,
}

impl CommandSpec {
    /// `program args...`.
    pub fn new(
        program: impl Into<PathBuf>,
        args: impl IntoIterator<Item = impl Into<OsString>>,
    ) -> CommandSpec {
        CommandSpec {
            program: program.into(),
            args: args.into_iter().map(Into::into).collect(),
            ..Default::default()
        }
    }

    /// Adds a variable.
    pub fn env(mut self, key: &str, value: impl Into<String>) -> CommandSpec {
        self.env.push((key.to_owned(), value.into()));
        self
    }

    /// The command as a person would type it, for messages.
    pub fn display(&self) -> String {
        std::iter::once(self.program.to_string_lossy())
            .chain(self.args.iter().map(|a| a.to_string_lossy()))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// How a program ended.
#[derive(Debug, Clone, Default)]
pub struct ExecOutput {
    /// Exit code; `None` when killed by a signal.
    pub code: Option<i32>,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

impl ExecOutput {
    /// Exit code 0.
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }

    /// The last lines of stderr (or stdout), for an error message.
    pub fn tail(&self) -> String {
        let text = if self.stderr.iter().any(|b| !b.is_ascii_whitespace()) {
            &self.stderr
        } else {
            &self.stdout
        };
        let text = String::from_utf8_lossy(text);
        let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
        lines[lines.len().saturating_sub(5)..].join(" | ")
    }
}

type RunFn = dyn Fn(CommandSpec) -> BoxFuture<'static, io::Result<ExecOutput>> + Send + Sync;

/// Runs programs for the steps.
#[derive(Clone)]
pub struct Executor(Arc<RunFn>);

impl Executor {
    /// An executor from a function.
    pub fn new(
        run: impl Fn(CommandSpec) -> BoxFuture<'static, io::Result<ExecOutput>> + Send + Sync + 'static,
    ) -> Executor {
        Executor(Arc::new(run))
    }

    /// Runs `spec` to completion, capturing its output.
    pub async fn run(&self, spec: CommandSpec) -> io::Result<ExecOutput> {
        (self.0)(spec).await
    }
}

impl Default for Executor {
    /// tokio children, waited on by pid.
    fn default() -> Executor {
        Executor::new(|spec| {
            Box::pin(async move {
                let mut command = tokio::process::Command::new(&spec.program);
                command
                    .args(&spec.args)
                    .envs(spec.env.iter().map(|(k, v)| (k, v)))
                    .stdin(Stdio::null())
                    .kill_on_drop(true);
                if let Some(cwd) = &spec.cwd {
                    command.current_dir(cwd);
                }
                let output = command.output().await?;
                Ok(ExecOutput {
                    code: output.status.code(),
                    stdout: output.stdout,
                    stderr: output.stderr,
                })
            })
        })
    }
}

impl fmt::Debug for Executor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Executor")
    }
}
