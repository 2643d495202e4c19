//! `openclaw-supervisor`: PID 1 of an OpenClaw pod (`run`), and `status`, which prints a running
//! supervisor's `/status` as a table.

use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use openclaw_supervisor::{check_config, process, run, status::table};
use tracing_subscriber::{EnvFilter, fmt};

#[derive(Debug, Parser)]
#[command(name = "openclaw-supervisor", version, about)]
struct Cli {
    /// Log format.
    #[arg(long, env = "OPENCLAW_LOG_FORMAT", value_enum, default_value_t = LogFormat::Json, global = true)]
    log_format: LogFormat,
    /// Log filter (tracing `EnvFilter` syntax).
    #[arg(long, env = "OPENCLAW_LOG", default_value = "info", global = true)]
    log: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum LogFormat {
    Json,
    Plain,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the start-up pipeline, then start and supervise the gateway (the container's
    /// entrypoint).
    Run(run::RunArgs),
    /// Check the configuration an instance would get against this image's own validator
    /// (`openclaw config validate`), in a scratch home; auto-update runs it on a new version
    /// before rolling. Exits 0 when accepted, 3 when refused, 1 when the check could not run.
    CheckConfig(check_config::CheckArgs),
    /// Print a supervisor's status as a table (e.g. through `kubectl port-forward`). Exits 1
    /// when the supervisor is unreachable, 3 when start-up failed or the gateway has a
    /// configuration error.
    Status {
        /// Base URL of the supervisor's status server.
        #[arg(long, env = "OPENCLAW_SUPERVISOR_URL", default_value = table::DEFAULT_URL)]
        url: String,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Run(args) => {
            init_logs(cli.log_format, &cli.log);
            // Before anything else: the gateway (same UID) must not read our environ or memory.
            if let Err(error) = process::harden::set_non_dumpable() {
                tracing::error!(
                    error = &error as &dyn std::error::Error,
                    "failed to mark the supervisor non-dumpable"
                );
                return ExitCode::FAILURE;
            }
            // The S3 client (object_store over reqwest) takes the process's TLS provider: ring,
            // as everywhere else in the supervisor (no second crypto library in the binary).
            let _ = rustls::crypto::ring::default_provider().install_default();
            let runtime = match tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
            {
                Ok(runtime) => runtime,
                Err(error) => {
                    eprintln!("openclaw-supervisor: failed to start the async runtime: {error}");
                    return ExitCode::FAILURE;
                }
            };
            match runtime.block_on(run::run(args)) {
                Ok(code) => code,
                Err(error) => {
                    tracing::error!(
                        error = &error as &dyn std::error::Error,
                        "supervisor failed"
                    );
                    ExitCode::FAILURE
                }
            }
        }
        Command::Status { url } => status(&url),
        Command::CheckConfig(args) => {
            match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(runtime) => runtime.block_on(check_config::main(args)),
                Err(error) => {
                    eprintln!("openclaw-supervisor: failed to start the async runtime: {error}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

fn status(url: &str) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: failed to start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(table::fetch(url)) {
        Ok(view) => {
            print!("{}", table::render(&view));
            if view.pipeline_failed || view.gateway.config_error {
                ExitCode::from(3)
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(error) => {
            eprintln!(
                "error: {}",
                anyhow::Error::from(error)
                    .chain()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(": ")
            );
            eprintln!("hint: is `kubectl port-forward pod/<pod> 9090` running? (--url {url})");
            ExitCode::FAILURE
        }
    }
}

fn init_logs(format: LogFormat, filter: &str) {
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .init(),
        LogFormat::Plain => builder.init(),
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn verify_cli() {
        Cli::command().debug_assert();
    }
}
