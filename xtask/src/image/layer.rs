//! Deterministic image layers: entries sorted by path, owners explicit, every timestamp zero,
//! gzip with a fixed header, so the same files always give the same diff ID and digest.
//!
//! A layer is a list of [`Entry`] values — built in memory or read from a directory by
//! [`scan`] — written by [`write`] as a gzipped tar straight into a layout's `blobs/sha256/`,
//! hashing the tar (the diff ID) and the compressed stream (the digest) on the way.

use std::{
    collections::{BTreeMap, HashMap},
    fs,
    io::{self, BufWriter, Write},
    os::unix::fs::{FileTypeExt, MetadataExt},
    path::{Path, PathBuf},
};

use anyhow::{Context, Result, bail, ensure};
use sha2::{Digest, Sha256};

/// What an entry is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    Dir,
    /// A regular file with these bytes.
    Bytes(Vec<u8>),
    /// A regular file whose bytes are read from this path when the layer is written.
    File(PathBuf),
    /// A symbolic link to this target.
    Symlink(String),
    /// A hard link to this earlier entry of the same layer (path without the leading `/`).
    Hardlink(String),
}

/// One entry of a layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Path in the image, without the leading `/`.
    pub path: String,
    /// Permission bits (`0o7777`).
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    pub kind: Kind,
}

impl Entry {
    /// A root-owned directory.
    pub fn dir(path: &str, mode: u32) -> Self {
        Self::new(path, mode, Kind::Dir)
    }

    /// A root-owned regular file holding `bytes`.
    pub fn file(path: &str, mode: u32, bytes: impl Into<Vec<u8>>) -> Self {
        Self::new(path, mode, Kind::Bytes(bytes.into()))
    }

    /// A root-owned symbolic link.
    pub fn symlink(path: &str, target: &str) -> Self {
        Self::new(path, 0o777, Kind::Symlink(target.to_owned()))
    }

    fn new(path: &str, mode: u32, kind: Kind) -> Self {
        Self {
            path: path.trim_start_matches('/').to_owned(),
            mode,
            uid: 0,
            gid: 0,
            kind,
        }
    }

    /// The same entry owned by `uid:gid`.
    pub fn owned(mut self, uid: u64, gid: u64) -> Self {
        (self.uid, self.gid) = (uid, gid);
        self
    }
}

/// Who owns the entries [`scan`] reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner {
    /// The owners on disk (a root filesystem built as root).
    AsOnDisk,
    /// Everything owned by this `uid:gid` (files unpacked by an unprivileged tool).
    Fixed(u64, u64),
}

/// Reads the tree under `dir` as entries under `prefix` in the image (`""` for the root),
/// `dir` itself included when `prefix` is not empty. Files are read when the layer is written;
/// files sharing an inode become hard links to the first of them in path order; device nodes,
/// sockets and FIFOs are left out (a container runtime provides `/dev`).
pub fn scan(dir: &Path, prefix: &str, owner: Owner) -> Result<Vec<Entry>> {
    let prefix = prefix.trim_matches('/');
    let mut found = Vec::new();
    walk(dir, prefix, &mut found)?;
    found.sort_by(|a, b| a.0.cmp(&b.0));
    let mut first_of_inode: HashMap<(u64, u64), String> = HashMap::new();
    let mut entries = Vec::with_capacity(found.len());
    for (path, disk, meta) in found {
        if path.is_empty() {
            continue;
        }
        let file_type = meta.file_type();
        let kind = if file_type.is_dir() {
            Kind::Dir
        } else if file_type.is_symlink() {
            let target = fs::read_link(&disk)?;
            Kind::Symlink(
                target
                    .to_str()
                    .context("a non-UTF-8 link target")?
                    .to_owned(),
            )
        } else if file_type.is_file() {
            match meta.nlink() > 1 {
                true => match first_of_inode.get(&(meta.dev(), meta.ino())) {
                    Some(first) => Kind::Hardlink(first.clone()),
                    None => {
                        first_of_inode.insert((meta.dev(), meta.ino()), path.clone());
                        Kind::File(disk)
                    }
                },
                false => Kind::File(disk),
            }
        } else if file_type.is_block_device()
            || file_type.is_char_device()
            || file_type.is_fifo()
            || file_type.is_socket()
        {
            continue;
        } else {
            bail!("{} is of an unknown file type", disk.display());
        };
        let (uid, gid) = match owner {
            Owner::AsOnDisk => (u64::from(meta.uid()), u64::from(meta.gid())),
            Owner::Fixed(uid, gid) => (uid, gid),
        };
        entries.push(Entry {
            path,
            mode: meta.mode() & 0o7777,
            uid,
            gid,
            kind,
        });
    }
    Ok(entries)
}

