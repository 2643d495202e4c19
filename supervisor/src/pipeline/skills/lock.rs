//! The files the clawhub CLI keeps, in its formats: `<skill>/.clawhub/origin.json` and
//! `<workdir>/.clawhub/lock.json`; plus the supervisor's own list of the skills it installed
//! (archive checksum and fingerprint), so it can recognise and remove them later.

use std::{collections::BTreeMap, io, path::Path};

use serde::{Deserialize, Serialize};

use crate::pipeline::fsutil;

/// `<skill>/.clawhub/origin.json`, as `clawhub install` writes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Origin {
    /// Always 1.
    pub version: u32,
    /// Registry base URL.
    pub registry: String,
    /// Skill slug.
    pub slug: String,
    /// Installed version.
    pub installed_version: String,
    /// Milliseconds since the Unix epoch.
    pub installed_at: u64,
}

/// One entry of `lock.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LockEntry {
    /// Installed version.
    pub version: Option<String>,
    /// Milliseconds since the Unix epoch.
    pub installed_at: u64,
}

/// `<workdir>/.clawhub/lock.json`, as the clawhub CLI writes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lockfile {
    /// Always 1.
    pub version: u32,
    /// Installed skills by slug.
    pub skills: BTreeMap<String, LockEntry>,
}

impl Default for Lockfile {
    fn default() -> Lockfile {
        Lockfile {
            version: 1,
            skills: BTreeMap::new(),
        }
    }
}

/// What the supervisor knows of a skill it installed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Installed {
    /// Registry it came from (a ClawHub URL, or `npm`).
    pub registry: String,
    /// Installed version.
    pub version: String,
    /// SHA-256 (hex) of the downloaded archive (zip or npm tarball).
    pub archive_sha256: String,
    /// Content fingerprint as the clawhub CLI computes it (ClawHub skills only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<String>,
}

/// `~/.openclaw/.supervisor/skills.json`: the skills the supervisor installed, by reference name
/// (`slug` or `npm:<package>`).
pub type InstalledSkills = BTreeMap<String, Installed>;

/// Reads a JSON file; absent or unreadable gives the default (the CLI does the same).
pub fn read_json<T: serde::de::DeserializeOwned + Default>(path: &Path) -> T {
    std::fs::read(path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

/// Writes pretty JSON with a final newline, atomically.
pub fn write_json<T: Serialize>(path: &Path, value: &T, mode: u32) -> io::Result<()> {
    let mut text = serde_json::to_string_pretty(value).map_err(io::Error::other)?;
    text.push('\n');
    fsutil::write_atomic(path, text.as_bytes(), mode)
}

/// The origin recorded in a skill directory, when it is one the CLI would accept.
pub fn read_origin(skill_dir: &Path) -> Option<Origin> {
    let bytes = std::fs::read(skill_dir.join(".clawhub/origin.json")).ok()?;
    serde_json::from_slice::<Origin>(&bytes)
        .ok()
        .filter(|o| o.version == 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_match_the_cli() -> io::Result<()> {
        let origin = Origin {
            version: 1,
            registry: "https://clawhub.ai".into(),
            slug: "weather".into(),
            installed_version: "1.2.3".into(),
            installed_at: 1_700_000_000_000,
        };
        assert_eq!(
            serde_json::to_value(&origin).ok(),
            Some(
                serde_json::json!({"version": 1, "registry": "https://clawhub.ai", "slug": "weather",
                "installedVersion": "1.2.3", "installedAt": 1_700_000_000_000u64})
            )
        );
        let mut lock = Lockfile::default();
        lock.skills.insert(
            "weather".into(),
            LockEntry {
                version: Some("1.2.3".into()),
                installed_at: 1,
            },
        );
        let dir = tempfile::tempdir()?;
        let path = dir.path().join(".clawhub/lock.json");
        write_json(&path, &lock, 0o644)?;
        assert_eq!(
            std::fs::read_to_string(&path)?,
            "{\n  \"version\": 1,\n  \"skills\": {\n    \"weather\": {\n      \"version\": \"1.2.3\",\n      \"installedAt\": 1\n    }\n  }\n}\n"
        );
        assert_eq!(read_json::<Lockfile>(&path), lock);
        assert_eq!(
            read_json::<Lockfile>(&dir.path().join("missing")),
            Lockfile::default()
        );
        Ok(())
    }
}
