//! The project's own images: the operator (`openclaw-operator run`) and the runtime
//! (`openclaw-init` + `openclaw-supervisor`), each one layer of static binaries, no shell, no libc.
//!
//! The binaries are built (release, or the faster `image-test` profile) with `+crt-static` on the gnu target (see init/README.md)
//! and refused if they still have a `PT_INTERP` program header (a dynamic loader).

use std::{fs, path::PathBuf, process::Command};

use anyhow::{Context, Result, bail, ensure};
use oci_spec::image::{Config, ConfigBuilder};

use super::layer::Entry;
use crate::tools::repo_root;

/// Where the runtime image's binaries are (the init container runs `/openclaw-init`, which
/// copies `/openclaw-supervisor` by default).
pub const INIT_PATH: &str = "openclaw-init";
/// The supervisor in the runtime image.
pub const SUPERVISOR_PATH: &str = "openclaw-supervisor";
/// Its SHA-256, `sha256sum` format.
pub const CHECKSUM_PATH: &str = "openclaw-supervisor.sha256";
/// The runtime image's user: the pod's UID and GID.
pub const RUNTIME_USER: &str = "1000:1000";
/// The operator in the operator image.
pub const OPERATOR_PATH: &str = "openclaw-operator";
/// The node agent in the operator image (the chart's DaemonSet runs it).
pub const NODE_PATH: &str = "openclaw-node";
/// The operator image's user: distroless' `nonroot`.
pub const OPERATOR_USER: &str = "65532:65532";
const SOURCE: &str = "https://github.com/openclaw-rocks/openclaw-operator-rs";

/// The cargo profile the Rust images are built with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Profile {
    /// `release`: size-optimised, fat LTO; what is published (the better part of an hour on
    /// two cores from nothing).
    #[default]
    Release,
    /// `image-test`: the same code without LTO, parallel codegen; what the local control plane
    /// and the tests run (minutes).
    ImageTest,
}

impl Profile {
    pub fn name(self) -> &'static str {
        match self {
            Self::Release => "release",
            Self::ImageTest => "image-test",
        }
    }
}

/// Builds the static binaries of `packages` (one cargo invocation) and returns the directory
/// they are in. They are built in `~/.cache/openclaw-dev/tools/cargo-images` (or `CARGO_TARGET_DIR`),
/// out of the checkout, so that a fresh clone recompiles only what changed.
pub fn build_static(packages: &[&str], profile: Profile) -> Result<PathBuf> {
    let root = repo_root()?;
    let target_dir = match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => crate::tools::cache_dir()?.join("cargo-images"),
    };
    let triple = format!("{}-unknown-linux-gnu", std::env::consts::ARCH);
    let mut command = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    command.args(["build", "--profile", profile.name(), "--target", &triple]);
    for package in packages {
        command.args(["-p", package]);
    }
    println!(
        "==> cargo build --profile {} --target {triple} -p {} (+crt-static, in {})",
        profile.name(),
        packages.join(" -p "),
        target_dir.display()
    );
    let status = command
        .env("RUSTFLAGS", "-C target-feature=+crt-static")
        .env("CARGO_TARGET_DIR", &target_dir)
        .current_dir(&root)
        .status()
        .context("running cargo build")?;
    if !status.success() {
        bail!("building the static binaries failed ({status})");
    }
    Ok(target_dir.join(&triple).join(profile.name()))
}

