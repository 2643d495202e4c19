//! Step `config`: writes `~/.openclaw/openclaw.json` from the plan (overwrite or deep merge),
//! atomically, owner-writable so the gateway can migrate it and the agent can edit it.

use std::{io, path::PathBuf};

use openclaw_api::instance::{ConfigFormat, MergeMode};
use serde::Serialize;

use super::{
    cache::sha256_hex,
    fsutil, merge,
    step::{BoxFuture, Done, Step, StepCtx, StepError, StepOutput, inputs_json, names},
};

/// Name of the configuration file in the state directory.
pub const CONFIG_FILE: &str = "openclaw.json";

/// Mode of the written file: it may hold tokens, and the gateway runs as its owner.
pub const MODE: u32 = 0o600;

/// Why the configuration could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The user's file could not be read.
    #[error("failed to read the configuration file {path}")]
    ReadUserFile {
        path: String,
        #[source]
        error: io::Error,
    },
    /// The user's file is not a valid configuration.
    #[error("the configuration file {path} is invalid")]
    ParseUserFile {
        path: String,
        #[source]
        error: merge::ParseError,
    },
    /// The existing file could not be read.
    #[error("failed to read {path}")]
    ReadExisting {
        path: String,
        #[source]
        error: io::Error,
    },
    /// The file could not be written.
    #[error("failed to write {path}")]
    Write {
        path: String,
        #[source]
        error: io::Error,
    },
}

/// The `config` step.
#[derive(Debug)]
pub struct ConfigStep;

impl ConfigStep {
    fn target(ctx: &StepCtx) -> PathBuf {
        ctx.env.state_dir.join(CONFIG_FILE)
    }

    fn user_file(ctx: &StepCtx) -> Result<Option<(String, Vec<u8>)>, ConfigError> {
        let Some(path) = &ctx.plan.config.file else {
            return Ok(None);
        };
        let bytes = std::fs::read(path).map_err(|error| ConfigError::ReadUserFile {
            path: path.clone(),
            error,
        })?;
        Ok(Some((path.clone(), bytes)))
    }
}

#[derive(Serialize)]
struct Inputs<'a> {
    config: &'a openclaw_api::plan::ConfigPlan,
    gateway: &'a openclaw_api::plan::GatewayPlan,
    user_file: Option<String>,
    on_volume: Option<String>,
}

impl Step for ConfigStep {
    fn name(&self) -> &'static str {
        names::CONFIG
    }

    fn deps(&self) -> Vec<&'static str> {
        vec![names::RESTORE]
    }

    /// The plan's config, the user's file and the file on the volume: an agent's edit makes the
    /// step run again (overwrite restores the plan's file, merge re-applies the operator keys).
    fn inputs<'a>(&'a self, ctx: &'a StepCtx) -> BoxFuture<'a, Result<Option<Vec<u8>>, StepError>> {
        Box::pin(async move {
            let target = Self::target(ctx);
            let on_volume =
                fsutil::read_optional(&target).map_err(|error| ConfigError::ReadExisting {
                    path: target.display().to_string(),
                    error,
                })?;
            inputs_json(&Inputs {
                config: &ctx.plan.config,
                gateway: &ctx.plan.gateway,
                user_file: Self::user_file(ctx)?.map(|(_, bytes)| sha256_hex(&bytes)),
                on_volume: on_volume.map(|bytes| sha256_hex(&bytes)),
            })
        })
    }

    fn run<'a>(&'a self, ctx: &'a StepCtx) -> BoxFuture<'a, Result<Done, StepError>> {
        Box::pin(async move {
            let plan = &ctx.plan.config;
            let user = match Self::user_file(ctx)? {
                Some((path, bytes)) => Some(
                    merge::parse(&String::from_utf8_lossy(&bytes), plan.format)
                        .map_err(|error| ConfigError::ParseUserFile { path, error })?,
                ),
                None => None,
            };
            let mut desired = merge::desired(plan.raw.as_ref(), user, &ctx.plan.gateway);
            if let Some(token) = super::gateway_token::GatewayTokenStep::token(ctx) {
                super::gateway_token::force_ref(&mut desired, &token.first_slot());
            }
            let target = Self::target(ctx);
            let shown = target.display().to_string();
            let existing =
                fsutil::read_optional(&target).map_err(|error| ConfigError::ReadExisting {
                    path: shown.clone(),
                    error,
                })?;
            let mut notes = Vec::new();
            let existing = match (plan.merge_mode, existing) {
                (MergeMode::Merge, Some(bytes)) => {
                    match merge::parse(&String::from_utf8_lossy(&bytes), ConfigFormat::Json5) {
                        Ok(map) => Some(map),
                        // An agent's broken edit must not crash-loop the pod: keep it aside.
                        Err(e) => {
                            let aside = target.with_file_name(format!("{CONFIG_FILE}.unparsable"));
                            fsutil::write_atomic(&aside, &bytes, MODE).map_err(|error| {
                                ConfigError::Write {
                                    path: aside.display().to_string(),
                                    error,
                                }
                            })?;
                            notes.push(format!(
                                "existing file unreadable ({e}), kept as {}",
                                aside.display()
                            ));
                            None
                        }
                    }
                }
                _ => None,
            };
            let text = merge::render(&merge::combine(plan.merge_mode, existing, desired));
            fsutil::write_atomic(&target, text.as_bytes(), MODE).map_err(|error| {
                ConfigError::Write {
                    path: shown.clone(),
                    error,
                }
            })?;
            let mode = match plan.merge_mode {
                MergeMode::Overwrite => "wrote",
                MergeMode::Merge => "merged into",
            };
            let mut summary = format!("{mode} {shown}");
            for note in notes {
                summary.push_str("; ");
                summary.push_str(&note);
            }
            Ok(Done::Ran(StepOutput::summary(summary)))
        })
    }
}
