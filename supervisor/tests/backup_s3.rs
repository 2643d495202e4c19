//! Backups against a real S3 (SeaweedFS `weed mini`), through the supervisor's `POST /backup`
//! and `/status`: the request contract, a byte-identical round trip (modes, symlinks, a SQLite
//! database written during the backup), S3 killed mid-upload, wrong credentials, retention;
//! and the S3 credentials never reach the gateway child.

#[allow(dead_code)]
mod backup_support;
mod process_support;
#[allow(dead_code)]
mod support;

use std::{
    fs,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::Duration,
};

use backup_support::{Supervisor, TOKEN, succeeded};
use openclaw_api::backup::{BackupState, manifest_key};
use openclaw_supervisor::backup::restore;
use openclaw_testkit::seaweed::SeaweedFs;

const PREFIX: &str = "backups/team/agent/";

fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"))
}

fn bucket_of(s3: &SeaweedFs) -> openclaw_supervisor::backup::store::Bucket {
    backup_support::bucket(s3.endpoint(), s3.bucket(), s3.access_key(), s3.secret_key())
}

async fn supervisor(s3: &SeaweedFs, workspace: &std::path::Path, retention: u32) -> Supervisor {
    let mut plan = backup_support::plan(support::plan(), s3.endpoint(), s3.bucket(), PREFIX);
    if let Some(backup) = &mut plan.backup {
        backup.retention = retention;
    }
    Supervisor::start(
        &plan,
        workspace,
        backup_support::lookup(s3.access_key(), s3.secret_key()),
    )
    .await
}

