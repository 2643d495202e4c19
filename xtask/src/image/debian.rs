//! The OpenClaw image's base layer: a Debian bookworm minbase root filesystem from `debootstrap`
//! (with `tini` and `ca-certificates`), cleaned of what differs from one run to the next.
//!
//! Like Debian's `-slim` images (debuerreotype's slimify) it drops documentation, manual pages
//! and translations, and tells dpkg to keep doing so ([`DPKG_SLIM`]).
//!
//! `debootstrap` needs root and Debian's mirror; it takes minutes, so the layer is cached by its
//! inputs (suite, package list, mirror, and [`CLEANUP_REVISION`]).

use std::{fs, path::Path, process::Command};

use anyhow::{Context, Result, bail, ensure};

use super::{
    cache,
    layer::{self, Owner},
};

pub const SUITE: &str = "bookworm";
pub const VARIANT: &str = "minbase";
pub const INCLUDE: &str = "tini,ca-certificates";
pub const MIRROR: &str = "http://deb.debian.org/debian";
/// Bumped whenever [`clean`] changes what it removes.
const CLEANUP_REVISION: &str = "2";
/// `/etc/dpkg/dpkg.cfg.d/slim`: what the `-slim` images leave out, for later `apt-get install`s too.
pub const DPKG_SLIM: &str = "\
# As Debian's -slim images: no documentation (copyright files kept), manual pages or translations.
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/locale/*
";
/// `sp_lstchg` written into `/etc/shadow` (days since 1970): bookworm's release, 2023-06-10.
const SHADOW_LAST_CHANGE: &str = "19518";

/// The cached base layer, built with `debootstrap` when missing.
pub fn rootfs_layer() -> Result<cache::CachedLayer> {
    let hash = cache::input_hash(&[
        "debootstrap",
        VARIANT,
        SUITE,
        INCLUDE,
        MIRROR,
        CLEANUP_REVISION,
    ]);
    cache::layer(&format!("debian-{SUITE}"), &hash, |scratch, blobs| {
        let rootfs = scratch.join("rootfs");
        debootstrap(&rootfs)?;
        clean(&rootfs)?;
        slim(&rootfs)?;
        let blob = layer::write(blobs, layer::scan(&rootfs, "", Owner::AsOnDisk)?)?;
        println!(
            "    debian {SUITE} layer {} ({} bytes)",
            blob.digest, blob.size
        );
        Ok(blob)
    })
}

/// Debian's CA bundle (`/etc/ssl/certs/ca-certificates.crt`, from `ca-certificates`), read from
/// the cached base layer.
pub fn ca_bundle() -> Result<Vec<u8>> {
    let layer = rootfs_layer()?;
    let file =
        fs::File::open(&layer.path).with_context(|| format!("opening {}", layer.path.display()))?;
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(file));
    for entry in archive.entries()? {
        let mut entry = entry?;
        let path = entry
            .path()?
            .to_string_lossy()
            .trim_start_matches("./")
            .to_owned();
        if path == super::rust::CA_BUNDLE_PATH && entry.header().entry_type().is_file() {
            let mut bundle = Vec::new();
            std::io::Read::read_to_end(&mut entry, &mut bundle)?;
            ensure!(
                bundle.starts_with(b"-----BEGIN CERTIFICATE-----"),
                "/{path} of the Debian layer is not a PEM bundle"
            );
            return Ok(bundle);
        }
    }
    bail!(
        "the Debian layer {} has no /{}",
        layer.path.display(),
        super::rust::CA_BUNDLE_PATH
    )
}

fn debootstrap(rootfs: &Path) -> Result<()> {
    let Some(debootstrap) = ["/usr/sbin/debootstrap", "/usr/bin/debootstrap"]
        .into_iter()
        .find(|p| Path::new(p).is_file())
    else {
        bail!(
            "debootstrap is missing: apt-get install debootstrap (it builds the OpenClaw image's Debian layer)"
        );
    };
    if !nix::unistd::Uid::effective().is_root() {
        bail!("debootstrap needs root to build the OpenClaw image's Debian layer; run as root");
    }
    println!("==> debootstrap --variant={VARIANT} --include={INCLUDE} {SUITE} (minutes)");
    let log = rootfs.with_extension("log");
    let status = Command::new(debootstrap)
        .arg(format!("--variant={VARIANT}"))
        .arg(format!("--include={INCLUDE}"))
        .arg(SUITE)
        .arg(rootfs)
        .arg(MIRROR)
        .stdout(fs::File::create(&log)?)
        .stderr(fs::File::create(log.with_extension("err"))?)
        .status()
        .context("running debootstrap")?;
    if !status.success() {
        let err = fs::read_to_string(log.with_extension("err")).unwrap_or_default();
        bail!("debootstrap failed ({status}): {}", err.trim());
    }
    Ok(())
}

/// Removes or normalises what `debootstrap` leaves that depends on the day, the host or the
/// mirror's state: apt's lists and caches, logs, backups, the host's name and resolver.
pub fn clean(rootfs: &Path) -> Result<()> {
    let empty_dir = |dir: &str| -> Result<()> {
        let dir = rootfs.join(dir);
        if !dir.is_dir() {
            return Ok(());
        }
        for entry in fs::read_dir(&dir)? {
            let path = entry?.path();
            if path.is_dir() && !path.is_symlink() {
                fs::remove_dir_all(&path)?;
            } else {
                fs::remove_file(&path)?;
            }
        }
        Ok(())
    };
    for dir in [
        "var/lib/apt/lists",
        "var/cache/apt",
        "var/log/apt",
        "dev",
        "run",
        "tmp",
        "var/tmp",
    ] {
        empty_dir(dir).with_context(|| format!("emptying /{dir}"))?;
    }
    fs::create_dir_all(rootfs.join("var/lib/apt/lists/partial"))?;
    fs::create_dir_all(rootfs.join("var/cache/apt/archives/partial"))?;
    fs::create_dir_all(rootfs.join("run/lock"))?;
    for file in [
        "var/log/alternatives.log",
        "var/log/bootstrap.log",
        "var/log/dpkg.log",
        "var/cache/ldconfig/aux-cache",
        "var/cache/debconf/config.dat-old",
        "var/cache/debconf/templates.dat-old",
        "var/lib/dpkg/status-old",
        "var/lib/dpkg/diversions-old",
        "etc/passwd-",
        "etc/group-",
        "etc/shadow-",
        "etc/gshadow-",
        "etc/machine-id",
        "var/lib/dbus/machine-id",
    ] {
        match fs::remove_file(rootfs.join(file)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(e).with_context(|| format!("removing /{file}"));
            }
            _ => {}
        }
    }
    // Login records: kept, empty. Host-specific files: empty (the runtime mounts its own).
    for file in [
        "var/log/btmp",
        "var/log/faillog",
        "var/log/lastlog",
        "var/log/wtmp",
        "etc/hostname",
        "etc/resolv.conf",
    ] {
        let path = rootfs.join(file);
        if path.is_file() {
            fs::write(&path, b"").with_context(|| format!("emptying /{file}"))?;
        }
    }
    let shadow = rootfs.join("etc/shadow");
    if shadow.is_file() {
        fs::write(&shadow, fixed_shadow(&fs::read_to_string(&shadow)?))?;
    }
    Ok(())
}

/// Removes what [`DPKG_SLIM`] excludes and writes it for dpkg.
pub fn slim(rootfs: &Path) -> Result<()> {
    for dir in ["man", "groff", "info", "lintian", "linda", "locale"] {
        let dir = rootfs.join("usr/share").join(dir);
        if dir.is_dir() {
            for entry in fs::read_dir(&dir)? {
                let path = entry?.path();
                match path.is_dir() && !path.is_symlink() {
                    true => fs::remove_dir_all(&path)?,
                    false => fs::remove_file(&path)?,
                }
            }
        }
    }
    let doc = rootfs.join("usr/share/doc");
    if doc.is_dir() {
        for package in fs::read_dir(&doc)? {
            let package = package?.path();
            if !package.is_dir() || package.is_symlink() {
                fs::remove_file(&package)?;
                continue;
            }
            for entry in fs::read_dir(&package)? {
                let entry = entry?;
                if entry.file_name() == "copyright" {
                    continue;
                }
                match entry.path().is_dir() && !entry.path().is_symlink() {
                    true => fs::remove_dir_all(entry.path())?,
                    false => fs::remove_file(entry.path())?,
                }
            }
        }
    }
    let config = rootfs.join("etc/dpkg/dpkg.cfg.d");
    fs::create_dir_all(&config)?;
    fs::write(config.join("slim"), DPKG_SLIM)?;
    Ok(())
}

/// `/etc/shadow` with every "last changed" field set to [`SHADOW_LAST_CHANGE`].
pub fn fixed_shadow(shadow: &str) -> String {
    shadow
        .lines()
        .map(|line| {
            let mut fields: Vec<&str> = line.split(':').collect();
            if fields.len() > 2 && !fields[2].is_empty() {
                fields[2] = SHADOW_LAST_CHANGE;
            }
            format!("{}\n", fields.join(":"))
        })
        .collect()
}

/// Reads files from a layer (e.g. `etc/passwd`), by path without the leading `/`.
pub fn read_from_layer(path: &Path, wanted: &[&str]) -> Result<Vec<String>> {
    let mut found = vec![None; wanted.len()];
    let file = fs::File::open(path)?;
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(file));
    for entry in archive.entries()? {
        let mut entry = entry?;
        let name = entry.path()?.to_string_lossy().into_owned();
        if let Some(i) = wanted.iter().position(|w| *w == name) {
            let mut text = String::new();
            std::io::Read::read_to_string(&mut entry, &mut text)?;
            found[i] = Some(text);
        }
    }
    found
        .into_iter()
        .zip(wanted)
        .map(|(text, name)| text.with_context(|| format!("the base layer has no /{name}")))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shadow_dates_are_fixed() {
        let shadow =
            "root:*:20791:0:99999:7:::\ndaemon:*:20791:0:99999:7:::\nnobody:*::0:99999:7:::\n";
        assert_eq!(
            fixed_shadow(shadow),
            "root:*:19518:0:99999:7:::\ndaemon:*:19518:0:99999:7:::\nnobody:*::0:99999:7:::\n"
        );
    }

    #[test]
    fn slimming_keeps_copyrights_only() -> Result<()> {
        let dir = tempfile::tempdir()?;
        let root = dir.path();
        for dir in [
            "usr/share/doc/tini",
            "usr/share/man/man1",
            "usr/share/locale/de/LC_MESSAGES",
            "usr/share/zoneinfo",
        ] {
            fs::create_dir_all(root.join(dir))?;
        }
        fs::write(root.join("usr/share/doc/tini/copyright"), "MIT")?;
        fs::write(root.join("usr/share/doc/tini/changelog.gz"), "x")?;
        fs::write(root.join("usr/share/man/man1/tini.1.gz"), "x")?;
        fs::write(root.join("usr/share/locale/de/LC_MESSAGES/apt.mo"), "x")?;
        fs::write(root.join("usr/share/zoneinfo/UTC"), "x")?;
        slim(root)?;
        assert!(root.join("usr/share/doc/tini/copyright").is_file());
        assert!(!root.join("usr/share/doc/tini/changelog.gz").exists());
        assert!(!root.join("usr/share/man/man1").exists());
        assert!(root.join("usr/share/man").is_dir());
        assert!(!root.join("usr/share/locale/de").exists());
        assert!(root.join("usr/share/zoneinfo/UTC").is_file());
        assert_eq!(
            fs::read_to_string(root.join("etc/dpkg/dpkg.cfg.d/slim"))?,
            DPKG_SLIM
        );
        Ok(())
    }

    #[test]
    fn cleaning_removes_what_changes_between_runs() -> Result<()> {
        let dir = tempfile::tempdir()?;
        let root = dir.path();
        for dir in [
            "var/lib/apt/lists",
            "var/cache/apt/archives",
            "var/log/apt",
            "dev",
            "etc",
        ] {
            fs::create_dir_all(root.join(dir))?;
        }
        fs::write(root.join("var/lib/apt/lists/deb.debian.org_Packages"), "x")?;
        fs::write(root.join("var/cache/apt/archives/tini.deb"), "x")?;
        fs::write(root.join("var/log/dpkg.log"), "x")?;
        fs::write(root.join("var/log/wtmp"), "x")?;
        fs::write(root.join("etc/hostname"), "builder\n")?;
        fs::write(root.join("etc/passwd-"), "x")?;
        fs::write(root.join("etc/shadow"), "root:*:20791:0:99999:7:::\n")?;
        clean(root)?;
        assert!(
            !root
                .join("var/lib/apt/lists/deb.debian.org_Packages")
                .exists()
        );
        assert!(root.join("var/lib/apt/lists/partial").is_dir());
        assert!(!root.join("var/cache/apt/archives/tini.deb").exists());
        assert!(!root.join("var/log/dpkg.log").exists());
        assert!(!root.join("etc/passwd-").exists());
        assert_eq!(fs::read(root.join("var/log/wtmp"))?, b"");
        assert_eq!(fs::read(root.join("etc/hostname"))?, b"");
        assert_eq!(
            fs::read_to_string(root.join("etc/shadow"))?,
            "root:*:19518:0:99999:7:::\n"
        );
        Ok(())
    }
}
