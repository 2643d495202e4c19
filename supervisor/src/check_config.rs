//! `openclaw-supervisor check-config`: before auto-update rolls an instance onto a new OpenClaw
//! image, that image checks the configuration the instance would get. Run in a short Job on
//! the new image: the configuration is rendered from the plan exactly as the `config` step
//! would write it (the plan's config, the user's file, the keys the pod needs) into a scratch
//! home, never the instance's volume, and the image's own `openclaw config validate --json`
//! judges it. The verdict goes to the termination message, where the operator reads it.

use std::{
    path::{Path, PathBuf},
    process::{ExitCode, Stdio},
    time::Duration,
};

use openclaw_api::{
    config_check::{ConfigIssue, ConfigVerdict},
    plan::PLAN_PATH_ENV,
};
use serde::Deserialize;

use crate::{
    pipeline::{config::CONFIG_FILE, fsutil, merge},
    run::read_plan,
};

/// How long the validator may take (it loads the whole CLI: a few seconds).
const TIMEOUT: Duration = Duration::from_secs(120);

/// Flags of `openclaw-supervisor check-config`.
#[derive(Debug, Clone, clap::Args)]
pub struct CheckArgs {
    /// The runtime plan rendered for the new version.
    #[arg(long, env = PLAN_PATH_ENV, default_value = "/etc/openclaw/plan.json")]
    pub plan: PathBuf,
    /// The OpenClaw CLI of the image, without arguments.
    #[arg(long, default_value = "node /app/openclaw.mjs")]
    pub openclaw: String,
    /// Scratch home the configuration is written to (an emptyDir).
    #[arg(long, default_value = "/tmp/config-check")]
    pub scratch: PathBuf,
    /// Where the verdict is written (the container's termination message).
    #[arg(long, default_value = "/dev/termination-log")]
    pub report: PathBuf,
}

/// What `openclaw config validate --json` prints.
#[derive(Debug, Deserialize)]
struct Validated {
    valid: bool,
    #[serde(default)]
    issues: Vec<ConfigIssue>,
    #[serde(default)]
    warnings: Vec<ConfigIssue>,
}

/// Runs the check; exit 0 when the image accepts the configuration, 3 when it refuses it, 1
/// when the check could not run. The verdict is written to `report` and printed either way.
pub async fn main(args: CheckArgs) -> ExitCode {
    let verdict = match check(&args).await {
        Ok(verdict) => verdict,
        Err(error) => ConfigVerdict {
            error: Some(error),
            ..ConfigVerdict::default()
        },
    };
    let message = verdict.to_message();
    println!("{message}");
    if let Err(error) = std::fs::write(&args.report, &message) {
        eprintln!(
            "openclaw-supervisor: failed to write the verdict to {}: {error}",
            args.report.display()
        );
    }
    match (verdict.valid, &verdict.error) {
        (true, _) => ExitCode::SUCCESS,
        (false, None) => ExitCode::from(3),
        (false, Some(_)) => ExitCode::FAILURE,
    }
}

async fn check(args: &CheckArgs) -> Result<ConfigVerdict, String> {
    let plan = read_plan(&args.plan).map_err(|e| crate::error_chain::error_chain(&e))?;
    let config = &plan.config;
    let user = match &config.file {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("reading the configuration file {path}: {e}"))?;
            Some(
                merge::parse(&text, config.format)
                    .map_err(|e| format!("the configuration file {path} is invalid: {e}"))?,
            )
        }
        None => None,
    };
    let desired = merge::desired(config.raw.as_ref(), user, &plan.gateway);
    let state_dir = args.scratch.join(".openclaw");
    std::fs::create_dir_all(&state_dir)
        .map_err(|e| format!("creating {}: {e}", state_dir.display()))?;
    fsutil::write_atomic(
        &state_dir.join(CONFIG_FILE),
        merge::render(&desired).as_bytes(),
        crate::pipeline::config::MODE,
    )
    .map_err(|e| format!("writing the configuration: {e}"))?;
    let stdout = validate(&args.openclaw, &args.scratch, &state_dir).await?;
    parse(&stdout)
}

/// Runs `<openclaw> config validate --json` with `scratch` as its home; returns its stdout.
async fn validate(openclaw: &str, scratch: &Path, state_dir: &Path) -> Result<String, String> {
    let mut argv = openclaw.split_whitespace();
    let program = argv.next().ok_or("empty --openclaw")?;
    let mut command = tokio::process::Command::new(program);
    command
        .args(argv)
        .args(["config", "validate", "--json"])
        .env_clear()
        .env("HOME", scratch)
        .env("OPENCLAW_STATE_DIR", state_dir)
        .env("OPENCLAW_DISABLE_BONJOUR", "1")
        .env("OPENCLAW_NO_AUTO_UPDATE", "1")
        .env("NO_COLOR", "1")
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .current_dir(scratch)
        .stdin(Stdio::null())
        .kill_on_drop(true);
    let output = tokio::time::timeout(TIMEOUT, command.output())
        .await
        .map_err(|_| format!("`{openclaw} config validate` did not finish within {TIMEOUT:?}"))?
        .map_err(|e| format!("running `{openclaw} config validate`: {e}"))?;
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    if stdout.trim().is_empty() {
        return Err(format!(
            "`{openclaw} config validate --json` printed nothing ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    Ok(stdout)
}

/// Reads the validator's JSON (the last JSON object it printed).
fn parse(stdout: &str) -> Result<ConfigVerdict, String> {
    let start = stdout
        .find('{')
        .ok_or_else(|| format!("the validator printed no JSON: {}", stdout.trim()))?;
    let validated: Validated = serde_json::from_str(stdout[start..].trim()).map_err(|e| {
        format!(
            "the validator's answer is not its JSON ({e}): {}",
            stdout.trim()
        )
    })?;
    Ok(ConfigVerdict {
        valid: validated.valid,
        issues: validated.issues,
        warnings: validated.warnings,
        error: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_validators_answers() -> Result<(), String> {
        // As openclaw 2026.9.6 prints them.
        let valid = parse(
            r#"{"valid":true,"path":"/tmp/h/.openclaw/openclaw.json","warnings":[{"path":"gateway.auth.token","message":"Missing env var \"MY_TOKEN\" - feature using this value will be unavailable"}]}"#,
        )?;
        assert!(valid.valid && valid.issues.is_empty());
        assert_eq!(valid.warnings[0].path, "gateway.auth.token");
        let refused = parse(
            r#"{
  "ok": false,
  "error": {"type": "cli_error", "message": "OpenClaw config is invalid: ~/.openclaw/openclaw.json"},
  "valid": false,
  "path": "/tmp/h/.openclaw/openclaw.json",
  "issues": [{"path": "gateway", "message": "Unrecognized key: \"bogus\""}]
}"#,
        )?;
        assert!(!refused.valid);
        assert_eq!(refused.summary(), r#"gateway: Unrecognized key: "bogus""#);
        assert!(parse("Error: unknown command 'validate'").is_err());
        Ok(())
    }
}
