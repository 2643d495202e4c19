//! The gateway-token Secret `<name>-gateway-token`: the gateway token and the supervisor's
//! control token, generated once by the controller and never rebuilt.

use std::collections::BTreeMap;

use k8s_openapi::{
    ByteString, api::core::v1::Secret, apimachinery::pkg::apis::meta::v1::ObjectMeta,
};
use kube::Resource;
use openclaw_api::{
    OpenClawInstance,
    instance::{GATEWAY_TOKEN_ROTATED_FOR_ANNOTATION, ROTATE_GATEWAY_TOKEN_ANNOTATION},
};
use serde_json::{Value, json};

use super::{CONTROL_TOKEN_KEY, GATEWAY_TOKEN_KEY, labels, names};

/// The Secret holding `token` (the gateway's) and `supervisor-token` (the operator's key to the
/// supervisor's control endpoints). The controller creates it even with
/// `spec.gateway.existingSecret`, which replaces only the gateway token.
pub fn gateway_token(instance: &OpenClawInstance, token: &str, control: &str) -> Secret {
    let name = instance.metadata.name.clone().unwrap_or_default();
    Secret {
        metadata: ObjectMeta {
            name: Some(names::gateway_token(&name)),
            namespace: instance.metadata.namespace.clone(),
            labels: Some(labels::labels(&name)),
            owner_references: instance.controller_owner_ref(&()).map(|o| vec![o]),
            ..ObjectMeta::default()
        },
        type_: Some("Opaque".to_owned()),
        data: Some(BTreeMap::from([
            (
                GATEWAY_TOKEN_KEY.to_owned(),
                ByteString(token.as_bytes().to_vec()),
            ),
            (
                CONTROL_TOKEN_KEY.to_owned(),
                ByteString(control.as_bytes().to_vec()),
            ),
        ])),
        ..Secret::default()
    }
}

/// What a rotation request on the instance asks of its gateway-token Secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenRotation {
    /// No request, or the Secret already answered this one.
    Nothing,
    /// Write a new gateway token and record the request.
    Rotate { request: String },
    /// The token lives in the user's Secret: record the request, rotate nothing, warn.
    UserSecret { request: String, secret: String },
}

/// Decides from the instance's request and the request the Secret last answered.
pub fn token_rotation(instance: &OpenClawInstance, answered: Option<&str>) -> TokenRotation {
    let request = instance
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(ROTATE_GATEWAY_TOKEN_ANNOTATION))
        .filter(|value| !value.is_empty());
    let Some(request) = request.filter(|r| answered != Some(r.as_str())) else {
        return TokenRotation::Nothing;
    };
    match &instance.spec.gateway.existing_secret {
        Some(secret) => TokenRotation::UserSecret {
            request: request.clone(),
            secret: secret.clone(),
        },
        None => TokenRotation::Rotate {
            request: request.clone(),
        },
    }
}

/// The merge patch that answers `request` on the gateway-token Secret, with a new gateway token
/// when one is given (the supervisor token is never rotated here).
pub fn rotation_patch(request: &str, token: Option<&str>) -> Value {
    use base64::Engine as _;
    let mut patch = json!({
        "metadata": {"annotations": {GATEWAY_TOKEN_ROTATED_FOR_ANNOTATION: request}}
    });
    if let Some(token) = token {
        patch["data"] = json!({
            GATEWAY_TOKEN_KEY: base64::engine::general_purpose::STANDARD.encode(token)
        });
    }
    patch
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::build::tests::instance;

    #[test]
    fn holds_both_tokens_and_is_owned() {
        let instance = instance("spec: {}");
        let secret = gateway_token(&instance, "gw", "ctl");
        assert_eq!(
            secret.metadata.name.as_deref(),
            Some("my-agent-gateway-token")
        );
        assert_eq!(secret.metadata.namespace.as_deref(), Some("openclaw"));
        assert_eq!(secret.type_.as_deref(), Some("Opaque"));
        let owner = secret.metadata.owner_references.unwrap_or_default();
        assert_eq!(owner.len(), 1);
        assert_eq!(owner[0].controller, Some(true));
        let data = secret.data.unwrap_or_default();
        assert_eq!(data["token"].0, b"gw");
        assert_eq!(data["supervisor-token"].0, b"ctl");
    }

    #[test]
    fn a_rotation_request_is_answered_once() {
        let plain = instance("spec: {}");
        assert_eq!(token_rotation(&plain, None), TokenRotation::Nothing);
        let asked = instance(
            "metadata:\n  annotations: {openclaw.rocks/rotate-gateway-token: \"2026-12-04\"}\nspec: {}\n",
        );
        assert_eq!(
            token_rotation(&asked, None),
            TokenRotation::Rotate {
                request: "2026-12-04".into()
            }
        );
        assert_eq!(
            token_rotation(&asked, Some("2026-12-01")),
            TokenRotation::Rotate {
                request: "2026-12-04".into()
            }
        );
        assert_eq!(
            token_rotation(&asked, Some("2026-12-04")),
            TokenRotation::Nothing
        );
        let user = instance(
            "metadata:\n  annotations: {openclaw.rocks/rotate-gateway-token: \"1\"}\nspec:\n  gateway: {existingSecret: mine}\n",
        );
        assert_eq!(
            token_rotation(&user, None),
            TokenRotation::UserSecret {
                request: "1".into(),
                secret: "mine".into()
            }
        );
    }

    #[test]
    fn the_patch_records_the_request_and_replaces_only_the_gateway_token() {
        let patch = rotation_patch("r1", Some("new"));
        assert_eq!(
            patch["metadata"]["annotations"]["openclaw.rocks/gateway-token-rotated-for"],
            "r1"
        );
        assert_eq!(patch["data"]["token"], "bmV3");
        assert!(patch["data"].get("supervisor-token").is_none());
        assert!(rotation_patch("r1", None).get("data").is_none());
    }
}
