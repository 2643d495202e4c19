//! The backup benchmark (`cargo xtask bench backup`), printed as `name: value` lines:
//!
//! - `backup_ratio`: seconds of `tar -cf - DIR | zstd -3 -T0 > /dev/null` over seconds of the
//!   supervisor's backup of the same workspace to a local SeaweedFS (archive, per-file sha256
//!   manifest, multipart upload); higher is better, 1.0 is as fast as the baseline;
//! - `restore_ratio`: seconds of `zstd -d < archive | tar -x -C DIR` (the archive on local disk)
//!   over seconds of the supervisor's restore from SeaweedFS into an empty directory (download,
//!   checksum verification, staging, switch-over);
//! - `backup_vs_rclone`, `restore_vs_rclone`: the same, against what a user would run instead
//!   to put the same object into the same SeaweedFS and back: `tar | zstd -3 -T0 | rclone rcat`
//!   and `rclone cat | zstd -d | tar -x` (see `backup/peer.rs`); above 1 means we are faster;
//! - `peak_rss_mib_1g`, `peak_rss_mib_4g`: peak RSS (VmHWM) of a process doing only the
//!   supervisor's backup, for a 1 GiB and a 4 GiB workspace;
//! - `level_<n>_*`: the backup's seconds, archive size and compression ratio at each zstd level
//!   of `--levels` (default 1,3,6,9); with `--tune`, `tune_*` lines for upload part sizes and
//!   parts in flight (see `backup/sweep.rs`).
//!
//! Diagnostics on other lines: the supervisor's CPU seconds for the backup, and the archive
//! writer alone into a sink (`archive_to_sink_seconds`: compression and hashing without S3).
//!
//! Each run uses a fresh SeaweedFS; baseline, supervisor and peer take turns going first; the
//! medians of `--runs` (default 3) are reported, with the raw seconds and sizes on other lines.
//! The workspaces are generated (see `backup/workspace.rs`) under `--dir` (default: the
//! system's temporary directory) and removed afterwards; the free space is checked first.
//! Progress goes to stderr.

#[path = "backup/child.rs"]
mod child;
#[path = "backup/harness.rs"]
mod harness;
#[path = "backup/peer.rs"]
mod peer;
#[path = "backup/sweep.rs"]
mod sweep;
#[path = "backup/workspace.rs"]
mod workspace;

use std::{
    fs,
    path::{Path, PathBuf},
    process::ExitCode,
    time::Instant,
};

use child::{IN_FLIGHT_ENV, Job, PART_MIB_ENV};
use harness::{check_files, child, median, mib, quote, shell, timed};
use openclaw_testkit::seaweed::SeaweedFs;

type Result<T, E = String> = std::result::Result<T, E>;

const MIB: u64 = 1 << 20;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let outcome = match args.iter().position(|a| a == "--child") {
        Some(at) => Job::parse(&args[at + 1..]).and_then(|job| child::run(&job)),
        None => Options::parse(&args).and_then(|options| {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| format!("starting the runtime: {e}"))?
                .block_on(bench(&options))
        }),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

#[derive(Debug)]
struct Options {
    runs: usize,
    small_mib: u64,
    large_mib: u64,
    dir: PathBuf,
    /// zstd levels whose speed and size are reported (besides the default, 3).
    levels: Vec<i32>,
    /// Also measure the upload's part size and parts in flight.
    tune: bool,
}

