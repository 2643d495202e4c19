//! The measured process: this benchmark binary started again with `--child backup|restore`,
//! doing only what the supervisor does for one backup or one restore (the same library
//! functions, the same multi-threaded runtime), then printing its peak RSS (VmHWM) so that the
//! figure is of a process doing nothing else.

use std::{
    path::{Path, PathBuf},
    time::Duration,
};

use openclaw_api::plan::{S3Connection, S3CredentialsEnv};
use openclaw_supervisor::backup::{
    archive::{self, WriteOptions},
    restore,
    snapshot::{self, Target},
    store::Bucket,
    upload,
};

/// Environment variables the child reads its S3 credentials from.
pub const ACCESS_KEY_ENV: &str = "BENCH_S3_ACCESS_KEY_ID";
/// See [`ACCESS_KEY_ENV`].
pub const SECRET_KEY_ENV: &str = "BENCH_S3_SECRET_ACCESS_KEY";

/// Snapshot id and key prefix of the benchmark's snapshots.
pub const SNAPSHOT_ID: &str = "bench";
pub const PREFIX: &str = "bench/workspace/";

/// What the parent passes.
#[derive(Debug)]
pub struct Job {
    /// `backup`, `restore`, or `archive` (the archive writer alone, into a sink: where the
    /// backup's time goes).
    pub action: String,
    /// S3 endpoint and bucket.
    pub endpoint: String,
    pub bucket: String,
    /// The workspace (backup: read; restore: an empty directory to fill).
    pub dir: PathBuf,
    /// zstd level of the backup.
    pub level: i32,
}

/// Environment variables that override the upload's part size (MiB) and parts in flight, for
/// measuring them (`--tune` of the benchmark).
pub const PART_MIB_ENV: &str = "BENCH_PART_MIB";
/// See [`PART_MIB_ENV`].
pub const IN_FLIGHT_ENV: &str = "BENCH_PARTS_IN_FLIGHT";

impl Job {
    /// The command line of a child running this job.
    pub fn args(&self) -> Vec<String> {
        vec![
            "--child".into(),
            self.action.clone(),
            self.endpoint.clone(),
            self.bucket.clone(),
            self.dir.display().to_string(),
            self.level.to_string(),
        ]
    }

    /// Parses what [`Self::args`] produced (after `--child`).
    pub fn parse(rest: &[String]) -> Result<Job, String> {
        match rest {
            [action, endpoint, bucket, dir, level, ..] => Ok(Job {
                action: action.clone(),
                endpoint: endpoint.clone(),
                bucket: bucket.clone(),
                dir: PathBuf::from(dir),
                level: level.parse().map_err(|e| format!("level {level}: {e}"))?,
            }),
            _ => Err(format!(
                "--child needs: action endpoint bucket dir level, got {rest:?}"
            )),
        }
    }
}

/// Runs `job` and prints `key: value` lines for the parent (`vmhwm_kib` last).
pub fn run(job: &Job) -> Result<(), String> {
    // As the supervisor's main does.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("starting the runtime: {e}"))?;
    runtime.block_on(async {
        let bucket = bucket(&job.endpoint, &job.bucket)?;
        match job.action.as_str() {
            "backup" => backup(bucket, &job.dir, job.level).await,
            "restore" => restore_into(bucket, &job.dir).await,
            "archive" => archive_only(&job.dir, job.level),
            other => Err(format!("unknown child action {other}")),
        }
    })?;
    println!("cpu_seconds: {:.2}", cpu_seconds()?);
    println!("vmhwm_kib: {}", vmhwm_kib()?);
    Ok(())
}

fn bucket(endpoint: &str, bucket: &str) -> Result<Bucket, String> {
    let connection = S3Connection {
        endpoint: Some(endpoint.to_owned()),
        region: Some("us-east-1".to_owned()),
        path_style: true,
        credentials: Some(S3CredentialsEnv {
            access_key_id: ACCESS_KEY_ENV.to_owned(),
            secret_access_key: SECRET_KEY_ENV.to_owned(),
            session_token: None,
        }),
    };
    Bucket::open(&connection, bucket, |name| std::env::var(name).ok())
        .map_err(|e| format!("opening the bucket: {e}"))
}

async fn backup(bucket: Bucket, workspace: &Path, level: i32) -> Result<(), String> {
    let mut tuning = upload::Tuning::default();
    let number = |name: &str| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse::<usize>().ok())
    };
    if let Some(mib) = number(PART_MIB_ENV) {
        tuning.part_size = mib << 20;
    }
    if let Some(parts) = number(IN_FLIGHT_ENV) {
        tuning.parts_in_flight = parts;
    }
    let target = Target {
        bucket,
        prefix: PREFIX.to_owned(),
        instance: "bench/workspace".to_owned(),
        workspace: workspace.to_owned(),
        timeout: Duration::from_secs(3600),
        retention: 1,
        compression_level: level,
        tuning,
        unaborted: Default::default(),
    };
    let taken = snapshot::take(&target, SNAPSHOT_ID, |_| {}, |_| {})
        .await
        .map_err(|e| {
            format!(
                "backup: {}",
                openclaw_supervisor::error_chain::error_chain(&e)
            )
        })?;
    println!("key: {}", taken.key);
    println!("archive_bytes: {}", taken.size);
    println!("files: {}", taken.files);
    Ok(())
}

async fn restore_into(bucket: Bucket, state_dir: &Path) -> Result<(), String> {
    let key = format!(
        "{PREFIX}{SNAPSHOT_ID}{}",
        openclaw_api::backup::ARCHIVE_SUFFIX
    );
    let restored = restore::restore(&bucket, &key, state_dir, false)
        .await
        .map_err(|e| {
            format!(
                "restore: {}",
                openclaw_supervisor::error_chain::error_chain(&e)
            )
        })?;
    println!("files: {}", restored.files);
    Ok(())
}

fn archive_only(workspace: &Path, level: i32) -> Result<(), String> {
    let scratch =
        std::env::temp_dir().join(format!("openclaw-bench-scratch-{}", std::process::id()));
    let options = WriteOptions {
        level,
        ..WriteOptions::new(&scratch)
    };
    let summary = archive::write_archive(workspace, std::io::sink(), &options).map_err(|e| {
        format!(
            "archive: {}",
            openclaw_supervisor::error_chain::error_chain(&e)
        )
    })?;
    let _ = std::fs::remove_dir_all(&scratch);
    println!("files: {}", summary.files);
    Ok(())
}

/// User and system CPU time of this process, all threads (`/proc` counts in USER_HZ, 100).
fn cpu_seconds() -> Result<f64, String> {
    let stat = std::fs::read_to_string("/proc/self/stat")
        .map_err(|e| format!("reading /proc/self/stat: {e}"))?;
    // Fields after the command name: state is the 3rd field, utime the 14th, stime the 15th.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks = |at: usize| fields.get(at).and_then(|v| v.parse::<u64>().ok());
    match (ticks(11), ticks(12)) {
        (Some(user), Some(system)) => Ok((user + system) as f64 / 100.0),
        _ => Err(format!("unexpected /proc/self/stat: {stat}")),
    }
}

/// Peak resident set size of this process.
fn vmhwm_kib() -> Result<u64, String> {
    let status = std::fs::read_to_string("/proc/self/status")
        .map_err(|e| format!("reading /proc/self/status: {e}"))?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| "no VmHWM in /proc/self/status".to_owned())
}
