//! The gateway-token Secret `<name>-gateway-token`: the gateway token and the supervisor's
//! control token, generated once by the controller and never rebuilt.

use std::collections::BTreeMap;

use k8s_openapi::{
    ByteString, api::core::v1::Secret, apimachinery::pkg::apis::meta::v1::ObjectMeta,
};
use kube::Resource;
use openclaw_api::OpenClawInstance;

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
}
