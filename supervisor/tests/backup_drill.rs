//! Restore drills against a real S3 (SeaweedFS): the newest snapshot restores into scratch
//! space, matches its manifest and its databases pass `integrity_check`; a snapshot damaged in
//! the bucket after it was written, and a database that was already broken when it was backed
//! up, fail the drill with the reason. The workspace is never touched and the scratch copy is
//! always deleted.

#[allow(dead_code)]
mod backup_support;
#[allow(dead_code)]
mod support;

use std::{fs, path::Path};

use backup_support::{Supervisor, succeeded, tree};
use openclaw_api::{
    backup::{DrillRecord, DrillResult},
    plan::DrillPlan,
};
use openclaw_testkit::seaweed::SeaweedFs;
use rusqlite::Connection;

fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"))
}

/// A workspace with files, symlinks, a large file and a live WAL-mode database.
fn workspace(root: &Path) {
    backup_support::small_workspace(root);
    backup_support::random_file(&root.join("workspace/blob.bin"), 3 << 20, 7);
    fs::create_dir_all(root.join("state")).unwrap_or_else(|e| panic!("{e}"));
    let db = Connection::open(root.join("state/openclaw.sqlite")).unwrap_or_else(|e| panic!("{e}"));
    db.execute_batch(
        "PRAGMA journal_mode = WAL;
         CREATE TABLE sessions (id INTEGER PRIMARY KEY, body TEXT);
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000)
         INSERT INTO sessions (body) SELECT printf('session %d %s', i, hex(randomblob(64))) FROM n;",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    // Left open: the backup copies it through the online backup API while it is live.
    std::mem::forget(db);
}

/// A supervisor backing `home` up to `s3` under `prefix`, drilling into `scratch`.
async fn supervisor(s3: &SeaweedFs, home: &Path, scratch: &Path, prefix: &str) -> Supervisor {
    let mut plan = backup_support::plan(support::plan(), s3.endpoint(), s3.bucket(), prefix);
    if let Some(backup) = plan.backup.as_mut() {
        backup.drill = Some(DrillPlan {
            schedule: "0 4 * * 0".into(),
            scratch_dir: scratch.display().to_string(),
        });
    }
    Supervisor::start(
        &plan,
        home,
        backup_support::lookup(s3.access_key(), s3.secret_key()),
    )
    .await
}

async fn drill(sup: &Supervisor) -> DrillRecord {
    sup.backups
        .drill_now()
        .await
        .unwrap_or_else(|| panic!("the plan has a drill"))
}

/// Runs a drill that must end with `result` (the first of its kind), and checks what every
/// drill guarantees: the workspace untouched, the scratch copy gone, `/status` and `/metrics`
/// saying how it ended.
async fn drill_ending(
    sup: &Supervisor,
    home: &Path,
    scratch: &Path,
    result: DrillResult,
) -> DrillRecord {
    let before = tree(home);
    let record = drill(sup).await;
    assert_eq!(record.result, result, "{record:?}");
    assert_eq!(tree(home), before, "a drill never writes to the workspace");
    assert_scratch_empty(scratch);
    let status = sup.status().await;
    let reported: DrillRecord = serde_json::from_value(status["backup"]["lastDrill"].clone())
        .unwrap_or_else(|e| panic!("{e}: {status}"));
    assert_eq!(reported, record);
    let label = match result {
        DrillResult::Passed => "passed",
        DrillResult::Failed => "failed",
        DrillResult::NoSnapshot => "no_snapshot",
    };
    let metrics = sup.metrics().await;
    let line = format!("openclaw_supervisor_backup_drills_total{{result=\"{label}\"}} 1");
    assert!(metrics.contains(&line), "no {line} in {metrics}");
    record
}

