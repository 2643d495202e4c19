//! Step `skills`: installs the plan's ClawHub skills into `~/.openclaw/skills/<slug>` (the
//! gateway's managed skills) and its `npm:` packages under `~/.openclaw/.local`, keeps the
//! clawhub CLI's `origin.json`/`lock.json`, removes what it installed earlier and the plan no
//! longer lists, and reports each skill's fingerprint.
//!
//! A skill already installed from the same registry, at the requested version, with the pinned
//! archive checksum and its files unchanged (same fingerprint) is kept without a download.

mod clawhub;
mod extract;
mod fingerprint;
mod install;
mod lock;

use std::{
    path::PathBuf,
    time::{SystemTime, UNIX_EPOCH},
};

use openclaw_api::instance::{SkillRef, SkillSource, status::InstalledSkill};
use serde::Serialize;

pub use clawhub::{ClawHubError, GateError};
pub use extract::{ExtractError, Limits, entry_path, extract_zip, link_target_ok, place_link};
pub use fingerprint::{fingerprint_dir, locale_compare};

use super::{
    fsutil, npm,
    step::{
        BoxFuture, Done, Step, StepCtx, StepError, StepOutput, error_chain, inputs_json, names,
    },
};
use lock::{InstalledSkills, Lockfile};

/// Why one skill could not be installed.
#[derive(Debug, thiserror::Error)]
pub enum SkillError {
    #[error(transparent)]
    Hub(#[from] ClawHubError),
    #[error(transparent)]
    Gate(#[from] GateError),
    /// The archive does not match its pin.
    #[error("refused: the archive's SHA-256 is {actual}, the pin expects {expected}")]
    PinMismatch { expected: String, actual: String },
    #[error("unsafe archive")]
    Extract(#[from] ExtractError),
    #[error(transparent)]
    Npm(#[from] npm::NpmError),
    /// Local files.
    #[error("failed to write {path}")]
    Io {
        path: String,
        #[source]
        error: std::io::Error,
    },
}

/// The skills that failed, each with its reason.
#[derive(Debug)]
pub struct SkillsError(pub Vec<(String, SkillError)>);

impl std::fmt::Display for SkillsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parts: Vec<String> = self
            .0
            .iter()
            .map(|(skill, e)| format!("{skill}: {}", error_chain(e)))
            .collect();
        f.write_str(&parts.join("; "))
    }
}

impl std::error::Error for SkillsError {}

/// The `skills` step (only in the graph when the plan lists skills).
#[derive(Debug)]
pub struct SkillsStep;

#[derive(Serialize)]
struct Inputs<'a> {
    skills: &'a [SkillRef],
    registry: &'a str,
    allow_suspicious: bool,
    npm_registry: Option<&'a str>,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// The name `/status` shows: the reference without version or pin.
pub fn display_name(source: &SkillSource) -> String {
    match source {
        SkillSource::ClawHub {
            owner: Some(owner),
            slug,
        } => format!("@{owner}/{slug}"),
        SkillSource::ClawHub { owner: None, slug } => slug.clone(),
        SkillSource::Npm { package } => format!("npm:{package}"),
    }
}

/// Key of a skill in the supervisor's list.
fn key(source: &SkillSource) -> String {
    match source {
        SkillSource::ClawHub { slug, .. } => slug.clone(),
        SkillSource::Npm { package } => format!("npm:{package}"),
    }
}

struct Paths {
    skills: PathBuf,
    lock: PathBuf,
    installed: PathBuf,
    scratch: PathBuf,
}

impl Paths {
    fn of(ctx: &StepCtx) -> Paths {
        let state = &ctx.env.state_dir;
        Paths {
            skills: state.join("skills"),
            lock: state.join(".clawhub/lock.json"),
            installed: ctx.env.supervisor_dir().join("skills.json"),
            scratch: ctx.env.supervisor_dir(),
        }
    }
}

impl Step for SkillsStep {
    fn name(&self) -> &'static str {
        names::SKILLS
    }

    fn deps(&self) -> Vec<&'static str> {
        vec![names::RESTORE]
    }

