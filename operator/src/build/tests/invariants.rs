//! Invariants over any instance: no secret in the ConfigMap, and refusals instead of objects the
//! API server would reject.

use serde_json::Value;

use super::{
    children::{built, config},
    context,
};
use crate::build::{BuildError, build, gateway_token_secret};

#[test]
fn no_secret_reaches_the_config_map() {
    let instance = super::instance(
        r#"
spec:
  envFrom: [{secretRef: {name: openclaw-api-keys}}]
  tailscale: {enabled: true, authKeySecretRef: {name: tailscale-authkey}, authSSO: true}
  backup: {s3: {bucket: agents, credentialsSecretRef: {name: backup-s3}}}
  chromium: {enabled: true}
"#,
    );
    let children = built(&instance);
    let secret = gateway_token_secret(&instance, "gw-9f8e7d6c5b4a", "ctl-0a1b2c3d4e5f");
    let data = children.config_map.data.clone().unwrap_or_default();
    for (key, text) in &data {
        for value in secret.data.iter().flatten().map(|(_, v)| v.0.clone()) {
            let value = String::from_utf8(value).unwrap_or_default();
            assert!(!text.contains(&value), "{key} holds a secret value");
        }
        let parsed: Value = serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}"));
        let keys = json_keys(&parsed);
        for forbidden in ["token", "password", "authkey", "AWS_SECRET_ACCESS_KEY"] {
            assert!(
                !keys.contains(&forbidden.to_owned()),
                "{key} has a {forbidden:?} key"
            );
        }
    }
    assert_eq!(
        config(&children)["gateway"]["auth"],
        serde_json::json!({"mode": "token", "allowTailscale": true})
    );
}

fn json_keys(value: &Value) -> Vec<String> {
    match value {
        Value::Object(map) => map
            .iter()
            .flat_map(|(k, v)| std::iter::once(k.clone()).chain(json_keys(v)))
            .collect(),
        Value::Array(items) => items.iter().flat_map(json_keys).collect(),
        _ => Vec::new(),
    }
}

#[test]
fn invalid_instances_are_refused_not_built() {
    let mut instance = super::instance("spec: {}");
    instance.metadata.uid = None;
    assert!(matches!(
        build(&context(&instance)),
        Err(BuildError::Invalid { field, .. }) if field == "metadata.uid"
    ));
    let clash = super::instance(
        "spec:\n  sidecars: [{name: helper, image: a}]\n  initContainers: [{name: helper, image: b}]\n",
    );
    assert!(matches!(
        build(&context(&clash)),
        Err(BuildError::Invalid { .. })
    ));
    let dangling =
        super::instance("spec:\n  extraVolumeMounts: [{name: nowhere, mountPath: /x}]\n");
    assert!(matches!(
        build(&context(&dangling)),
        Err(BuildError::Invalid { .. })
    ));
}
