//! `openclaw-init`: installs the supervisor binary into the pod's shared volume, atomically and
//! verified, then exits (0 installed, 1 failed, 2 usage error). One small static binary, no
//! network, no async runtime.

mod args;
mod install;

use std::{path::Path, process::ExitCode};

use args::{Command, InstallArgs};

fn main() -> ExitCode {
    let pid = std::process::id();
    let command = match args::parse(std::env::args().skip(1), |name| std::env::var(name).ok()) {
        Ok(command) => command,
        Err(error) => {
            eprintln!("openclaw-init[{pid}]: {error}\n\n{}", args::USAGE);
            return ExitCode::from(2);
        }
    };
    match command {
        Command::Version => println!("openclaw-init {}", env!("CARGO_PKG_VERSION")),
        Command::Help => print!("{}", args::USAGE),
        Command::Install(request) => match run(&request) {
            Ok(installed) => println!(
                "openclaw-init[{pid}]: installed {} ({} bytes, sha256 {})",
                installed.path.display(),
                installed.bytes,
                installed.sha256
            ),
            Err(error) => {
                eprintln!("openclaw-init[{pid}]: error: {}", chain(&error));
                return ExitCode::FAILURE;
            }
        },
    }
    ExitCode::SUCCESS
}

fn run(args: &InstallArgs) -> Result<install::Installed, install::InstallError> {
    let expected = install::expected_hash(args.sha256.as_deref(), args.sha256_file.as_deref())?;
    let name = args
        .name
        .clone()
        .or_else(|| file_name(&args.from))
        .unwrap_or_else(|| "openclaw-supervisor".to_owned());
    install::install(&install::Request {
        from: args.from.clone(),
        to: args.to.clone(),
        name,
        expected,
    })
}

fn file_name(path: &Path) -> Option<String> {
    path.file_name().map(|n| n.to_string_lossy().into_owned())
}

/// The error and its causes on one line.
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
