//! The command line of `openclaw-init`, parsed by hand (no clap: the binary stays small and
//! static), each flag with an environment-variable fallback.

use std::path::PathBuf;

/// Where the runtime image ships the supervisor.
pub const DEFAULT_SOURCE: &str = "/openclaw-supervisor";

/// What to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Install the supervisor.
    Install(InstallArgs),
    /// Print the version.
    Version,
    /// Print the usage.
    Help,
}

/// `install` flags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstallArgs {
    /// `--from` / `OPENCLAW_INIT_FROM`: the binary to install.
    pub from: PathBuf,
    /// `--to` / `OPENCLAW_INIT_TO`: the shared directory to install into.
    pub to: PathBuf,
    /// `--name` / `OPENCLAW_INIT_NAME`: file name in `to`; the source's name by default.
    pub name: Option<String>,
    /// `--sha256` / `OPENCLAW_INIT_SHA256`: the expected hash, hex.
    pub sha256: Option<String>,
    /// `--sha256-file` / `OPENCLAW_INIT_SHA256_FILE`: a file holding the expected hash
    /// (`sha256sum` output works).
    pub sha256_file: Option<PathBuf>,
}

/// A usage error, printed with the usage text.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum UsageError {
    #[error("unknown command {0:?}")]
    UnknownCommand(String),
    #[error("no command given")]
    NoCommand,
    #[error("unknown flag {0:?}")]
    UnknownFlag(String),
    #[error("flag {0} needs a value")]
    MissingValue(String),
    #[error("--to (or OPENCLAW_INIT_TO) is required")]
    MissingTarget,
}

/// Usage text.
pub const USAGE: &str = "\
usage: openclaw-init install --to <dir> [--from <file>] [--name <file-name>]
                             [--sha256 <hex> | --sha256-file <file>]
       openclaw-init --version

Copies the supervisor into <dir> atomically (temporary file, fsync, rename, mode 0555) and
verifies its SHA-256 against the source and, when given, the expected hash.

  --to           OPENCLAW_INIT_TO           directory to install into (the pod's shared volume)
  --from         OPENCLAW_INIT_FROM         binary to install (default /openclaw-supervisor)
  --name         OPENCLAW_INIT_NAME         file name in <dir> (default: the source's name)
  --sha256       OPENCLAW_INIT_SHA256       expected SHA-256, hex
  --sha256-file  OPENCLAW_INIT_SHA256_FILE  file holding the expected SHA-256
";

/// Parses `args` (without the program name); `env` looks variables up.
pub fn parse(
    args: impl IntoIterator<Item = String>,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Command, UsageError> {
    let mut args = args.into_iter();
    let command = match args.next().as_deref() {
        None => return Err(UsageError::NoCommand),
        Some("--version" | "-V" | "version") => return Ok(Command::Version),
        Some("--help" | "-h" | "help") => return Ok(Command::Help),
        Some("install") => "install",
        Some(other) => return Err(UsageError::UnknownCommand(other.to_owned())),
    };
    debug_assert_eq!(command, "install");
    let var = |name: &str| env(name).filter(|v| !v.is_empty());
    let mut from = var("OPENCLAW_INIT_FROM").map(PathBuf::from);
    let mut to = var("OPENCLAW_INIT_TO").map(PathBuf::from);
    let mut name = var("OPENCLAW_INIT_NAME");
    let mut sha256 = var("OPENCLAW_INIT_SHA256");
    let mut sha256_file = var("OPENCLAW_INIT_SHA256_FILE").map(PathBuf::from);
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((flag, value)) if flag.starts_with("--") => {
                (flag.to_owned(), Some(value.to_owned()))
            }
            _ => (arg.clone(), None),
        };
        if flag == "--help" || flag == "-h" {
            return Ok(Command::Help);
        }
        let mut value = || {
            inline
                .clone()
                .or_else(|| args.next())
                .ok_or_else(|| UsageError::MissingValue(flag.clone()))
        };
        match flag.as_str() {
            "--from" => from = Some(PathBuf::from(value()?)),
            "--to" => to = Some(PathBuf::from(value()?)),
            "--name" => name = Some(value()?),
            "--sha256" => sha256 = Some(value()?),
            "--sha256-file" => sha256_file = Some(PathBuf::from(value()?)),
            _ => return Err(UsageError::UnknownFlag(arg)),
        }
    }
    Ok(Command::Install(InstallArgs {
        from: from.unwrap_or_else(|| PathBuf::from(DEFAULT_SOURCE)),
        to: to.ok_or(UsageError::MissingTarget)?,
        name,
        sha256,
        sha256_file,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn parses_the_operators_command_line() {
        let parsed = parse(args(&["install", "--to", "/openclaw-runtime"]), no_env);
        assert_eq!(
            parsed,
            Ok(Command::Install(InstallArgs {
                from: PathBuf::from(DEFAULT_SOURCE),
                to: PathBuf::from("/openclaw-runtime"),
                name: None,
                sha256: None,
                sha256_file: None,
            }))
        );
    }

    #[test]
    fn flags_win_over_the_environment() {
        let env = |name: &str| match name {
            "OPENCLAW_INIT_FROM" => Some("/env/bin".to_owned()),
            "OPENCLAW_INIT_TO" => Some("/env/to".to_owned()),
            "OPENCLAW_INIT_SHA256" => Some("ab".to_owned()),
            _ => None,
        };
        let Ok(Command::Install(parsed)) = parse(
            args(&["install", "--from=/flag/bin", "--sha256-file", "/h"]),
            env,
        ) else {
            panic!("install expected");
        };
        assert_eq!(parsed.from, PathBuf::from("/flag/bin"));
        assert_eq!(parsed.to, PathBuf::from("/env/to"));
        assert_eq!(parsed.sha256.as_deref(), Some("ab"));
        assert_eq!(parsed.sha256_file, Some(PathBuf::from("/h")));
    }

    #[test]
    fn reports_usage_errors() {
        assert_eq!(parse(args(&[]), no_env), Err(UsageError::NoCommand));
        assert_eq!(
            parse(args(&["copy"]), no_env),
            Err(UsageError::UnknownCommand("copy".into()))
        );
        assert_eq!(
            parse(args(&["install"]), no_env),
            Err(UsageError::MissingTarget)
        );
        assert_eq!(
            parse(args(&["install", "--to"]), no_env),
            Err(UsageError::MissingValue("--to".into()))
        );
        assert_eq!(
            parse(args(&["install", "--bogus", "x"]), no_env),
            Err(UsageError::UnknownFlag("--bogus".into()))
        );
        assert_eq!(parse(args(&["--version"]), no_env), Ok(Command::Version));
    }
}
