//! Labels of an instance's objects and the content hashes that roll its pod when an input changes.

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

/// `app.kubernetes.io/name` of every object: the application.
pub const NAME: &str = "app.kubernetes.io/name";
/// `app.kubernetes.io/instance`: the instance's `metadata.name`.
pub const INSTANCE: &str = "app.kubernetes.io/instance";
/// `app.kubernetes.io/managed-by`: this operator.
pub const MANAGED_BY: &str = "app.kubernetes.io/managed-by";
/// `app.kubernetes.io/part-of`: the OpenClaw system.
pub const PART_OF: &str = "app.kubernetes.io/part-of";

/// Pod-template annotation: hash of the instance's ConfigMap (config and runtime plan).
pub const CONFIG_HASH_ANNOTATION: &str = "openclaw.rocks/config-hash";
/// Pod-template annotation: hash of every referenced Secret and ConfigMap.
pub const INPUTS_HASH_ANNOTATION: &str = "openclaw.rocks/inputs-hash";

/// Labels of every object of `instance`.
pub fn labels(instance: &str) -> BTreeMap<String, String> {
    let mut labels = selector_labels(instance);
    labels.insert(MANAGED_BY.to_owned(), "openclaw-operator".to_owned());
    labels.insert(PART_OF.to_owned(), "openclaw".to_owned());
    labels
}

/// The labels that select the instance's pod (Service, StatefulSet, PDB, NetworkPolicy); they
/// never change, so selectors stay valid across operator versions.
pub fn selector_labels(instance: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        (NAME.to_owned(), "openclaw".to_owned()),
        (INSTANCE.to_owned(), instance.to_owned()),
    ])
}

/// Key-value content whose hash does not depend on how it was built.
pub trait Content {
    /// The entries, sorted by key.
    fn entries(&self) -> Vec<(&str, &[u8])>;
}

impl Content for BTreeMap<String, String> {
    fn entries(&self) -> Vec<(&str, &[u8])> {
        self.iter()
            .map(|(k, v)| (k.as_str(), v.as_bytes()))
            .collect()
    }
}

impl Content for BTreeMap<String, Vec<u8>> {
    fn entries(&self) -> Vec<(&str, &[u8])> {
        self.iter()
            .map(|(k, v)| (k.as_str(), v.as_slice()))
            .collect()
    }
}

impl<T: Content> Content for Option<T> {
    fn entries(&self) -> Vec<(&str, &[u8])> {
        self.as_ref().map(Content::entries).unwrap_or_default()
    }
}

/// sha256 (hex) of a map's content. Every key and value is length-prefixed, so no two different
/// maps share an encoding; `None` hashes like an empty map.
pub fn content_hash<T: Content + ?Sized>(data: &T) -> String {
    let mut hasher = Sha256::new();
    feed(&mut hasher, data);
    hex::encode(hasher.finalize())
}

/// sha256 (hex) of several named maps (for example `Secret/openclaw-api-keys` and its data), in
/// name order whatever the order given; for the content of what an instance references.
pub fn hash_inputs(items: &[(String, BTreeMap<String, Vec<u8>>)]) -> String {
    let mut sorted: Vec<&(String, BTreeMap<String, Vec<u8>>)> = items.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    let mut hasher = Sha256::new();
    for (name, data) in sorted {
        field(&mut hasher, name.as_bytes());
        feed(&mut hasher, data);
    }
    hex::encode(hasher.finalize())
}

fn feed<T: Content + ?Sized>(hasher: &mut Sha256, data: &T) {
    let entries = data.entries();
    hasher.update((entries.len() as u64).to_le_bytes());
    for (key, value) in entries {
        field(hasher, key.as_bytes());
        field(hasher, value);
    }
}

fn field(hasher: &mut Sha256, bytes: &[u8]) {
    hasher.update((bytes.len() as u64).to_le_bytes());
    hasher.update(bytes);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn selector_is_a_subset_of_the_labels() {
        let labels = labels("my-agent");
        assert_eq!(labels.len(), 4);
        assert_eq!(labels[MANAGED_BY], "openclaw-operator");
        for (key, value) in selector_labels("my-agent") {
            assert_eq!(labels.get(&key), Some(&value));
        }
    }

    #[test]
    fn content_hash_is_stable_and_unambiguous() {
        let a = map(&[("a", "1"), ("b", "2")]);
        let mut b = BTreeMap::new();
        b.insert("b".to_owned(), "2".to_owned());
        b.insert("a".to_owned(), "1".to_owned());
        assert_eq!(content_hash(&a), content_hash(&b));
        assert_eq!(content_hash(&a).len(), 64);
        assert_ne!(
            content_hash(&map(&[("ab", "c")])),
            content_hash(&map(&[("a", "bc")]))
        );
        assert_eq!(
            content_hash(&None::<BTreeMap<String, String>>),
            content_hash(&map(&[]))
        );
        assert_ne!(
            content_hash(&Some(a.clone())),
            content_hash(&map(&[("a", "1")]))
        );
    }

    #[test]
    fn inputs_hash_ignores_order_and_sees_every_byte() {
        let secret = |v: &[u8]| BTreeMap::from([("KEY".to_owned(), v.to_vec())]);
        let one = vec![
            ("Secret/a".to_owned(), secret(b"x")),
            ("ConfigMap/b".to_owned(), secret(b"y")),
        ];
        let mut reversed = one.clone();
        reversed.reverse();
        assert_eq!(hash_inputs(&one), hash_inputs(&reversed));
        let rotated = vec![
            ("Secret/a".to_owned(), secret(b"z")),
            ("ConfigMap/b".to_owned(), secret(b"y")),
        ];
        assert_ne!(hash_inputs(&one), hash_inputs(&rotated));
    }
}
