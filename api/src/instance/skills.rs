//! `spec.skills`, `spec.plugins` and `spec.runtimeDeps`: what the supervisor installs on the
//! workspace volume before the gateway starts, and the parsed form of a skill reference.

use std::{fmt, str::FromStr};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Grammar of one `spec.skills` entry (RE2): an optional `npm:` prefix, an optional `@owner/`
/// (ClawHub) or `@scope/` (npm), a slug, an optional `@version`, an optional `#sha256:<hex>` pin.
pub const SKILL_PATTERN: &str = r"^(npm:)?(@[a-z0-9][a-z0-9._-]*/)?[a-z0-9][a-z0-9._-]*(@[A-Za-z0-9][A-Za-z0-9.+_-]*)?(#sha256:[a-f0-9]{64})?$";

/// Most entries `spec.skills` and `spec.plugins` may hold.
pub const MAX_SKILLS: usize = 20;

/// Which runtimes the supervisor installs on the workspace volume (cached there, so a restart
/// does not download them again). An unset field inherits `OpenClawClusterDefaults`; set
/// `false` to opt out of a cluster-wide `true`.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RuntimeDepsSpec {
    /// Install pnpm (through corepack), for skills and MCP servers that need it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pnpm: Option<bool>,

    /// Install Python 3.12 and uv, for skills and MCP servers written in Python.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub python: Option<bool>,
}

impl RuntimeDepsSpec {
    /// This instance's choices, each unset one taken from `cluster`, then `false`.
    pub fn resolve(&self, cluster: &RuntimeDepsSpec) -> RuntimeDeps {
        RuntimeDeps {
            pnpm: self.pnpm.or(cluster.pnpm).unwrap_or(false),
            python: self.python.or(cluster.python).unwrap_or(false),
        }
    }
}

/// Resolved runtime dependencies.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RuntimeDeps {
    /// Install pnpm.
    pub pnpm: bool,
    /// Install Python 3.12 and uv.
    pub python: bool,
}

/// Where a skill comes from.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", tag = "kind")]
pub enum SkillSource {
    /// A ClawHub skill: `slug` or `@owner/slug`.
    ClawHub {
        /// Publisher handle, without the `@`, when the reference names one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        owner: Option<String>,
        /// Skill slug.
        slug: String,
    },
    /// An npm package (`npm:` prefix), installed globally on the workspace volume.
    Npm {
        /// Package name, with its `@scope/` when it has one.
        package: String,
    },
}

/// One parsed entry of `spec.skills` (or `spec.plugins`, always [`SkillSource::Npm`]).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SkillRef {
    /// Registry and name.
    pub source: SkillSource,
    /// Requested version or tag; the latest release when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Expected SHA-256 (64 lowercase hex digits) of the downloaded archive (the ClawHub zip or
    /// the npm tarball); the supervisor refuses an archive that does not match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
}

/// A skill or plugin reference that does not follow [`SKILL_PATTERN`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid skill reference {reference:?}: {reason}")]
pub struct InvalidSkillRef {
    /// The reference as written.
    pub reference: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

impl SkillRef {
    /// Parses a `spec.plugins` entry: an npm package, with or without the `npm:` prefix.
    pub fn parse_plugin(reference: &str) -> Result<SkillRef, InvalidSkillRef> {
        let prefixed = if reference.starts_with("npm:") {
            reference.to_owned()
        } else {
            format!("npm:{reference}")
        };
        prefixed
            .parse()
            .map_err(|error: InvalidSkillRef| InvalidSkillRef {
                reference: reference.to_owned(),
                ..error
            })
    }
}

impl FromStr for SkillRef {
    type Err = InvalidSkillRef;