/// The scratch directory holds nothing once a drill is over.
fn assert_scratch_empty(scratch: &Path) {
    let left: Vec<_> = fs::read_dir(scratch)
        .map(|entries| entries.filter_map(Result::ok).map(|e| e.path()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "the drill left {left:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_good_snapshot_passes_the_drill() {
    let s3 = SeaweedFs::start().await;
    let (home, scratch) = (tempdir(), tempdir());
    workspace(home.path());
    let sup = supervisor(&s3, home.path(), scratch.path(), "team/openclaw/good/").await;

    drill_ending(&sup, home.path(), scratch.path(), DrillResult::NoSnapshot).await;

    let key = succeeded(&sup.backup("b1").await);
    let record = drill_ending(&sup, home.path(), scratch.path(), DrillResult::Passed).await;
    assert_eq!(record.key.as_deref(), Some(key.as_str()));
    // notes.md, run.sh, key, s1.jsonl, blob.bin and the database.
    assert_eq!((record.files, record.databases), (6, 1), "{record:?}");
    assert!(record.error.is_none());
    let metrics = sup.metrics().await;
    assert!(metrics.contains("openclaw_supervisor_backup_drill_last_pass_timestamp_seconds"));
    sup.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snapshot_damaged_in_the_bucket_fails_the_drill() {
    let s3 = SeaweedFs::start().await;
    let (home, scratch) = (tempdir(), tempdir());
    workspace(home.path());
    let sup = supervisor(&s3, home.path(), scratch.path(), "team/openclaw/damaged/").await;
    let key = succeeded(&sup.backup("b1").await);
    assert_eq!(drill(&sup).await.result, DrillResult::Passed);

    // One byte flipped in the middle of the archive, after the manifest was written.
    let bucket =
        backup_support::bucket(s3.endpoint(), s3.bucket(), s3.access_key(), s3.secret_key());
    let mut archive = bucket
        .get_small(&key)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|| panic!("no archive at {key}"));
    let middle = archive.len() / 2;
    archive[middle] ^= 0x55;
    bucket
        .put(&key, archive)
        .await
        .unwrap_or_else(|e| panic!("{e}"));

    let record = drill_ending(&sup, home.path(), scratch.path(), DrillResult::Failed).await;
    assert_eq!(record.key.as_deref(), Some(key.as_str()));
    let error = record.error.clone().unwrap_or_default();
    assert!(
        error.contains(&key),
        "the error names the snapshot: {error}"
    );
    sup.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_broken_before_the_backup_fails_integrity_check() {
    let s3 = SeaweedFs::start().await;
    let (home, scratch) = (tempdir(), tempdir());
    backup_support::small_workspace(home.path());
    // A database whose table pages were overwritten: the archive holds it faithfully, and
    // only opening it tells that it cannot be restored into something usable.
    let path = home.path().join("memory/main.sqlite");
    fs::create_dir_all(home.path().join("memory")).unwrap_or_else(|e| panic!("{e}"));
    let db = Connection::open(&path).unwrap_or_else(|e| panic!("{e}"));
    db.execute_batch(
        "CREATE TABLE t (id INTEGER PRIMARY KEY, body TEXT);
         CREATE INDEX t_body ON t (body);
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000)
         INSERT INTO t (body) SELECT hex(randomblob(40)) FROM n;",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    drop(db);
    let mut bytes = fs::read(&path).unwrap_or_else(|e| panic!("{e}"));
    let page = 4096;
    assert!(bytes.len() > 20 * page);
    for byte in &mut bytes[10 * page + 16..10 * page + 1024] {
        *byte = 0x41;
    }
    fs::write(&path, &bytes).unwrap_or_else(|e| panic!("{e}"));

    let sup = supervisor(&s3, home.path(), scratch.path(), "team/openclaw/broken-db/").await;
    succeeded(&sup.backup("b1").await);
    let record = drill_ending(&sup, home.path(), scratch.path(), DrillResult::Failed).await;
    let error = record.error.clone().unwrap_or_default();
    assert!(
        error.contains("memory/main.sqlite") && error.contains("integrity_check"),
        "{error}"
    );
    sup.stop();
}