    fn inputs<'a>(&'a self, ctx: &'a StepCtx) -> BoxFuture<'a, Result<Option<Vec<u8>>, StepError>> {
        Box::pin(async move {
            inputs_json(&Inputs {
                skills: &ctx.plan.skills,
                registry: &ctx.env.clawhub_url,
                allow_suspicious: ctx.env.allow_suspicious_skills,
                npm_registry: ctx.env.mirrors.npm_registry.as_deref(),
            })
        })
    }

    fn outputs_present(&self, ctx: &StepCtx, _recorded: &StepOutput) -> bool {
        let paths = Paths::of(ctx);
        let npm = npm::Npm::of(ctx);
        ctx.plan.skills.iter().all(|skill| match &skill.source {
            SkillSource::ClawHub { slug, .. } => {
                lock::read_origin(&paths.skills.join(slug)).is_some()
            }
            SkillSource::Npm { package } => npm.installed_version(package).is_some(),
        })
    }

    fn run<'a>(&'a self, ctx: &'a StepCtx) -> BoxFuture<'a, Result<Done, StepError>> {
        Box::pin(async move {
            let paths = Paths::of(ctx);
            let npm = npm::Npm::of(ctx);
            let mut installed: InstalledSkills = lock::read_json(&paths.installed);
            let mut lockfile: Lockfile = lock::read_json(&paths.lock);
            let mut failures = Vec::new();
            let wanted: Vec<String> = ctx.plan.skills.iter().map(|s| key(&s.source)).collect();
            let stale: Vec<String> = installed
                .keys()
                .filter(|k| !wanted.contains(k))
                .cloned()
                .collect();
            for name in &stale {
                let removed = match name.strip_prefix("npm:") {
                    Some(package) => npm.uninstall(package).await.map_err(SkillError::from),
                    None => fsutil::remove_any(&paths.skills.join(name)).map_err(|error| {
                        SkillError::Io {
                            path: name.clone(),
                            error,
                        }
                    }),
                };
                match removed {
                    Ok(()) => {
                        installed.remove(name);
                        lockfile.skills.remove(name);
                    }
                    Err(e) => failures.push((name.clone(), e)),
                }
            }
            let mut output = StepOutput::default();
            let (mut fetched, mut kept) = (0, 0);
            for skill in &ctx.plan.skills {
                let name = display_name(&skill.source);
                let result = match &skill.source {
                    SkillSource::ClawHub { owner, slug } => {
                        install::install_clawhub(
                            ctx,
                            &paths,
                            &mut installed,
                            &mut lockfile,
                            skill,
                            owner.as_deref(),
                            slug,
                        )
                        .await
                    }
                    SkillSource::Npm { package } => {
                        install::install_npm(&npm, &paths, &mut installed, skill, package).await
                    }
                };
                match result {
                    Ok((record, downloaded)) => {
                        if downloaded {
                            fetched += 1
                        } else {
                            kept += 1
                        }
                        output.skills.push(InstalledSkill {
                            name,
                            version: Some(record.version.clone()),
                            sha256: Some(
                                record
                                    .fingerprint
                                    .clone()
                                    .unwrap_or_else(|| record.archive_sha256.clone()),
                            ),
                        });
                    }
                    Err(error) => failures.push((name, error)),
                }
            }
            if let Err(error) = lock::write_json(&paths.lock, &lockfile, 0o644) {
                failures.push((
                    "lock.json".into(),
                    SkillError::Io {
                        path: paths.lock.display().to_string(),
                        error,
                    },
                ));
            }
            if let Err(error) = lock::write_json(&paths.installed, &installed, 0o600) {
                failures.push((
                    "skills.json".into(),
                    SkillError::Io {
                        path: paths.installed.display().to_string(),
                        error,
                    },
                ));
            }
            if !failures.is_empty() {
                return Err(SkillsError(failures).into());
            }
            if ctx
                .plan
                .skills
                .iter()
                .any(|s| matches!(s.source, SkillSource::Npm { .. }))
            {
                output.path.push(ctx.env.bin_dir());
            }
            output.summary = format!(
                "{fetched} installed, {kept} already in place, {} removed",
                stale.len()
            );
            Ok(Done::Ran(output))
        })
    }
}
