//! The whole pipeline against loopback ClawHub, npm registry, Ollama and PyPI servers and a fake
//! npm: a cold start runs every step, a restart with nothing changed skips every one (and hands
//! the gateway the same environment), an agent's edit of the config re-runs only `config`, and a
//! failed restore stops what depends on it.

#[allow(dead_code)]
mod support;

use std::{fs, process::Command};

use openclaw_api::{
    instance::RuntimeDeps,
    plan::{CaBundlePlan, OllamaPlan, RestorePlan},
};
use openclaw_supervisor::{board::Board, pipeline};
use openclaw_testkit::ollama;
use support::clawhub;

const PEM: &str = "-----BEGIN CERTIFICATE-----\nMIIBtest\n-----END CERTIFICATE-----\n";

#[tokio::test]
async fn a_restart_with_nothing_changed_skips_every_step() {
    let mut hub = clawhub::Hub::default();
    let weather = support::zip(&[("SKILL.md", "# Weather\n", 0o644)]);
    hub.skills.insert(
        "weather".into(),
        clawhub::skill("a", clawhub::Moderation::Clean, &[("1.0.0", weather)]),
    );
    let (hub_url, hub) = clawhub::start(hub).await;
    let mut sidecar = ollama::Sidecar::default();
    sidecar
        .library
        .insert("llama3.2:latest".into(), ollama::two_layers(1_000_000));
    let (ollama_url, sidecar) = ollama::start(sidecar).await;
    let (pypi, pypi_index) = support::pypi::start().await;
    let mut npm = support::npm_registry::Registry::default();
    npm.packages.insert(
        "pnpm".into(),
        vec![support::npm_registry::version(
            "10.0.0",
            support::npm_registry::pnpm("10.0.0"),
        )],
    );
    let (npm_url, npm) = support::npm_registry::start(npm).await;

    let home = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let mut env = support::env(home.path());
    env.clawhub_url = hub_url;
    env.npm = support::fake_npm(home.path());
    env.mirrors.npm_registry = Some(npm_url);
    env.mirrors.pypi_index = pypi;
    env.mirrors.python_install = Some("http://127.0.0.1:1/python-build-standalone".into());
    fs::write(
        &env.system_ca_file,
        "-----BEGIN CERTIFICATE-----\nSYSTEM\n-----END CERTIFICATE-----\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let custom_ca = home.path().join("custom-ca.crt");
    fs::write(&custom_ca, PEM).unwrap_or_else(|e| panic!("{e}"));

    let mut plan = support::plan();
    plan.ca_bundle = Some(CaBundlePlan {
        path: custom_ca.display().to_string(),
    });
    plan.skills = vec!["weather".parse().unwrap_or_else(|e| panic!("{e}"))];
    plan.runtime_deps = RuntimeDeps {
        pnpm: true,
        python: true,
    };
    plan.ollama = Some(OllamaPlan {
        host: ollama_url,
        models: vec!["llama3.2".into()],
        gpu: 1,
    });

    // Cold start: everything runs (restore has nothing to do).
    let cold = Board::default();
    let first = pipeline::run(&plan, &env, &cold)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let (skipped, ran) = support::skipped(&cold);
    assert_eq!(skipped, ["restore"]);
    assert_eq!(
        ran,
        ["config", "ca-bundle", "skills", "pnpm", "python", "ollama"]
    );

    let env_of = |key: &str| {
        first
            .gateway_env
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
    };
    let bundle = env.state_dir.join(".supervisor/ca-bundle.pem");
    assert_eq!(
        env_of("NODE_EXTRA_CA_CERTS"),
        Some(custom_ca.display().to_string())
    );
    assert_eq!(env_of("SSL_CERT_FILE"), Some(bundle.display().to_string()));
    assert!(
        fs::read_to_string(&bundle)
            .unwrap_or_default()
            .contains("SYSTEM")
    );
    let path = env_of("PATH").unwrap_or_default();
    assert!(
        path.starts_with(&format!("{}:", env.bin_dir().display())),
        "{path}"
    );
    assert!(path.ends_with(&env.path), "{path}");

    let python = Command::new(env.bin_dir().join("python3"))
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned());
    assert_eq!(python.ok().as_deref(), Some("Python 3.12.7\n"));
    let uv_log = fs::read_to_string(env.local_dir().join("uv.log")).unwrap_or_default();
    assert!(
        uv_log.contains("mirror=http://127.0.0.1:1/python-build-standalone"),
        "{uv_log}"
    );
    let versions = cold.snapshot().versions;
    for (name, version) in [
        ("pnpm", "10.0.0"),
        ("python", "3.12.7"),
        ("uv", "0.9.5"),
        ("ollama", "0.12.6"),
    ] {
        assert_eq!(
            versions.get(name).map(String::as_str),
            Some(version),
            "{versions:?}"
        );
    }
    let config: serde_json::Value =
        serde_json::from_slice(&fs::read(env.state_dir.join("openclaw.json")).unwrap_or_default())
            .unwrap_or_default();
    assert_eq!(config["gateway"]["mode"], "local");
    assert_eq!(
        config["agents"]["defaults"]["model"]["primary"],
        "ollama/llama3.2"
    );

    // Restart, nothing changed: every step skipped, the same environment for the gateway.
    let npm_calls = fs::read_to_string(home.path().join("npm.log"))
        .unwrap_or_default()
        .lines()
        .count();
    let upstream_requests = || {
        [
            hub.lock().map(|h| h.requests.len()).unwrap_or(0),
            npm.lock().map(|r| r.requests.len()).unwrap_or(0),
            pypi_index.lock().map(|i| i.requests.len()).unwrap_or(0),
        ]
    };
    let cold_requests = upstream_requests();
    assert_eq!(
        pypi_index.lock().map(|i| i.downloads()).unwrap_or(0),
        1,
        "the cold start fetched the uv wheel"
    );
    let warm = Board::default();
    let started = std::time::Instant::now();
    let second = pipeline::run(&plan, &env, &warm)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    eprintln!("warm pipeline: {:?}", started.elapsed());
    let (skipped, ran) = support::skipped(&warm);
    assert!(ran.is_empty(), "ran again: {ran:?}");
    assert_eq!(skipped.len(), 7);
    assert_eq!(second.gateway_env, first.gateway_env);
    let snapshot = warm.snapshot();
    assert!(snapshot.pipeline_done);
    assert_eq!(snapshot.skills, cold.snapshot().skills);
    assert_eq!(snapshot.versions, versions);
    assert_eq!(snapshot.vram().map(|v| v.healthy), Some(true));
    assert_eq!(hub.lock().map(|h| h.downloads()).unwrap_or(0), 1);
    assert_eq!(
        upstream_requests(),
        cold_requests,
        "no upstream request on a warm restart"
    );
    assert_eq!(sidecar.lock().map(|s| s.pulls.len()).unwrap_or(0), 1);
    assert_eq!(
        fs::read_to_string(home.path().join("npm.log"))
            .unwrap_or_default()
            .lines()
            .count(),
        npm_calls
    );

    // The agent edits its config: only `config` runs; the agent's key survives the merge and
    // the gateway keys come back.
    let config_path = env.state_dir.join("openclaw.json");
    fs::write(
        &config_path,
        "// edited by the agent\n{ gateway: { mode: 'remote' }, tools: { web: true, }, }",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let edited = Board::default();
    pipeline::run(&plan, &env, &edited)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let (_, ran) = support::skipped(&edited);
    assert_eq!(ran, ["config"]);
    let config: serde_json::Value =
        serde_json::from_slice(&fs::read(&config_path).unwrap_or_default()).unwrap_or_default();
    assert_eq!(config["tools"]["web"], true);
    assert_eq!(config["gateway"]["mode"], "local");
    assert_eq!(config["gateway"]["port"], 18789);
    use std::os::unix::fs::PermissionsExt;
    let mode = fs::metadata(&config_path)
        .map(|m| m.permissions().mode() & 0o777)
        .unwrap_or(0);
    assert_eq!(mode, 0o600, "owner-writable, no one else");
}

#[tokio::test]
async fn a_failed_restore_fails_loudly_and_blocks_its_dependents() {
    let home = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let env = support::env(home.path());
    let mut plan = support::plan();
    // Credentials named by the plan but absent from the environment: the restore cannot run.
    plan.restore = Some(RestorePlan {
        source: "backups/team/agent/2026-11-26.tar.zst".into(),
        connection: openclaw_api::plan::S3Connection {
            endpoint: Some("http://127.0.0.1:1".into()),
            region: None,
            path_style: true,
            credentials: Some(openclaw_api::plan::S3CredentialsEnv {
                access_key_id: "PIPELINE_RESTART_TEST_UNSET_KEY_ID".into(),
                secret_access_key: "PIPELINE_RESTART_TEST_UNSET_SECRET".into(),
                session_token: None,
            }),
        },
        bucket: "backups".into(),
        key: "team/agent/2026-11-26.tar.zst".into(),
        replace: None,
    });
    let board = Board::default();
    let error = match pipeline::run(&plan, &env, &board).await {
        Err(e) => e.to_string(),
        Ok(_) => panic!("a restore cannot silently pass"),
    };
    assert!(
        error.contains(
            "restore: restore from backups/team/agent/2026-11-26.tar.zst failed, \
             the workspace was left as it was: the S3 credential variable \
             PIPELINE_RESTART_TEST_UNSET_KEY_ID is not set"
        ),
        "{error}"
    );
    let restore = board.snapshot().backup.restore;
    assert_eq!(
        restore.map(|r| r.state),
        Some(openclaw_api::backup::RestoreState::Failed)
    );
    assert!(
        error.contains("config: not run: depends on restore which failed"),
        "{error}"
    );
    assert!(!env.state_dir.join("openclaw.json").exists());

    // Into a workspace that holds data, a restore never runs: skipped, and the rest goes on.
    fs::create_dir_all(env.state_dir.join("workspace")).unwrap_or_else(|e| panic!("{e}"));
    let board = Board::default();
    pipeline::run(&plan, &env, &board)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let (skipped, ran) = support::skipped(&board);
    assert_eq!(
        (skipped, ran),
        (vec!["restore".to_owned()], vec!["config".to_owned()])
    );
}
