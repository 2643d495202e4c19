//! The pipeline's `restore` step against a real S3 (SeaweedFS): a snapshot and a `.tar.gz` made
//! by system `tar` restore into an empty workspace; corrupt, truncated, tampered and
//! path-traversal archives are refused with the workspace left as it was and the staging
//! directory removed; a workspace that holds data is never restored over.

#[allow(dead_code)]
mod backup_support;
#[allow(dead_code)]
mod support;

use std::{fs, path::Path, process::Command};

use openclaw_api::{
    backup::{RestoreRecord, RestoreState, manifest_key},
    plan::RestorePlan,
};
use openclaw_supervisor::{
    backup::{restore::STAGING_DIR, snapshot},
    board::Board,
    pipeline::{self, PipelineEnv},
};
use openclaw_testkit::seaweed::SeaweedFs;

fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"))
}

fn bucket_of(s3: &SeaweedFs) -> openclaw_supervisor::backup::store::Bucket {
    backup_support::bucket(s3.endpoint(), s3.bucket(), s3.access_key(), s3.secret_key())
}

/// A snapshot of `workspace` taken by the supervisor's own code under `prefix`; its key.
async fn snapshot_of(s3: &SeaweedFs, workspace: &Path, prefix: &str, id: &str) -> String {
    let plan = backup_support::plan(support::plan(), s3.endpoint(), s3.bucket(), prefix);
    let backup = plan
        .backup
        .clone()
        .unwrap_or_else(|| panic!("no backup plan"));
    let target = snapshot::Target::from_plan(
        &plan,
        &backup,
        workspace,
        backup_support::lookup(s3.access_key(), s3.secret_key()),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    snapshot::take(&target, id, |_| {}, |_| {})
        .await
        .unwrap_or_else(|e| panic!("backup: {e}"))
        .key
}

/// A pipeline environment whose workspace already has the records a fresh volume may hold.
fn fresh_env(home: &Path) -> PipelineEnv {
    let env = support::env(home);
    backup_support::file(&env.state_dir.join("lost+found/#123"), "fsck", 0o600);
    env
}

/// Environment variable carrying a restore job into the helper child.
const JOB_ENV: &str = "OPENCLAW_RESTORE_TEST_JOB";

/// What the helper child reports: the pipeline's error and the board's restore record.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct Outcome {
    error: Option<String>,
    restore: Option<RestoreRecord>,
}

