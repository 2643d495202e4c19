//! `cargo xtask image`: the runtime image (`ghcr.io/openclaw-rocks/openclaw-runtime`) as an OCI
//! image layout, built without a container engine.
//!
//! The static `openclaw-init` and `openclaw-supervisor` (release, `+crt-static` on the gnu target,
//! see init/README.md) are checked to be static (no `PT_INTERP` program header), then written as
//! one gzipped layer: `/openclaw-init`, `/openclaw-supervisor` (mode 0755, owner 0:0) and
//! `/openclaw-supervisor.sha256`, which `openclaw-init` checks the copy against
//! (`OPENCLAW_INIT_SHA256_FILE`). Entrypoint `/openclaw-init`, user `1000:1000` (the pod's), no
//! shell, no libc. Timestamps are zero, so the same binaries give the same digests.
//!
//! The layout (`target/runtime-image/`: `oci-layout`, `index.json`, `blobs/sha256/*`) is what
//! `skopeo copy oci:target/runtime-image:<tag> docker://<registry>/<repo>:<tag>` pushes and what
//! `crane push` or `podman load` read; it is validated (digests, sizes, config, layer files and
//! modes) before the command reports success.

use std::{
    collections::BTreeMap,
    fs,
    io::{Read, Write},
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{Context, Result, bail, ensure};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::tools::repo_root;

/// Where the image's binaries are in the image (the init container runs `/openclaw-init`, which
/// copies `/openclaw-supervisor` by default).
pub const INIT_PATH: &str = "openclaw-init";
/// The supervisor in the image.
pub const SUPERVISOR_PATH: &str = "openclaw-supervisor";
/// Its SHA-256, `sha256sum` format.
pub const CHECKSUM_PATH: &str = "openclaw-supervisor.sha256";
/// The image's user: the pod's UID and GID.
pub const USER: &str = "1000:1000";

const MANIFEST_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";
const INDEX_TYPE: &str = "application/vnd.oci.image.index.v1+json";
const CONFIG_TYPE: &str = "application/vnd.oci.image.config.v1+json";
const LAYER_TYPE: &str = "application/vnd.oci.image.layer.v1.tar+gzip";

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Output directory of the OCI image layout (replaced).
    #[arg(long, default_value = "target/runtime-image")]
    out: PathBuf,
    /// Tag recorded in the layout (`org.opencontainers.image.ref.name`).
    #[arg(long, default_value = env!("CARGO_PKG_VERSION"))]
    tag: String,
}

/// One file of the layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerFile {
    /// Path in the image, without the leading `/`.
    pub path: String,
    pub mode: u32,
    pub bytes: Vec<u8>,
}

/// Digest and size of a blob written to the layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blob {
    /// `sha256:<hex>`.
    pub digest: String,
    pub size: u64,
}

pub fn run(args: &Args) -> Result<()> {
    let root = repo_root()?;
    let triple = format!("{}-unknown-linux-gnu", std::env::consts::ARCH);
    println!(
        "==> cargo build --release -p openclaw-init -p openclaw-supervisor --target {triple} (+crt-static)"
    );
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args([
            "build",
            "--release",
            "-p",
            "openclaw-init",
            "-p",
            "openclaw-supervisor",
            "--target",
            &triple,
        ])
        .env("RUSTFLAGS", "-C target-feature=+crt-static")
        .current_dir(&root)
        .status()
        .context("running cargo build")?;
    if !status.success() {
        bail!("building the static binaries failed ({status})");
    }
    let bin_dir = root.join("target").join(&triple).join("release");
    let mut files = Vec::new();
    for name in [INIT_PATH, SUPERVISOR_PATH] {
        let path = bin_dir.join(name);
        let bytes = fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        ensure!(
            !has_interpreter(&bytes).with_context(|| format!("reading {}", path.display()))?,
            "{} is dynamically linked (it has a PT_INTERP program header); the image has no libc",
            path.display()
        );
        println!("{name}: static, {} bytes", bytes.len());
        files.push(LayerFile {
            path: name.to_owned(),
            mode: 0o755,
            bytes,
        });
    }
    let supervisor_sha = hex::encode(Sha256::digest(&files[1].bytes));
    files.push(LayerFile {
        path: CHECKSUM_PATH.to_owned(),
        mode: 0o644,
        bytes: format!("{supervisor_sha}  {SUPERVISOR_PATH}\n").into_bytes(),
    });
    let out = if args.out.is_absolute() {
        args.out.clone()
    } else {
        root.join(&args.out)
    };
    let manifest = write_layout(&out, &files, &args.tag, oci_arch()?)?;
    let checked = validate(&out)?;
    println!(
        "wrote {} (manifest {manifest}, {} files in one layer)",
        out.display(),
        checked.len()
    );
    println!(
        "push it with: skopeo copy oci:{}:{} docker://ghcr.io/openclaw-rocks/openclaw-runtime:{}",
        args.out.display(),
        args.tag,
        args.tag
    );
    Ok(())
}

