//! Retention: which objects of an instance's prefix to delete after a successful backup. Pure;
//! the listing and the deletes are the caller's.
//!
//! A snapshot is complete when both its archive and its manifest are listed. The newest
//! `retention` complete snapshots are kept; older complete snapshots lose both objects. An
//! archive without a manifest (an upload that died, or one still running) is deleted only when
//! it is older than the newest complete snapshot, so a backup in flight is never touched. A
//! manifest without its archive is deleted when older than the newest kept snapshot.

use std::collections::BTreeMap;

use openclaw_api::backup::{SnapshotPart, snapshot_of};

/// The objects of one snapshot id found in a listing.
#[derive(Debug, Default, Clone)]
struct Parts {
    archive: Option<String>,
    manifest: Option<String>,
}

/// The keys to delete from `keys` (a listing of `prefix`) to keep the newest `retention`
/// complete snapshots. Keys that are not snapshot objects are never deleted. A retention of 0
/// is read as 1: the backup that just succeeded is never deleted by its own pruning.
pub fn to_delete<'a>(
    prefix: &str,
    keys: impl IntoIterator<Item = &'a str>,
    retention: u32,
) -> Vec<String> {
    let mut snapshots: BTreeMap<&str, Parts> = BTreeMap::new();
    for key in keys {
        let Some((id, part)) = snapshot_of(prefix, key) else {
            continue;
        };
        let parts = snapshots.entry(id).or_default();
        match part {
            SnapshotPart::Archive => parts.archive = Some(key.to_owned()),
            SnapshotPart::Manifest => parts.manifest = Some(key.to_owned()),
        }
    }
    let keep = usize::try_from(retention.max(1)).unwrap_or(usize::MAX);
    // Snapshot ids sort like time, so the map iterates oldest first.
    let complete: Vec<&str> = snapshots
        .iter()
        .filter(|(_, p)| p.archive.is_some() && p.manifest.is_some())
        .map(|(id, _)| *id)
        .collect();
    let newest_complete = complete.last().copied();
    let oldest_kept = complete
        .len()
        .checked_sub(keep)
        .and_then(|first| complete.get(first))
        .or(complete.first())
        .copied();
    let expired = complete.len().saturating_sub(keep);

    let mut delete = Vec::new();
    for (index, id) in complete.iter().enumerate() {
        if index < expired {
            let parts = &snapshots[id];
            delete.extend(parts.archive.clone());
            delete.extend(parts.manifest.clone());
        }
    }
    for (id, parts) in &snapshots {
        match (&parts.archive, &parts.manifest) {
            (Some(archive), None) if newest_complete.is_some_and(|newest| *id < newest) => {
                delete.push(archive.clone());
            }
            (None, Some(manifest)) if oldest_kept.is_some_and(|kept| *id < kept) => {
                delete.push(manifest.clone());
            }
            _ => {}
        }
    }
    delete.sort();
    delete
}

#[cfg(test)]
mod tests {
    use super::*;

    const PREFIX: &str = "backups/team/agent/";

    fn keys(ids: &[(&str, bool, bool)]) -> Vec<String> {
        let mut keys = Vec::new();
        for (id, archive, manifest) in ids {
            if *archive {
                keys.push(format!("{PREFIX}{id}.tar.zst"));
            }
            if *manifest {
                keys.push(format!("{PREFIX}{id}.manifest.json"));
            }
        }
        keys
    }

    fn prune(listing: &[String], retention: u32) -> Vec<String> {
        to_delete(PREFIX, listing.iter().map(String::as_str), retention)
    }

    #[test]
    fn keeps_the_newest_complete_snapshots() {
        let listing = keys(&[
            ("20261101T000000Z", true, true),
            ("20261102T000000Z", true, true),
            ("20261103T000000Z", true, true),
            ("20261104T000000Z", true, true),
        ]);
        assert_eq!(
            prune(&listing, 2),
            [
                format!("{PREFIX}20261101T000000Z.manifest.json"),
                format!("{PREFIX}20261101T000000Z.tar.zst"),
                format!("{PREFIX}20261102T000000Z.manifest.json"),
                format!("{PREFIX}20261102T000000Z.tar.zst"),
            ]
        );
        assert!(prune(&listing, 4).is_empty());
        assert!(prune(&listing, 10).is_empty());
        assert_eq!(prune(&listing, 0).len(), 6, "retention 0 keeps the newest");
    }

    #[test]
    fn orphan_archives_go_only_when_older_than_the_newest_complete_snapshot() {
        let listing = keys(&[
            ("20261101T000000Z", true, false),
            ("20261102T000000Z", true, true),
            ("20261103T000000Z", true, false),
        ]);
        // The 03 archive has no manifest but is newer: possibly a backup still running.
        assert_eq!(
            prune(&listing, 5),
            [format!("{PREFIX}20261101T000000Z.tar.zst")]
        );
    }

    #[test]
    fn incomplete_snapshots_do_not_count_towards_retention() {
        let listing = keys(&[
            ("20261101T000000Z", true, true),
            ("20261102T000000Z", true, false),
            ("20261103T000000Z", true, true),
        ]);
        assert_eq!(
            prune(&listing, 2),
            [format!("{PREFIX}20261102T000000Z.tar.zst")]
        );
    }

    #[test]
    fn stray_manifests_older_than_what_is_kept_go() {
        let listing = keys(&[
            ("20261101T000000Z", false, true),
            ("20261102T000000Z", true, true),
            ("20261103T000000Z", false, true),
        ]);
        assert_eq!(
            prune(&listing, 1),
            [format!("{PREFIX}20261101T000000Z.manifest.json")]
        );
    }

    #[test]
    fn other_objects_are_never_touched() {
        let mut listing = keys(&[
            ("20261101T000000Z", true, true),
            ("20261102T000000Z", true, true),
        ]);
        listing.push(format!("{PREFIX}notes.txt"));
        listing.push(format!("{PREFIX}sub/20261100T000000Z.tar.zst"));
        listing.push("backups/team/agent-2/20261100T000000Z.tar.zst".to_owned());
        assert_eq!(
            prune(&listing, 1),
            [
                format!("{PREFIX}20261101T000000Z.manifest.json"),
                format!("{PREFIX}20261101T000000Z.tar.zst"),
            ]
        );
    }
}
