//! Step `plugins`: the plan's OpenClaw plugins (`spec.plugins`, npm packages) installed into
//! `~/.openclaw/extensions/<package>`, the global plugin root the gateway discovers at start
//! (`@scope/name` becomes `@scope+name`). Each package comes from the npm registry
//! (`OPENCLAW_MIRROR_NPM`), checked against the registry's integrity and its optional SHA-256
//! pin, extracted safely and swapped in whole; a package that declares runtime dependencies gets
//! them from `npm install --omit=dev --omit=peer` inside its directory, scripts disabled, as
//! `openclaw plugins install` does. A package that is not a plugin (no `openclaw.plugin.json`
//! nor a compatible bundle manifest) is refused: the gateway would ignore it.
//!
//! Plugins the plan no longer lists are removed (only those this step installed, recorded in
//! `~/.openclaw/.supervisor/plugins.json`); one already installed at the requested version with
//! the same pin and registry is kept without a download. Each installed plugin shows in
//! `/status` under `versions` as `plugin:<package>`.

use std::{collections::BTreeMap, fs, io, path::Path, path::PathBuf};

use openclaw_api::instance::{SkillRef, SkillSource};
use serde::{Deserialize, Serialize};

use super::{
    fsutil,
    npm::{
        NpmError,
        install::{install_into, registry_url},
    },
    step::{
        BoxFuture, Done, Step, StepCtx, StepError, StepOutput, error_chain, inputs_json, names,
    },
};

/// Manifests a directory of the plugin root may carry: a native OpenClaw plugin, or an Agent
/// Plugins, Codex, Claude or Cursor compatible bundle.
pub const MANIFESTS: [&str; 5] = [
    "openclaw.plugin.json",
    "plugin.json",
    ".codex-plugin/plugin.json",
    ".claude-plugin/plugin.json",
    ".cursor-plugin/plugin.json",
];

/// The plugins that failed, each with its reason.
#[derive(Debug)]
pub struct PluginsError(pub Vec<(String, NpmError)>);

impl std::fmt::Display for PluginsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parts: Vec<String> = self
            .0
            .iter()
            .map(|(plugin, e)| format!("{plugin}: {}", error_chain(e)))
            .collect();
        f.write_str(&parts.join("; "))
    }
}

impl std::error::Error for PluginsError {}

/// What the step installed, by package (`plugins.json`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct Installed {
    registry: String,
    version: String,
    sha256: String,
}

/// The `plugins` step (only in the graph when the plan lists plugins).
#[derive(Debug)]
pub struct PluginsStep;

#[derive(Serialize)]
struct Inputs<'a> {
    plugins: &'a [SkillRef],
    registry: &'a str,
}

/// Directory name of a package under the plugin root.
pub fn dir_name(package: &str) -> String {
    package.replace('/', "+")
}

fn package_of(plugin: &SkillRef) -> String {
    match &plugin.source {
        SkillSource::Npm { package } => package.clone(),
        // `SkillRef::parse_plugin` only gives npm packages.
        SkillSource::ClawHub {
            owner: Some(owner),
            slug,
        } => format!("@{owner}/{slug}"),
        SkillSource::ClawHub { owner: None, slug } => slug.clone(),
    }
}

/// The version of the package in `dir`, from its `package.json`.
fn version_in(dir: &Path) -> Option<String> {
    let bytes = fs::read(dir.join("package.json")).ok()?;
    let json: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    json.get("version")?.as_str().map(str::to_owned)
}

/// The plugin id a native plugin declares, for the summary.
fn plugin_id(dir: &Path) -> Option<String> {
    let bytes = fs::read(dir.join("openclaw.plugin.json")).ok()?;
    let json: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    json.get("id")?.as_str().map(str::to_owned)
}

/// Refuses a package the gateway would not load as a plugin.
fn is_plugin(package: &str, dir: &Path) -> Result<(), NpmError> {
    if MANIFESTS.iter().any(|m| dir.join(m).is_file()) {
        return Ok(());
    }
    Err(NpmError::NotAPlugin {
        package: package.into(),
        expected: MANIFESTS.join(", "),
    })
}

struct Paths {
    root: PathBuf,
    record: PathBuf,
}

impl Paths {
    fn of(ctx: &StepCtx) -> Paths {
        Paths {
            root: ctx.env.state_dir.join("extensions"),
            record: ctx.env.supervisor_dir().join("plugins.json"),
        }
    }
}

fn read_record(path: &Path) -> BTreeMap<String, Installed> {
    fs::read(path)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or_default()
}

