//! Known configuration key changes between OpenClaw releases, as data: the configuration the
//! operator renders for a pod is brought to the shape of the version that pod runs, so a spec
//! written for an older release keeps working after auto-update moves the instance on (and the
//! new image's own validator, run before the roll, judges the result).
//!
//! A change applies to every version at or above `since`; one whose source key is absent is a
//! no-op, so applying the table twice changes nothing.

use serde_json::{Map, Value};

use super::version::Version;

/// How the value moves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// As it is.
    Same,
    /// A list of objects becomes a map keyed by each object's `key` field (which leaves the
    /// object); items without it stay in the list.
    ListKeyedBy(&'static str),
}

/// One key change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyChange {
    /// The first release that expects the new key.
    pub since: Version,
    /// Dotted path of the old key.
    pub from: &'static str,
    /// Dotted path of the new key.
    pub to: &'static str,
    pub shape: Shape,
}

/// The table. Each entry was checked against the releases' own validator
/// (`openclaw config validate --json`).
pub const KEY_CHANGES: &[KeyChange] = &[
    // 2026.9.5 and later accept the old list only as a legacy form ("Moved agents.list to keyed
    // agents.entries."), and rewrite the file on start.
    KeyChange {
        since: Version(2026, 9, 5),
        from: "agents.list",
        to: "agents.entries",
        shape: Shape::ListKeyedBy("id"),
    },
];

/// Applies the changes of `table` that `version` expects to `config`; returns one line per
/// change made (`agents.list → agents.entries`).
pub fn apply(
    config: &mut Map<String, Value>,
    version: Version,
    table: &[KeyChange],
) -> Vec<String> {
    let mut applied = Vec::new();
    for change in table.iter().filter(|c| version >= c.since) {
        if migrate(config, change) {
            applied.push(format!(
                "{} → {} (since {})",
                change.from, change.to, change.since
            ));
        }
    }
    applied
}

fn migrate(config: &mut Map<String, Value>, change: &KeyChange) -> bool {
    let Some(value) = take(config, change.from) else {
        return false;
    };
    let (moved, left) = match (change.shape, value) {
        (Shape::ListKeyedBy(key), Value::Array(items)) => {
            let mut map = Map::new();
            let mut left = Vec::new();
            for item in items {
                match item {
                    Value::Object(mut object) => match object.remove(key) {
                        Some(Value::String(id)) if !map.contains_key(&id) => {
                            map.insert(id, Value::Object(object));
                        }
                        Some(id) => {
                            object.insert(key.to_owned(), id);
                            left.push(Value::Object(object));
                        }
                        None => left.push(Value::Object(object)),
                    },
                    other => left.push(other),
                }
            }
            (
                Value::Object(map),
                (!left.is_empty()).then_some(Value::Array(left)),
            )
        }
        (_, value) => (value, None),
    };
    if let Some(left) = left {
        put(config, change.from, left);
    }
    if moved.as_object().is_some_and(Map::is_empty) && change.shape != Shape::Same {
        return false;
    }
    // What the spec already says under the new key wins over what moves there.
    match (get_mut(config, change.to), moved) {
        (Some(Value::Object(existing)), Value::Object(moved)) => {
            for (key, value) in moved {
                existing.entry(key).or_insert(value);
            }
        }
        (Some(_), _) => {}
        (None, moved) => put(config, change.to, moved),
    }
    true
}

fn take(config: &mut Map<String, Value>, path: &str) -> Option<Value> {
    let (parent, last) = match path.rsplit_once('.') {
        Some((parent, last)) => (get_mut(config, parent)?.as_object_mut()?, last),
        None => (config, path),
    };
    parent.remove(last)
}

fn get_mut<'a>(config: &'a mut Map<String, Value>, path: &str) -> Option<&'a mut Value> {
    let mut parts = path.split('.');
    let mut value = config.get_mut(parts.next()?)?;
    for part in parts {
        value = value.as_object_mut()?.get_mut(part)?;
    }
    Some(value)
}

fn put(config: &mut Map<String, Value>, path: &str, value: Value) {
    let mut parts: Vec<&str> = path.split('.').collect();
    let Some(last) = parts.pop() else { return };
    let mut map = config;
    for part in parts {
        let entry = map
            .entry(part.to_owned())
            .or_insert_with(|| Value::Object(Map::new()));
        if !entry.is_object() {
            *entry = Value::Object(Map::new());
        }
        let Value::Object(next) = entry else { return };
        map = next;
    }
    map.insert(last.to_owned(), value);
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn map(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            _ => Map::new(),
        }
    }

    #[test]
    fn agents_list_becomes_keyed_entries_from_the_version_that_expects_it() {
        let spec = json!({"agents": {"defaults": {"model": "m"}, "list": [
            {"id": "main", "name": "Main"},
            {"id": "ops", "workspace": "/w"},
            {"name": "no id"}
        ]}});
        let mut old = map(spec.clone());
        assert!(apply(&mut old, Version(2026, 9, 4), KEY_CHANGES).is_empty());
        assert_eq!(Value::Object(old), spec, "an older release keeps its keys");

        let mut new = map(spec);
        let applied = apply(&mut new, Version(2026, 9, 6), KEY_CHANGES);
        assert_eq!(applied, ["agents.list → agents.entries (since 2026.9.5)"]);
        assert_eq!(
            Value::Object(new.clone()),
            json!({"agents": {"defaults": {"model": "m"},
                "entries": {"main": {"name": "Main"}, "ops": {"workspace": "/w"}},
                "list": [{"name": "no id"}]}})
        );
        // Applied twice: nothing more moves.
        let before = new.clone();
        assert!(apply(&mut new, Version(2026, 9, 6), KEY_CHANGES).is_empty());
        assert_eq!(new, before);
    }

    #[test]
    fn the_new_key_written_by_the_user_wins_and_renames_create_parents() {
        let table = [KeyChange {
            since: Version(1, 0, 0),
            from: "gateway.oldName",
            to: "network.newName",
            shape: Shape::Same,
        }];
        let mut config = map(json!({"gateway": {"oldName": 1}}));
        apply(&mut config, Version(1, 0, 0), &table);
        assert_eq!(
            Value::Object(config),
            json!({"gateway": {}, "network": {"newName": 1}})
        );
        let mut both = map(json!({"gateway": {"oldName": 1}, "network": {"newName": 2}}));
        apply(&mut both, Version(1, 0, 0), &table);
        assert_eq!(both["network"]["newName"], 2);
        assert_eq!(both["gateway"], json!({}));
    }
}
