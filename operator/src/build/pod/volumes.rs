//! The pod's volumes that several containers share: the workspace, the supervisor binaries,
//! the configuration (with the CA bundle and the user's configuration projected in), scratch
//! space, and the CA bundle for every other container.

use k8s_openapi::{
    api::core::v1::{
        ConfigMapProjection, ConfigMapVolumeSource, EmptyDirVolumeSource, KeyToPath,
        ProjectedVolumeSource, SecretProjection, SecretVolumeSource, Volume, VolumeMount,
        VolumeProjection,
    },
    apimachinery::pkg::api::resource::Quantity,
};

use super::super::{BuildContext, GATEWAY_TOKEN_KEY, names, paths, storage};

/// Volumes of the `openclaw` container and the CA bundle volume.
pub fn core(ctx: &BuildContext<'_>) -> Vec<Volume> {
    let mut volumes = vec![
        storage::data_volume(ctx),
        empty_dir(paths::RUNTIME_VOLUME, None),
        config(ctx),
        empty_dir(paths::TMP_VOLUME, None),
        empty_dir(paths::HOME_VOLUME, None),
    ];
    volumes.extend(gateway_token(ctx));
    volumes.extend(ca_bundle(ctx));
    volumes
}

/// `openclaw-gateway-token`: the token key of the gateway token Secret, unless the user passes
/// the token in its own variable. A volume (no `subPath`) so the kubelet refreshes the file in
/// place when the Secret rotates; readable by the pod's group only.
pub fn gateway_token(ctx: &BuildContext<'_>) -> Option<Volume> {
    if ctx.gateway_token_from_user_env() {
        return None;
    }
    Some(Volume {
        name: paths::GATEWAY_TOKEN_VOLUME.to_owned(),
        secret: Some(SecretVolumeSource {
            secret_name: Some(super::env::gateway_token_secret(ctx)),
            items: Some(vec![KeyToPath {
                key: GATEWAY_TOKEN_KEY.to_owned(),
                path: GATEWAY_TOKEN_KEY.to_owned(),
                mode: None,
            }]),
            default_mode: Some(0o440),
            optional: None,
        }),
        ..Volume::default()
    })
}

/// An emptyDir, on disk, optionally size-limited.
pub fn empty_dir(name: &str, size_limit: Option<Quantity>) -> Volume {
    Volume {
        name: name.to_owned(),
        empty_dir: Some(EmptyDirVolumeSource {
            medium: None,
            size_limit,
        }),
        ..Volume::default()
    }
}

/// An emptyDir in memory (counts against the container's memory limit).
pub fn memory_dir(name: &str, size_limit: &str) -> Volume {
    Volume {
        name: name.to_owned(),
        empty_dir: Some(EmptyDirVolumeSource {
            medium: Some("Memory".to_owned()),
            size_limit: Some(Quantity(size_limit.to_owned())),
        }),
        ..Volume::default()
    }
}

/// A mount.
pub fn mount(name: &str, path: &str, read_only: bool) -> VolumeMount {
    VolumeMount {
        name: name.to_owned(),
        mount_path: path.to_owned(),
        read_only: read_only.then_some(true),
        ..VolumeMount::default()
    }
}

/// The mount of the CA bundle into a container other than `openclaw`, when there is one.
pub fn ca_mount(ctx: &BuildContext<'_>) -> Option<VolumeMount> {
    ctx.spec()
        .security
        .ca_bundle
        .as_ref()
        .map(|_| mount(paths::CA_VOLUME, paths::CA_DIR, true))
}

/// `openclaw-config`: the instance's ConfigMap at the root, the CA bundle at `ca/ca-bundle.crt`
/// and the user's configuration at `user-config/<key>`, in one read-only projected volume.
fn config(ctx: &BuildContext<'_>) -> Volume {
    config_from(ctx, &names::config_map(ctx.name()))
}

/// [`config`] with the plan of ConfigMap `plan` (auto-update's config check renders one for
/// the new version).
pub fn config_from(ctx: &BuildContext<'_>, plan: &str) -> Volume {
    let spec = ctx.spec();
    let mut sources = vec![VolumeProjection {
        config_map: Some(ConfigMapProjection {
            name: plan.to_owned(),
            ..ConfigMapProjection::default()
        }),
        ..VolumeProjection::default()
    }];
    if let Some(ca) = &spec.security.ca_bundle {
        let items = Some(vec![KeyToPath {
            key: ca.key.clone(),
            path: format!("ca/{}", paths::CA_FILE_NAME),
            mode: None,
        }]);
        sources.push(VolumeProjection {
            config_map: ca.config_map_name.as_ref().map(|name| ConfigMapProjection {
                name: name.clone(),
                items: items.clone(),
                optional: None,
            }),
            secret: ca.secret_name.as_ref().map(|name| SecretProjection {
                name: name.clone(),
                items: items.clone(),
                optional: None,
            }),
            ..VolumeProjection::default()
        });
    }
    if let Some(source) = &spec.config.config_map_ref {
        sources.push(VolumeProjection {
            config_map: Some(ConfigMapProjection {
                name: source.name.clone(),
                items: Some(vec![KeyToPath {
                    key: source.key.clone(),
                    path: format!("{}/{}", paths::USER_CONFIG_SUBDIR, source.key),
                    mode: None,
                }]),
                optional: None,
            }),
            ..VolumeProjection::default()
        });
    }
    Volume {
        name: paths::CONFIG_VOLUME.to_owned(),
        projected: Some(ProjectedVolumeSource {
            sources: Some(sources),
            default_mode: None,
        }),
        ..Volume::default()
    }
}

/// `openclaw-ca-bundle`: the bundle's key as `ca-bundle.crt`, for every container but `openclaw`.
fn ca_bundle(ctx: &BuildContext<'_>) -> Option<Volume> {
    let ca = ctx.spec().security.ca_bundle.as_ref()?;
    let items = Some(vec![KeyToPath {
        key: ca.key.clone(),
        path: paths::CA_FILE_NAME.to_owned(),
        mode: None,
    }]);
    Some(Volume {
        name: paths::CA_VOLUME.to_owned(),
        config_map: ca
            .config_map_name
            .as_ref()
            .map(|name| ConfigMapVolumeSource {
                name: name.clone(),
                items: items.clone(),
                ..ConfigMapVolumeSource::default()
            }),
        secret: ca.secret_name.as_ref().map(|name| SecretVolumeSource {
            secret_name: Some(name.clone()),
            items: items.clone(),
            ..SecretVolumeSource::default()
        }),
        ..Volume::default()
    })
}