/// Reads a binary and checks it is static.
pub fn read_static(path: &std::path::Path) -> Result<Vec<u8>> {
    let bytes = fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    ensure!(
        !has_interpreter(&bytes).with_context(|| format!("reading {}", path.display()))?,
        "{} is dynamically linked (it has a PT_INTERP program header); the image has no libc",
        path.display()
    );
    Ok(bytes)
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

fn labels(title: &str, version: &str) -> std::collections::HashMap<String, String> {
    [
        ("org.opencontainers.image.title", title),
        ("org.opencontainers.image.version", version),
        ("org.opencontainers.image.source", SOURCE),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

/// The runtime image's one layer: both binaries (0755) and the supervisor's checksum.
pub fn runtime_entries(init: Vec<u8>, supervisor: Vec<u8>) -> Vec<Entry> {
    let checksum = format!(
        "{}  {SUPERVISOR_PATH}\n",
        hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&supervisor))
    );
    vec![
        Entry::file(INIT_PATH, 0o755, init),
        Entry::file(SUPERVISOR_PATH, 0o755, supervisor),
        Entry::file(CHECKSUM_PATH, 0o644, checksum),
    ]
}

/// The runtime image's configuration.
pub fn runtime_config(version: &str) -> Result<Config> {
    Ok(ConfigBuilder::default()
        .user(RUNTIME_USER)
        .entrypoint(vec![format!("/{INIT_PATH}")])
        .cmd(
            ["install", "--to", "/openclaw-runtime"]
                .map(String::from)
                .to_vec(),
        )
        .env(vec![format!("OPENCLAW_INIT_SHA256_FILE=/{CHECKSUM_PATH}")])
        .working_dir("/")
        .labels(labels("openclaw-runtime", version))
        .build()?)
}

/// Where the operator image keeps the CA certificates (Debian's path, which TLS libraries probe).
pub const CA_BUNDLE_PATH: &str = "etc/ssl/certs/ca-certificates.crt";

/// The operator image's one layer: the operator and the node agent (0755), an empty `/tmp`
/// (1777) and Debian's CA bundle (0644). The operator talks to the API server with the service
/// account's CA bundle, but to registries (auto-update's tag listings) with these public roots.
pub fn operator_entries(operator: Vec<u8>, node: Vec<u8>, ca_bundle: Vec<u8>) -> Vec<Entry> {
    vec![
        Entry::file(OPERATOR_PATH, 0o755, operator),
        Entry::file(NODE_PATH, 0o755, node),
        Entry::dir("tmp", 0o1777),
        Entry::dir("etc", 0o755),
        Entry::dir("etc/ssl", 0o755),
        Entry::dir("etc/ssl/certs", 0o755),
        Entry::file(CA_BUNDLE_PATH, 0o644, ca_bundle),
    ]
}

/// The operator image's configuration.
pub fn operator_config(version: &str) -> Result<Config> {
    Ok(ConfigBuilder::default()
        .user(OPERATOR_USER)
        .entrypoint(vec![format!("/{OPERATOR_PATH}")])
        .cmd(vec!["run".to_owned()])
        .working_dir("/")
        .labels(labels("openclaw-operator", version))
        .build()?)
}

/// Checks what the init container relies on: the entrypoint and both binaries executable.
pub fn check_runtime(checked: &super::layout::Checked) -> Result<()> {
    let entrypoint = checked
        .config
        .config()
        .as_ref()
        .and_then(|c| c.entrypoint().clone())
        .unwrap_or_default();
    ensure!(
        entrypoint == [format!("/{INIT_PATH}")],
        "the entrypoint is {entrypoint:?}"
    );
    for binary in [INIT_PATH, SUPERVISOR_PATH] {
        let mode = checked.files.get(binary).map(|f| f.mode);
        ensure!(
            mode == Some(0o755),
            "the layer has {binary} with mode {:?}, expected 0755",
            mode.map(|m| format!("{m:o}"))
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tells_static_from_dynamic_executables() -> Result<()> {
        // This test binary is linked dynamically (cargo test builds without +crt-static).
        let this = fs::read(std::env::current_exe()?)?;
        assert!(has_interpreter(&this)?);
        assert!(read_static(&std::env::current_exe()?).is_err());
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

    #[test]
    fn the_operator_runs_as_non_root_without_a_shell() -> Result<()> {
        let config = operator_config("0.1.0")?;
        assert_eq!(config.user().as_deref(), Some("65532:65532"));
        assert_eq!(
            config.entrypoint().as_deref(),
            Some(&["/openclaw-operator".to_owned()][..])
        );
        assert_eq!(config.cmd().as_deref(), Some(&["run".to_owned()][..]));
        let paths: Vec<String> = operator_entries(
            b"\x7fELF".to_vec(),
            b"\x7fELF".to_vec(),
            b"-----BEGIN CERTIFICATE-----".to_vec(),
        )
        .into_iter()
        .map(|e| e.path)
        .collect();
        assert_eq!(
            paths,
            [
                "openclaw-operator",
                "openclaw-node",
                "tmp",
                "etc",
                "etc/ssl",
                "etc/ssl/certs",
                CA_BUNDLE_PATH
            ]
        );
        Ok(())
    }
}
