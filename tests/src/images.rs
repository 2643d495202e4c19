//! Images made for the auto-update tests in the real node's registry, with oci-client: a tag
//! copied into another repository (its blobs mounted, not uploaded again), and a copy with one
//! file replaced by a new top layer (a release that breaks).

use std::io::Write as _;

use anyhow::{Context, Result};
use oci_client::{
    Client, Reference,
    manifest::{
        IMAGE_LAYER_GZIP_MEDIA_TYPE, IMAGE_MANIFEST_LIST_MEDIA_TYPE, IMAGE_MANIFEST_MEDIA_TYPE,
        OCI_IMAGE_INDEX_MEDIA_TYPE, OCI_IMAGE_MEDIA_TYPE,
    },
    secrets::RegistryAuth,
};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// The real node's registry, as pods, containerd and this machine reach it.
pub const REGISTRY: &str = "198.18.0.1:5000";

/// The repository `cargo xtask cluster up` pushes the OpenClaw images to.
pub const OPENCLAW: &str = "198.18.0.1:5000/openclaw/openclaw";

const ACCEPTED: [&str; 4] = [
    OCI_IMAGE_INDEX_MEDIA_TYPE,
    IMAGE_MANIFEST_LIST_MEDIA_TYPE,
    OCI_IMAGE_MEDIA_TYPE,
    IMAGE_MANIFEST_MEDIA_TYPE,
];

/// A client of the plain-HTTP registry.
pub fn client() -> Client {
    openclaw_operator::update::registry::client(&[REGISTRY.to_owned()])
}

fn reference(text: &str) -> Result<Reference> {
    text.parse()
        .with_context(|| format!("{text} is not an image reference"))
}

fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", hex(&Sha256::digest(bytes)))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Copies `from` (`host/repo:tag`) to `to`; returns the digest `to` resolves to (the same).
pub async fn copy(client: &Client, from: &str, to: &str) -> Result<String> {
    let (from, to) = (reference(from)?, reference(to)?);
    copy_manifest(client, &from, &to).await
}

async fn copy_manifest(client: &Client, from: &Reference, to: &Reference) -> Result<String> {
    let auth = RegistryAuth::Anonymous;
    let (raw, digest) = client
        .pull_manifest_raw(from, &auth, &ACCEPTED)
        .await
        .with_context(|| format!("pulling the manifest of {from}"))?;
    let manifest: Value = serde_json::from_slice(&raw)?;
    let media_type = manifest["mediaType"]
        .as_str()
        .unwrap_or(OCI_IMAGE_MEDIA_TYPE)
        .to_owned();
    if let Some(children) = manifest["manifests"].as_array() {
        for child in children {
            let child_digest = child["digest"]
                .as_str()
                .context("index entry without digest")?;
            let at = |r: &Reference| {
                Reference::with_digest(
                    r.registry().to_owned(),
                    r.repository().to_owned(),
                    child_digest.to_owned(),
                )
            };
            Box::pin(copy_manifest(client, &at(from), &at(to))).await?;
        }
    } else {
        client
            .store_auth_if_needed(to.resolve_registry(), &auth)
            .await;
        let config = manifest["config"]["digest"].as_str().context("no config")?;
        let layers = manifest["layers"].as_array().context("no layers")?;
        for blob in
            std::iter::once(config).chain(layers.iter().filter_map(|l| l["digest"].as_str()))
        {
            client
                .mount_blob(to, from, blob)
                .await
                .with_context(|| format!("mounting {blob} into {to}"))?;
        }
    }
    client
        .push_manifest_raw(to, raw.clone(), media_type.parse()?)
        .await
        .with_context(|| format!("pushing the manifest of {to}"))?;
    Ok(digest)
}

/// A file of a layer: absolute path in the image, mode, content.
pub type File<'a> = (&'a str, u32, &'a [u8]);

