//! The pod's identity: a ServiceAccount without an API token, and a Role that lets it read its
//! own ConfigMap and nothing else.

use k8s_openapi::api::{
    core::v1::ServiceAccount,
    rbac::v1::{PolicyRule, Role, RoleBinding, RoleRef, Subject},
};

use super::{BuildContext, names};

/// The ServiceAccount `<name>`, unless `security.rbac.createServiceAccount` is false.
pub fn service_account(ctx: &BuildContext<'_>) -> Option<ServiceAccount> {
    let rbac = &ctx.spec().security.rbac;
    if !rbac.create_service_account {
        return None;
    }
    let mut metadata = ctx.meta(ctx.name());
    if !rbac.service_account_annotations.is_empty() {
        metadata.annotations = Some(rbac.service_account_annotations.clone());
    }
    Some(ServiceAccount {
        metadata,
        automount_service_account_token: Some(false),
        ..ServiceAccount::default()
    })
}

/// The ServiceAccount the pod runs as: the instance's, or `security.rbac.serviceAccountName`.
pub fn service_account_name(ctx: &BuildContext<'_>) -> String {
    let rbac = &ctx.spec().security.rbac;
    match (&rbac.service_account_name, rbac.create_service_account) {
        (Some(name), false) => name.clone(),
        _ => ctx.name().to_owned(),
    }
}

/// The Role `<name>`: `get` on the instance's ConfigMap only. Only with the operator's own
/// ServiceAccount: a ServiceAccount the user brings is never granted anything.
pub fn role(ctx: &BuildContext<'_>) -> Option<Role> {
    ctx.spec()
        .security
        .rbac
        .create_service_account
        .then(|| Role {
            metadata: ctx.meta(ctx.name()),
            rules: Some(vec![PolicyRule {
                api_groups: Some(vec![String::new()]),
                resources: Some(vec!["configmaps".to_owned()]),
                resource_names: Some(vec![names::config_map(ctx.name())]),
                verbs: vec!["get".to_owned()],
                ..PolicyRule::default()
            }]),
        })
}

/// The RoleBinding `<name>` of the Role to the ServiceAccount.
pub fn role_binding(ctx: &BuildContext<'_>) -> Option<RoleBinding> {
    ctx.spec()
        .security
        .rbac
        .create_service_account
        .then(|| RoleBinding {
            metadata: ctx.meta(ctx.name()),
            role_ref: RoleRef {
                api_group: Some("rbac.authorization.k8s.io".to_owned()),
                kind: "Role".to_owned(),
                name: ctx.name().to_owned(),
            },
            subjects: Some(vec![Subject {
                kind: "ServiceAccount".to_owned(),
                name: ctx.name().to_owned(),
                namespace: Some(ctx.namespace().to_owned()),
                ..Subject::default()
            }]),
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::build::tests::{context, instance};

    #[test]
    fn service_account_has_no_token_and_carries_annotations() {
        let instance = instance(
            "spec:\n  security:\n    rbac:\n      serviceAccountAnnotations:\n        eks.amazonaws.com/role-arn: arn:aws:iam::123456789:role/openclaw\n",
        );
        let ctx = context(&instance);
        let sa = service_account(&ctx).unwrap_or_default();
        assert_eq!(sa.automount_service_account_token, Some(false));
        assert_eq!(
            sa.metadata.annotations.unwrap_or_default()["eks.amazonaws.com/role-arn"],
            "arn:aws:iam::123456789:role/openclaw"
        );
        let rules = role(&ctx).and_then(|r| r.rules).unwrap_or_default();
        assert_eq!(rules.len(), 1);
        assert_eq!(rules[0].verbs, ["get"]);
        assert_eq!(
            rules[0].resource_names,
            Some(vec!["my-agent-config".to_owned()])
        );
        let binding = role_binding(&ctx).unwrap_or_default();
        assert_eq!(binding.role_ref.name, "my-agent");
        assert_eq!(binding.subjects.unwrap_or_default()[0].name, "my-agent");
        assert_eq!(service_account_name(&ctx), "my-agent");
    }

    #[test]
    fn a_brought_service_account_gets_nothing() {
        let instance = instance(
            "spec:\n  security:\n    rbac: {createServiceAccount: false, serviceAccountName: team-sa}\n",
        );
        let ctx = context(&instance);
        assert!(service_account(&ctx).is_none());
        assert!(role(&ctx).is_none());
        assert!(role_binding(&ctx).is_none());
        assert_eq!(service_account_name(&ctx), "team-sa");
    }
}
