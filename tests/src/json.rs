//! Comparing what a user wrote with what the API server stored.

use serde_json::Value;

/// Returns the paths where `expected` is not contained in `actual`: every key the user
/// set must come back with the same value (extra keys, such as defaults, are fine).
pub fn missing_paths(expected: &Value, actual: &Value) -> Vec<String> {
    let mut out = Vec::new();
    walk(expected, actual, "", &mut out);
    out
}

fn walk(expected: &Value, actual: &Value, path: &str, out: &mut Vec<String>) {
    match (expected, actual) {
        (Value::Object(want), Value::Object(got)) => {
            for (key, value) in want {
                let sub = format!("{path}.{key}");
                match got.get(key) {
                    Some(found) => walk(value, found, &sub, out),
                    None => out.push(sub),
                }
            }
        }
        (Value::Array(want), Value::Array(got)) if want.len() == got.len() => {
            for (i, (w, g)) in want.iter().zip(got).enumerate() {
                walk(w, g, &format!("{path}[{i}]"), out);
            }
        }
        (want, got) if want == got => {}
        (want, got) => out.push(format!("{path}: wrote {want}, stored {got}")),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::missing_paths;

    #[test]
    fn finds_pruned_and_changed_fields() {
        let want = json!({"spec": {"a": 1, "b": {"c": [1, 2]}, "d": "x"}});
        let got = json!({"spec": {"a": 1, "b": {"c": [1, 3]}, "e": true}});
        assert_eq!(
            missing_paths(&want, &got),
            vec![".spec.b.c[1]: wrote 2, stored 3", ".spec.d"]
        );
        assert!(missing_paths(&want, &want).is_empty());
    }
}