/// The OCI architecture of this machine.
fn oci_arch() -> Result<&'static str> {
    match std::env::consts::ARCH {
        "x86_64" => Ok("amd64"),
        "aarch64" => Ok("arm64"),
        other => bail!("no OCI architecture name for {other}"),
    }
}

/// Whether an ELF executable asks for a dynamic loader (a `PT_INTERP` program header).
pub fn has_interpreter(elf: &[u8]) -> Result<bool> {
    ensure!(elf.starts_with(b"\x7fELF"), "not an ELF file");
    ensure!(elf.get(4) == Some(&2), "not a 64-bit ELF file");
    ensure!(elf.get(5) == Some(&1), "not a little-endian ELF file");
    let u16_at = |at: usize| -> Result<u16> {
        let bytes = elf.get(at..at + 2).context("truncated ELF header")?;
        Ok(u16::from_le_bytes([bytes[0], bytes[1]]))
    };
    let phoff = elf
        .get(0x20..0x28)
        .and_then(|b| b.try_into().ok())
        .map(u64::from_le_bytes)
        .context("truncated ELF header")?;
    let (entry_size, count) = (u16_at(0x36)? as usize, u16_at(0x38)? as usize);
    const PT_INTERP: u32 = 3;
    for i in 0..count {
        let at = usize::try_from(phoff)? + i * entry_size;
        let kind = elf
            .get(at..at + 4)
            .and_then(|b| b.try_into().ok())
            .map(u32::from_le_bytes)
            .context("truncated program header table")?;
        if kind == PT_INTERP {
            return Ok(true);
        }
    }
    Ok(false)
}

/// The uncompressed layer: a tar of `files` owned by 0:0 with zero timestamps.
pub fn layer_tar(files: &[LayerFile]) -> Result<Vec<u8>> {
    let mut tar = tar::Builder::new(Vec::new());
    for file in files {
        let mut header = tar::Header::new_ustar();
        header.set_size(file.bytes.len() as u64);
        header.set_mode(file.mode);
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(0);
        header.set_entry_type(tar::EntryType::Regular);
        header.set_cksum();
        tar.append_data(&mut header, &file.path, file.bytes.as_slice())
            .with_context(|| format!("adding {} to the layer", file.path))?;
    }
    Ok(tar.into_inner()?)
}

/// Writes `bytes` as a blob of the layout.
fn write_blob(out: &Path, bytes: &[u8]) -> Result<Blob> {
    let digest_hex = hex::encode(Sha256::digest(bytes));
    let path = out.join("blobs/sha256").join(&digest_hex);
    fs::write(&path, bytes).with_context(|| format!("writing {}", path.display()))?;
    Ok(Blob {
        digest: format!("sha256:{digest_hex}"),
        size: bytes.len() as u64,
    })
}

/// Writes the OCI image layout of one image with one layer holding `files` into `out`
/// (replaced); returns the manifest's digest.
pub fn write_layout(out: &Path, files: &[LayerFile], tag: &str, arch: &str) -> Result<String> {
    if out.exists() {
        fs::remove_dir_all(out).with_context(|| format!("removing {}", out.display()))?;
    }
    fs::create_dir_all(out.join("blobs/sha256"))
        .with_context(|| format!("creating {}", out.display()))?;
    let tar = layer_tar(files)?;
    let diff_id = format!("sha256:{}", hex::encode(Sha256::digest(&tar)));
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(&tar)?;
    let layer = write_blob(out, &gz.finish()?)?;
    let config = json!({
        "created": "1970-01-01T00:00:00Z",
        "architecture": arch,
        "os": "linux",
        "config": {
            "User": USER,
            "Entrypoint": [format!("/{INIT_PATH}")],
            "Cmd": ["install", "--to", "/openclaw-runtime"],
            "Env": [format!("OPENCLAW_INIT_SHA256_FILE=/{CHECKSUM_PATH}")],
            "WorkingDir": "/",
            "Labels": {
                "org.opencontainers.image.title": "openclaw-runtime",
                "org.opencontainers.image.version": tag,
                "org.opencontainers.image.source": "https://github.com/openclaw-rocks/openclaw-operator-rs",
            },
        },
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [{
            "created": "1970-01-01T00:00:00Z",
            "created_by": "cargo xtask image",
        }],
    });
    let config = write_blob(out, &serde_json::to_vec(&config)?)?;
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": MANIFEST_TYPE,
        "config": {"mediaType": CONFIG_TYPE, "digest": config.digest, "size": config.size},
        "layers": [{"mediaType": LAYER_TYPE, "digest": layer.digest, "size": layer.size}],
        "annotations": {"org.opencontainers.image.version": tag},
    });
    let manifest = write_blob(out, &serde_json::to_vec(&manifest)?)?;
    let index = json!({
        "schemaVersion": 2,
        "mediaType": INDEX_TYPE,
        "manifests": [{
            "mediaType": MANIFEST_TYPE,
            "digest": manifest.digest,
            "size": manifest.size,
            "platform": {"architecture": arch, "os": "linux"},
            "annotations": {"org.opencontainers.image.ref.name": tag},
        }],
    });
    fs::write(out.join("index.json"), serde_json::to_vec_pretty(&index)?)?;
    fs::write(
        out.join("oci-layout"),
        serde_json::to_vec(&json!({"imageLayoutVersion": "1.0.0"}))?,
    )?;
    Ok(manifest.digest)
}

