//! The peers: what a user would run instead of the supervisor to get the same object into the
//! same S3 and back. `tar -cf - DIR | zstd -3 -T0 | rclone rcat s3:BUCKET/KEY` (the Go
//! operator's tar piped into rclone, with the compression a hand-rolled CronJob adds) and
//! `rclone cat s3:BUCKET/KEY | zstd -d | tar -x -C DIR`, with rclone configured for the
//! benchmark's SeaweedFS through environment variables only (no config file is written) and
//! left at its defaults otherwise.

use std::{path::Path, process::Command};

use openclaw_testkit::seaweed::SeaweedFs;

use super::{Result, quote};

/// Key of the peer's object in the bucket.
const KEY: &str = "peer/workspace.tar.zst";

/// The rclone remote configured by [`rclone_env`].
const REMOTE: &str = "seaweed";

/// Read by rclone's AWS SDK, which then refuses rclone's own HTTP transport; the endpoint is
/// plain HTTP on loopback, so it is dropped.
const CA_BUNDLE_ENV: &str = "AWS_CA_BUNDLE";

/// `rclone` and its configuration for `s3`, as environment variables.
fn rclone_env(s3: &SeaweedFs) -> Vec<(String, String)> {
    let var = |name: &str| format!("RCLONE_CONFIG_{}_{name}", REMOTE.to_uppercase());
    vec![
        (var("TYPE"), "s3".into()),
        (var("PROVIDER"), "Other".into()),
        (var("ENDPOINT"), s3.endpoint().into()),
        (var("REGION"), s3.region().into()),
        (var("ACCESS_KEY_ID"), s3.access_key().into()),
        (var("SECRET_ACCESS_KEY"), s3.secret_key().into()),
        (var("FORCE_PATH_STYLE"), "true".into()),
        // No config file: everything is in the environment.
        ("RCLONE_CONFIG".into(), "/dev/null".into()),
    ]
}

fn object(s3: &SeaweedFs) -> String {
    format!("{REMOTE}:{}/{KEY}", s3.bucket())
}

/// Runs `script` under bash with pipefail and rclone's environment for `s3`.
fn run(s3: &SeaweedFs, script: &str) -> Result<()> {
    let status = Command::new("bash")
        .arg("-c")
        .arg(format!("set -o pipefail; {script}"))
        .envs(rclone_env(s3))
        .env_remove(CA_BUNDLE_ENV)
        .status()
        .map_err(|e| format!("running bash: {e}"))?;
    if !status.success() {
        return Err(format!("`{script}` failed ({status})"));
    }
    Ok(())
}

/// The peer's backup of `workspace` at zstd `level`.
pub fn backup(s3: &SeaweedFs, workspace: &Path, level: i32) -> Result<()> {
    run(
        s3,
        &format!(
            "tar -cf - -C {} . | zstd -{level} -T0 -q | rclone rcat {}",
            quote(workspace),
            object(s3)
        ),
    )
}

/// The peer's restore into the empty directory `into`.
pub fn restore(s3: &SeaweedFs, into: &Path) -> Result<()> {
    run(
        s3,
        &format!(
            "rclone cat {} | zstd -d -q | tar -x -C {}",
            object(s3),
            quote(into)
        ),
    )
}

/// Bytes of the peer's object, as rclone lists it.
pub fn size(s3: &SeaweedFs) -> Result<u64> {
    let output = Command::new("rclone")
        .args(["size", "--json", &object(s3)])
        .envs(rclone_env(s3))
        .env_remove(CA_BUNDLE_ENV)
        .output()
        .map_err(|e| format!("running rclone size: {e}"))?;
    let text = String::from_utf8_lossy(&output.stdout);
    serde_json::from_str::<serde_json::Value>(&text)
        .ok()
        .and_then(|v| v["bytes"].as_u64())
        .ok_or_else(|| format!("rclone size said: {text}"))
}