async fn listing(s3: &SeaweedFs) -> Vec<String> {
    let mut keys = bucket_of(s3)
        .list(PREFIX)
        .await
        .unwrap_or_else(|e| panic!("list: {e}"));
    keys.sort();
    keys
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn post_backup_follows_the_contract() {
    let s3 = SeaweedFs::start().await;
    let workspace = tempdir();
    backup_support::small_workspace(workspace.path());
    // Large enough that the first backup still runs while the next requests arrive.
    backup_support::random_file(&workspace.path().join("big.bin"), 96 << 20, 7);
    let sup = supervisor(&s3, workspace.path(), 7).await;
    let body = |id: &str| format!(r#"{{"id":"{id}","reason":"deletion"}}"#);

    assert_eq!(sup.post(None, &body("d1")).await.0, 401);
    assert_eq!(sup.post(Some("wrong"), &body("d1")).await.0, 401);
    assert_eq!(sup.post(Some(TOKEN), "{not json").await.0, 400);
    assert_eq!(sup.post(Some(TOKEN), &body("a/b")).await.0, 400);

    let (code, started) = sup.post(Some(TOKEN), &body("d1")).await;
    assert_eq!(code, 202, "{started}");
    assert_eq!(started["state"], "Running");
    assert_eq!(started["reason"], "deletion");
    let (code, again) = sup.post(Some(TOKEN), &body("d1")).await;
    assert_eq!(
        (code, &again["id"]),
        (202, &started["id"]),
        "same id while running: {again}"
    );
    let (code, busy) = sup.post(Some(TOKEN), &body("d2")).await;
    assert_eq!(code, 409, "another id while one runs: {busy}");
    assert_eq!(busy["id"], "d1");
    let status = sup.status().await;
    assert_eq!(status["backup"]["enabled"], true);
    assert_eq!(status["backup"]["current"]["id"], "d1");

    let done = sup.finished("d1", Duration::from_secs(300)).await;
    let key = succeeded(&done);
    let (code, finished) = sup.post(Some(TOKEN), &body("d1")).await;
    assert_eq!(code, 200, "{finished}");
    assert_eq!(finished["state"], "Succeeded");
    assert_eq!(finished["key"], key.as_str());
    assert_eq!(
        finished["checksum"],
        done.checksum.as_deref().unwrap_or_default()
    );
    assert!(
        done.size_bytes > 96 << 20,
        "random data does not shrink: {done:?}"
    );
    assert!(done.files >= 5, "{done:?}");
    assert!(done.duration_seconds.is_some_and(|d| d > 0.0));
    assert_eq!(listing(&s3).await, [manifest_key(&key), key.clone()]);

    let metrics = sup.metrics().await;
    for line in [
        "openclaw_supervisor_backups_total{reason=\"deletion\",result=\"succeeded\"} 1",
        &format!(
            "openclaw_supervisor_backup_last_size_bytes {}",
            done.size_bytes
        ),
    ] {
        assert!(
            metrics.lines().any(|l| l == line),
            "{line} missing in\n{metrics}"
        );
    }

    // A supervisor whose plan has no S3 target refuses with 412.
    let plain = Supervisor::start(&support::plan(), workspace.path(), |_| None).await;
    assert_eq!(plain.post(Some(TOKEN), &body("d3")).await.0, 412);
    plain.stop();
    sup.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_round_trip_through_s3_is_byte_identical() {
    let s3 = SeaweedFs::start().await;
    let workspace = tempdir();
    let root = workspace.path();
    backup_support::small_workspace(root);
    backup_support::random_file(&root.join("media/blob.bin"), 3 << 20, 11);

    // A live SQLite database in WAL mode, written to while the backup runs.
    let db_path = root.join("memory/main.sqlite");
    fs::create_dir_all(db_path.parent().unwrap_or(root)).unwrap_or_else(|e| panic!("{e}"));
    let db = rusqlite::Connection::open(&db_path).unwrap_or_else(|e| panic!("{e}"));
    db.pragma_update(None, "journal_mode", "WAL")
        .unwrap_or_else(|e| panic!("{e}"));
    db.execute_batch("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL)")
        .unwrap_or_else(|e| panic!("{e}"));
    let stop = Arc::new(AtomicBool::new(false));
    let rows = Arc::new(AtomicU64::new(0));
    let writer = {
        let (stop, rows) = (Arc::clone(&stop), Arc::clone(&rows));
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                db.execute(
                    "INSERT INTO notes (body) VALUES (?1)",
                    [format!("note {}", rows.load(Ordering::Relaxed))],
                )
                .unwrap_or_else(|e| panic!("insert: {e}"));
                rows.fetch_add(1, Ordering::Relaxed);
            }
            db
        })
    };
    while rows.load(Ordering::Relaxed) < 100 {
        std::thread::sleep(Duration::from_millis(5));
    }
    let before = tree_without_db(root);

    let sup = supervisor(&s3, root, 7).await;
    let record = sup.backup("round-trip").await;
    stop.store(true, Ordering::Relaxed);
    let _db = writer
        .join()
        .unwrap_or_else(|_| panic!("the writer panicked"));
    let key = succeeded(&record);
    assert!(rows.load(Ordering::Relaxed) > 100);

    let target = tempdir();
    let restored = restore::restore(&bucket_of(&s3), &key, target.path(), false)
        .await
        .unwrap_or_else(|e| panic!("restore: {e}"));
    assert!(restored.verified_manifest, "{restored:?}");
    assert_eq!(tree_without_db(target.path()), before);
    assert!(!target.path().join(restore::STAGING_DIR).exists());

    let copy = rusqlite::Connection::open(target.path().join("memory/main.sqlite"))
        .unwrap_or_else(|e| panic!("{e}"));
    let check: String = copy
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(check, "ok");
    let count: i64 = copy
        .query_row("SELECT count(*) FROM notes", [], |r| r.get(0))
        .unwrap_or_else(|e| panic!("{e}"));
    let written = i64::try_from(rows.load(Ordering::Relaxed)).unwrap_or(i64::MAX);
    assert!((100..=written).contains(&count), "{count} rows restored");
    sup.stop();
}