fn io_error(path: &Path) -> impl FnOnce(io::Error) -> NpmError {
    let path = path.display().to_string();
    move |error| NpmError::Io { path, error }
}

impl Step for PluginsStep {
    fn name(&self) -> &'static str {
        names::PLUGINS
    }

    fn deps(&self) -> Vec<&'static str> {
        vec![names::RESTORE]
    }

    fn inputs<'a>(&'a self, ctx: &'a StepCtx) -> BoxFuture<'a, Result<Option<Vec<u8>>, StepError>> {
        Box::pin(async move {
            inputs_json(&Inputs {
                plugins: &ctx.plan.plugins,
                registry: registry_url(ctx),
            })
        })
    }

    fn outputs_present(&self, ctx: &StepCtx, _recorded: &StepOutput) -> bool {
        let paths = Paths::of(ctx);
        ctx.plan
            .plugins
            .iter()
            .all(|plugin| version_in(&paths.root.join(dir_name(&package_of(plugin)))).is_some())
    }

    fn run<'a>(&'a self, ctx: &'a StepCtx) -> BoxFuture<'a, Result<Done, StepError>> {
        Box::pin(async move {
            let paths = Paths::of(ctx);
            let registry = registry_url(ctx).to_owned();
            let mut installed = read_record(&paths.record);
            let mut failures = Vec::new();
            let wanted: Vec<String> = ctx.plan.plugins.iter().map(package_of).collect();
            let stale: Vec<String> = installed
                .keys()
                .filter(|k| !wanted.contains(k))
                .cloned()
                .collect();
            for package in &stale {
                let dir = paths.root.join(dir_name(package));
                match fsutil::remove_any(&dir) {
                    Ok(()) => {
                        installed.remove(package);
                    }
                    Err(error) => failures.push((package.clone(), io_error(&dir)(error))),
                }
            }
            let mut output = StepOutput::default();
            let (mut fetched, mut kept, mut ids) = (0, 0, Vec::new());
            for (plugin, package) in ctx.plan.plugins.iter().zip(&wanted) {
                let dir = paths.root.join(dir_name(package));
                let spec = plugin.version.as_deref();
                let keep = installed.get(package).filter(|previous| {
                    previous.registry == registry
                        && spec.is_none_or(|v| v == "latest" || v == previous.version)
                        && plugin
                            .sha256
                            .as_deref()
                            .is_none_or(|pin| pin == previous.sha256)
                        && version_in(&dir).as_deref() == Some(previous.version.as_str())
                });
                let result = match keep {
                    Some(previous) => {
                        kept += 1;
                        Ok(previous.clone())
                    }
                    None => install_into(
                        ctx,
                        package,
                        spec,
                        plugin.sha256.as_deref(),
                        &dir,
                        is_plugin,
                    )
                    .await
                    .map(|placed| {
                        fetched += 1;
                        Installed {
                            registry: registry.clone(),
                            version: placed.version,
                            sha256: placed.sha256,
                        }
                    }),
                };
                match result {
                    Ok(record) => {
                        ids.push(plugin_id(&dir).unwrap_or_else(|| package.clone()));
                        output
                            .versions
                            .insert(format!("plugin:{package}"), record.version.clone());
                        installed.insert(package.clone(), record);
                    }
                    Err(error) => failures.push((package.clone(), error)),
                }
            }
            let bytes = serde_json::to_vec_pretty(&installed).unwrap_or_default();
            if let Err(error) = fsutil::write_atomic(&paths.record, &bytes, 0o600) {
                failures.push(("plugins.json".into(), io_error(&paths.record)(error)));
            }
            if !failures.is_empty() {
                return Err(PluginsError(failures).into());
            }
            output.summary = format!(
                "{fetched} installed, {kept} already in place, {} removed, in {}: {}",
                stale.len(),
                paths.root.display(),
                ids.join(", ")
            );
            Ok(Done::Ran(output))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scoped_packages_get_one_directory() {
        assert_eq!(dir_name("@openclaw/matrix"), "@openclaw+matrix");
        assert_eq!(
            dir_name("openclaw-codex-app-server"),
            "openclaw-codex-app-server"
        );
    }

    #[test]
    fn only_plugins_are_accepted() -> io::Result<()> {
        let dir = tempfile::tempdir()?;
        assert!(matches!(
            is_plugin("left-pad", dir.path()),
            Err(NpmError::NotAPlugin { .. })
        ));
        fs::create_dir_all(dir.path().join(".claude-plugin"))?;
        fs::write(dir.path().join(".claude-plugin/plugin.json"), "{}")?;
        assert!(is_plugin("bundle", dir.path()).is_ok());
        Ok(())
    }
}