    fn from_str(reference: &str) -> Result<Self, Self::Err> {
        let invalid = |reason| InvalidSkillRef {
            reference: reference.to_owned(),
            reason,
        };
        let (rest, sha256) = match reference.split_once('#') {
            Some((rest, pin)) => {
                let hex = pin
                    .strip_prefix("sha256:")
                    .ok_or_else(|| invalid("a pin must read #sha256:<hex>"))?;
                if hex.len() != 64
                    || !hex
                        .bytes()
                        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
                {
                    return Err(invalid("a sha256 pin has 64 lowercase hex digits"));
                }
                (rest, Some(hex.to_owned()))
            }
            None => (reference, None),
        };
        let (npm, rest) = match rest.strip_prefix("npm:") {
            Some(rest) => (true, rest),
            None => (false, rest),
        };
        // A leading `@` opens the owner or scope; a later one starts the version.
        let version_at = rest
            .char_indices()
            .skip(1)
            .find(|&(_, c)| c == '@')
            .map(|(i, _)| i);
        let (name, version) = match version_at {
            Some(i) => (&rest[..i], Some(&rest[i + 1..])),
            None => (rest, None),
        };
        let (owner, slug) = match name.strip_prefix('@') {
            Some(scoped) => {
                let (owner, slug) = scoped
                    .split_once('/')
                    .ok_or_else(|| invalid("@owner must be followed by /name"))?;
                (Some(owner), slug)
            }
            None => (None, name),
        };
        let is_name = |s: &str| {
            s.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
                && s.chars().all(|c| {
                    c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-')
                })
        };
        if !is_name(slug) || owner.is_some_and(|owner| !is_name(owner)) {
            return Err(invalid(
                "names use lowercase letters, digits, '.', '_' and '-'",
            ));
        }
        if let Some(version) = version {
            let valid = version.starts_with(|c: char| c.is_ascii_alphanumeric())
                && version
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '+' | '_' | '-'));
            if !valid {
                return Err(invalid(
                    "a version uses letters, digits, '.', '+', '_' and '-'",
                ));
            }
        }
        let source = if npm {
            let package = match owner {
                Some(scope) => format!("@{scope}/{slug}"),
                None => slug.to_owned(),
            };
            SkillSource::Npm { package }
        } else {
            SkillSource::ClawHub {
                owner: owner.map(str::to_owned),
                slug: slug.to_owned(),
            }
        };
        Ok(SkillRef {
            source,
            version: version.map(str::to_owned),
            sha256,
        })
    }
}

impl fmt::Display for SkillRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.source {
            SkillSource::ClawHub {
                owner: Some(owner),
                slug,
            } => write!(f, "@{owner}/{slug}")?,
            SkillSource::ClawHub { owner: None, slug } => f.write_str(slug)?,
            SkillSource::Npm { package } => write!(f, "npm:{package}")?,
        }
        if let Some(version) = &self.version {
            write!(f, "@{version}")?;
        }
        if let Some(sha256) = &self.sha256 {
            write!(f, "#sha256:{sha256}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PIN: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn schema_accepts(reference: &str) -> bool {
        regex::Regex::new(SKILL_PATTERN).is_ok_and(|re| re.is_match(reference))
    }

    #[test]
    fn parses_every_form_and_prints_it_back() {
        for reference in [
            "weather",
            "@anthropic/mcp-server-fetch",
            "weather@1.2.3",
            "@anthropic/mcp-server-fetch@latest",
            "npm:@openclaw/matrix",
            "npm:left-pad@1.3.0",
            &format!("weather@1.0.0#sha256:{PIN}"),
            &format!("npm:@scope/pkg#sha256:{PIN}"),
        ] {
            let parsed: SkillRef = reference.parse().unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(parsed.to_string(), reference);
            assert!(schema_accepts(reference), "{reference}");
        }
        let fetch: SkillRef = "@anthropic/mcp-server-fetch@2"
            .parse()
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            fetch.source,
            SkillSource::ClawHub {
                owner: Some("anthropic".into()),
                slug: "mcp-server-fetch".into()
            }
        );
        assert_eq!(fetch.version.as_deref(), Some("2"));
    }

    #[test]
    fn refuses_what_the_schema_refuses() {
        for reference in [
            "",
            "Upper",
            "@owner",
            "../etc",
            "a/b",
            "x@",
            "x#md5:00",
            "x#sha256:abc",
            "npm:",
        ] {
            assert!(
                reference.parse::<SkillRef>().is_err(),
                "{reference:?} should be refused"
            );
            assert!(!schema_accepts(reference), "{reference:?}");
        }
    }

    #[test]
    fn plugins_are_npm_packages_with_or_without_prefix() {
        let plugin =
            SkillRef::parse_plugin("@openclaw/matrix@0.3.0").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            plugin.source,
            SkillSource::Npm {
                package: "@openclaw/matrix".into()
            }
        );
        assert_eq!(plugin.to_string(), "npm:@openclaw/matrix@0.3.0");
    }

    #[test]
    fn runtime_deps_inherit_cluster_choices_unless_set() {
        let cluster = RuntimeDepsSpec {
            pnpm: Some(true),
            python: Some(true),
        };
        let instance = RuntimeDepsSpec {
            pnpm: None,
            python: Some(false),
        };
        assert_eq!(
            instance.resolve(&cluster),
            RuntimeDeps {
                pnpm: true,
                python: false
            }
        );
        assert_eq!(
            RuntimeDepsSpec::default().resolve(&RuntimeDepsSpec::default()),
            RuntimeDeps::default()
        );
    }
}
