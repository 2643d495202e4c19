//! The backup archive on local files: a workspace survives a round trip byte for byte (modes,
//! symlinks, empty directories, long paths, a live SQLite database), a `.tar.gz` made by GNU tar
//! restores, every malicious or damaged archive is refused without a byte written outside the
//! staging directory, and archiving a large file keeps memory bounded.

use std::{
    collections::BTreeMap,
    fs::{self, File},
    io::{self, BufReader, Write},
    os::unix::fs::{MetadataExt, PermissionsExt, symlink},
    path::{Path, PathBuf},
    process::Command,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    thread,
    time::Instant,
};

use openclaw_api::backup::{EntryKind, MANIFEST_VERSION, Manifest};
use openclaw_supervisor::backup::archive::{
    ArchiveError, ExtractSummary, HashingWriter, WriteOptions, WriteSummary, extract_verified,
    switch_over, write_archive,
};
use rusqlite::Connection;
use tar::{EntryType, Header};

const SCRATCH: &str = ".supervisor/backup-scratch";
const STAGING: &str = ".supervisor/restore-staging";

fn ok<T, E: std::fmt::Display>(result: Result<T, E>) -> T {
    result.unwrap_or_else(|e| panic!("{e}"))
}

/// Options as the supervisor passes them.
fn options(workspace: &Path) -> WriteOptions {
    WriteOptions {
        exclude: openclaw_supervisor::backup::snapshot::EXCLUDED
            .iter()
            .map(PathBuf::from)
            .collect(),
        ..WriteOptions::new(workspace.join(SCRATCH))
    }
}

/// Archives `workspace` into `archive`; returns the summary and the manifest.
fn archive_to(workspace: &Path, archive: &Path, opts: &WriteOptions) -> (WriteSummary, Manifest) {
    let mut out = HashingWriter::new(io::BufWriter::new(ok(File::create(archive))));
    let summary = ok(write_archive(workspace, &mut out, opts));
    let (mut file, sha256, size) = out.finish();
    ok(file.flush());
    let manifest = Manifest {
        version: MANIFEST_VERSION,
        instance: "team/agent".into(),
        tool_version: "test".into(),
        created_at: "2026-01-01T00:00:00Z".into(),
        archive_key: "team/agent/20260101T000000Z.tar.zst".into(),
        archive_checksum: format!("sha256:{sha256}"),
        archive_size: size,
        entries: summary.entries.clone(),
    };
    (summary, manifest)
}

/// Extracts `archive` into a fresh workspace under `base` and switches over.
fn restore(archive: &Path, manifest: Option<&Manifest>, workspace: &Path) -> ExtractSummary {
    let staging = workspace.join(STAGING);
    let input = BufReader::new(ok(File::open(archive)));
    let summary = ok(extract_verified(input, manifest, &staging));
    ok(switch_over(&staging, workspace));
    summary
}

