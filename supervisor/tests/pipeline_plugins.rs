//! The plugins step against a loopback npm registry: `spec.plugins` installed into
//! `~/.openclaw/extensions`, where the gateway discovers them, shown in `/status`; kept on a
//! restart, removed when no longer listed; runtime dependencies through npm with scripts off;
//! a tampered tarball, a wrong pin and a package that is not a plugin refused.

#[allow(dead_code)]
mod support;

use std::{fs, path::Path};

use openclaw_api::instance::{SkillRef, status::StepState};
use openclaw_supervisor::{board::Board, pipeline};
use sha2::{Digest, Sha256};
use support::npm_registry::{self, Registry, version};

fn plugin(name: &str, id: &str, version: &str) -> Vec<u8> {
    let manifest = serde_json::json!({
        "name": name,
        "version": version,
        "type": "module",
        "openclaw": {"extensions": ["./index.js"]},
    })
    .to_string();
    let plugin = serde_json::json!({"id": id, "configSchema": {"type": "object"}}).to_string();
    npm_registry::tgz(&[
        ("package.json", &manifest, 0o644),
        ("openclaw.plugin.json", &plugin, 0o644),
        ("index.js", "export default { register() {} };\n", 0o644),
    ])
}

fn plugins(list: &[&str]) -> Vec<SkillRef> {
    list.iter()
        .map(|p| SkillRef::parse_plugin(p).unwrap_or_else(|e| panic!("{e}")))
        .collect()
}

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn error_of(result: Result<pipeline::PipelineOutcome, pipeline::PipelineError>) -> String {
    match result {
        Err(e) => e.to_string(),
        Ok(_) => panic!("the pipeline should have failed"),
    }
}

#[tokio::test]
async fn installs_plugins_where_the_gateway_discovers_them() {
    let mut registry = Registry::default();
    registry.packages.insert(
        "@openclaw/matrix".into(),
        vec![
            version("0.3.0", plugin("@openclaw/matrix", "matrix", "0.3.0")),
            version("0.4.0", plugin("@openclaw/matrix", "matrix", "0.4.0")),
        ],
    );
    registry.packages.insert(
        "openclaw-weather".into(),
        vec![version(
            "1.0.0",
            plugin("openclaw-weather", "weather", "1.0.0"),
        )],
    );
    let (url, registry) = npm_registry::start(registry).await;
    let home = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let mut env = support::env(home.path());
    env.mirrors.npm_registry = Some(url);
    env.npm = home.path().join("no-npm-here");
    let mut plan = support::plan();
    plan.plugins = plugins(&["@openclaw/matrix@0.3.0", "npm:openclaw-weather"]);

    let board = Board::default();
    pipeline::run(&plan, &env, &board)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let extensions = env.state_dir.join("extensions");
    let matrix = extensions.join("@openclaw+matrix");
    assert!(read(&matrix.join("openclaw.plugin.json")).contains("\"matrix\""));
    assert!(read(&matrix.join("package.json")).contains("\"0.3.0\""));
    assert!(extensions.join("openclaw-weather/index.js").is_file());
    let snapshot = board.snapshot();
    let step = snapshot.steps.iter().find(|s| s.name == "plugins");
    assert_eq!(
        step.map(|s| s.state),
        Some(StepState::Succeeded),
        "{snapshot:?}"
    );
    assert_eq!(
        snapshot
            .versions
            .get("plugin:@openclaw/matrix")
            .map(String::as_str),
        Some("0.3.0")
    );
    assert_eq!(
        snapshot
            .versions
            .get("plugin:openclaw-weather")
            .map(String::as_str),
        Some("1.0.0"),
        "no version means latest"
    );
    assert_eq!(registry.lock().map(|r| r.downloads()).unwrap_or(0), 2);

    // Restart with nothing changed: skipped; the versions still on the board.
    let warm = Board::default();
    pipeline::run(&plan, &env, &warm)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let (skipped, _) = support::skipped(&warm);
    assert!(skipped.contains(&"plugins".to_owned()), "{skipped:?}");
    assert_eq!(warm.snapshot().versions, snapshot.versions);
    assert_eq!(registry.lock().map(|r| r.downloads()).unwrap_or(0), 2);

    // The plan drops weather and moves matrix on: weather removed, matrix upgraded.
    plan.plugins = plugins(&["@openclaw/matrix@0.4.0"]);
    let board = Board::default();
    pipeline::run(&plan, &env, &board)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(!extensions.join("openclaw-weather").exists());
    assert!(read(&matrix.join("package.json")).contains("\"0.4.0\""));
    assert_eq!(registry.lock().map(|r| r.downloads()).unwrap_or(0), 3);
    // A directory the step did not install is left alone.
    fs::create_dir_all(extensions.join("hand-made")).unwrap_or_else(|e| panic!("{e}"));
    plan.plugins = plugins(&["@openclaw/matrix@0.4.0", "openclaw-weather@1.0.0"]);
    pipeline::run(&plan, &env, &Board::default())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(extensions.join("hand-made").is_dir());
    assert_eq!(
        registry.lock().map(|r| r.downloads()).unwrap_or(0),
        4,
        "matrix kept without a download, weather fetched again"
    );
}

