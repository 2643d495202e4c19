//! Step records on the workspace volume: the hash of a step's inputs and what it produced, so an
//! unchanged step is skipped at the next start. One JSON file per step under
//! `<state_dir>/.supervisor/steps/<name>.json`, written atomically.

use std::{
    fs, io,
    path::{Path, PathBuf},
    time::{SystemTime, UNIX_EPOCH},
};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{fsutil, step::StepOutput};

/// Directory of the records, relative to the state directory.
pub const RECORDS_DIR: &str = ".supervisor/steps";

/// What a successful run of a step left on the volume.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StepRecord {
    /// Step name.
    pub step: String,
    /// [`inputs_hash`] of the inputs the output corresponds to.
    pub inputs_sha256: String,
    /// What the step produced.
    pub outputs: StepOutput,
    /// When the step finished, seconds since the Unix epoch.
    pub finished_at: u64,
}

impl StepRecord {
    /// A record stamped now.
    pub fn new(step: &str, inputs_sha256: String, outputs: StepOutput) -> StepRecord {
        let finished_at = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        StepRecord {
            step: step.to_owned(),
            inputs_sha256,
            outputs,
            finished_at,
        }
    }
}

/// SHA-256 (hex) of a step's inputs. The supervisor's version is part of it, so an upgraded
/// supervisor runs every step once.
pub fn inputs_hash(step: &str, inputs: &[u8]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(concat!("openclaw-supervisor/", env!("CARGO_PKG_VERSION")).as_bytes());
    hasher.update([0]);
    hasher.update(step.as_bytes());
    hasher.update([0]);
    hasher.update(inputs);
    hex::encode(hasher.finalize())
}

/// SHA-256 (hex) of bytes.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn path(dir: &Path, step: &str) -> PathBuf {
    dir.join(format!("{step}.json"))
}

/// The record of `step`; `None` when absent or unreadable (the step then simply runs).
pub fn read(dir: &Path, step: &str) -> Option<StepRecord> {
    let bytes = fs::read(path(dir, step)).ok()?;
    serde_json::from_slice::<StepRecord>(&bytes)
        .ok()
        .filter(|r| r.step == step)
}

/// Writes the record atomically.
pub fn write(dir: &Path, record: &StepRecord) -> io::Result<()> {
    let bytes = serde_json::to_vec_pretty(record).map_err(io::Error::other)?;
    fsutil::write_atomic(&path(dir, &record.step), &bytes, 0o600)
}

/// Forgets a step (after it failed), so it runs again next time.
pub fn remove(dir: &Path, step: &str) -> io::Result<()> {
    fsutil::remove_any(&path(dir, step))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_depends_on_step_and_inputs() {
        let a = inputs_hash("config", b"{}");
        assert_eq!(a, inputs_hash("config", b"{}"));
        assert_ne!(a, inputs_hash("skills", b"{}"));
        assert_ne!(a, inputs_hash("config", b"{ }"));
        assert_eq!(a.len(), 64);
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn records_round_trip_and_tolerate_garbage() -> io::Result<()> {
        let dir = tempfile::tempdir()?;
        let record = StepRecord::new(
            "config",
            inputs_hash("config", b"x"),
            StepOutput::summary("wrote"),
        );
        write(dir.path(), &record)?;
        assert_eq!(read(dir.path(), "config"), Some(record));
        fs::write(path(dir.path(), "skills"), "not json")?;
        assert_eq!(read(dir.path(), "skills"), None);
        assert_eq!(read(dir.path(), "missing"), None);
        remove(dir.path(), "config")?;
        assert_eq!(read(dir.path(), "config"), None);
        Ok(())
    }
}