impl Options {
    fn parse(args: &[String]) -> Result<Options> {
        let mut options = Options {
            runs: 3,
            small_mib: 1024,
            large_mib: 4096,
            dir: std::env::temp_dir(),
            levels: vec![1, 3, 6, 9],
            tune: false,
        };
        let mut args = args.iter();
        while let Some(arg) = args.next() {
            let mut value = || {
                args.next()
                    .cloned()
                    .ok_or_else(|| format!("{arg} needs a value"))
            };
            let number = |text: String| {
                text.parse::<u64>()
                    .map_err(|e| format!("{arg} {text}: {e}"))
            };
            match arg.as_str() {
                "--runs" => options.runs = number(value()?)?.max(1) as usize,
                "--small-mib" => options.small_mib = number(value()?)?.max(1),
                "--large-mib" => options.large_mib = number(value()?)?,
                "--dir" => options.dir = PathBuf::from(value()?),
                "--levels" => {
                    options.levels = value()?
                        .split(',')
                        .filter(|l| !l.is_empty())
                        .map(|l| l.parse().map_err(|e| format!("--levels {l}: {e}")))
                        .collect::<Result<_>>()?;
                }
                "--tune" => options.tune = true,
                // cargo bench passes --bench to harness-less benchmarks.
                "--bench" => {}
                other => return Err(format!("unknown argument {other}")),
            }
        }
        Ok(options)
    }
}

/// Name suffix of a size's figures: `1g` for 1024 MiB, `300m` for 300 MiB.
fn size_name(mib: u64) -> String {
    if mib.is_multiple_of(1024) {
        format!("{}g", mib / 1024)
    } else {
        format!("{mib}m")
    }
}

