//! Installing one skill: a ClawHub skill (gate, download, pin check, safe extraction into a
//! staging directory swapped in whole, `origin.json`, fingerprint) or an `npm:` package; each
//! kept without a download when what is on disk already matches.

use std::path::Path;

use openclaw_api::instance::SkillRef;

use super::{
    Limits, Paths, SkillError, clawhub, extract_zip, fingerprint_dir,
    lock::{self, Installed, InstalledSkills, LockEntry, Lockfile, Origin},
    now_ms,
};
use crate::pipeline::{cache::sha256_hex, fsutil, http::RetryPolicy, npm, step::StepCtx};

pub(super) async fn install_clawhub(
    ctx: &StepCtx,
    paths: &Paths,
    installed: &mut InstalledSkills,
    lockfile: &mut Lockfile,
    skill: &SkillRef,
    owner: Option<&str>,
    slug: &str,
) -> Result<(Installed, bool), SkillError> {
    let registry = ctx.env.clawhub_url.as_str();
    let dir = paths.skills.join(slug);
    if let Some(previous) = installed.get(slug)
        && previous.registry == registry
        && skill
            .version
            .as_deref()
            .is_none_or(|v| v == "latest" || v == previous.version)
        && skill
            .sha256
            .as_deref()
            .is_none_or(|pin| pin == previous.archive_sha256)
        && lock::read_origin(&dir).is_some()
        && fingerprint_dir(&dir).ok() == previous.fingerprint
    {
        return Ok((previous.clone(), false));
    }
    let hub = clawhub::ClawHub {
        http: &ctx.http,
        registry,
        token: ctx.env.clawhub_token.as_ref().map(|t| t.0.as_str()),
        retry: RetryPolicy::new(ctx.env.retry_base),
    };
    let meta = hub.skill(slug).await?;
    let version = clawhub::gate(
        slug,
        &meta,
        owner,
        skill.version.as_deref(),
        ctx.env.allow_suspicious_skills,
    )?;
    if skill.version.as_deref().is_some_and(|v| v != "latest") {
        hub.check_version(slug, &version).await?;
    }
    let archive = hub.download(slug, &version).await?;
    let actual = sha256_hex(&archive);
    if let Some(expected) = &skill.sha256
        && *expected != actual
    {
        return Err(SkillError::PinMismatch {
            expected: expected.clone(),
            actual,
        });
    }
    let origin = Origin {
        version: 1,
        registry: registry.to_owned(),
        slug: slug.to_owned(),
        installed_version: version.clone(),
        installed_at: now_ms(),
    };
    let fingerprint = tokio::task::spawn_blocking({
        let dir = dir.clone();
        move || place(&archive, &dir, &origin)
    })
    .await
    .map_err(|e| SkillError::Io {
        path: dir.display().to_string(),
        error: std::io::Error::other(e),
    })??;
    lockfile.skills.insert(
        slug.to_owned(),
        LockEntry {
            version: Some(version.clone()),
            installed_at: now_ms(),
        },
    );
    let record = Installed {
        registry: registry.to_owned(),
        version,
        archive_sha256: actual,
        fingerprint: Some(fingerprint),
    };
    installed.insert(slug.to_owned(), record.clone());
    Ok((record, true))
}

/// Extracts into a staging directory beside the target, writes `origin.json`, computes the
/// fingerprint, then swaps the staging directory in.
fn place(archive: &[u8], dir: &Path, origin: &Origin) -> Result<String, SkillError> {
    let staging = fsutil::sibling(dir, "staging");
    let result = (|| {
        extract_zip(archive, &staging, Limits::default())?;
        let io = |path: &Path| {
            let path = path.display().to_string();
            move |error| SkillError::Io { path, error }
        };
        let origin_path = staging.join(".clawhub/origin.json");
        lock::write_json(&origin_path, origin, 0o644).map_err(io(&origin_path))?;
        let fingerprint = fingerprint_dir(&staging).map_err(io(&staging))?;
        fsutil::replace_dir(&staging, dir).map_err(io(dir))?;
        Ok(fingerprint)
    })();
    if result.is_err() {
        let _ = fsutil::remove_any(&staging);
    }
    result
}

pub(super) async fn install_npm(
    npm: &npm::Npm<'_>,
    paths: &Paths,
    installed: &mut InstalledSkills,
    skill: &SkillRef,
    package: &str,
) -> Result<(Installed, bool), SkillError> {
    let key = format!("npm:{package}");
    let on_disk = npm.installed_version(package);
    if let Some(previous) = installed.get(&key)
        && on_disk.as_deref() == Some(previous.version.as_str())
        && skill
            .version
            .as_deref()
            .is_none_or(|v| v == "latest" || v == previous.version)
        && skill
            .sha256
            .as_deref()
            .is_none_or(|pin| pin == previous.archive_sha256)
    {
        return Ok((previous.clone(), false));
    }
    let (version, archive_sha256) = npm
        .install(
            package,
            skill.version.as_deref(),
            skill.sha256.as_deref(),
            &paths.scratch,
        )
        .await?;
    let record = Installed {
        registry: "npm".into(),
        version,
        archive_sha256,
        fingerprint: None,
    };
    installed.insert(key, record.clone());
    Ok((record, true))
}