/// What a user compares after a restore, per path: kind, permission bits, and content
/// (sha of a file's bytes, a link's target), plus a file's mtime.
fn tree(root: &Path) -> BTreeMap<String, (char, u32, String, i64)> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, (char, u32, String, i64)>) {
        for entry in ok(fs::read_dir(dir)) {
            let path = ok(entry).path();
            let rel = ok(path.strip_prefix(root)).to_string_lossy().into_owned();
            if rel == SCRATCH || rel == STAGING || rel == "tmp" {
                continue;
            }
            let meta = ok(fs::symlink_metadata(&path));
            let mode = meta.mode() & 0o7777;
            if meta.is_dir() {
                out.insert(rel, ('d', mode, String::new(), 0));
                walk(root, &path, out);
            } else if meta.file_type().is_symlink() {
                let target = ok(fs::read_link(&path)).to_string_lossy().into_owned();
                out.insert(rel, ('l', 0, target, 0));
            } else if meta.is_file() {
                let content = ok(fs::read(&path));
                let digest = format!("{:x}", <sha2::Sha256 as sha2::Digest>::digest(&content));
                out.insert(rel, ('f', mode, digest, meta.mtime()));
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

/// Deterministic pseudo-random bytes.
fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

fn write(path: &Path, content: &[u8], mode: u32) {
    if let Some(parent) = path.parent() {
        ok(fs::create_dir_all(parent));
    }
    ok(fs::write(path, content));
    ok(fs::set_permissions(path, fs::Permissions::from_mode(mode)));
}

/// Makes every directory under `root` writable again so the temp dir can be removed.
fn unlock(root: &Path) {
    for entry in fs::read_dir(root).into_iter().flatten().flatten() {
        let path = entry.path();
        if fs::symlink_metadata(&path).is_ok_and(|m| m.is_dir()) {
            let _ = fs::set_permissions(&path, fs::Permissions::from_mode(0o755));
            unlock(&path);
        }
    }
}

/// A workspace with everything a round trip must keep.
fn sample_workspace(ws: &Path) {
    write(&ws.join("openclaw.json"), b"{\"agent\": true}\n", 0o644);
    write(&ws.join("secrets/token"), b"not really a token", 0o600);
    write(&ws.join("bin/run.sh"), b"#!/bin/sh\necho hi\n", 0o755);
    write(&ws.join("bin/readonly"), b"frozen", 0o400);
    write(&ws.join("big/blob.bin"), &noise(7, 20 << 20), 0o644);
    for i in 0..2000u64 {
        let len = usize::try_from(i * 37 % 4096).unwrap_or(0);
        let content = noise(i, len);
        write(
            &ws.join(format!("many/d{}/f{i}.txt", i % 40)),
            &content,
            0o644,
        );
    }
    ok(fs::create_dir_all(ws.join("empty/nested/deeper")));
    ok(fs::create_dir_all(ws.join("private")));
    ok(fs::set_permissions(
        ws.join("private"),
        fs::Permissions::from_mode(0o700),
    ));
    write(&ws.join("sealed/inside.txt"), b"in a read-only dir", 0o644);
    ok(fs::set_permissions(
        ws.join("sealed"),
        fs::Permissions::from_mode(0o555),
    ));
    ok(symlink("../openclaw.json", ws.join("bin/config-link")));
    ok(symlink("missing-but-inside", ws.join("dangling")));
    ok(symlink("many/d1", ws.join("dir-link")));
    let long_dir = ws.join("long").join("d".repeat(90));
    write(&long_dir.join("f".repeat(200)), b"long path", 0o644);
    ok(symlink(
        format!("../{}", "y".repeat(150)),
        long_dir.join("long-link"),
    ));
    write(&ws.join(".supervisor/steps/skills.json"), b"{}", 0o644);
    write(
        &ws.join(".supervisor/restore-staging/junk"),
        b"excluded",
        0o644,
    );
    // The gateway's owner lease names a process of this pod: never archived.
    write(
        &ws.join("tmp/openclaw-1000/gateway.5b681173.lock"),
        br#"{"pid": 9}"#,
        0o600,
    );
    ok(nix::unistd::mkfifo(
        &ws.join("a-fifo"),
        nix::sys::stat::Mode::from_bits_truncate(0o644),
    ));
}

#[test]
fn round_trip_is_byte_identical() {
    let base = ok(tempfile::tempdir());
    let ws = base.path().join("ws");
    sample_workspace(&ws);
    let archive = base.path().join("a.tar.zst");
    let calls = Arc::new(AtomicU64::new(0));
    let counted = Arc::clone(&calls);
    let mut opts = options(&ws);
    opts.progress = Some(Box::new(move |_, _| {
        counted.fetch_add(1, Ordering::Relaxed);
    }));
    let (summary, manifest) = archive_to(&ws, &archive, &opts);
    assert_eq!(summary.skipped, 1, "the fifo is skipped and counted");
    assert_eq!(summary.files, 2000 + 8);
    assert!(summary.bytes > 20 << 20);
    assert!(calls.load(Ordering::Relaxed) >= 2, "progress was reported");
    let paths: Vec<&str> = manifest.entries.iter().map(|e| e.path.as_str()).collect();
    assert!(paths.contains(&".supervisor/steps/skills.json"));
    assert!(!paths.iter().any(|p| p.starts_with(STAGING)), "{paths:?}");
    assert!(!paths.iter().any(|p| p.starts_with("tmp/")), "{paths:?}");
    let mut sorted = paths.clone();
    sorted.sort_unstable();
    assert_eq!(paths.len(), sorted.len());
    let link = manifest.entries.iter().find(|e| e.path == "dir-link");
    assert_eq!(
        link.map(|e| (e.kind, e.link.as_deref())),
        Some((EntryKind::Symlink, Some("many/d1")))
    );

    // Deterministic: the same tree gives the same bytes.
    let again = base.path().join("b.tar.zst");
    let (_, manifest2) = archive_to(&ws, &again, &options(&ws));
    assert_eq!(manifest.archive_checksum, manifest2.archive_checksum);

    let restored = base.path().join("restored");
    ok(fs::create_dir_all(restored.join(".supervisor")));
    let extracted = restore(&archive, Some(&manifest), &restored);
    assert_eq!(
        extracted,
        ExtractSummary {
            files: summary.files,
            bytes: summary.bytes,
            verified_manifest: true
        }
    );
    let (source, copy) = (tree(&ws), tree(&restored));
    assert_eq!(source.len(), copy.len());
    for (path, node) in &source {
        assert_eq!(copy.get(path), Some(node), "{path}");
    }
    assert!(!restored.join(STAGING).exists(), "staging removed");

    // Without the manifest: structure checks only, same tree.
    let plain = base.path().join("plain");
    let extracted = restore(&again, None, &plain);
    assert!(!extracted.verified_manifest);
    assert_eq!(tree(&plain), source);
    for dir in [&ws, &restored, &plain] {
        unlock(dir);
    }
}

#[test]
fn a_live_sqlite_database_restores_consistent() {
    let base = ok(tempfile::tempdir());
    let ws = base.path().join("ws");
    let db = ws.join("data/agent.sqlite");
    ok(fs::create_dir_all(db.parent().unwrap_or(&ws)));
    let conn = ok(Connection::open(&db));
    ok(conn.execute_batch(
        "PRAGMA journal_mode = WAL; PRAGMA wal_autocheckpoint = 0; PRAGMA synchronous = OFF;
         CREATE TABLE t (id INTEGER PRIMARY KEY, v BLOB);
         CREATE TABLE meta (total INTEGER); INSERT INTO meta VALUES (0);",
    ));
    let insert = |conn: &Connection, rows: i64| {
        ok(conn.execute_batch("BEGIN"));
        for _ in 0..rows {
            ok(conn.execute("INSERT INTO t (v) VALUES (randomblob(4096))", []));
        }
        ok(conn.execute("UPDATE meta SET total = total + ?1", [rows]));
        ok(conn.execute_batch("COMMIT"));
    };
    insert(&conn, 4000);
    write(&ws.join("notes.md"), b"notes", 0o644);

    let stop = Arc::new(AtomicBool::new(false));
    let commits = Arc::new(AtomicU64::new(0));
    let writer = {
        let (stop, commits) = (Arc::clone(&stop), Arc::clone(&commits));
        thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                insert(&conn, 25);
                commits.fetch_add(1, Ordering::Relaxed);
            }
        })
    };
    while commits.load(Ordering::Relaxed) < 5 {
        thread::yield_now();
    }
    assert!(ws.join("data/agent.sqlite-wal").exists(), "WAL in use");
    let archive = base.path().join("a.tar.zst");
    let before = commits.load(Ordering::Relaxed);
    let (_, manifest) = archive_to(&ws, &archive, &options(&ws));
    let during = commits.load(Ordering::Relaxed) - before;
    stop.store(true, Ordering::Relaxed);
    ok(writer.join().map_err(|_| "writer panicked"));
    assert!(during > 0, "the writer committed while the backup ran");

    let paths: Vec<&str> = manifest.entries.iter().map(|e| e.path.as_str()).collect();
    assert!(paths.contains(&"data/agent.sqlite"), "{paths:?}");
    assert!(
        !paths
            .iter()
            .any(|p| p.ends_with("-wal") || p.ends_with("-shm")),
        "{paths:?}"
    );
    let scratch_left = fs::read_dir(ws.join(SCRATCH))
        .map(|d| d.count())
        .unwrap_or(0);
    assert_eq!(scratch_left, 0, "scratch copy deleted");

    let restored = base.path().join("restored");
    restore(&archive, Some(&manifest), &restored);
    let copy = ok(Connection::open(restored.join("data/agent.sqlite")));
    let check: String = ok(copy.query_row("PRAGMA integrity_check", [], |r| r.get(0)));
    assert_eq!(check, "ok");
    let total: i64 = ok(copy.query_row("SELECT total FROM meta", [], |r| r.get(0)));
    let rows: i64 = ok(copy.query_row("SELECT count(*) FROM t", [], |r| r.get(0)));
    assert_eq!(
        rows, total,
        "rows and the counter come from one transaction"
    );
    assert!(
        total >= 4000 + 5 * 25,
        "committed rows (WAL included) restored: {total}"
    );
}

