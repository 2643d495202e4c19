//! The skills step against a loopback ClawHub: install with `origin.json`/`lock.json` and the
//! fingerprint on the board, the moderation gate, pins, unsafe archives, 429 with `Retry-After`,
//! idempotent restarts, removal, and `npm:` packages.

#[allow(dead_code)]
mod support;

use std::{fs, time::Instant};

use openclaw_api::instance::SkillRef;
use openclaw_supervisor::{
    board::Board,
    pipeline::{self, PipelineError, Secret},
};
use sha2::{Digest, Sha256};
use support::clawhub::{self, Hub, Moderation, skill};

fn sha(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn weather_zip() -> Vec<u8> {
    support::zip(&[
        ("SKILL.md", "---\nname: weather\n---\n# Weather\n", 0o644),
        ("scripts/hello.sh", "#!/bin/sh\necho hi\n", 0o755),
        ("logo.png", "\u{1}binary", 0o644),
    ])
}

fn refs(list: &[&str]) -> Vec<SkillRef> {
    list.iter()
        .map(|r| r.parse().unwrap_or_else(|e| panic!("{e}")))
        .collect()
}

fn error_of(result: Result<pipeline::PipelineOutcome, PipelineError>) -> String {
    match result {
        Err(e) => e.to_string(),
        Ok(_) => panic!("the pipeline should have failed"),
    }
}

#[tokio::test]
async fn installs_like_the_cli_and_reports_the_fingerprint() {
    let mut hub = Hub::default();
    hub.skills.insert(
        "weather".into(),
        skill(
            "steipete",
            Moderation::Clean,
            &[
                ("1.0.0", support::zip(&[("SKILL.md", "old", 0o644)])),
                ("1.2.0", weather_zip()),
            ],
        ),
    );
    hub.rate_limit_downloads = 1;
    let (url, hub) = clawhub::start(hub).await;
    let home = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let mut env = support::env(home.path());
    env.clawhub_url = url.clone();
    env.clawhub_token = Some(Secret("clh_test".into()));
    let mut plan = support::plan();
    plan.skills = refs(&["@steipete/weather"]);
    let board = Board::default();

    let started = Instant::now();
    pipeline::run(&plan, &env, &board)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        started.elapsed().as_millis() >= 900,
        "the 429's Retry-After: 1 was honoured"
    );

    let dir = env.state_dir.join("skills/weather");
    assert_eq!(
        fs::read_to_string(dir.join("scripts/hello.sh"))
            .ok()
            .as_deref(),
        Some("#!/bin/sh\necho hi\n")
    );
    let origin: serde_json::Value =
        serde_json::from_slice(&fs::read(dir.join(".clawhub/origin.json")).unwrap_or_default())
            .unwrap_or_default();
    assert_eq!(origin["version"], 1);
    assert_eq!(origin["registry"], url.as_str());
    assert_eq!(origin["slug"], "weather");
    assert_eq!(origin["installedVersion"], "1.2.0");
    assert!(
        origin["installedAt"]
            .as_u64()
            .is_some_and(|t| t > 1_700_000_000_000)
    );
    let lock: serde_json::Value = serde_json::from_slice(
        &fs::read(env.state_dir.join(".clawhub/lock.json")).unwrap_or_default(),
    )
    .unwrap_or_default();
    assert_eq!(lock["version"], 1);
    assert_eq!(lock["skills"]["weather"]["version"], "1.2.0");

    // The fingerprint as the CLI builds it: text files only, sorted by localeCompare.
    let payload = format!(
        "scripts/hello.sh:{}\nSKILL.md:{}",
        sha(b"#!/bin/sh\necho hi\n"),
        sha(b"---\nname: weather\n---\n# Weather\n")
    );
    let skills = board.snapshot().skills;
    assert_eq!(skills.len(), 1);
    assert_eq!(skills[0].name, "@steipete/weather");
    assert_eq!(skills[0].version.as_deref(), Some("1.2.0"));
    assert_eq!(skills[0].sha256, Some(sha(payload.as_bytes())));

    let hub = hub
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    assert_eq!(hub.downloads(), 2, "one 429, one retry");
    assert!(
        hub.authorizations.iter().all(|a| a == "Bearer clh_test") && !hub.authorizations.is_empty()
    );
}

#[tokio::test]
async fn moderation_gate_refuses_blocked_and_suspicious_skills() {
    let mut hub = Hub::default();
    hub.skills.insert(
        "clawhub1".into(),
        skill("x", Moderation::Blocked, &[("1.0.0", weather_zip())]),
    );
    hub.skills.insert(
        "risky".into(),
        skill("x", Moderation::Suspicious, &[("1.0.0", weather_zip())]),
    );
    let (url, hub) = clawhub::start(hub).await;
    let home = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let mut env = support::env(home.path());
    env.clawhub_url = url;
    let mut plan = support::plan();
    plan.skills = refs(&["clawhub1", "risky"]);

    let board = Board::default();
    let error = error_of(pipeline::run(&plan, &env, &board).await);
    assert!(
        error.contains("clawhub1: refused: ClawHub flags clawhub1 as malware (installs a stealer)"),
        "{error}"
    );
    assert!(
        error.contains("risky: refused: ClawHub flags risky as suspicious"),
        "{error}"
    );
    assert!(
        error.contains("OPENCLAW_ALLOW_SUSPICIOUS_SKILLS"),
        "{error}"
    );
    assert!(!env.state_dir.join("skills/clawhub1").exists());
    assert_eq!(
        hub.lock().map(|h| h.downloads()).unwrap_or(9),
        0,
        "nothing downloaded before the gate"
    );
    let snapshot = board.snapshot();
    assert!(snapshot.pipeline_failed && !snapshot.pipeline_done);

    // Allowing suspicious skills never lets a blocked one through.
    env.allow_suspicious_skills = true;
    let error = error_of(pipeline::run(&plan, &env, &Board::default()).await);
    assert!(
        error.contains("malware") && !error.contains("suspicious;"),
        "{error}"
    );
    assert!(env.state_dir.join("skills/risky/SKILL.md").exists());
}

