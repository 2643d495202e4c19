//! The benchmark's sweeps: the supervisor's backup at each zstd level asked for (seconds, size,
//! compression ratio), and, with `--tune`, at each upload part size and parts in flight, the
//! measurement behind the defaults of `upload::Tuning`. Each backup gets a fresh SeaweedFS, like
//! each run of the comparison: one server filled with backup after backup of the same key
//! runs out of volume space (HTTP 500).

use std::path::Path;

use openclaw_testkit::seaweed::SeaweedFs;

use super::{IN_FLIGHT_ENV, PART_MIB_ENV, Result, check_files, child, mib, workspace::Generated};

/// `level_<n>_seconds_<size>`, `level_<n>_archive_mib_<size>` and
/// `level_<n>_compression_ratio` (workspace bytes over archive bytes) for each level.
pub async fn levels(
    root: &Path,
    workspace: &Path,
    generated: &Generated,
    levels: &[i32],
    size: &str,
) -> Result<Vec<(String, String)>> {
    let mut figures = Vec::new();
    for &level in levels {
        eprintln!("==> zstd level {level}");
        let s3 = SeaweedFs::start_in(root).await;
        let run = child(&s3, "backup", workspace, level, &[])?;
        check_files(&run, generated.files, "backup")?;
        let bytes = run.number("archive_bytes").unwrap_or(0).max(1);
        eprintln!("    {:.2}s, {} MiB", run.seconds, bytes >> 20);
        figures.extend([
            (
                format!("level_{level}_seconds_{size}"),
                format!("{:.2}", run.seconds),
            ),
            (
                format!("level_{level}_archive_mib_{size}"),
                mib(bytes / 1024),
            ),
            (
                format!("level_{level}_compression_ratio"),
                format!("{:.2}", generated.bytes as f64 / bytes as f64),
            ),
        ]);
    }
    Ok(figures)
}

/// `tune_part_<mib>m_inflight_<n>_seconds_<size>` for a few part sizes and parts in flight.
pub async fn tuning(
    root: &Path,
    workspace: &Path,
    generated: &Generated,
    size: &str,
) -> Result<Vec<(String, String)>> {
    let mut figures = Vec::new();
    for part_mib in [5, 8, 16] {
        for in_flight in [1, 2, 4] {
            let envs = [
                (PART_MIB_ENV, part_mib.to_string()),
                (IN_FLIGHT_ENV, in_flight.to_string()),
            ];
            let s3 = SeaweedFs::start_in(root).await;
            let run = child(&s3, "backup", workspace, 3, &envs)?;
            check_files(&run, generated.files, "backup")?;
            eprintln!(
                "    part {part_mib} MiB, {in_flight} in flight: {:.2}s, peak RSS {} MiB",
                run.seconds,
                run.vmhwm_kib / 1024
            );
            figures.push((
                format!("tune_part_{part_mib}m_inflight_{in_flight}_seconds_{size}"),
                format!("{:.2}", run.seconds),
            ));
            figures.push((
                format!("tune_part_{part_mib}m_inflight_{in_flight}_rss_mib_{size}"),
                mib(run.vmhwm_kib),
            ));
        }
    }
    Ok(figures)
}