/// A tar entry with raw name bytes (the `tar` crate refuses to write `..` itself).
fn raw_entry(tar: &mut Vec<u8>, name: &str, kind: EntryType, link: &str, data: &[u8]) {
    let mut header = Header::new_gnu();
    header.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
    header.as_old_mut().linkname[..link.len()].copy_from_slice(link.as_bytes());
    header.set_entry_type(kind);
    header.set_mode(0o644);
    header.set_size(data.len() as u64);
    header.set_cksum();
    tar.extend_from_slice(header.as_bytes());
    tar.extend_from_slice(data);
    tar.resize(tar.len().div_ceil(512) * 512, 0);
}

fn crafted(entries: &[(&str, EntryType, &str, &[u8])]) -> Vec<u8> {
    let mut tar = Vec::new();
    for (name, kind, link, data) in entries {
        raw_entry(&mut tar, name, *kind, link, data);
    }
    tar.extend_from_slice(&[0; 1024]);
    ok(zstd::encode_all(&tar[..], 3))
}

/// Every path under `root`.
fn listing(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in fs::read_dir(root).into_iter().flatten().flatten() {
        out.push(entry.path());
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            out.extend(listing(&entry.path()));
        }
    }
    out
}

/// Extracts `bytes` under a fresh base; returns the error, after checking that nothing was
/// written outside the staging directory.
fn refused(bytes: &[u8], manifest: Option<&Manifest>) -> ArchiveError {
    let base = ok(tempfile::tempdir());
    let ws = base.path().join("deep/er/ws");
    ok(fs::create_dir_all(ws.join(".supervisor")));
    let staging = ws.join(STAGING);
    let before = listing(base.path());
    let result = extract_verified(bytes, manifest, &staging);
    let after: Vec<PathBuf> = listing(base.path())
        .into_iter()
        .filter(|p| !p.starts_with(&staging))
        .collect();
    assert_eq!(after, before, "nothing outside staging");
    assert!(!Path::new("/etc/x-backup-archive-test").exists());
    match result {
        Ok(summary) => panic!("accepted: {summary:?}"),
        Err(e) => e,
    }
}