/// Pushes to `to` the image `from` with one more layer holding `files`; returns the new image's
/// digest.
pub async fn with_files(
    client: &Client,
    from: &str,
    to: &str,
    files: &[File<'_>],
) -> Result<String> {
    let (from, to) = (reference(from)?, reference(to)?);
    let auth = RegistryAuth::Anonymous;
    let (raw, _) = client
        .pull_manifest_raw(&from, &auth, &ACCEPTED)
        .await
        .with_context(|| format!("pulling the manifest of {from}"))?;
    let mut manifest: Value = serde_json::from_slice(&raw)?;
    let from = match manifest["manifests"].as_array() {
        // An index: its linux/amd64 image.
        Some(children) => {
            let child = children
                .iter()
                .find(|c| c["platform"]["architecture"] == "amd64")
                .or(children.first())
                .context("empty index")?;
            let child = Reference::with_digest(
                from.registry().to_owned(),
                from.repository().to_owned(),
                child["digest"]
                    .as_str()
                    .context("index entry without digest")?
                    .to_owned(),
            );
            let (raw, _) = client.pull_manifest_raw(&child, &auth, &ACCEPTED).await?;
            manifest = serde_json::from_slice(&raw)?;
            child
        }
        None => from,
    };
    // The layer: the files, gzipped (their directories exist in the image).
    let mut tar = tar::Builder::new(Vec::new());
    for (path, mode, content) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(content.len() as u64);
        header.set_mode(*mode);
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(0);
        header.set_cksum();
        tar.append_data(&mut header, path.trim_start_matches('/'), *content)?;
    }
    let tar = tar.into_inner()?;
    let diff_id = sha256(&tar);
    let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gzip.write_all(&tar)?;
    let layer = gzip.finish()?;
    let layer_digest = sha256(&layer);

    let config_digest = manifest["config"]["digest"]
        .as_str()
        .context("no config")?
        .to_owned();
    let mut config_bytes = Vec::new();
    client
        .pull_blob(&from, config_digest.as_str(), &mut config_bytes)
        .await
        .with_context(|| format!("pulling the config of {from}"))?;
    let mut config: Value = serde_json::from_slice(&config_bytes)?;
    config["rootfs"]["diff_ids"]
        .as_array_mut()
        .context("config without rootfs.diff_ids")?
        .push(json!(diff_id));
    if let Some(history) = config["history"].as_array_mut() {
        let paths: Vec<&str> = files.iter().map(|(path, _, _)| *path).collect();
        history.push(json!({"created_by": format!("openclaw tests: {}", paths.join(", "))}));
    }
    let config_bytes = serde_json::to_vec(&config)?;
    let new_config = sha256(&config_bytes);

    client
        .store_auth_if_needed(to.resolve_registry(), &auth)
        .await;
    for blob in manifest["layers"]
        .as_array()
        .context("no layers")?
        .iter()
        .filter_map(|l| l["digest"].as_str())
    {
        client.mount_blob(&to, &from, blob).await?;
    }
    client.push_blob(&to, layer.clone(), &layer_digest).await?;
    client
        .push_blob(&to, config_bytes.clone(), &new_config)
        .await?;
    manifest["config"]["digest"] = json!(new_config);
    manifest["config"]["size"] = json!(config_bytes.len());
    let layer_type = match manifest["mediaType"].as_str() {
        Some(IMAGE_MANIFEST_MEDIA_TYPE) => "application/vnd.docker.image.rootfs.diff.tar.gzip",
        _ => IMAGE_LAYER_GZIP_MEDIA_TYPE,
    };
    manifest["layers"]
        .as_array_mut()
        .context("no layers")?
        .push(json!({"mediaType": layer_type, "digest": layer_digest, "size": layer.len()}));
    let media_type = manifest["mediaType"]
        .as_str()
        .unwrap_or(OCI_IMAGE_MEDIA_TYPE)
        .to_owned();
    let body = serde_json::to_vec(&manifest)?;
    let digest = sha256(&body);
    client
        .push_manifest_raw(&to, body, media_type.parse()?)
        .await
        .with_context(|| format!("pushing {to}"))?;
    Ok(digest)
}

/// The digest `image` (a tag) resolves to in the registry.
pub async fn digest(client: &Client, image: &str) -> Result<String> {
    let image = reference(image)?;
    Ok(client
        .fetch_manifest_digest(&image, &RegistryAuth::Anonymous)
        .await?)
}