#[tokio::test]
async fn refuses_tampered_tarballs_wrong_pins_and_packages_that_are_not_plugins() {
    let good = plugin("good-plugin", "good", "1.0.0");
    let mut tampered = version("1.0.0", plugin("tampered-plugin", "tampered", "1.0.0"));
    tampered.integrity_of = Some(b"what was published".to_vec());
    let mut registry = Registry::default();
    registry
        .packages
        .insert("good-plugin".into(), vec![version("1.0.0", good.clone())]);
    registry
        .packages
        .insert("tampered-plugin".into(), vec![tampered]);
    registry.packages.insert(
        "left-pad".into(),
        vec![version(
            "1.3.0",
            npm_registry::tgz(&[("package.json", r#"{"name":"left-pad"}"#, 0o644)]),
        )],
    );
    let (url, _registry) = npm_registry::start(registry).await;
    let home = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let mut env = support::env(home.path());
    env.mirrors.npm_registry = Some(url);
    let extensions = env.state_dir.join("extensions");

    let mut plan = support::plan();
    plan.plugins = plugins(&["tampered-plugin"]);
    let error = error_of(pipeline::run(&plan, &env, &Board::default()).await);
    assert!(
        error.contains("plugins: tampered-plugin: refused tampered-plugin@1.0.0: the tarball's sha512 does not match"),
        "{error}"
    );
    assert!(!extensions.join("tampered-plugin").exists());

    plan.plugins = plugins(&["left-pad"]);
    let error = error_of(pipeline::run(&plan, &env, &Board::default()).await);
    assert!(
        error.contains("refused left-pad: not an OpenClaw plugin (none of openclaw.plugin.json"),
        "{error}"
    );
    assert!(!extensions.join("left-pad").exists());

    let wrong = "0".repeat(64);
    plan.plugins = plugins(&[&format!("good-plugin#sha256:{wrong}")]);
    let error = error_of(pipeline::run(&plan, &env, &Board::default()).await);
    let actual = hex::encode(Sha256::digest(&good));
    assert!(
        error.contains(&format!(
            "refused good-plugin: the npm tarball's SHA-256 is {actual}, the pin expects {wrong}"
        )),
        "{error}"
    );
    assert!(!extensions.join("good-plugin").exists());

    // The right pin installs it.
    plan.plugins = plugins(&[&format!("good-plugin#sha256:{actual}")]);
    pipeline::run(&plan, &env, &Board::default())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        extensions
            .join("good-plugin/openclaw.plugin.json")
            .is_file()
    );
}

#[tokio::test]
async fn runtime_dependencies_come_from_npm_with_scripts_disabled() {
    let mut with_deps = version("2.0.0", plugin("dep-plugin", "dep", "2.0.0"));
    with_deps.dependencies = [("zod".to_owned(), "^3".to_owned())].into();
    let mut registry = Registry::default();
    registry
        .packages
        .insert("dep-plugin".into(), vec![with_deps]);
    let (url, _registry) = npm_registry::start(registry).await;
    let home = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let mut env = support::env(home.path());
    env.mirrors.npm_registry = Some(url.clone());
    let log = home.path().join("npm.log");
    env.npm = support::script(
        &home.path().join("npm"),
        &format!(
            "#!/bin/sh\necho \"$* cwd=$(pwd) registry=$NPM_CONFIG_REGISTRY ignore-scripts=$NPM_CONFIG_IGNORE_SCRIPTS\" >> '{}'\nmkdir -p node_modules/zod && echo '{{\"name\":\"zod\"}}' > node_modules/zod/package.json\n",
            log.display()
        ),
    );
    let mut plan = support::plan();
    plan.plugins = plugins(&["dep-plugin"]);
    pipeline::run(&plan, &env, &Board::default())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let dir = env.state_dir.join("extensions/dep-plugin");
    assert!(dir.join("node_modules/zod/package.json").is_file());
    let log = read(&log);
    assert!(
        log.starts_with("install --omit=dev --omit=peer --legacy-peer-deps --no-package-lock cwd="),
        "{log}"
    );
    assert!(
        log.trim_end()
            .ends_with(&format!("registry={url} ignore-scripts=true")),
        "{log}"
    );
    assert!(
        !log.contains(&dir.display().to_string()),
        "npm ran in a staging directory, swapped in afterwards: {log}"
    );
}