#[test]
fn malicious_archives_are_refused() {
    use EntryType::{Block, Char, Directory, Fifo, Link, Regular, Symlink};
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "parent component",
            crafted(&[
                ("ok.txt", Regular, "", b"ok"),
                ("../evil", Regular, "", b"x"),
            ]),
            "refused entry ../evil: parent directory component",
        ),
        (
            "parent component in the middle",
            crafted(&[("a/../../../evil", Regular, "", b"x")]),
            "refused entry a/../../../evil: parent directory component",
        ),
        (
            "absolute path",
            crafted(&[("/etc/x-backup-archive-test", Regular, "", b"x")]),
            "refused entry /etc/x-backup-archive-test: absolute path",
        ),
        // Refused since backups share the skills' rule (archive_path): a Windows separator.
        (
            "backslash",
            crafted(&[("a\\..\\..\\evil", Regular, "", b"x")]),
            "refused entry a\\..\\..\\evil: backslash in path",
        ),
        (
            "symlink target with a backslash",
            crafted(&[("link", Symlink, "..\\outside", b"")]),
            "refused symlink link -> ..\\outside: the target leaves the archive root",
        ),
        (
            "symlink out, then a file through it",
            crafted(&[
                ("link", Symlink, "../../outside", b""),
                ("link/file", Regular, "", b"x"),
            ]),
            "refused symlink link -> ../../outside: the target leaves the archive root",
        ),
        (
            "absolute symlink",
            crafted(&[("link", Symlink, "/etc", b"")]),
            "refused symlink link -> /etc: the target leaves the archive root",
        ),
        (
            "a file through an inside symlink",
            crafted(&[
                ("sub", Directory, "", b""),
                ("link", Symlink, "sub", b""),
                ("link/file", Regular, "", b"x"),
            ]),
            "refused entry link/file: its path goes through the symlink link",
        ),
        (
            "climbing through a link to the root",
            crafted(&[
                ("d", Symlink, ".", b""),
                ("e", Symlink, "d/../outside", b""),
            ]),
            "refused symlink e -> d/../outside: the target leaves the archive root",
        ),
        (
            "hard link out",
            crafted(&[("h", Link, "/etc/passwd", b"")]),
            "refused hard link h -> /etc/passwd",
        ),
        (
            "hard link to a symlink",
            crafted(&[("sub/l", Symlink, "../x", b""), ("h", Link, "sub/l", b"")]),
            "refused hard link h -> sub/l",
        ),
        (
            "fifo",
            crafted(&[("p", Fifo, "", b"")]),
            "refused entry p: fifo entries are not restored",
        ),
        (
            "character device",
            crafted(&[("null", Char, "", b"")]),
            "refused entry null: character device entries are not restored",
        ),
        (
            "block device",
            crafted(&[("sda", Block, "", b"")]),
            "refused entry sda: block device entries are not restored",
        ),
        (
            "duplicate file",
            crafted(&[("f", Regular, "", b"1"), ("f", Regular, "", b"2")]),
            "refused entry f: it appears twice in the archive",
        ),
        (
            "not an archive",
            b"PK\x03\x04 a zip file".to_vec(),
            "unknown archive format",
        ),
    ];
    for (name, bytes, message) in cases {
        let error = refused(&bytes, None).to_string();
        assert!(error.starts_with(message), "{name}: {error}");
    }
    let outside = std::env::temp_dir().join("outside");
    assert!(!outside.join("file").exists());
}