/// The tree without the live database's files (they change during and after the backup).
fn tree_without_db(
    root: &std::path::Path,
) -> std::collections::BTreeMap<String, backup_support::Node> {
    let mut tree = backup_support::tree(root);
    tree.retain(|path, _| !path.starts_with("memory/main.sqlite"));
    tree
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_down_mid_upload_fails_cleanly_and_the_next_attempt_succeeds() {
    let mut s3 = SeaweedFs::start().await;
    let workspace = tempdir();
    backup_support::random_file(&workspace.path().join("big.bin"), 200 << 20, 3);
    let sup = supervisor(&s3, workspace.path(), 7).await;

    let (code, body) = sup
        .post(Some(TOKEN), r#"{"id":"first","reason":"schedule"}"#)
        .await;
    assert_eq!(code, 202, "{body}");
    // Wait until parts are on their way, then kill S3.
    let start = std::time::Instant::now();
    loop {
        let status = sup.status().await;
        let sent = status["backup"]["current"]["sizeBytes"]
            .as_u64()
            .unwrap_or(0);
        if sent >= 24 << 20 {
            break;
        }
        assert!(
            status["backup"]["current"].is_object(),
            "the backup ended before S3 went down: {status}"
        );
        assert!(start.elapsed() < Duration::from_secs(120), "{status}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    s3.stop().await;
    let failed = sup.finished("first", Duration::from_secs(180)).await;
    assert_eq!(failed.state, BackupState::Failed, "{failed:?}");
    let error = failed.error.clone().unwrap_or_default();
    assert!(
        error.contains(s3.endpoint()),
        "the error names the endpoint: {error}"
    );
    assert!(!error.contains(s3.secret_key()));
    let status = sup.status().await;
    assert!(status["backup"]["current"].is_null(), "{status}");
    assert!(status["backup"]["lastSuccess"].is_null(), "{status}");

    s3.restart().await;
    assert_eq!(
        listing(&s3).await,
        Vec::<String>::new(),
        "no partial snapshot is listed"
    );
    let second = sup.backup("second").await;
    let key = succeeded(&second);
    assert_eq!(listing(&s3).await, [manifest_key(&key), key]);
    sup.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_credentials_fail_with_a_clear_message_without_the_secret() {
    let s3 = SeaweedFs::start().await;
    let workspace = tempdir();
    backup_support::small_workspace(workspace.path());
    let plan = backup_support::plan(support::plan(), s3.endpoint(), s3.bucket(), PREFIX);
    let wrong_secret = "not-the-secret-8c1f2e";
    let sup = Supervisor::start(
        &plan,
        workspace.path(),
        backup_support::lookup(s3.access_key(), wrong_secret),
    )
    .await;
    let failed = sup.backup("bad-creds").await;
    assert_eq!(failed.state, BackupState::Failed);
    let error = failed.error.unwrap_or_default();
    assert!(
        error.starts_with("S3 refused the credentials (SignatureDoesNotMatch) for bucket ")
            || error.starts_with("S3 refused the credentials (InvalidAccessKeyId) for bucket "),
        "{error}"
    );
    assert!(
        error.contains(s3.bucket()) && error.contains(s3.endpoint()),
        "{error}"
    );
    let status = sup.status().await.to_string();
    for secret in [wrong_secret, s3.secret_key()] {
        assert!(
            !error.contains(secret) && !status.contains(secret),
            "secret leaked: {status}"
        );
    }
    assert_eq!(listing(&s3).await, Vec::<String>::new());
    sup.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_prunes_exactly_the_oldest_snapshots() {
    let s3 = SeaweedFs::start().await;
    let workspace = tempdir();
    backup_support::small_workspace(workspace.path());
    // An orphan archive older than any snapshot (an upload that died long ago) and an object
    // that is not a snapshot.
    let bucket = bucket_of(&s3);
    let orphan = format!("{PREFIX}20000101T000000Z.tar.zst");
    let other = format!("{PREFIX}README.txt");
    for key in [&orphan, &other] {
        bucket
            .put(key, b"x".to_vec())
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    }
    let sup = supervisor(&s3, workspace.path(), 2).await;
    let mut keys = Vec::new();
    for n in 1..=4 {
        let record = sup.backup(&format!("r{n}")).await;
        keys.push(succeeded(&record));
    }
    let mut expected = vec![
        keys[2].clone(),
        manifest_key(&keys[2]),
        keys[3].clone(),
        manifest_key(&keys[3]),
        other,
    ];
    expected.sort();
    assert_eq!(listing(&s3).await, expected, "snapshots: {keys:?}");
    sup.stop();
}

/// What the gateway child checks: its own environment and its parent's (the supervisor's).
const SNOOP: &str = r#"
if env | grep -q c4n4ry; then echo OWN leaked; else echo OWN clean; fi
if cat /proc/$PPID/environ >/dev/null 2>&1; then
  if tr '\0' '\n' < /proc/$PPID/environ | grep -q c4n4ry; then echo ENVIRON leaked; else echo ENVIRON clean; fi
else echo ENVIRON denied; fi
"#;

/// Runs the "supervisor" helper (a plan with backups) as the pod's UID with `vars` in its
/// environment; its report lines.
fn gateway_sees(vars: &[(&str, &str)]) -> Vec<String> {
    let mut helper = process_support::helper("backup-credentials", Some(process_support::POD_UID));
    helper.envs(vars.iter().copied());
    let out = helper.output().unwrap_or_else(|e| panic!("helper: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "helper failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
        .lines()
        .filter(|l| {
            ["OWN", "ENVIRON", "SUPERVISOR"]
                .iter()
                .any(|p| l.starts_with(p))
        })
        .map(str::to_owned)
        .collect()
}

#[test]
fn s3_credentials_reach_the_supervisor_but_never_the_gateway() {
    process_support::require_root();
    // Control: the same value in a variable that is not a credential reaches the gateway.
    let control = gateway_sees(&[("SOME_SETTING", "c4n4ry")]);
    assert!(
        control.contains(&"OWN leaked".to_owned()),
        "control: {control:?}"
    );

    let seen = gateway_sees(&[
        (openclaw_api::plan::S3_ACCESS_KEY_ID_ENV, "key-c4n4ry"),
        (
            openclaw_api::plan::S3_SECRET_ACCESS_KEY_ENV,
            "secret-c4n4ry",
        ),
        (openclaw_api::plan::S3_SESSION_TOKEN_ENV, "token-c4n4ry"),
    ]);
    assert!(
        seen.contains(&"SUPERVISOR can open the bucket".to_owned()),
        "{seen:?}"
    );
    assert!(
        seen.contains(&"OWN clean".to_owned()),
        "the gateway got the credentials: {seen:?}"
    );
    assert!(
        seen.contains(&"ENVIRON denied".to_owned()),
        "the gateway could read the supervisor's environment: {seen:?}"
    );
}

/// Helper roles, run in a re-executed copy of this binary (see `process_support::helper`).
#[test]
#[ignore = "helper entry point for the tests above, not a test"]
fn helper_entry() {
    use openclaw_supervisor::{
        backup::store::Bucket,
        process::{harden, supervise},
        run,
    };
    let Some(role) = process_support::role() else {
        return;
    };
    assert_eq!(role, "backup-credentials");
    // As `main` does first thing.
    harden::set_non_dumpable().unwrap_or_else(|e| panic!("{e}"));
    let mut plan = support::plan();
    {
        plan.backup = Some(openclaw_api::plan::BackupPlan {
            connection: openclaw_api::plan::S3Connection {
                endpoint: Some("http://127.0.0.1:1".into()),
                region: None,
                path_style: true,
                credentials: Some(openclaw_api::plan::S3CredentialsEnv::default()),
            },
            bucket: "b".into(),
            prefix: "p/".into(),
            schedule: None,
            retention: 1,
            timeout_seconds: 60,
            compression_level: 3,
            drill: None,
        });
        let backup = plan.backup.as_ref().unwrap_or_else(|| panic!("backup"));
        // The supervisor itself reads them (the bucket is not contacted).
        if Bucket::open(&backup.connection, &backup.bucket, |n| {
            std::env::var(n).ok()
        })
        .is_ok()
        {
            println!("SUPERVISOR can open the bucket");
        }
    }
    let argv = ["/bin/sh".to_owned(), "-c".to_owned(), SNOOP.to_owned()];
    let home = std::env::temp_dir();
    let command = run::gateway_command(&argv, &plan, &[], &home, Duration::from_secs(1))
        .unwrap_or_else(|e| panic!("{e}"));
    let hardening = harden::HardenPlan::gateway().unwrap_or_else(|e| panic!("{e}"));
    let mut cmd = supervise::command(&command, Some(Arc::new(hardening)));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let out = runtime
        .block_on(async { tokio::time::timeout(Duration::from_secs(30), cmd.output()).await })
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|e| panic!("{e}"));
    print!("{}", String::from_utf8_lossy(&out.stdout));
    eprint!("{}", String::from_utf8_lossy(&out.stderr));
    std::process::exit(out.status.code().unwrap_or(1));
}