/// Runs the pipeline restoring `key` into `home`'s workspace, in a child process that has the
/// S3 credentials in its environment, as the supervisor has them in the pod.
fn run_restore(s3: &SeaweedFs, home: &Path, key: &str) -> Outcome {
    let job = serde_json::json!({
        "endpoint": s3.endpoint(), "bucket": s3.bucket(), "key": key,
        "home": home.display().to_string(),
    });
    let exe = std::env::current_exe().unwrap_or_else(|e| panic!("{e}"));
    let out = Command::new(exe)
        .args([
            "helper_entry",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
            "-q",
        ])
        .env(JOB_ENV, job.to_string())
        .env(backup_support::KEY_VAR, s3.access_key())
        .env(backup_support::SECRET_VAR, s3.secret_key())
        .output()
        .unwrap_or_else(|e| panic!("run the helper: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix("OUTCOME "))
        .unwrap_or_else(|| {
            panic!(
                "the helper said nothing:\n{stdout}\n{}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
    serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"))
}

/// The helper child: runs the pipeline of [`JOB_ENV`] and prints its [`Outcome`].
#[test]
#[ignore = "helper of the restore tests, run in a child process by them"]
fn helper_entry() {
    let Ok(job) = std::env::var(JOB_ENV) else {
        return;
    };
    let job: serde_json::Value = serde_json::from_str(&job).unwrap_or_else(|e| panic!("{e}"));
    let text = |k: &str| job[k].as_str().unwrap_or_default().to_owned();
    let env = support::env(Path::new(&text("home")));
    let mut plan = support::plan();
    plan.restore = Some(RestorePlan {
        source: format!("s3://{}/{}", text("bucket"), text("key")),
        connection: backup_support::connection(&text("endpoint")),
        bucket: text("bucket"),
        key: text("key"),
        replace: None,
    });
    let runtime = tokio::runtime::Runtime::new().unwrap_or_else(|e| panic!("{e}"));
    let board = Board::default();
    let error = runtime
        .block_on(pipeline::run(&plan, &env, &board))
        .err()
        .map(|e| e.to_string());
    let outcome = Outcome {
        error,
        restore: board.snapshot().backup.restore,
    };
    println!(
        "OUTCOME {}",
        serde_json::to_string(&outcome).unwrap_or_else(|e| panic!("{e}"))
    );
}

/// Asserts a refused restore: the step failed saying why, nothing in the workspace changed,
/// the staging directory is gone, and `/status` reports the failure.
fn assert_refused(env: &PipelineEnv, outcome: Outcome, why: &str) {
    let error = outcome
        .error
        .unwrap_or_else(|| panic!("the restore passed; expected: {why}"));
    assert!(
        error.contains("failed, the workspace was left as it was"),
        "{error}"
    );
    assert!(error.contains(why), "expected {why:?} in {error}");
    assert!(
        error.contains("config: not run: depends on restore which failed"),
        "{error}"
    );
    let tree = backup_support::tree(&env.state_dir);
    assert_eq!(
        tree.keys().collect::<Vec<_>>(),
        ["lost+found", "lost+found/#123"],
        "the workspace changed"
    );
    assert!(
        !env.state_dir.join(STAGING_DIR).exists(),
        "staging left behind"
    );
    let restore = outcome
        .restore
        .unwrap_or_else(|| panic!("no restore record"));
    assert_eq!(restore.state, RestoreState::Failed);
    assert!(restore.error.is_some_and(|e| e.contains(why)));
}

/// The restored workspace as a user compares it: everything but what the pipeline's later
/// steps write (`openclaw.json`) and the supervisor's records.
fn restored_tree(env: &PipelineEnv) -> std::collections::BTreeMap<String, backup_support::Node> {
    let mut tree = backup_support::tree(&env.state_dir);
    tree.retain(|path, _| path != "openclaw.json" && !path.starts_with("lost+found"));
    tree
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snapshot_restores_into_an_empty_workspace_once() {
    let s3 = SeaweedFs::start().await;
    let source = tempdir();
    backup_support::small_workspace(source.path());
    let key = snapshot_of(
        &s3,
        source.path(),
        "backups/team/agent/",
        "20261126T030000Z",
    )
    .await;

    let home = tempdir();
    let env = fresh_env(home.path());
    let outcome = tokio::task::block_in_place(|| run_restore(&s3, home.path(), &key));
    assert_eq!(outcome.error, None);
    let record = outcome
        .restore
        .unwrap_or_else(|| panic!("no restore record"));
    assert_eq!(record.state, RestoreState::Succeeded, "{record:?}");
    assert!(record.verified_manifest);
    assert_eq!(record.files, 4, "{record:?}");
    assert_eq!(restored_tree(&env), backup_support::tree(source.path()));
    assert!(
        env.state_dir.join("openclaw.json").exists(),
        "config ran after the restore"
    );
    assert!(!env.state_dir.join(STAGING_DIR).exists());

    // A restart finds the workspace restored: not restored again, and the status still says
    // what was restored.
    backup_support::file(&env.state_dir.join("workspace/new.md"), "after", 0o644);
    let again = tokio::task::block_in_place(|| run_restore(&s3, home.path(), &key));
    assert_eq!(again.error, None);
    let record = again.restore.unwrap_or_else(|| panic!("no restore record"));
    assert_eq!(record.state, RestoreState::Succeeded);
    assert!(env.state_dir.join("workspace/new.md").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_workspace_with_data_is_never_restored_over() {
    let s3 = SeaweedFs::start().await;
    let source = tempdir();
    backup_support::small_workspace(source.path());
    let key = snapshot_of(
        &s3,
        source.path(),
        "backups/team/agent/",
        "20261126T030000Z",
    )
    .await;
    let home = tempdir();
    let env = fresh_env(home.path());
    backup_support::file(&env.state_dir.join("workspace/notes.md"), "mine", 0o644);
    let before = backup_support::tree(&env.state_dir);
    let outcome = tokio::task::block_in_place(|| run_restore(&s3, home.path(), &key));
    assert_eq!(outcome.error, None);
    let record = outcome
        .restore
        .unwrap_or_else(|| panic!("no restore record"));
    assert_eq!(record.state, RestoreState::SkippedNotEmpty);
    let mut after = backup_support::tree(&env.state_dir);
    after.remove("openclaw.json");
    assert_eq!(after, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tar_gz_made_by_system_tar_restores_without_a_manifest() {
    let s3 = SeaweedFs::start().await;
    let source = tempdir();
    backup_support::small_workspace(source.path());
    let archive = tempdir();
    let path = archive.path().join("backup.tar.gz");
    let status = Command::new("tar")
        .arg("czf")
        .arg(&path)
        .arg("-C")
        .arg(source.path())
        .arg(".")
        .status()
        .unwrap_or_else(|e| panic!("tar is needed by this test: {e}"));
    assert!(status.success());
    let bytes = fs::read(&path).unwrap_or_else(|e| panic!("{e}"));
    bucket_of(&s3)
        .put("path/to/backup.tar.gz", bytes)
        .await
        .unwrap_or_else(|e| panic!("{e}"));

    let home = tempdir();
    let env = fresh_env(home.path());
    let outcome =
        tokio::task::block_in_place(|| run_restore(&s3, home.path(), "path/to/backup.tar.gz"));
    assert_eq!(outcome.error, None);
    let record = outcome
        .restore
        .unwrap_or_else(|| panic!("no restore record"));
    assert_eq!(record.state, RestoreState::Succeeded);
    assert!(!record.verified_manifest);
    assert_eq!(
        record.source,
        format!("s3://{}/path/to/backup.tar.gz", s3.bucket())
    );
    let mut expected = backup_support::tree(source.path());
    // `tar -C dir .` also records the root directory itself; its mode is the workspace's.
    expected.remove(".");
    assert_eq!(restored_tree(&env), expected);
}

/// A tar.gz with one entry whose raw name and type are written as given (no sanitizing).
fn hostile_tar_gz(name: &str, kind: tar::EntryType, link: Option<&str>) -> Vec<u8> {
    let mut header = tar::Header::new_gnu();
    let raw = &mut header.as_old_mut().name;
    raw[..name.len()].copy_from_slice(name.as_bytes());
    if let Some(link) = link {
        header.as_old_mut().linkname[..link.len()].copy_from_slice(link.as_bytes());
    }
    header.set_entry_type(kind);
    let body: &[u8] = if kind == tar::EntryType::Regular {
        b"evil\n"
    } else {
        b""
    };
    header.set_size(body.len() as u64);
    header.set_mode(0o644);
    header.set_cksum();
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let mut builder = tar::Builder::new(gz);
    builder
        .append(&header, body)
        .unwrap_or_else(|e| panic!("{e}"));
    builder
        .into_inner()
        .and_then(flate2::write::GzEncoder::finish)
        .unwrap_or_else(|e| panic!("{e}"))
}

/// One bad archive: its key, its bytes, the manifest put next to it, why it must be refused.
type Case = (&'static str, Vec<u8>, Option<Vec<u8>>, &'static str);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_archives_are_refused_and_the_workspace_is_left_as_it_was() {
    let s3 = SeaweedFs::start().await;
    let bucket = bucket_of(&s3);
    let source = tempdir();
    backup_support::small_workspace(source.path());
    backup_support::random_file(&source.path().join("media/blob.bin"), 2 << 20, 5);
    let good = snapshot_of(&s3, source.path(), "good/", "20261126T030000Z").await;
    let other = tempdir();
    backup_support::file(&other.path().join("other.txt"), "another workspace", 0o644);
    let foreign = snapshot_of(&s3, other.path(), "other/", "20261126T030000Z").await;
    let archive = bucket
        .get_small(&good)
        .await
        .ok()
        .flatten()
        .unwrap_or_default();
    let manifest = bucket
        .get_small(&manifest_key(&good))
        .await
        .ok()
        .flatten()
        .unwrap_or_default();
    assert!(archive.len() > 1 << 20 && !manifest.is_empty());

    let mut cases: Vec<Case> = Vec::new();
    let mut flipped = archive.clone();
    let middle = flipped.len() / 2;
    flipped[middle] ^= 0xff;
    cases.push((
        "corrupt/x.tar.zst",
        flipped.clone(),
        None,
        "archive corrupt",
    ));
    cases.push((
        "corrupt-m/x.tar.zst",
        flipped,
        Some(manifest.clone()),
        "checksum mismatch",
    ));
    cases.push((
        "truncated/x.tar.zst",
        archive[..archive.len() / 2].to_vec(),
        Some(manifest.clone()),
        "archive truncated",
    ));
    // A complete, valid archive of another workspace under this snapshot's manifest.
    let other_archive = bucket
        .get_small(&foreign)
        .await
        .ok()
        .flatten()
        .unwrap_or_default();
    cases.push((
        "swapped/x.tar.zst",
        other_archive,
        Some(manifest.clone()),
        "in the archive but not in the manifest",
    ));
    // The archive intact, one file's checksum in the manifest changed.
    let mut edited: serde_json::Value = serde_json::from_slice(&manifest).unwrap_or_default();
    if let Some(entry) = edited["entries"]
        .as_array_mut()
        .and_then(|e| e.iter_mut().find(|e| e["path"] == "workspace/notes.md"))
    {
        entry["sha256"] = "0".repeat(64).into();
    }
    cases.push((
        "tampered/x.tar.zst",
        archive.clone(),
        Some(edited.to_string().into_bytes()),
        "checksum mismatch on workspace/notes.md",
    ));
    cases.push((
        "traversal/x.tar.gz",
        hostile_tar_gz("../evil.txt", tar::EntryType::Regular, None),
        None,
        "refused entry ../evil.txt: parent directory component",
    ));
    cases.push((
        "absolute/x.tar.gz",
        hostile_tar_gz("/tmp/evil.txt", tar::EntryType::Regular, None),
        None,
        "refused entry /tmp/evil.txt: absolute path",
    ));
    cases.push((
        "link/x.tar.gz",
        hostile_tar_gz("escape", tar::EntryType::Symlink, Some("../../../etc")),
        None,
        "the target leaves the archive root",
    ));
    cases.push(("missing/x.tar.zst", Vec::new(), None, "does not exist"));

    for (key, body, manifest, why) in cases {
        if key.starts_with("missing/") {
            // Nothing uploaded.
        } else {
            bucket
                .put(key, body)
                .await
                .unwrap_or_else(|e| panic!("{e}"));
        }
        if let Some(manifest) = manifest {
            bucket
                .put(&manifest_key(key), manifest)
                .await
                .unwrap_or_else(|e| panic!("{e}"));
        }
        let home = tempdir();
        let env = fresh_env(home.path());
        let outcome = tokio::task::block_in_place(|| run_restore(&s3, home.path(), key));
        assert_refused(&env, outcome, why);
    }
}