async fn bench(options: &Options) -> Result<()> {
    let root = tempfile::Builder::new()
        .prefix("openclaw-backup-bench-")
        .tempdir_in(&options.dir)
        .map_err(|e| format!("creating a directory under {}: {e}", options.dir.display()))?;
    let small = size_name(options.small_mib);
    let mut figures: Vec<(String, String)> = Vec::new();

    // Workspace, the baseline's archive, SeaweedFS's copy and two restored trees.
    ensure_free(root.path(), options.small_mib * MIB * 7 / 2)?;
    let (workspace, generated) = generate(root.path(), options.small_mib)?;
    let archive = root.path().join("baseline.tar.zst");
    shell(&format!(
        "tar -cf - -C {} . | zstd -3 -T0 -q -o {}",
        quote(&workspace),
        quote(&archive)
    ))?;
    let archive_bytes = fs::metadata(&archive).map(|m| m.len()).unwrap_or(0);

    let mut backup_baseline = Vec::new();
    let mut backup_ours = Vec::new();
    let mut backup_peer = Vec::new();
    let mut restore_baseline = Vec::new();
    let mut restore_ours = Vec::new();
    let mut restore_peer = Vec::new();
    let mut peer_sync = Vec::new();
    let mut backup_cpu = Vec::new();
    let mut archive_only = Vec::new();
    let mut backup_rss = Vec::new();
    let mut restore_rss = Vec::new();
    let mut our_archive_bytes = 0;
    let mut peer_bytes = 0;
    for run in 0..options.runs {
        eprintln!("==> run {} of {} ({small})", run + 1, options.runs);
        let s3 = SeaweedFs::start_in(root.path()).await;

        // Baseline, ours and the peer take turns going first.
        let mut ours = None;
        let mut times = [0.0; 3];
        for which in (0..3).map(|i| (i + run) % 3) {
            times[which] = match which {
                0 => timed(|| {
                    shell(&format!(
                        "tar -cf - -C {} . | zstd -3 -T0 -q > /dev/null",
                        quote(&workspace)
                    ))
                })?,
                1 => {
                    let o = child(&s3, "backup", &workspace, 3, &[])?;
                    let seconds = o.seconds;
                    ours = Some(o);
                    seconds
                }
                _ => timed(|| peer::backup(&s3, &workspace, 3))?,
            };
        }
        let o = ours.ok_or("the backup did not run")?;
        backup_baseline.push(times[0]);
        backup_ours.push(o.seconds);
        backup_peer.push(times[2]);
        backup_rss.push(o.vmhwm_kib);
        backup_cpu.push(o.cpu_seconds);
        our_archive_bytes = o.number("archive_bytes").unwrap_or(0);
        peer_bytes = peer::size(&s3)?;
        check_files(&o, generated.files, "backup")?;
        let alone = child(&s3, "archive", &workspace, 3, &[])?;
        check_files(&alone, generated.files, "archive")?;
        archive_only.push(alone.seconds);

        let dirs = ["baseline", "ours", "peer"].map(|n| root.path().join(format!("restored-{n}")));
        for dir in &dirs {
            fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
        }
        let mut ours = None;
        for which in (0..3).map(|i| (i + run) % 3) {
            times[which] = match which {
                0 => timed(|| {
                    shell(&format!(
                        "zstd -d -q < {} | tar -x -C {}",
                        quote(&archive),
                        quote(&dirs[0])
                    ))
                })?,
                1 => {
                    let o = child(&s3, "restore", &dirs[1], 3, &[])?;
                    let seconds = o.seconds;
                    ours = Some(o);
                    seconds
                }
                _ => {
                    let restored = timed(|| peer::restore(&s3, &dirs[2]))?;
                    // What making the peer's tree durable costs (ours syncs before it
                    // switches the tree in), measured apart from the peer's own time.
                    peer_sync.push(timed(|| shell(&format!("sync -f {}", quote(&dirs[2]))))?);
                    restored
                }
            };
        }
        let o = ours.ok_or("the restore did not run")?;
        restore_baseline.push(times[0]);
        restore_ours.push(o.seconds);
        restore_peer.push(times[2]);
        restore_rss.push(o.vmhwm_kib);
        check_files(&o, generated.files, "restore")?;
        for dir in &dirs {
            fs::remove_dir_all(dir).map_err(|e| format!("removing {}: {e}", dir.display()))?;
        }
        eprintln!(
            "    backup: tar|zstd {:.2}s, ours {:.2}s, tar|zstd|rclone {:.2}s; \
             restore: zstd|tar {:.2}s, ours {:.2}s, rclone|zstd|tar {:.2}s",
            backup_baseline[run],
            backup_ours[run],
            backup_peer[run],
            restore_baseline[run],
            restore_ours[run],
            restore_peer[run],
        );
    }
    let median_backup_baseline = median(&backup_baseline);
    let median_backup_ours = median(&backup_ours);
    let median_restore_baseline = median(&restore_baseline);
    let median_restore_ours = median(&restore_ours);
    let ratio = |theirs: &[f64], ours: f64| format!("{:.2}", median(theirs) / ours);
    figures.extend([
        (
            "backup_vs_rclone".to_owned(),
            ratio(&backup_peer, median_backup_ours),
        ),
        (
            "restore_vs_rclone".to_owned(),
            ratio(&restore_peer, median_restore_ours),
        ),
        (
            "backup_ratio".to_owned(),
            ratio(&backup_baseline, median_backup_ours),
        ),
        (
            "restore_ratio".to_owned(),
            ratio(&restore_baseline, median_restore_ours),
        ),
        (
            format!("peak_rss_mib_{small}"),
            mib(backup_rss.iter().copied().max().unwrap_or(0)),
        ),
        (
            format!("backup_rclone_seconds_{small}"),
            format!("{:.2}", median(&backup_peer)),
        ),
        (
            format!("restore_rclone_seconds_{small}"),
            format!("{:.2}", median(&restore_peer)),
        ),
        (
            format!("restore_rclone_sync_seconds_{small}"),
            format!("{:.2}", median(&peer_sync)),
        ),
        (
            format!("rclone_archive_mib_{small}"),
            mib(peer_bytes / 1024),
        ),
    ]);
    figures
        .extend(sweep::levels(root.path(), &workspace, &generated, &options.levels, &small).await?);
    if options.tune {
        figures.extend(sweep::tuning(root.path(), &workspace, &generated, &small).await?);
    }
    fs::remove_dir_all(&workspace).map_err(|e| format!("removing {}: {e}", workspace.display()))?;
    fs::remove_file(&archive).map_err(|e| format!("removing {}: {e}", archive.display()))?;

    if options.large_mib > 0 {
        let large = size_name(options.large_mib);
        eprintln!("==> {large}: the supervisor's backup only, for its peak RSS");
        // The workspace and SeaweedFS's copy.
        ensure_free(root.path(), options.large_mib * MIB * 2)?;
        let (workspace, generated) = generate(root.path(), options.large_mib)?;
        let s3 = SeaweedFs::start_in(root.path()).await;
        let run = child(&s3, "backup", &workspace, 3, &[])?;
        check_files(&run, generated.files, "backup")?;
        drop(s3);
        fs::remove_dir_all(&workspace)
            .map_err(|e| format!("removing {}: {e}", workspace.display()))?;
        eprintln!("    backup {:.2}s", run.seconds);
        figures.push((format!("peak_rss_mib_{large}"), mib(run.vmhwm_kib)));
        figures.push((
            format!("backup_seconds_{large}"),
            format!("{:.2}", run.seconds),
        ));
    }

    figures.extend([
        (
            format!("backup_baseline_seconds_{small}"),
            format!("{median_backup_baseline:.2}"),
        ),
        (
            format!("backup_seconds_{small}"),
            format!("{median_backup_ours:.2}"),
        ),
        (
            format!("backup_cpu_seconds_{small}"),
            format!("{:.2}", median(&backup_cpu)),
        ),
        (
            format!("archive_to_sink_seconds_{small}"),
            format!("{:.2}", median(&archive_only)),
        ),
        (
            format!("restore_baseline_seconds_{small}"),
            format!("{median_restore_baseline:.2}"),
        ),
        (
            format!("restore_seconds_{small}"),
            format!("{median_restore_ours:.2}"),
        ),
        (
            format!("peak_rss_mib_restore_{small}"),
            mib(restore_rss.iter().copied().max().unwrap_or(0)),
        ),
        (
            format!("workspace_files_{small}"),
            generated.files.to_string(),
        ),
        (
            format!("workspace_mib_{small}"),
            mib(generated.bytes / 1024),
        ),
        (
            format!("baseline_archive_mib_{small}"),
            mib(archive_bytes / 1024),
        ),
        (
            format!("archive_mib_{small}"),
            mib(our_archive_bytes / 1024),
        ),
        ("runs".to_owned(), options.runs.to_string()),
    ]);
    for (name, value) in figures {
        println!("{name}: {value}");
    }
    Ok(())
}