#[test]
fn damaged_archives_are_refused() {
    let base = ok(tempfile::tempdir());
    let ws = base.path().join("ws");
    write(&ws.join("notes/tamper.txt"), b"TAMPER-ME-please", 0o644);
    write(&ws.join("big.bin"), &noise(3, 2 << 20), 0o644);
    let archive = base.path().join("a.tar.zst");
    let (_, manifest) = archive_to(&ws, &archive, &options(&ws));
    let bytes = ok(fs::read(&archive));

    // Truncated, with or without a manifest.
    for cut in [bytes.len() / 2, bytes.len() - 1, 100] {
        let error = refused(&bytes[..cut], Some(&manifest));
        assert!(
            matches!(error, ArchiveError::Truncated { .. }),
            "{cut}: {error}"
        );
        let error = refused(&bytes[..cut], None);
        assert!(
            matches!(error, ArchiveError::Truncated { .. }),
            "{cut}: {error}"
        );
    }
    // A tar cut between two entries and recompressed: no end-of-archive marker.
    let tar = ok(zstd::decode_all(&bytes[..]));
    let boundary = 512 + (2 << 20) + 512; // big.bin, then the `notes` directory
    let cut = ok(zstd::encode_all(&tar[..boundary], 3));
    let error = refused(&cut, None);
    assert_eq!(
        error.to_string(),
        "archive truncated: the stream ended without tar's end-of-archive marker"
    );
    // Cut inside a file.
    let cut = ok(zstd::encode_all(&tar[..1024], 3));
    let error = refused(&cut, None);
    assert_eq!(
        error.to_string(),
        "archive truncated at big.bin: 512 of 2097152 bytes"
    );

    // One byte of a file changed, the stream recompressed: the manifest catches it.
    let mut tampered = tar.clone();
    let at = tampered
        .windows(9)
        .position(|w| w == b"TAMPER-ME")
        .unwrap_or_else(|| panic!("marker not found"));
    tampered[at] = b't';
    let recompressed = ok(zstd::encode_all(&tampered[..], 3));
    match refused(&recompressed, Some(&manifest)) {
        ArchiveError::ChecksumMismatch { path, .. } => assert_eq!(path, "notes/tamper.txt"),
        other => panic!("{other}"),
    }
    // One byte of the compressed stream changed: zstd's checksum (or decoding) fails.
    let mut flipped = bytes.clone();
    let middle = flipped.len() / 2;
    flipped[middle] ^= 0x40;
    let error = refused(&flipped, None);
    assert!(
        matches!(
            error,
            ArchiveError::Corrupt { .. } | ArchiveError::Truncated { .. }
        ),
        "{error}"
    );
    // A manifest of another archive.
    let mut other = manifest.clone();
    other.archive_checksum = format!("sha256:{}", "0".repeat(64));
    let error = refused(&bytes, Some(&other));
    assert!(
        matches!(error, ArchiveError::ArchiveChecksumMismatch { .. }),
        "{error}"
    );
    // An entry the manifest does not list, and one it lists that is missing.
    let mut fewer = manifest.clone();
    fewer.entries.retain(|e| e.path != "big.bin");
    let error = refused(&bytes, Some(&fewer));
    assert_eq!(
        error.to_string(),
        "entry big.bin is in the archive but not in the manifest"
    );
    let mut more = manifest.clone();
    let mut ghost = manifest.entries[0].clone();
    ghost.path = "ghost".into();
    more.entries.push(ghost);
    let error = refused(&bytes, Some(&more));
    assert!(
        matches!(error, ArchiveError::MissingEntry { ref path, .. } if path == "ghost"),
        "{error}"
    );

    // A staging directory that holds something already.
    let staging = base.path().join("staging");
    write(&staging.join("x"), b"x", 0o644);
    let error = extract_verified(&bytes[..], Some(&manifest), &staging).err();
    assert!(
        matches!(error, Some(ArchiveError::StagingNotEmpty { .. })),
        "{error:?}"
    );
}

