//! Checks the entries of an archive against its manifest as they are extracted: each one
//! listed once, with the same kind, mode, link target, size and sha256; none missing at the end.

use std::collections::HashMap;

use openclaw_api::backup::{EntryKind, MANIFEST_VERSION, Manifest, ManifestEntry};

use super::{ArchiveError, MODE_MASK};

/// What an extracted entry turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Found<'a> {
    /// Its kind.
    pub kind: EntryKind,
    /// Its permission bits.
    pub mode: u32,
    /// A symlink's target.
    pub link: Option<&'a str>,
}

/// The manifest's entries not seen yet.
#[derive(Debug)]
pub(crate) struct Expected<'m> {
    manifest: &'m Manifest,
    pending: HashMap<&'m str, &'m ManifestEntry>,
}

impl<'m> Expected<'m> {
    /// Starts checking against `manifest`, which must be of this build's version and list
    /// every path once.
    pub(crate) fn new(manifest: &'m Manifest) -> Result<Self, ArchiveError> {
        if manifest.version != MANIFEST_VERSION {
            return Err(ArchiveError::InvalidManifest {
                reason: format!(
                    "version {} (this build reads {MANIFEST_VERSION})",
                    manifest.version
                ),
            });
        }
        let mut pending = HashMap::with_capacity(manifest.entries.len());
        for entry in &manifest.entries {
            if pending.insert(entry.path.as_str(), entry).is_some() {
                return Err(ArchiveError::InvalidManifest {
                    reason: format!("{} is listed twice", entry.path),
                });
            }
        }
        Ok(Self { manifest, pending })
    }

    /// Checks an entry's header against the manifest and returns the manifest's entry, whose
    /// content [`check_content`] checks once read.
    pub(crate) fn check_entry(
        &mut self,
        path: &str,
        found: Found<'_>,
    ) -> Result<&'m ManifestEntry, ArchiveError> {
        let expected = self
            .pending
            .remove(path)
            .ok_or_else(|| ArchiveError::UnexpectedEntry {
                path: path.to_owned(),
            })?;
        let mismatch = |what, expected: String, found: String| ArchiveError::EntryMismatch {
            path: path.to_owned(),
            what,
            expected,
            found,
        };
        if expected.kind != found.kind {
            return Err(mismatch(
                "kind",
                format!("{:?}", expected.kind),
                format!("{:?}", found.kind),
            ));
        }
        if expected.mode & MODE_MASK != found.mode & MODE_MASK {
            return Err(mismatch(
                "mode",
                format!("{:o}", expected.mode),
                format!("{:o}", found.mode),
            ));
        }
        if expected.kind == EntryKind::Symlink && expected.link.as_deref() != found.link {
            return Err(mismatch(
                "link target",
                expected.link.clone().unwrap_or_default(),
                found.link.unwrap_or_default().to_owned(),
            ));
        }
        Ok(expected)
    }

    /// Whether nothing listed is missing.
    pub(crate) fn finish(self) -> Result<(), ArchiveError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let first = self
            .manifest
            .entries
            .iter()
            .find(|e| self.pending.contains_key(e.path.as_str()))
            .map(|e| e.path.clone())
            .unwrap_or_default();
        Err(ArchiveError::MissingEntry {
            path: first,
            missing: self.pending.len(),
        })
    }
}

