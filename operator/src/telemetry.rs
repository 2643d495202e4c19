//! Logging: tracing to stdout as JSON or plain lines, filtered by `RUST_LOG`.

use anyhow::Result;
use tracing_subscriber::{EnvFilter, fmt, prelude::*};

use crate::cli::LogFormat;

pub fn init(format: LogFormat) -> Result<()> {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,kube=warn"));
    let registry = tracing_subscriber::registry().with(filter);
    match format {
        LogFormat::Json => registry
            .with(fmt::layer().json().flatten_event(true))
            .try_init()?,
        LogFormat::Plain => registry
            .with(fmt::layer().with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout())))
            .try_init()?,
    }
    Ok(())
}
