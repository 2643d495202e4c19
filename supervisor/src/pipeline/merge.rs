//! The configuration the gateway gets, decided without I/O: the operator's object laid over by
//! the user's file, the gateway keys the pod depends on forced, then written over (`overwrite`)
//! or deep-merged into (`merge`) what is on the volume.

use openclaw_api::{
    instance::{ConfigFormat, MergeMode},
    plan::{GatewayBind, GatewayPlan},
};
use serde_json::{Map, Value};

/// A configuration text that could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    /// Not JSON.
    #[error("invalid JSON")]
    Json(#[source] serde_json::Error),
    /// Not JSON5.
    #[error("invalid JSON5")]
    Json5(#[source] json5::Error),
    /// Valid, but not an object.
    #[error("the configuration is not an object")]
    NotObject,
}

/// Parses a configuration object. JSON5 is a superset of JSON, so `Json5` reads both.
pub fn parse(text: &str, format: ConfigFormat) -> Result<Map<String, Value>, ParseError> {
    let value: Value = match format {
        ConfigFormat::Json => serde_json::from_str(text).map_err(ParseError::Json)?,
        ConfigFormat::Json5 => json5::from_str(text).map_err(ParseError::Json5)?,
    };
    match value {
        Value::Object(map) => Ok(map),
        _ => Err(ParseError::NotObject),
    }
}

/// Merges `overlay` into `base`: objects key by key, recursively; anything else (arrays,
/// scalars, `null`) from `overlay` replaces what `base` had. Keys only `base` has survive.
pub fn deep_merge(base: &mut Map<String, Value>, overlay: Map<String, Value>) {
    for (key, value) in overlay {
        match (base.get_mut(&key), value) {
            (Some(Value::Object(existing)), Value::Object(incoming)) => {
                deep_merge(existing, incoming)
            }
            (_, value) => {
                base.insert(key, value);
            }
        }
    }
}

/// What the operator wants in the file: `raw`, laid over by the user's file, with
/// `gateway.mode=local`, `gateway.port` and `gateway.bind` forced to what the pod needs.
pub fn desired(
    raw: Option<&Map<String, Value>>,
    user_file: Option<Map<String, Value>>,
    gateway: &GatewayPlan,
) -> Map<String, Value> {
    let mut config = raw.cloned().unwrap_or_default();
    if let Some(user) = user_file {
        deep_merge(&mut config, user);
    }
    let bind = match gateway.bind {
        GatewayBind::Loopback => "loopback",
        GatewayBind::Lan => "lan",
    };
    let mut forced = Map::new();
    forced.insert("mode".into(), "local".into());
    forced.insert("port".into(), gateway.port.into());
    forced.insert("bind".into(), bind.into());
    let mut top = Map::new();
    top.insert("gateway".into(), Value::Object(forced));
    deep_merge(&mut config, top);
    config
}

/// The file to write: `desired` alone (`overwrite`), or merged into what the volume holds
/// (`merge`: operator keys win, arrays replaced, keys the agent added survive).
pub fn combine(
    mode: MergeMode,
    existing: Option<Map<String, Value>>,
    desired: Map<String, Value>,
) -> Map<String, Value> {
    match (mode, existing) {
        (MergeMode::Merge, Some(mut existing)) => {
            deep_merge(&mut existing, desired);
            existing
        }
        (_, _) => desired,
    }
}

/// The file's text: pretty JSON (valid JSON5) with a final newline.
pub fn render(config: &Map<String, Value>) -> String {
    let mut text = serde_json::to_string_pretty(config).unwrap_or_else(|_| "{}".into());
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use openclaw_api::plan::GATEWAY_PORT;
    use serde_json::json;

    fn obj(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            _ => Map::new(),
        }
    }

    fn gateway(bind: GatewayBind) -> GatewayPlan {
        GatewayPlan {
            port: GATEWAY_PORT,
            bind,
            token_env: "OPENCLAW_GATEWAY_TOKEN".into(),
            token_file: None,
        }
    }

    #[test]
    fn merge_operator_wins_arrays_replaced_agent_keys_survive() {
        let existing = obj(json!({
            "agents": {"defaults": {"model": {"primary": "old", "fallbacks": ["a", "b"]}}, "list": [1, 2, 3]},
            "channels": {"telegram": {"enabled": true}},
            "gateway": {"mode": "remote", "auth": {"mode": "token"}}
        }));
        let want = desired(
            Some(&obj(
                json!({"agents": {"defaults": {"model": {"primary": "new", "fallbacks": ["c"]}}, "list": [9]}}),
            )),
            None,
            &gateway(GatewayBind::Lan),
        );
        let merged = combine(MergeMode::Merge, Some(existing), want);
        assert_eq!(
            Value::Object(merged),
            json!({
                "agents": {"defaults": {"model": {"primary": "new", "fallbacks": ["c"]}}, "list": [9]},
                "channels": {"telegram": {"enabled": true}},
                "gateway": {"mode": "local", "auth": {"mode": "token"}, "port": 18789, "bind": "lan"}
            })
        );
    }

    #[test]
    fn overwrite_replaces_the_file() {
        let existing = obj(json!({"channels": {"telegram": {}}}));
        let want = desired(
            Some(&obj(json!({"tools": {"x": 1}}))),
            None,
            &gateway(GatewayBind::Loopback),
        );
        let written = combine(MergeMode::Overwrite, Some(existing), want);
        assert_eq!(
            Value::Object(written),
            json!({"tools": {"x": 1}, "gateway": {"mode": "local", "port": 18789, "bind": "loopback"}})
        );
    }

    #[test]
    fn user_file_lays_over_raw_and_gateway_mode_is_always_local() {
        let raw = obj(json!({"gateway": "broken", "a": {"b": 1, "c": 2}}));
        let user = obj(json!({"a": {"c": 3}, "gateway": {"mode": "remote", "port": 1}}));
        let want = desired(Some(&raw), Some(user), &gateway(GatewayBind::Lan));
        assert_eq!(
            Value::Object(want),
            json!({"gateway": {"mode": "local", "port": 18789, "bind": "lan"}, "a": {"b": 1, "c": 3}})
        );
        // Merging into nothing is the desired config itself.
        let none = combine(MergeMode::Merge, None, obj(json!({"x": 1})));
        assert_eq!(Value::Object(none), json!({"x": 1}));
    }

    #[test]
    fn reads_json5_and_refuses_non_objects() {
        let text = "// comment\n{ gateway: { mode: 'local', port: 18789, }, }";
        let parsed = parse(text, ConfigFormat::Json5).map(Value::Object).ok();
        assert_eq!(
            parsed,
            Some(json!({"gateway": {"mode": "local", "port": 18789}}))
        );
        assert!(matches!(
            parse(text, ConfigFormat::Json),
            Err(ParseError::Json(_))
        ));
        assert!(matches!(
            parse("[1]", ConfigFormat::Json),
            Err(ParseError::NotObject)
        ));
        assert_eq!(render(&obj(json!({"a": 1}))), "{\n  \"a\": 1\n}\n");
    }

    #[test]
    fn reads_the_gateway_fixtures() -> Result<(), Box<dyn std::error::Error>> {
        let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../shared/fixtures/openclaw-gateway");
        let (Ok(json), Ok(json5)) = (
            std::fs::read_to_string(fixtures.join("openclaw.json")),
            std::fs::read_to_string(fixtures.join("openclaw.json5-accepted.json5")),
        ) else {
            return Ok(()); // shared/ is laid beside the repository; nothing to compare without it
        };
        let a = parse(&json, ConfigFormat::Json)?;
        let b = parse(&json5, ConfigFormat::Json5)?;
        assert_eq!(
            a, b,
            "the JSON5 fixture the gateway accepts says the same as the JSON one"
        );
        Ok(())
    }
}