/// Checks a regular file's size and hex sha256 against its manifest entry.
pub(crate) fn check_content(
    expected: &ManifestEntry,
    size: u64,
    sha256: &str,
) -> Result<(), ArchiveError> {
    if expected.size == size && expected.sha256.as_deref() == Some(sha256) {
        return Ok(());
    }
    Err(ArchiveError::ChecksumMismatch {
        path: expected.path.clone(),
        expected: format!(
            "sha256:{} ({} bytes)",
            expected.sha256.as_deref().unwrap_or("none"),
            expected.size
        ),
        found: format!("sha256:{sha256} ({size} bytes)"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(path: &str, kind: EntryKind, mode: u32) -> ManifestEntry {
        ManifestEntry {
            path: path.into(),
            kind,
            size: if kind == EntryKind::File { 3 } else { 0 },
            mode,
            sha256: (kind == EntryKind::File).then(|| "abc".into()),
            link: (kind == EntryKind::Symlink).then(|| "t".into()),
        }
    }

    fn manifest(entries: Vec<ManifestEntry>) -> Manifest {
        Manifest {
            version: MANIFEST_VERSION,
            instance: "ns/a".into(),
            tool_version: "0".into(),
            created_at: "2026-01-01T00:00:00Z".into(),
            archive_key: "k.tar.zst".into(),
            archive_checksum: "sha256:00".into(),
            archive_size: 1,
            entries,
        }
    }

    fn found(kind: EntryKind, mode: u32, link: Option<&str>) -> Found<'_> {
        Found { kind, mode, link }
    }

    #[test]
    fn accepts_exactly_the_manifest() {
        let m = manifest(vec![
            entry("d", EntryKind::Dir, 0o755),
            entry("d/f", EntryKind::File, 0o600),
            entry("l", EntryKind::Symlink, 0o777),
        ]);
        let mut expected = Expected::new(&m).unwrap_or_else(|e| panic!("{e}"));
        fn ok(r: Result<&ManifestEntry, ArchiveError>) -> &ManifestEntry {
            r.unwrap_or_else(|e| panic!("{e}"))
        }
        ok(expected.check_entry("d", found(EntryKind::Dir, 0o755, None)));
        let f = ok(expected.check_entry("d/f", found(EntryKind::File, 0o600, None)));
        check_content(f, 3, "abc").unwrap_or_else(|e| panic!("{e}"));
        ok(expected.check_entry("l", found(EntryKind::Symlink, 0o777, Some("t"))));
        expected.finish().unwrap_or_else(|e| panic!("{e}"));
    }

    #[test]
    fn names_the_path_of_every_difference() {
        let m = manifest(vec![
            entry("d", EntryKind::Dir, 0o755),
            entry("f", EntryKind::File, 0o600),
            entry("l", EntryKind::Symlink, 0o777),
            entry("gone", EntryKind::File, 0o644),
        ]);
        let err = |r: Result<&ManifestEntry, ArchiveError>| match r {
            Ok(e) => panic!("{} accepted", e.path),
            Err(e) => e.to_string(),
        };
        let mut expected = Expected::new(&m).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            err(expected.check_entry("extra", found(EntryKind::File, 0o644, None))),
            "entry extra is in the archive but not in the manifest"
        );
        assert_eq!(
            err(expected.check_entry("d", found(EntryKind::File, 0o755, None))),
            "kind mismatch on d: manifest says Dir, archive holds File"
        );
        assert_eq!(
            err(expected.check_entry("l", found(EntryKind::Symlink, 0o777, Some("u")))),
            "link target mismatch on l: manifest says t, archive holds u"
        );
        let f = expected
            .check_entry("f", found(EntryKind::File, 0o600, None))
            .unwrap_or_else(|e| panic!("{e}"));
        let tampered = check_content(f, 3, "abd").map_err(|e| e.to_string());
        assert_eq!(
            tampered,
            Err(
                "checksum mismatch on f: manifest says sha256:abc (3 bytes), \
                 archive holds sha256:abd (3 bytes)"
                    .into()
            )
        );
        assert!(check_content(f, 4, "abc").is_err());
        assert_eq!(
            expected.finish().map_err(|e| e.to_string()),
            Err("entry gone of the manifest is missing from the archive (1 missing in all)".into())
        );

        let mut m2 = manifest(vec![entry("f", EntryKind::File, 0o600)]);
        let mut expected = Expected::new(&m2).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            err(expected.check_entry("f", found(EntryKind::File, 0o644, None))),
            "mode mismatch on f: manifest says 600, archive holds 644"
        );
        m2.entries.push(entry("f", EntryKind::File, 0o600));
        assert!(Expected::new(&m2).is_err());
        m2.version = MANIFEST_VERSION + 1;
        assert!(Expected::new(&m2).is_err());
    }
}
