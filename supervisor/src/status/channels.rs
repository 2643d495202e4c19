//! Per-channel health: which messaging channels the gateway's config declares, and which of them
//! the gateway's `/readyz` lists as failing.
//!
//! What the gateway says (openclaw 2026.9.6, `dist/server-start-*.mjs`, `createReadinessChecker`):
//! once started, `/readyz` evaluates every account of every channel and answers 503
//! `{"ready":false,"failing":["telegram"]}` naming each unhealthy channel by its id; the other
//! failing entries are gateway-wide (`startup-sidecars`, `gateway-draining`, `plugin-reload`,
//! `state-database`, `agent-database:<id>`, `internal`). A channel still connecting counts as
//! healthy for 120 s (`startup-connect-grace`); a Telegram bot token that `getMe` refuses (401/404)
//! blocks the channel at once (`lifecycle: "blocked"`). `/startupz` ignores channels. So a 503
//! whose failing entries are all channels means the gateway serves traffic for the others: the
//! pod stays ready, and the channels are reported here instead.

use std::{
    path::{Path, PathBuf},
    time::SystemTime,
};

use openclaw_api::instance::status::ChannelHealth;

/// Keys of the config's `channels` object that are settings, not channels.
const NOT_CHANNELS: [&str; 6] = [
    "defaults",
    "modelByChannel",
    "denyRules",
    "denyOpenGroups",
    "allowDmPolicies",
    "requireMentionInGroups",
];

/// Failing entries of `/readyz` that are gateway-wide checks, not channels (plus the
/// supervisor's own `unreachable` and `no readiness JSON …`).
const GATEWAY_CHECKS: [&str; 6] = [
    "startup-sidecars",
    "gateway-draining",
    "plugin-reload",
    "state-database",
    "internal",
    "unreachable",
];

/// Whether a `/readyz` failing entry names a channel.
pub fn is_channel(failing: &str) -> bool {
    !GATEWAY_CHECKS.contains(&failing)
        && !failing.starts_with("agent-database:")
        && !failing.starts_with("no readiness JSON")
        && !failing.is_empty()
}

/// The enabled channels of a gateway config (`channels.<id>` objects without `enabled: false`),
/// sorted.
pub fn configured(config: &serde_json::Value) -> Vec<String> {
    let Some(channels) = config
        .get("channels")
        .and_then(serde_json::Value::as_object)
    else {
        return Vec::new();
    };
    let mut names: Vec<String> = channels
        .iter()
        .filter(|(name, value)| {
            !NOT_CHANNELS.contains(&name.as_str())
                && value.is_object()
                && value.get("enabled").and_then(serde_json::Value::as_bool) != Some(false)
        })
        .map(|(name, _)| name.clone())
        .collect();
    names.sort();
    names
}

/// Said of a failing channel when the gateway logged no error for it.
pub const NO_LOGGED_REASON: &str =
    "the gateway's /readyz lists it as failing (disconnected, stopped or stuck)";

/// Each configured channel, healthy unless `/readyz` lists it, then any other channel it lists;
/// `reason` gives the last error the gateway logged for a failing one.
pub fn health(
    configured: &[String],
    failing: &[String],
    mut reason: impl FnMut(&str) -> Option<String>,
) -> Vec<ChannelHealth> {
    let failing_channels: Vec<&String> = failing.iter().filter(|f| is_channel(f)).collect();
    let mut names: Vec<(&String, bool)> = configured
        .iter()
        .map(|name| (name, failing_channels.contains(&name)))
        .collect();
    for name in failing_channels {
        if !configured.contains(name) {
            names.push((name, true));
        }
    }
    names
        .into_iter()
        .map(|(name, failing)| ChannelHealth {
            name: name.clone(),
            healthy: !failing,
            reason: failing.then(|| reason(name).unwrap_or_else(|| NO_LOGGED_REASON.to_owned())),
        })
        .collect()
}

/// The channels of the config file, read again only when its modification time changes.
#[derive(Debug, Clone)]
pub struct ConfiguredChannels {
    path: PathBuf,
    seen: Option<SystemTime>,
    names: Vec<String>,
}

impl ConfiguredChannels {
    /// Channels of the JSON5 config at `path` (none until it exists).
    pub fn new(path: &Path) -> Self {
        Self {
            path: path.to_owned(),
            seen: None,
            names: Vec::new(),
        }
    }

    /// The channels, re-reading the file if it changed; a file that does not parse keeps the
    /// last names (the gateway keeps its last good config too).
    pub fn names(&mut self) -> &[String] {
        let modified = std::fs::metadata(&self.path)
            .and_then(|m| m.modified())
            .ok();
        if modified != self.seen {
            self.seen = modified;
            match std::fs::read_to_string(&self.path) {
                Ok(text) => {
                    if let Ok(config) = json5::from_str::<serde_json::Value>(&text) {
                        self.names = configured(&config);
                    }
                }
                Err(_) => self.names.clear(),
            }
        }
        &self.names
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn configured_channels_skip_settings_and_disabled_ones() {
        let config = json!({"channels": {
            "telegram": {"botToken": "x"},
            "discord": {"enabled": false},
            "slack": {"enabled": true},
            "defaults": {"groupPolicy": "open"},
            "modelByChannel": {"telegram": "m"}
        }});
        assert_eq!(configured(&config), ["slack", "telegram"]);
        assert!(configured(&json!({"gateway": {}})).is_empty());
    }

    #[test]
    fn failing_entries_are_split_into_channels_and_gateway_checks() {
        assert!(is_channel("telegram"));
        assert!(!is_channel("startup-sidecars"));
        assert!(!is_channel("agent-database:main"));
        assert!(!is_channel("no readiness JSON (HTTP 200)"));
    }

    #[test]
    fn health_marks_the_listed_channels_and_keeps_unconfigured_ones() {
        let configured = ["slack".to_owned(), "telegram".to_owned()];
        let failing = ["telegram".to_owned(), "whatsapp".to_owned()];
        let health = health(&configured, &failing, |name| {
            (name == "telegram").then(|| "token refused".to_owned())
        });
        let summary: Vec<(&str, bool)> = health
            .iter()
            .map(|c| (c.name.as_str(), c.healthy))
            .collect();
        assert_eq!(
            summary,
            [("slack", true), ("telegram", false), ("whatsapp", false)]
        );
        assert_eq!(health[1].reason.as_deref(), Some("token refused"));
        assert_eq!(health[2].reason.as_deref(), Some(NO_LOGGED_REASON));
        assert_eq!(health[0].reason, None);
    }

    #[test]
    fn the_config_file_is_reread_when_it_changes() -> std::io::Result<()> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("openclaw.json");
        let mut channels = ConfiguredChannels::new(&path);
        assert!(channels.names().is_empty());
        // JSON5, as the gateway reads it.
        std::fs::write(&path, "{channels: {telegram: {botToken: 'x',},},}")?;
        assert_eq!(channels.names(), ["telegram"]);
        Ok(())
    }
}