fn walk(disk: &Path, path: &str, found: &mut Vec<(String, PathBuf, fs::Metadata)>) -> Result<()> {
    let meta = fs::symlink_metadata(disk).with_context(|| format!("reading {}", disk.display()))?;
    let is_dir = meta.is_dir();
    found.push((path.to_owned(), disk.to_owned(), meta));
    if is_dir {
        for child in fs::read_dir(disk).with_context(|| format!("listing {}", disk.display()))? {
            let child = child?;
            let name = child.file_name();
            let name = name
                .to_str()
                .with_context(|| format!("{} has a non-UTF-8 name", child.path().display()))?;
            let path = match path {
                "" => name.to_owned(),
                _ => format!("{path}/{name}"),
            };
            walk(&child.path(), &path, found)?;
        }
    }
    Ok(())
}

/// A layer written as a blob.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LayerBlob {
    /// `sha256:<hex>` of the gzipped tar: the blob's name.
    pub digest: String,
    /// `sha256:<hex>` of the uncompressed tar: the config's `rootfs.diff_ids`.
    pub diff_id: String,
    /// Bytes of the gzipped tar.
    pub size: u64,
}

/// A writer that hashes and counts what passes through it.
struct Hashing<W> {
    inner: W,
    hash: Sha256,
    count: u64,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hash.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

fn hashing<W>(inner: W) -> Hashing<W> {
    Hashing {
        inner,
        hash: Sha256::new(),
        count: 0,
    }
}

/// `sha256:<hex>` of `bytes`.
pub fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// Writes `entries` (in any order; paths must be unique) as a gzipped tar into `blobs`
/// (a layout's `blobs/sha256/`) and returns its digests. Entries are sorted by path; every
/// mtime is zero; owners are numeric only; the gzip header has no name and mtime zero.
pub fn write(blobs: &Path, mut entries: Vec<Entry>) -> Result<LayerBlob> {
    entries.sort_by(|a, b| a.path.cmp(&b.path));
    if let Some(twice) = entries.windows(2).find(|w| w[0].path == w[1].path) {
        bail!("the layer has {} twice", twice[0].path);
    }
    fs::create_dir_all(blobs).with_context(|| format!("creating {}", blobs.display()))?;
    let partial = blobs.join(format!(".layer-{}.partial", std::process::id()));
    let file =
        fs::File::create(&partial).with_context(|| format!("creating {}", partial.display()))?;
    let compressed = hashing(BufWriter::with_capacity(1 << 20, file));
    let gzip = flate2::GzBuilder::new()
        .mtime(0)
        .operating_system(255)
        .write(compressed, flate2::Compression::new(6));
    let mut tar = tar::Builder::new(hashing(gzip));
    tar.mode(tar::HeaderMode::Deterministic);
    for entry in &entries {
        append(&mut tar, entry).with_context(|| format!("adding /{} to the layer", entry.path))?;
    }
    let uncompressed = tar.into_inner()?;
    let diff_id = format!("sha256:{}", hex::encode(uncompressed.hash.finalize()));
    let mut compressed = uncompressed.inner.finish()?;
    compressed.flush()?;
    let hex = hex::encode(compressed.hash.finalize());
    let size = compressed.count;
    compressed
        .inner
        .into_inner()
        .map_err(|e| e.into_error())?
        .sync_all()?;
    fs::rename(&partial, blobs.join(&hex))?;
    Ok(LayerBlob {
        digest: format!("sha256:{hex}"),
        diff_id,
        size,
    })
}

fn append<W: Write>(tar: &mut tar::Builder<W>, entry: &Entry) -> Result<()> {
    let mut header = tar::Header::new_gnu();
    header.set_mode(entry.mode);
    header.set_uid(entry.uid);
    header.set_gid(entry.gid);
    header.set_mtime(0);
    header.set_size(0);
    let path = match entry.kind {
        Kind::Dir => format!("{}/", entry.path),
        _ => entry.path.clone(),
    };
    match &entry.kind {
        Kind::Dir => {
            header.set_entry_type(tar::EntryType::Directory);
            tar.append_data(&mut header, &path, io::empty())?;
        }
        Kind::Bytes(bytes) => {
            header.set_entry_type(tar::EntryType::Regular);
            header.set_size(bytes.len() as u64);
            tar.append_data(&mut header, &path, bytes.as_slice())?;
        }
        Kind::File(disk) => {
            let file =
                fs::File::open(disk).with_context(|| format!("opening {}", disk.display()))?;
            header.set_entry_type(tar::EntryType::Regular);
            header.set_size(file.metadata()?.len());
            tar.append_data(&mut header, &path, file)?;
        }
        Kind::Symlink(target) => {
            header.set_entry_type(tar::EntryType::Symlink);
            tar.append_link(&mut header, &path, target)?;
        }
        Kind::Hardlink(target) => {
            header.set_entry_type(tar::EntryType::Link);
            tar.append_link(&mut header, &path, target)?;
        }
    }
    Ok(())
}

/// What a layer holds, as a registry client unpacks it: each path with its mode, owner and, for
/// files, the SHA-256 of the content (links: their target).
pub fn list(gzipped: impl io::Read) -> Result<BTreeMap<String, Listed>> {
    let mut listed = BTreeMap::new();
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(gzipped));
    for entry in archive.entries()? {
        let mut entry = entry?;
        let path = entry
            .path()?
            .to_string_lossy()
            .trim_end_matches('/')
            .to_owned();
        let header = entry.header();
        let (mode, uid, gid) = (header.mode()? & 0o7777, header.uid()?, header.gid()?);
        ensure!(
            header.mtime()? == 0,
            "/{path} has mtime {}",
            header.mtime()?
        );
        let content = match header.entry_type() {
            tar::EntryType::Regular => {
                let mut hash = hashing(io::sink());
                io::copy(&mut entry, &mut hash)?;
                hex::encode(hash.hash.finalize())
            }
            tar::EntryType::Symlink | tar::EntryType::Link => entry
                .link_name()?
                .map(|l| l.to_string_lossy().into_owned())
                .unwrap_or_default(),
            _ => String::new(),
        };
        listed.insert(
            path,
            Listed {
                mode,
                uid,
                gid,
                content,
            },
        );
    }
    Ok(listed)
}