/// Reads a blob named by a descriptor and checks its digest and size.
fn read_blob(out: &Path, descriptor: &Value) -> Result<Vec<u8>> {
    let digest = descriptor["digest"]
        .as_str()
        .context("a descriptor without digest")?;
    let hex_digest = digest
        .strip_prefix("sha256:")
        .with_context(|| format!("{digest} is not a sha256 digest"))?;
    let path = out.join("blobs/sha256").join(hex_digest);
    let bytes = fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
    let actual = hex::encode(Sha256::digest(&bytes));
    ensure!(
        actual == hex_digest,
        "blob {} has digest sha256:{actual}, the descriptor says {digest}",
        path.display()
    );
    ensure!(
        descriptor["size"].as_u64() == Some(bytes.len() as u64),
        "blob {digest} has {} bytes, the descriptor says {}",
        bytes.len(),
        descriptor["size"]
    );
    Ok(bytes)
}

fn parse(bytes: &[u8], what: &str) -> Result<Value> {
    serde_json::from_slice(bytes).with_context(|| format!("{what} is not JSON"))
}

/// Checks the layout in `out` as a registry client would read it: `oci-layout`, the index, the
/// manifest, the config (entrypoint, a non-root user, the layer's diff ID) and the layer (its
/// files present with mode 0755 for the binaries); returns each file of the layer with its mode.
pub fn validate(out: &Path) -> Result<BTreeMap<String, u32>> {
    let layout = parse(&fs::read(out.join("oci-layout"))?, "oci-layout")?;
    ensure!(
        layout["imageLayoutVersion"] == "1.0.0",
        "oci-layout: {layout}"
    );
    let index = parse(&fs::read(out.join("index.json"))?, "index.json")?;
    ensure!(index["schemaVersion"] == 2, "index.json: schemaVersion");
    let manifests = index["manifests"]
        .as_array()
        .context("index.json: manifests")?;
    ensure!(
        manifests.len() == 1,
        "index.json lists {} manifests",
        manifests.len()
    );
    ensure!(
        manifests[0]["mediaType"] == MANIFEST_TYPE,
        "index.json: manifest media type"
    );
    let manifest = parse(&read_blob(out, &manifests[0])?, "the manifest")?;
    ensure!(
        manifest["mediaType"] == MANIFEST_TYPE,
        "manifest media type"
    );
    ensure!(
        manifest["config"]["mediaType"] == CONFIG_TYPE,
        "config media type"
    );
    let config = parse(&read_blob(out, &manifest["config"])?, "the config")?;
    let user = config["config"]["User"].as_str().unwrap_or_default();
    let uid = user.split(':').next().unwrap_or_default();
    ensure!(
        uid.parse::<u32>().is_ok_and(|uid| uid != 0),
        "the image's user {user:?} is not a numeric non-root UID"
    );
    ensure!(
        config["config"]["Entrypoint"] == json!([format!("/{INIT_PATH}")]),
        "the entrypoint is {}",
        config["config"]["Entrypoint"]
    );
    let layers = manifest["layers"].as_array().context("manifest: layers")?;
    let diff_ids = config["rootfs"]["diff_ids"]
        .as_array()
        .context("config: rootfs.diff_ids")?;
    ensure!(
        layers.len() == 1 && diff_ids.len() == 1,
        "one layer expected, the manifest lists {} and the config {}",
        layers.len(),
        diff_ids.len()
    );
    ensure!(layers[0]["mediaType"] == LAYER_TYPE, "layer media type");
    let compressed = read_blob(out, &layers[0])?;
    let mut tar = Vec::new();
    flate2::read::GzDecoder::new(compressed.as_slice())
        .read_to_end(&mut tar)
        .context("the layer is not gzip")?;
    let diff_id = format!("sha256:{}", hex::encode(Sha256::digest(&tar)));
    ensure!(
        diff_ids[0] == diff_id.as_str(),
        "the layer's diff ID is {diff_id}, the config says {}",
        diff_ids[0]
    );
    let mut files = BTreeMap::new();
    let mut archive = tar::Archive::new(tar.as_slice());
    for entry in archive.entries()? {
        let entry = entry?;
        let path = entry.path()?.to_string_lossy().into_owned();
        files.insert(path, entry.header().mode()? & 0o7777);
    }
    for binary in [INIT_PATH, SUPERVISOR_PATH] {
        ensure!(
            files.get(binary) == Some(&0o755),
            "the layer has {binary} with mode {:?}, expected 0755 (files: {files:?})",
            files.get(binary).map(|m| format!("{m:o}"))
        );
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files() -> Vec<LayerFile> {
        vec![
            LayerFile {
                path: INIT_PATH.into(),
                mode: 0o755,
                bytes: b"\x7fELF init".to_vec(),
            },
            LayerFile {
                path: SUPERVISOR_PATH.into(),
                mode: 0o755,
                bytes: b"\x7fELF supervisor".to_vec(),
            },
            LayerFile {
                path: CHECKSUM_PATH.into(),
                mode: 0o644,
                bytes: b"abc  openclaw-supervisor\n".to_vec(),
            },
        ]
    }

    #[test]
    fn writes_a_layout_that_validates() -> Result<()> {
        let dir = tempfile::tempdir()?;
        let out = dir.path().join("runtime-image");
        let digest = write_layout(&out, &files(), "0.1.0", "amd64")?;
        let listed = validate(&out)?;
        assert_eq!(
            listed,
            BTreeMap::from([
                (INIT_PATH.to_owned(), 0o755),
                (SUPERVISOR_PATH.to_owned(), 0o755),
                (CHECKSUM_PATH.to_owned(), 0o644),
            ])
        );
        let index = parse(&fs::read(out.join("index.json"))?, "index")?;
        assert_eq!(index["manifests"][0]["digest"], digest.as_str());
        assert_eq!(
            index["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"],
            "0.1.0"
        );
        // Same input, same digests: the build is reproducible.
        let again = write_layout(&dir.path().join("again"), &files(), "0.1.0", "amd64")?;
        assert_eq!(again, digest);
        // Every blob the layout holds is named by its digest.
        for entry in fs::read_dir(out.join("blobs/sha256"))? {
            let entry = entry?;
            let bytes = fs::read(entry.path())?;
            assert_eq!(
                entry.file_name().to_string_lossy(),
                hex::encode(Sha256::digest(&bytes))
            );
        }
        Ok(())
    }

    #[test]
    fn a_corrupted_blob_or_a_wrong_mode_fails_validation() -> Result<()> {
        let dir = tempfile::tempdir()?;
        let out = dir.path().join("image");
        write_layout(&out, &files(), "t", "amd64")?;
        let blobs: Vec<PathBuf> = fs::read_dir(out.join("blobs/sha256"))?
            .map(|e| e.map(|e| e.path()))
            .collect::<Result<_, _>>()?;
        for blob in &blobs {
            let original = fs::read(blob)?;
            let mut corrupted = original.clone();
            corrupted.push(b'\n');
            fs::write(blob, &corrupted)?;
            let error = validate(&out).err().map(|e| format!("{e:#}"));
            assert!(
                error
                    .as_deref()
                    .is_some_and(|e| e.contains("has digest sha256:")),
                "{error:?}"
            );
            fs::write(blob, &original)?;
        }
        validate(&out)?;

        let mut not_executable = files();
        not_executable[1].mode = 0o644;
        write_layout(&out, &not_executable, "t", "amd64")?;
        let error = validate(&out).err().map(|e| format!("{e:#}"));
        assert!(
            error
                .as_deref()
                .is_some_and(|e| e.contains("openclaw-supervisor with mode Some(\"644\")")),
            "{error:?}"
        );
        Ok(())
    }

    #[test]
    fn tells_static_from_dynamic_executables() -> Result<()> {
        // This test binary is linked dynamically (cargo test builds without +crt-static).
        let this = fs::read(std::env::current_exe()?)?;
        assert!(has_interpreter(&this)?);
        // A minimal ELF64 with one PT_LOAD program header and no PT_INTERP.
        let mut elf = vec![0u8; 64 + 56];
        elf[..6].copy_from_slice(b"\x7fELF\x02\x01");
        elf[0x20..0x28].copy_from_slice(&64u64.to_le_bytes());
        elf[0x36..0x38].copy_from_slice(&56u16.to_le_bytes());
        elf[0x38..0x3a].copy_from_slice(&1u16.to_le_bytes());
        elf[64..68].copy_from_slice(&1u32.to_le_bytes());
        assert!(!has_interpreter(&elf)?);
        elf[64..68].copy_from_slice(&3u32.to_le_bytes());
        assert!(has_interpreter(&elf)?);
        assert!(has_interpreter(b"#!/bin/sh\n").is_err());
        Ok(())
    }
}
