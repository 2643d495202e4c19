//! Runs the `openclaw-init` binary the way the pod's init container does.

use std::{fs, os::unix::fs::PermissionsExt, process::Command};

const BIN: &str = env!("CARGO_BIN_EXE_openclaw-init");

#[test]
fn installs_and_prints_the_hash() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let source = dir.path().join("openclaw-supervisor");
    fs::write(&source, b"#!/bin/sh\necho hi\n")?;
    let target = dir.path().join("openclaw-runtime");
    let out = Command::new(BIN)
        .args(["install", "--to"])
        .arg(&target)
        .env("OPENCLAW_INIT_FROM", &source)
        .output()?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("installed") && stdout.contains("sha256 "),
        "{stdout}"
    );
    let installed = target.join("openclaw-supervisor");
    assert_eq!(
        fs::metadata(&installed)?.permissions().mode() & 0o777,
        0o555
    );
    assert_eq!(Command::new(&installed).output()?.stdout, b"hi\n");
    Ok(())
}

#[test]
fn fails_clearly_on_a_wrong_hash_or_a_missing_source() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let source = dir.path().join("openclaw-supervisor");
    fs::write(&source, b"binary")?;
    let out = Command::new(BIN)
        .args(["install", "--to"])
        .arg(dir.path().join("rt"))
        .arg("--from")
        .arg(&source)
        .args(["--sha256", &"f".repeat(64)])
        .output()?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("was expected; refusing to install it"),
        "{stderr}"
    );
    assert!(!dir.path().join("rt").join("openclaw-supervisor").exists());

    let out = Command::new(BIN)
        .args(["install", "--to"])
        .arg(dir.path().join("rt"))
        .arg("--from")
        .arg(dir.path().join("absent"))
        .output()?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr.contains("failed to open the source") && stderr.contains("No such file"),
        "{stderr}"
    );

    let out = Command::new(BIN)
        .arg("install")
        .env_remove("OPENCLAW_INIT_TO")
        .output()?;
    assert_eq!(out.status.code(), Some(2));
    Ok(())
}