#[test]
fn a_tar_gz_made_by_gnu_tar_restores() {
    let base = ok(tempfile::tempdir());
    let src = base.path().join("src");
    write(&src.join("openclaw.json"), b"{}", 0o644);
    write(&src.join("skills/a/SKILL.md"), b"# skill", 0o600);
    write(&src.join("bin/tool"), b"#!/bin/sh\n", 0o755);
    ok(fs::hard_link(
        src.join("bin/tool"),
        src.join("bin/tool-again"),
    ));
    ok(symlink("../openclaw.json", src.join("skills/config")));
    ok(fs::create_dir_all(src.join("empty")));
    write(
        &src.join(format!("deep/{}/file", "n".repeat(120))),
        b"long",
        0o644,
    );
    let archive = base.path().join("backup.tar.gz");
    let status = Command::new("tar")
        .arg("czf")
        .arg(&archive)
        .arg("-C")
        .arg(&src)
        .arg(".")
        .status()
        .unwrap_or_else(|e| panic!("GNU tar is needed for this test (apt-get install tar): {e}"));
    assert!(status.success());
    let restored = base.path().join("restored");
    let summary = restore(&archive, None, &restored);
    assert!(!summary.verified_manifest);
    assert_eq!(summary.files, 5);
    let mut got = tree(&restored);
    got.remove(".supervisor"); // the staging directory's parent
    assert_eq!(got, tree(&src));
    let (a, b) = (
        ok(fs::metadata(restored.join("bin/tool"))),
        ok(fs::metadata(restored.join("bin/tool-again"))),
    );
    assert_eq!(a.ino(), b.ino(), "the hard link is a hard link again");
}

