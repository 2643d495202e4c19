//! Shared pieces of the pipeline tests: the loopback ClawHub, npm registry and PyPI index of
//! `openclaw_testkit::upstreams`, a fake npm, and builders for plans, environments and zips.

// Each test binary (and the supervisor bench) uses its own subset of these.
#[allow(unused_imports)]
pub use openclaw_testkit::upstreams::{clawhub, npm_registry, pypi, zip};

use std::{
    os::unix::fs::PermissionsExt,
    path::{Path, PathBuf},
    time::Duration,
};

use openclaw_api::{
    instance::{ConfigFormat, MergeMode, RuntimeDeps},
    plan::{
        ConfigPlan, GATEWAY_PORT, GatewayBind, GatewayPlan, InstanceRef, PLAN_VERSION, RuntimePlan,
    },
};
use openclaw_supervisor::pipeline::PipelineEnv;

/// A plan that asks for nothing but the config.
pub fn plan() -> RuntimePlan {
    RuntimePlan {
        version: PLAN_VERSION,
        instance: InstanceRef { name: "agent".into(), namespace: "team".into() },
        config: ConfigPlan {
            raw: serde_json::json!({"agents": {"defaults": {"model": {"primary": "ollama/llama3.2"}}}})
                .as_object()
                .cloned(),
            file: None,
            merge_mode: MergeMode::Merge,
            format: ConfigFormat::Json,
        },
        ca_bundle: None,
        skills: Vec::new(),
        plugins: Vec::new(),
        runtime_deps: RuntimeDeps::default(),
        ollama: None,
        gateway: GatewayPlan {
            port: GATEWAY_PORT,
            bind: GatewayBind::Lan,
            token_env: "OPENCLAW_GATEWAY_TOKEN".into(),
            token_file: None,
        },
        status_port: 9090,
        backup: None,
        restore: None,
    }
}

/// An environment rooted in `home` (state in `home/.openclaw`), with fast retries and no
/// system CA file.
pub fn env(home: &Path) -> PipelineEnv {
    let mut env = PipelineEnv::from_lookup(|_| None);
    env.home = home.to_owned();
    env.state_dir = home.join(".openclaw");
    env.system_ca_file = home.join("no-system-ca.crt");
    env.host_root = home.join("host");
    env.retry_base = Duration::from_millis(20);
    env.ollama_wait = Duration::from_secs(10);
    env
}

/// Writes an executable script.
pub fn script(path: &Path, body: &str) -> PathBuf {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).unwrap_or_else(|e| panic!("mkdir: {e}"));
    }
    std::fs::write(path, body).unwrap_or_else(|e| panic!("write: {e}"));
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
        .unwrap_or_else(|e| panic!("chmod: {e}"));
    path.to_owned()
}

/// A fake `npm` that logs each call (with the registry and scripts settings it got) to
/// `<dir>/npm.log` and does what `pack` and `install --global --prefix` do, offline.
pub fn fake_npm(dir: &Path) -> PathBuf {
    let log = dir.join("npm.log");
    script(
        &dir.join("npm"),
        &format!(
            r#"#!/bin/sh
set -e
echo "$* registry=$NPM_CONFIG_REGISTRY ignore-scripts=$NPM_CONFIG_IGNORE_SCRIPTS" >> '{log}'
cmd="$1"; shift
case "$cmd" in
  pack)
    spec="$1"; dest="$3"
    name="${{spec%@*}}"; file=$(echo "$name" | tr -d @ | tr / -)
    printf 'tarball of %s' "$spec" > "$dest/$file-1.0.0.tgz" ;;
  install)
    prefix="$3"; spec="$4"
    case "$spec" in
      *.tgz) base=$(basename "$spec" -1.0.0.tgz); name=$(echo "$base" | sed 's/^scope-/@scope\//'); version=1.0.0 ;;
      *) name="${{spec%@*}}"; version=10.0.0 ;;
    esac
    mkdir -p "$prefix/lib/node_modules/$name" "$prefix/bin"
    printf '{{"name":"%s","version":"%s"}}' "$name" "$version" > "$prefix/lib/node_modules/$name/package.json"
    printf '#!/bin/sh\necho %s\n' "$version" > "$prefix/bin/$(basename "$name")"
    chmod +x "$prefix/bin/$(basename "$name")" ;;
  uninstall)
    rm -rf "$3/lib/node_modules/$4" ;;
  *) echo "unexpected npm $cmd" >&2; exit 1 ;;
esac
"#,
            log = log.display()
        ),
    )
}

/// Step names marked skipped on the board, and those that are not.
pub fn skipped(board: &openclaw_supervisor::board::Board) -> (Vec<String>, Vec<String>) {
    let steps = board.snapshot().steps;
    let (skipped, ran): (Vec<_>, Vec<_>) = steps.into_iter().partition(|s| s.skipped);
    (
        skipped.into_iter().map(|s| s.name).collect(),
        ran.into_iter().map(|s| s.name).collect(),
    )
}
