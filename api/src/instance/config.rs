//! `spec.config`: the OpenClaw configuration file (`openclaw.json`) the supervisor seeds.

use kube::KubeSchema;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::schema::{DATA_KEY, DNS_SUBDOMAIN, free_form_object};

/// Key read from `configMapRef` when none is given.
pub const DEFAULT_CONFIG_KEY: &str = "openclaw.json";

/// The OpenClaw configuration (`~/.openclaw/openclaw.json`), given inline (`raw`) or from a
/// ConfigMap (`configMapRef`). The operator adds what the pod needs (gateway mode, bind, auth,
/// Tailscale, Chromium); a change of the content rolls the pod.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new("!(has(self.raw) && has(self.configMapRef))")
        .message("spec.config: raw and configMapRef are mutually exclusive; set one of them"),
    validation = Rule::new("!(has(self.raw) && has(self.format) && self.format == 'json5')")
        .message("spec.config.format: json5 applies only to configMapRef content; spec.config.raw is already structured"),
)]
pub struct ConfigSpec {
    /// Inline OpenClaw configuration, written as YAML and stored as the JSON of `openclaw.json`,
    /// for example `agents.defaults.model.primary`. Any keys are kept as given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "free_form_object")]
    pub raw: Option<Map<String, Value>>,

    /// Read the configuration from a key of a ConfigMap in the instance's namespace instead of
    /// `raw`. Edits to that ConfigMap roll the pod like edits to `raw`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_map_ref: Option<ConfigMapKeyRef>,

    /// How the configuration reaches the file on the workspace volume at each pod start.
    /// `overwrite` (the default) replaces the file. `merge` deep-merges it into the existing
    /// file: keys given here win, keys the agent added itself survive restarts, arrays are
    /// replaced whole.
    #[serde(default)]
    pub merge_mode: MergeMode,

    /// Syntax of the `configMapRef` content: `json` (the default) or `json5` (comments, trailing
    /// commas), which the supervisor converts to JSON at pod start. `raw` is always JSON.
    #[serde(default)]
    pub format: ConfigFormat,
}

/// A key of a ConfigMap in the instance's namespace.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConfigMapKeyRef {
    /// Name of the ConfigMap.
    #[schemars(length(min = 1, max = 253), regex(pattern = DNS_SUBDOMAIN))]
    pub name: String,

    /// Key holding the configuration. Defaults to `openclaw.json`.
    #[serde(default = "default_key")]
    #[schemars(length(min = 1, max = 253), regex(pattern = DATA_KEY))]
    pub key: String,
}

fn default_key() -> String {
    DEFAULT_CONFIG_KEY.to_owned()
}

/// How the operator's configuration meets the file already on the workspace volume.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum MergeMode {
    /// Replace the file at each pod start.
    #[default]
    Overwrite,
    /// Deep-merge into the existing file; given keys win, other keys survive.
    Merge,
}

/// Syntax of an external configuration.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ConfigFormat {
    /// Strict JSON.
    #[default]
    Json,
    /// JSON5, converted to JSON at pod start.
    Json5,
}
