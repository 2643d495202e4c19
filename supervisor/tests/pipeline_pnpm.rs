//! The pnpm step against a loopback npm registry: pnpm installed without npm where
//! `npm install --global` would put it, runnable from the gateway's `PATH`, skipped on a restart,
//! and a tarball that does not match the registry's integrity refused.

#[allow(dead_code)]
mod support;

use std::{fs, process::Command};

use openclaw_supervisor::{board::Board, pipeline};
use support::npm_registry::{self, Registry, version};

fn registry_with(versions: Vec<npm_registry::Version>) -> Registry {
    let mut registry = Registry::default();
    registry.packages.insert("pnpm".into(), versions);
    registry
}

#[tokio::test]
async fn installs_pnpm_from_the_registry_without_npm() {
    let (url, registry) = npm_registry::start(registry_with(vec![
        version("9.15.0", npm_registry::pnpm("9.15.0")),
        version("10.2.1", npm_registry::pnpm("10.2.1")),
        version("10.11.0", npm_registry::pnpm("10.11.0")),
        version("11.0.0", npm_registry::pnpm("11.0.0")),
    ]))
    .await;
    let home = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let mut env = support::env(home.path());
    env.mirrors.npm_registry = Some(format!("{url}/"));
    env.npm = home.path().join("no-npm-here");
    let mut plan = support::plan();
    plan.runtime_deps.pnpm = true;

    let board = Board::default();
    let outcome = pipeline::run(&plan, &env, &board)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        board.snapshot().versions.get("pnpm").map(String::as_str),
        Some("10.11.0"),
        "the newest 10.x, as `pnpm@10` selects"
    );
    let path = outcome
        .gateway_env
        .iter()
        .find(|(k, _)| k == "PATH")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    assert!(
        path.starts_with(&format!("{}:", env.bin_dir().display())),
        "{path}"
    );
    for bin in ["pnpm", "pnpx"] {
        let out = Command::new("sh")
            .args(["-c", bin])
            .env("PATH", &path)
            .output()
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "10.11.0\n",
            "{bin} runs from the gateway's PATH: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let package = env.local_dir().join("lib/node_modules/pnpm");
    assert!(package.join("dist/pnpm.cjs").is_file());
    assert_eq!(
        fs::read_link(env.bin_dir().join("pnpm")).ok(),
        Some("../lib/node_modules/pnpm/bin/pnpm.cjs".into()),
        "the same layout as npm install --global"
    );
    {
        let seen = registry.lock().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(seen.downloads(), 1);
        assert!(
            seen.accepts
                .iter()
                .all(|a| a.starts_with("application/vnd.npm.install-v1+json")),
            "asks for the abbreviated document: {:?}",
            seen.accepts
        );
    }

    // A restart with nothing changed: skipped, nothing downloaded.
    let warm = Board::default();
    pipeline::run(&plan, &env, &warm)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let (skipped, _) = support::skipped(&warm);
    assert!(skipped.contains(&"pnpm".to_owned()), "{skipped:?}");
    assert_eq!(
        registry.lock().map(|r| r.requests.len()).unwrap_or(0),
        2,
        "one document and one tarball, on the first start only"
    );

    // Another version requested: installed over the first.
    env.pnpm_version = "9".into();
    let board = Board::default();
    pipeline::run(&plan, &env, &board)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        board.snapshot().versions.get("pnpm").map(String::as_str),
        Some("9.15.0")
    );
    let out = Command::new(env.bin_dir().join("pnpm"))
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "9.15.0\n");
}

#[tokio::test]
async fn a_tarball_that_does_not_match_its_integrity_is_refused() {
    let mut tampered = version("10.0.0", npm_registry::pnpm("10.0.0"));
    tampered.integrity_of = Some(b"the tarball that was published".to_vec());
    let (url, _registry) = npm_registry::start(registry_with(vec![tampered])).await;
    let home = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let mut env = support::env(home.path());
    env.mirrors.npm_registry = Some(url);
    let mut plan = support::plan();
    plan.runtime_deps.pnpm = true;

    let board = Board::default();
    let error = match pipeline::run(&plan, &env, &board).await {
        Err(e) => e.to_string(),
        Ok(_) => panic!("a tampered tarball must not be installed"),
    };
    assert!(
        error.contains(
            "pnpm: refused pnpm@10.0.0: the tarball's sha512 does not match: the registry says "
        ),
        "{error}"
    );
    let tarball = npm_registry::integrity(&npm_registry::pnpm("10.0.0"));
    let tarball = tarball.trim_start_matches("sha512-");
    assert!(
        error.ends_with(&format!(", the tarball has {tarball}")),
        "{error}"
    );
    assert!(!env.bin_dir().join("pnpm").exists());
    assert!(
        !env.local_dir().join("lib/node_modules/pnpm").exists(),
        "nothing unpacked"
    );
    let steps = board.snapshot().steps;
    let pnpm = steps.iter().find(|s| s.name == "pnpm");
    assert!(
        pnpm.and_then(|s| s.error.as_deref())
            .is_some_and(|e| e.contains("sha512")),
        "{steps:?}"
    );
}

#[tokio::test]
async fn an_unknown_version_says_what_was_asked_and_where() {
    let (url, _registry) = npm_registry::start(registry_with(vec![version(
        "10.0.0",
        npm_registry::pnpm("10.0.0"),
    )]))
    .await;
    let home = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let mut env = support::env(home.path());
    env.mirrors.npm_registry = Some(url.clone());
    env.pnpm_version = "12".into();
    let mut plan = support::plan();
    plan.runtime_deps.pnpm = true;
    let error = match pipeline::run(&plan, &env, &Board::default()).await {
        Err(e) => e.to_string(),
        Ok(_) => panic!("pnpm@12 does not exist here"),
    };
    assert!(
        error.contains(&format!("no version of pnpm on {url} matches \"12\"")),
        "{error}"
    );
}
