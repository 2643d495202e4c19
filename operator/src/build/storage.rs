//! The workspace volume `data`: the PersistentVolumeClaim `<name>-data`, an existing claim, or
//! an emptyDir.
//!
//! The claim is owned by the instance only when `persistence.orphan` is false; by default
//! (`orphan: true`) deleting an instance keeps the agent's workspace.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    EmptyDirVolumeSource, PersistentVolumeClaim, PersistentVolumeClaimSpec,
    PersistentVolumeClaimVolumeSource, Volume, VolumeResourceRequirements,
};
use openclaw_api::instance::{WORKSPACE_VOLUME, storage::AccessMode};

use super::{BuildContext, names};

/// The claim the operator creates, when it creates one.
pub fn pvc(ctx: &BuildContext<'_>) -> Option<PersistentVolumeClaim> {
    let persistence = &ctx.spec().storage.persistence;
    if !persistence.enabled || persistence.existing_claim.is_some() {
        return None;
    }
    let name = names::pvc(ctx.name());
    let metadata = if persistence.orphan {
        ctx.unowned_meta(name)
    } else {
        ctx.meta(name)
    };
    let modes = if persistence.access_modes.is_empty() {
        vec![AccessMode::ReadWriteOnce]
    } else {
        persistence.access_modes.clone()
    };
    Some(PersistentVolumeClaim {
        metadata,
        spec: Some(PersistentVolumeClaimSpec {
            access_modes: Some(modes.iter().map(|m| access_mode(*m).to_owned()).collect()),
            storage_class_name: persistence.storage_class.clone(),
            resources: Some(VolumeResourceRequirements {
                requests: Some(BTreeMap::from([(
                    "storage".to_owned(),
                    persistence.size.clone(),
                )])),
                ..VolumeResourceRequirements::default()
            }),
            ..PersistentVolumeClaimSpec::default()
        }),
        ..PersistentVolumeClaim::default()
    })
}

/// The pod's `data` volume.
pub fn data_volume(ctx: &BuildContext<'_>) -> Volume {
    let persistence = &ctx.spec().storage.persistence;
    let claim = match (&persistence.existing_claim, persistence.enabled) {
        (_, false) => None,
        (Some(existing), true) => Some(existing.clone()),
        (None, true) => Some(names::pvc(ctx.name())),
    };
    Volume {
        name: WORKSPACE_VOLUME.to_owned(),
        persistent_volume_claim: claim.as_ref().map(|claim_name| {
            PersistentVolumeClaimVolumeSource {
                claim_name: claim_name.clone(),
                read_only: None,
            }
        }),
        empty_dir: claim.is_none().then(EmptyDirVolumeSource::default),
        ..Volume::default()
    }
}

fn access_mode(mode: AccessMode) -> &'static str {
    match mode {
        AccessMode::ReadWriteOnce => "ReadWriteOnce",
        AccessMode::ReadWriteOncePod => "ReadWriteOncePod",
        AccessMode::ReadWriteMany => "ReadWriteMany",
        AccessMode::ReadOnlyMany => "ReadOnlyMany",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::build::tests::{context, instance};

    #[test]
    fn default_claim_is_kept_when_the_instance_goes() {
        let instance =
            instance("spec:\n  storage:\n    persistence: {enabled: true, size: 20Gi}\n");
        let ctx = context(&instance);
        let claim = pvc(&ctx).unwrap_or_default();
        assert_eq!(claim.metadata.name.as_deref(), Some("my-agent-data"));
        assert!(
            claim.metadata.owner_references.is_none(),
            "orphan by default"
        );
        let spec = claim.spec.unwrap_or_default();
        assert_eq!(spec.access_modes, Some(vec!["ReadWriteOnce".to_owned()]));
        let size = spec.resources.and_then(|r| r.requests).unwrap_or_default();
        assert_eq!(size["storage"].0, "20Gi");
        assert_eq!(
            data_volume(&ctx)
                .persistent_volume_claim
                .map(|p| p.claim_name)
                .as_deref(),
            Some("my-agent-data")
        );
    }

    #[test]
    fn owned_claim_with_class_and_modes() {
        let instance = instance(
            "spec:\n  storage:\n    persistence: {orphan: false, storageClass: fast, accessModes: [ReadWriteOncePod]}\n",
        );
        let claim = pvc(&context(&instance)).unwrap_or_default();
        assert!(claim.metadata.owner_references.is_some());
        let spec = claim.spec.unwrap_or_default();
        assert_eq!(spec.storage_class_name.as_deref(), Some("fast"));
        assert_eq!(spec.access_modes, Some(vec!["ReadWriteOncePod".to_owned()]));
    }

    #[test]
    fn existing_claim_or_empty_dir_means_no_claim() {
        let existing = instance("spec:\n  storage:\n    persistence: {existingClaim: old-data}\n");
        let ctx = context(&existing);
        assert!(pvc(&ctx).is_none());
        assert_eq!(
            data_volume(&ctx)
                .persistent_volume_claim
                .map(|p| p.claim_name)
                .as_deref(),
            Some("old-data")
        );
        let ephemeral = instance("spec:\n  storage:\n    persistence: {enabled: false}\n");
        let ctx = context(&ephemeral);
        assert!(pvc(&ctx).is_none());
        let volume = data_volume(&ctx);
        assert!(volume.empty_dir.is_some() && volume.persistent_volume_claim.is_none());
        assert_eq!(volume.name, "data");
    }
}