/// Generates a workspace of `size_mib` under `root`.
fn generate(root: &Path, size_mib: u64) -> Result<(PathBuf, workspace::Generated)> {
    let dir = root.join(format!("workspace-{}", size_name(size_mib)));
    eprintln!(
        "==> generating a {} workspace in {}",
        size_name(size_mib),
        dir.display()
    );
    let started = Instant::now();
    let generated = workspace::generate(&dir, size_mib * MIB)
        .map_err(|e| format!("generating the workspace in {}: {e}", dir.display()))?;
    eprintln!(
        "    {} files, {} MiB in {:.1}s",
        generated.files,
        generated.bytes / MIB,
        started.elapsed().as_secs_f64()
    );
    Ok((dir, generated))
}

/// Fails unless `dir`'s file system has `bytes` free.
fn ensure_free(dir: &Path, bytes: u64) -> Result<()> {
    let stat =
        nix::sys::statvfs::statvfs(dir).map_err(|e| format!("statvfs {}: {e}", dir.display()))?;
    let free = stat.blocks_available() as u64 * stat.fragment_size() as u64;
    if free < bytes {
        return Err(format!(
            "{} has {} MiB free; this step needs {} MiB: free some space or pass --dir (e.g. --dir /dev/shm)",
            dir.display(),
            free / MIB,
            bytes / MIB
        ));
    }
    Ok(())
}
