//! `openclaw-node`: the node agent's entrypoint (the chart's DaemonSet runs it).

use std::{
    process::ExitCode,
    sync::{Arc, atomic::AtomicBool},
};

use anyhow::Context;
use clap::Parser;
use openclaw_node::{
    agent::Agent,
    cache::{Cache, CacheConfig, Upstreams},
    cli::{Cli, LogFormat},
    http,
    metrics::Metrics,
};
use prometheus_client::registry::Registry;
use tracing_subscriber::{EnvFilter, fmt};

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,kube=warn"));
    match cli.log_format {
        LogFormat::Json => fmt()
            .json()
            .flatten_event(true)
            .with_env_filter(filter)
            .init(),
        LogFormat::Plain => fmt()
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
            .with_env_filter(filter)
            .init(),
    }
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!(error = format!("{err:#}"), "openclaw-node stopped");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = kube::Client::try_default()
        .await
        .context("no Kubernetes client configuration (in-cluster or KUBECONFIG)")?;
    let mut registry = Registry::default();
    let metrics = Arc::new(Metrics::default());
    metrics.register(&mut registry);
    let (cache, sources) = if cli.cache {
        let upstreams = Upstreams {
            clawhub: cli.upstream_clawhub.clone(),
            npm: cli.upstream_npm.clone(),
            pypi: cli.upstream_pypi.clone(),
            python: cli.upstream_python.clone(),
            ollama: cli.upstream_ollama.clone(),
        };
        let mut sources = vec!["clawhub", "npm", "pypi", "ollama"];
        if upstreams.python.is_some() {
            sources.push("python");
        }
        let config = CacheConfig {
            dir: cli.cache_dir.clone(),
            max_bytes: cli.cache_max_size,
            metadata_ttl: cli.cache_metadata_ttl,
            upstreams,
        };
        let cache = Cache::open(config, &mut registry)
            .await
            .with_context(|| format!("opening the cache in {}", cli.cache_dir.display()))?;
        (Some(cache.router()), sources)
    } else {
        (None, Vec::new())
    };
    let ready = Arc::new(AtomicBool::new(false));
    let agent = Agent {
        client,
        node_name: cli.node_name.clone(),
        seccomp_dir: cli.seccomp_dir.clone(),
        host_root: cli.host_root.clone(),
        metrics,
        ready: ready.clone(),
    };
    let app = http::router(ready, Arc::new(registry), cache, sources);
    let listener = tokio::net::TcpListener::bind(cli.listen)
        .await
        .with_context(|| format!("binding {}", cli.listen))?;
    tracing::info!(listen = %cli.listen, node = %cli.node_name, "openclaw-node started");
    let rounds = tokio::spawn(agent.run(cli.interval));
    let server = axum::serve(listener, app).with_graceful_shutdown(async {
        let _ = tokio::signal::ctrl_c().await;
    });
    tokio::select! {
        served = server => served.context("the HTTP server failed")?,
        _ = terminated() => tracing::info!("SIGTERM: stopping"),
    }
    rounds.abort();
    Ok(())
}

async fn terminated() {
    match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(mut signal) => {
            signal.recv().await;
        }
        Err(_) => std::future::pending().await,
    }
}
