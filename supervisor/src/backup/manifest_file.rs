//! The manifest written as a stream: its fixed fields, then the entries the archive writer
//! spilled to a file, one per line. Memory stays flat whatever the number of files.

use std::{
    fs::File,
    io::{BufRead, BufReader, Write},
    path::Path,
};

use openclaw_api::backup::Manifest;

use super::archive::ArchiveError;

/// Writes `header` (its `entries` empty) as JSON with the entries of `entries_file` (one JSON
/// object per line) as its `entries` array.
pub fn write_manifest(
    out: &mut impl Write,
    header: &Manifest,
    entries_file: &Path,
) -> Result<(), ArchiveError> {
    let io = |source| ArchiveError::Io {
        path: entries_file.display().to_string(),
        source,
    };
    let mut empty = header.clone();
    empty.entries.clear();
    let text = serde_json::to_string(&empty).map_err(|e| io(e.into()))?;
    // `entries` is the manifest's last field: its text ends with `"entries":[]}`.
    let head = text
        .strip_suffix("[]}")
        .filter(|h| h.ends_with("\"entries\":"))
        .ok_or_else(|| {
            io(std::io::Error::other(
                "the manifest does not end with its entries",
            ))
        })?;
    out.write_all(head.as_bytes()).map_err(io)?;
    out.write_all(b"[").map_err(io)?;
    let reader = BufReader::new(File::open(entries_file).map_err(io)?);
    for (i, line) in reader.lines().enumerate() {
        let line = line.map_err(io)?;
        if i > 0 {
            out.write_all(b",").map_err(io)?;
        }
        out.write_all(line.as_bytes()).map_err(io)?;
    }
    out.write_all(b"]}").map_err(io)
}

#[cfg(test)]
mod tests {
    use openclaw_api::backup::{EntryKind, MANIFEST_VERSION, ManifestEntry};

    use super::*;

    #[test]
    fn streams_the_same_json_as_serde() -> Result<(), Box<dyn std::error::Error>> {
        let entries = vec![
            ManifestEntry {
                path: "workspace".into(),
                kind: EntryKind::Dir,
                size: 0,
                mode: 0o755,
                sha256: None,
                link: None,
            },
            ManifestEntry {
                path: "workspace/notes.md".into(),
                kind: EntryKind::File,
                size: 3,
                mode: 0o644,
                sha256: Some("ab".repeat(32)),
                link: None,
            },
        ];
        let manifest = Manifest {
            version: MANIFEST_VERSION,
            instance: "ns/a".into(),
            tool_version: "0.1.0".into(),
            created_at: "2026-11-27T00:00:00Z".into(),
            archive_key: "ns/a/x.tar.zst".into(),
            archive_checksum: "sha256:00".into(),
            archive_size: 10,
            entries: entries.clone(),
        };
        let dir = tempfile::tempdir()?;
        let file = dir.path().join("entries.jsonl");
        let mut lines = Vec::new();
        for entry in &entries {
            serde_json::to_writer(&mut lines, entry)?;
            lines.push(b'\n');
        }
        std::fs::write(&file, lines)?;
        let mut out = Vec::new();
        write_manifest(&mut out, &manifest, &file)?;
        let back: Manifest = serde_json::from_slice(&out)?;
        assert_eq!(back, manifest);

        std::fs::write(&file, "")?;
        let mut out = Vec::new();
        write_manifest(&mut out, &manifest, &file)?;
        let back: Manifest = serde_json::from_slice(&out)?;
        assert!(back.entries.is_empty());
        Ok(())
    }
}