#[tokio::test]
async fn pins_and_unsafe_archives_are_refused() {
    let slip = support::zip(&[
        ("SKILL.md", "x", 0o644),
        ("../../escaped.sh", "rm -rf ~", 0o755),
    ]);
    let mut hub = Hub::default();
    hub.skills.insert(
        "weather".into(),
        skill("a", Moderation::Clean, &[("1.2.0", weather_zip())]),
    );
    hub.skills.insert(
        "slip".into(),
        skill("a", Moderation::Clean, &[("1.0.0", slip)]),
    );
    let (url, _hub) = clawhub::start(hub).await;
    let home = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let mut env = support::env(home.path());
    env.clawhub_url = url;
    let wrong = "0".repeat(64);
    let mut plan = support::plan();
    plan.skills = refs(&[&format!("weather@1.2.0#sha256:{wrong}"), "slip"]);

    let error = error_of(pipeline::run(&plan, &env, &Board::default()).await);
    let actual = sha(&weather_zip());
    assert!(
        error.contains(&format!(
            "the archive's SHA-256 is {actual}, the pin expects {wrong}"
        )),
        "{error}"
    );
    assert!(
        error.contains("slip: unsafe archive: unsafe entry \"../../escaped.sh\""),
        "{error}"
    );
    assert!(!home.path().join("escaped.sh").exists() && !env.state_dir.join("escaped.sh").exists());
    assert!(!env.state_dir.join("skills/weather").exists());

    // The right pin installs.
    plan.skills = refs(&[&format!("weather@1.2.0#sha256:{actual}")]);
    pipeline::run(&plan, &env, &Board::default())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(env.state_dir.join("skills/weather/SKILL.md").exists());
}

#[tokio::test]
async fn restarts_are_idempotent_and_removed_skills_go_away() {
    let mut hub = Hub::default();
    hub.skills.insert(
        "weather".into(),
        skill("a", Moderation::Clean, &[("1.2.0", weather_zip())]),
    );
    hub.skills.insert(
        "notes".into(),
        skill(
            "a",
            Moderation::Clean,
            &[("0.1.0", support::zip(&[("SKILL.md", "# Notes", 0o644)]))],
        ),
    );
    let (url, hub) = clawhub::start(hub).await;
    let home = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let mut env = support::env(home.path());
    env.clawhub_url = url;
    env.npm = support::fake_npm(home.path());
    env.mirrors.npm_registry = Some("http://127.0.0.1:1/npm".into());
    let mut plan = support::plan();
    plan.skills = refs(&["weather", "npm:@scope/tool"]);

    pipeline::run(&plan, &env, &Board::default())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let downloads = || hub.lock().map(|h| h.downloads()).unwrap_or(0);
    assert_eq!(downloads(), 1);
    assert!(
        env.bin_dir().join("tool").exists(),
        "npm package installed under .local"
    );
    let npm_log = fs::read_to_string(home.path().join("npm.log")).unwrap_or_default();
    assert!(npm_log.contains("pack @scope/tool@latest"), "{npm_log}");
    assert!(
        npm_log.contains("registry=http://127.0.0.1:1/npm ignore-scripts=true"),
        "{npm_log}"
    );

    // Same plan: the step is skipped, nothing is fetched.
    let board = Board::default();
    let outcome = pipeline::run(&plan, &env, &board)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let (skipped, ran) = support::skipped(&board);
    assert!(
        skipped.contains(&"skills".to_owned()),
        "{skipped:?} / {ran:?}"
    );
    assert_eq!(downloads(), 1);
    assert_eq!(
        board.snapshot().skills.len(),
        2,
        "a skipped step still reports its skills"
    );
    assert!(
        outcome
            .gateway_env
            .iter()
            .any(|(k, v)| k == "PATH" && v.starts_with(&env.bin_dir().display().to_string()))
    );

    // One more skill: only it is downloaded. An agent's edit of an installed skill is repaired.
    fs::write(env.state_dir.join("skills/weather/SKILL.md"), "tampered")
        .unwrap_or_else(|e| panic!("{e}"));
    plan.skills = refs(&["weather", "notes", "npm:@scope/tool"]);
    pipeline::run(&plan, &env, &Board::default())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(downloads(), 3);
    let restored =
        fs::read_to_string(env.state_dir.join("skills/weather/SKILL.md")).unwrap_or_default();
    assert!(restored.contains("# Weather"), "{restored}");

    // Dropped from the plan: removed from disk and from the lock.
    plan.skills = refs(&["notes"]);
    pipeline::run(&plan, &env, &Board::default())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(!env.state_dir.join("skills/weather").exists());
    assert!(
        !env.local_dir()
            .join("lib/node_modules/@scope/tool")
            .exists()
    );
    let lock = fs::read_to_string(env.state_dir.join(".clawhub/lock.json")).unwrap_or_default();
    assert!(
        lock.contains("notes") && !lock.contains("weather"),
        "{lock}"
    );
}
