//! Reads what an instance references and hashes its content (never keeping a value).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::Api;
use sha2::{Digest, Sha256};

use super::{Context, error::Cause};
use crate::build::{Reference, ReferenceKind};

/// What dereferencing found.
#[derive(Debug, Default)]
pub struct Dereferenced {
    /// sha256 over the kind, name and content of every referenced object, in order (presence
    /// only for those that do not roll the pod).
    pub inputs_hash: String,
    /// Human descriptions of required objects that do not exist.
    pub missing: Vec<String>,
}

/// The keys and values of the Secret or ConfigMap `name` (both of its maps), `None` when it does
/// not exist.
pub async fn content(
    secrets: &Api<Secret>,
    config_maps: &Api<ConfigMap>,
    kind: ReferenceKind,
    name: &str,
) -> Result<Option<BTreeMap<String, Vec<u8>>>, kube::Error> {
    Ok(match kind {
        ReferenceKind::Secret => secrets.get_opt(name).await?.map(|s| {
            let mut data: BTreeMap<String, Vec<u8>> = s
                .data
                .unwrap_or_default()
                .into_iter()
                .map(|(k, v)| (k, v.0))
                .collect();
            for (k, v) in s.string_data.unwrap_or_default() {
                data.insert(k, v.into_bytes());
            }
            data
        }),
        ReferenceKind::ConfigMap => config_maps.get_opt(name).await?.map(|c| {
            let mut data: BTreeMap<String, Vec<u8>> = c
                .data
                .unwrap_or_default()
                .into_iter()
                .map(|(k, v)| (k, v.into_bytes()))
                .collect();
            for (k, v) in c.binary_data.unwrap_or_default() {
                data.insert(k, v.0);
            }
            data
        }),
    })
}

/// Reads every referenced Secret and ConfigMap of `namespace` and hashes their content.
pub async fn dereference(
    ctx: &Context,
    namespace: &str,
    references: &[Reference],
) -> Result<Dereferenced, Cause> {
    let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), namespace);
    let config_maps: Api<ConfigMap> = Api::namespaced(ctx.client.clone(), namespace);
    let mut hasher = Sha256::new();
    let mut missing = Vec::new();
    for reference in references {
        let content = content(&secrets, &config_maps, reference.kind, &reference.name).await?;
        let kind = match reference.kind {
            ReferenceKind::Secret => "Secret",
            ReferenceKind::ConfigMap => "ConfigMap",
        };
        hasher.update(kind.as_bytes());
        hasher.update([0]);
        hasher.update(reference.name.as_bytes());
        hasher.update([0]);
        match content {
            // Read in place by the pod: only its presence counts.
            Some(_) if !reference.rolls => hasher.update(b"present"),
            Some(data) => {
                for (key, value) in data {
                    hasher.update(key.as_bytes());
                    hasher.update([0]);
                    hasher.update((value.len() as u64).to_le_bytes());
                    hasher.update(&value);
                }
            }
            None if reference.optional => hasher.update(b"absent"),
            None => missing.push(format!("{kind} \"{}\"", reference.name)),
        }
        hasher.update([0xff]);
    }
    let digest = hasher.finalize();
    Ok(Dereferenced {
        inputs_hash: hex::encode(digest),
        missing,
    })
}