/// One path of a layer, as [`list`] reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    /// SHA-256 of a file's bytes, a link's target, empty for a directory.
    pub content: String,
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::{PermissionsExt, symlink};

    use super::*;

    fn tree(root: &Path, mtime: i64) -> Result<()> {
        fs::create_dir_all(root.join("usr/bin"))?;
        fs::write(root.join("usr/bin/tool"), b"#!tool\n")?;
        fs::set_permissions(root.join("usr/bin/tool"), fs::Permissions::from_mode(0o755))?;
        fs::write(root.join("a.txt"), b"a\n")?;
        fs::hard_link(root.join("a.txt"), root.join("z.txt"))?;
        symlink("usr/bin/tool", root.join("tool"))?;
        for path in ["usr/bin/tool", "a.txt", "usr/bin", "usr", ""] {
            let status = std::process::Command::new("touch")
                .args(["-h", "-d", &format!("@{mtime}")])
                .arg(root.join(path))
                .status()?;
            ensure!(status.success());
        }
        Ok(())
    }

    #[test]
    fn the_same_files_give_the_same_digests_whatever_their_mtimes() -> Result<()> {
        let dir = tempfile::tempdir()?;
        let (one, two) = (dir.path().join("one"), dir.path().join("two"));
        tree(&one, 1_000_000)?;
        tree(&two, 2_000_000_000)?;
        let blobs = dir.path().join("blobs");
        let a = write(&blobs, scan(&one, "", Owner::Fixed(0, 0))?)?;
        let b = write(&blobs, scan(&two, "", Owner::Fixed(0, 0))?)?;
        assert_eq!(a, b);
        // A changed byte or a changed owner is a different layer.
        fs::write(two.join("a.txt"), b"b\n")?;
        let c = write(&blobs, scan(&two, "", Owner::Fixed(0, 0))?)?;
        assert_ne!(a.digest, c.digest);
        let d = write(&blobs, scan(&one, "", Owner::Fixed(1000, 1000))?)?;
        assert_ne!(a.diff_id, d.diff_id);

        let listed = list(fs::File::open(
            blobs.join(a.digest.trim_start_matches("sha256:")),
        )?)?;
        let paths: Vec<&str> = listed.keys().map(String::as_str).collect();
        assert_eq!(
            paths,
            ["a.txt", "tool", "usr", "usr/bin", "usr/bin/tool", "z.txt"]
        );
        assert_eq!(listed["usr/bin/tool"].mode, 0o755);
        assert_eq!(listed["tool"].content, "usr/bin/tool");
        // The second name of an inode is a hard link to the first in path order.
        assert_eq!(listed["z.txt"].content, "a.txt");
        assert_eq!(listed["a.txt"].content, hex::encode(Sha256::digest(b"a\n")));
        Ok(())
    }

    #[test]
    fn entries_in_any_order_give_one_layer_and_a_path_twice_is_refused() -> Result<()> {
        let dir = tempfile::tempdir()?;
        let entries = vec![
            Entry::dir("etc", 0o755),
            Entry::file("etc/passwd", 0o644, "root:x:0:0::/root:/bin/sh\n"),
            Entry::dir("home/node", 0o755).owned(1000, 1000),
            Entry::dir("home", 0o755),
        ];
        let mut reversed = entries.clone();
        reversed.reverse();
        let a = write(dir.path(), entries.clone())?;
        assert_eq!(a, write(dir.path(), reversed)?);
        assert_eq!(
            a.size,
            fs::metadata(dir.path().join(a.digest.trim_start_matches("sha256:")))?.len()
        );
        let mut twice = entries;
        twice.push(Entry::file("/etc/passwd", 0o644, "x"));
        let error = write(dir.path(), twice).map(|_| ()).unwrap_err();
        assert!(
            format!("{error:#}").contains("etc/passwd twice"),
            "{error:#}"
        );
        Ok(())
    }
}