/// Peak RSS of this process (VmHWM) in KiB.
fn peak_rss_kib() -> u64 {
    let status = ok(fs::read_to_string("/proc/self/status"));
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no VmHWM in /proc/self/status"))
}

const RSS_CHILD: &str = "BACKUP_ARCHIVE_RSS_WORKSPACE";

#[test]
fn archiving_512_mib_keeps_memory_bounded() {
    let base = ok(tempfile::tempdir());
    let ws = base.path().join("ws");
    ok(fs::create_dir_all(&ws));
    {
        let mut file = io::BufWriter::new(ok(File::create(ws.join("large.bin"))));
        // Incompressible: the compressor's buffers are at their largest.
        for i in 0..512u64 {
            ok(file.write_all(&noise(i + 11, 1 << 20)));
        }
        ok(file.flush());
    }
    // In a process of its own, so that no other test's memory counts.
    let exe = ok(std::env::current_exe());
    let out = ok(Command::new(exe)
        .args([
            "rss_child",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(RSS_CHILD, &ws)
        .output());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let growth: u64 = stdout
        .lines()
        .find_map(|l| l.strip_prefix("RSS_GROWTH_KIB "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no RSS_GROWTH_KIB line in: {stdout}"));
    println!(
        "peak RSS growth while archiving 512 MiB: {} MiB",
        growth / 1024
    );
    assert!(growth < 64 * 1024, "peak RSS grew by {growth} KiB");
}

#[test]
#[ignore = "run by archiving_512_mib_keeps_memory_bounded in a process of its own"]
fn rss_child() {
    let ws = PathBuf::from(std::env::var_os(RSS_CHILD).unwrap_or_else(|| {
        panic!("{RSS_CHILD} not set: run archiving_512_mib_keeps_memory_bounded")
    }));
    let before = peak_rss_kib();
    let started = Instant::now();
    let mut out = HashingWriter::new(io::sink());
    // Four zstd workers, the most any machine uses by default.
    let mut opts = options(&ws);
    opts.threads = Some(4);
    let summary = ok(write_archive(&ws, &mut out, &opts));
    assert_eq!(summary.bytes, 512 << 20);
    let after = peak_rss_kib();
    println!(
        "archived {} MiB into {} MiB in {:?}",
        summary.bytes >> 20,
        out.byte_count() >> 20,
        started.elapsed()
    );
    println!("RSS_GROWTH_KIB {}", after.saturating_sub(before));
}

/// `BENCH_DIR=/dev/shm cargo test --release -p openclaw-supervisor --test backup_archive bench
/// -- --ignored --nocapture`: archive and restore throughput on ~1 GiB against
/// `tar | zstd -3 -T0` and `zstd -d | tar -x` (needs the `zstd` command).
#[test]
#[ignore = "benchmark: run by hand with --release"]
fn bench_one_gib() {
    let base = PathBuf::from(std::env::var("BENCH_DIR").unwrap_or_else(|_| "/tmp".into()))
        .join("backup-bench");
    let ws = base.join("ws");
    // Mixed: 24k small text-like files (~200 MiB) and 8 large files (~800 MiB), compressible
    // about like source code and logs.
    let words: Vec<String> = (0..4096u64)
        .map(|i| {
            format!(
                "w{:x}{} ",
                i * 2_654_435_761 % 99_991,
                &"abcdefgh"[..(i % 8) as usize]
            )
        })
        .collect();
    let text = |seed: u64, len: usize| -> Vec<u8> {
        let picks = noise(seed, len / 4);
        let mut out = Vec::with_capacity(len + 32);
        for pair in picks.chunks(2) {
            let i =
                (usize::from(pair[0]) << 4) | usize::from(pair.get(1).copied().unwrap_or(0) & 15);
            out.extend_from_slice(words[i % words.len()].as_bytes());
            if out.len() >= len {
                break;
            }
        }
        out.truncate(len);
        out
    };
    if !ws.exists() {
        for i in 0..24_000u64 {
            let len = usize::try_from(1024 + i * 7919 % 16_384).unwrap_or(0);
            write(
                &ws.join(format!("small/{}/{i}.txt", i % 200)),
                &text(i, len),
                0o644,
            );
        }
        let chunk = text(99, 16 << 20);
        for i in 0..8u64 {
            let mut file = io::BufWriter::new({
                let path = ws.join(format!("large/{i}.log"));
                ok(fs::create_dir_all(ok(path.parent().ok_or("no parent"))));
                ok(File::create(path))
            });
            for j in 0..6u64 {
                let mut c = chunk.clone();
                c[..8].copy_from_slice(&(i * 100 + j).to_le_bytes());
                ok(file.write_all(&c));
            }
            ok(file.write_all(&noise(i, 4 << 20)));
            ok(file.flush());
        }
    }
    ok(Command::new("sync").status());
    let total: u64 = listing(&ws)
        .iter()
        .filter_map(|p| fs::metadata(p).ok())
        .filter(|m| m.is_file())
        .map(|m| m.len())
        .sum();
    let mib = total as f64 / f64::from(1 << 20);

    let shell = |cmd: &str| {
        let started = Instant::now();
        let status = ok(Command::new("sh").arg("-c").arg(cmd).status());
        assert!(status.success(), "{cmd}");
        started.elapsed().as_secs_f64()
    };
    let reference = shell(&format!(
        "tar -cf - -C {} . | zstd -3 -T0 -q > /dev/null",
        ws.display()
    ));
    let started = Instant::now();
    let archive = base.join("a.tar.zst");
    let (_, manifest) = archive_to(&ws, &archive, &options(&ws));
    let ours = started.elapsed().as_secs_f64();
    let reference2 = shell(&format!(
        "tar -cf - -C {} . | zstd -3 -T0 -q > /dev/null",
        ws.display()
    ));
    let reference = reference.min(reference2);
    println!(
        "data: {mib:.0} MiB, archive {} MiB",
        manifest.archive_size >> 20
    );
    println!(
        "backup: ours {ours:.2} s ({:.0} MiB/s), tar|zstd {reference:.2} s; backup_ratio: {:.2}",
        mib / ours,
        reference / ours
    );

    let out = base.join("out");
    ok(fs::create_dir_all(&out));
    let reference = shell(&format!(
        "zstd -d -q -c {} | tar -xf - -C {}",
        archive.display(),
        out.display()
    ));
    ok(fs::remove_dir_all(&out));
    let started = Instant::now();
    let staging = base.join("staging");
    ok(extract_verified(
        BufReader::new(ok(File::open(&archive))),
        Some(&manifest),
        &staging,
    ));
    let ours = started.elapsed().as_secs_f64();
    println!(
        "restore: ours {ours:.2} s ({:.0} MiB/s), zstd -d|tar -x {reference:.2} s; restore_ratio: {:.2}",
        mib / ours,
        reference / ours
    );
    // BENCH_KEEP=1 keeps the generated workspace for the next run.
    if std::env::var_os("BENCH_KEEP").is_some() {
        ok(fs::remove_dir_all(&staging));
        ok(fs::remove_file(&archive));
    } else {
        ok(fs::remove_dir_all(&base));
    }
}
