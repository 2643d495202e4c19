//! Pushes the image of an OCI layout to a registry with `oci-client`, byte for byte (the
//! registry stores the layout's own manifest, so the digest is the layout's), and checks it by
//! pulling the manifest back.
//!
//! Plain HTTP is used for loopback and private addresses (`127.0.0.1:5000`, `localhost:5000`,
//! `10.x`, `192.168.x`, ...), HTTPS elsewhere; credentials are anonymous unless a user name and
//! password are given (basic auth).

use std::{net::IpAddr, path::Path};

use anyhow::{Context, Result, ensure};
use oci_client::{
    Client, Reference,
    client::{ClientConfig, ClientProtocol},
    secrets::RegistryAuth,
};
use oci_spec::image::{ImageIndex, ImageManifest, MediaType};

use super::layout::read_blob;

/// An image as the registry now serves it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushedImage {
    /// `<registry>/<repository>:<tag>`.
    pub reference: String,
    /// The manifest's digest, `sha256:<hex>`, as the registry reports it.
    pub digest: String,
}

impl std::fmt::Display for PushedImage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}@{}", self.reference, self.digest)
    }
}

/// A registry and how to log in to it.
#[derive(Debug, Clone)]
pub struct Registry {
    /// `host[:port]`.
    pub host: String,
    pub auth: RegistryAuth,
}

impl Registry {
    /// Anonymous access to `host`.
    pub fn anonymous(host: &str) -> Self {
        Self {
            host: host.to_owned(),
            auth: RegistryAuth::Anonymous,
        }
    }

    /// Basic auth when both are given, anonymous otherwise.
    pub fn new(host: &str, username: Option<&str>, password: Option<&str>) -> Self {
        let auth = match (username, password) {
            (Some(user), Some(password)) => RegistryAuth::Basic(user.into(), password.into()),
            _ => RegistryAuth::Anonymous,
        };
        Self {
            host: host.to_owned(),
            auth,
        }
    }

    /// An `oci-client` client for this registry: HTTP for loopback and private addresses.
    pub fn client(&self) -> Client {
        let protocol = match is_local(&self.host) {
            true => ClientProtocol::HttpsExcept(vec![self.host.clone()]),
            false => ClientProtocol::Https,
        };
        Client::new(ClientConfig {
            protocol,
            ..Default::default()
        })
    }

    /// `<host>/<repository>:<tag>` parsed.
    pub fn reference(&self, repository: &str, tag: &str) -> Result<Reference> {
        let text = format!("{}/{repository}:{tag}", self.host);
        text.parse()
            .with_context(|| format!("{text} is not an image reference"))
    }
}

/// Whether `host[:port]` names this machine, a private network or the benchmarking range
/// 198.18.0.0/15 of the local real node's bridge (plain HTTP is fine there).
pub fn is_local(host: &str) -> bool {
    let name = match host.rsplit_once(':') {
        Some((name, port)) if port.parse::<u16>().is_ok() => name,
        _ => host,
    };
    let name = name.trim_start_matches('[').trim_end_matches(']');
    if name == "localhost" || name.ends_with(".localhost") {
        return true;
    }
    match name.parse::<IpAddr>() {
        Ok(IpAddr::V4(ip)) => {
            let [a, b, ..] = ip.octets();
            ip.is_loopback()
                || ip.is_private()
                || ip.is_link_local()
                || (a == 198 && b & 0xfe == 18)
        }
        Ok(IpAddr::V6(ip)) => ip.is_loopback() || ip.is_unique_local(),
        Err(_) => false,
    }
}

/// Pushes the image of the layout in `layout` to `<registry>/<repository>:<tag>`: the blobs the
/// registry lacks, then the manifest as it is in the layout; then pulls the manifest back and
/// checks its digest. Pushing the same layout twice changes nothing.
pub async fn push_layout(
    registry: &Registry,
    layout: &Path,
    repository: &str,
    tag: &str,
) -> Result<PushedImage> {
    let index = ImageIndex::from_file(layout.join("index.json")).context("reading index.json")?;
    let [descriptor] = index.manifests().as_slice() else {
        anyhow::bail!(
            "{} lists {} images, not one",
            layout.display(),
            index.manifests().len()
        );
    };
    let manifest_bytes = read_blob(layout, descriptor)?;
    let manifest = ImageManifest::from_reader(manifest_bytes.as_slice())?;
    let client = registry.client();
    let reference = registry.reference(repository, tag)?;
    client
        .store_auth_if_needed(reference.resolve_registry(), &registry.auth)
        .await;
    for blob in std::iter::once(manifest.config()).chain(manifest.layers()) {
        let digest = blob.digest().to_string();
        if client.blob_exists(&reference, &digest).await? {
            continue;
        }
        let bytes = read_blob(layout, blob)?;
        client
            .push_blob(&reference, bytes, &digest)
            .await
            .with_context(|| format!("pushing blob {digest} to {reference}"))?;
    }
    let media_type = http::HeaderValue::from_str(MediaType::ImageManifest.as_ref())?;
    client
        .push_manifest_raw(&reference, manifest_bytes, media_type)
        .await
        .with_context(|| format!("pushing the manifest to {reference}"))?;
    let pushed = pull_digest(registry, repository, tag).await?;
    let expected = descriptor.digest().to_string();
    ensure!(
        pushed == expected,
        "{reference} has manifest {pushed} after the push, the layout's is {expected}"
    );
    Ok(PushedImage {
        reference: format!("{}/{repository}:{tag}", registry.host),
        digest: pushed,
    })
}

/// The digest of the manifest `<registry>/<repository>:<tag>` serves, computed over the bytes
/// pulled (and checked by `oci-client` against the registry's `Docker-Content-Digest`).
pub async fn pull_digest(registry: &Registry, repository: &str, tag: &str) -> Result<String> {
    let reference = registry.reference(repository, tag)?;
    let accept = MediaType::ImageManifest.to_string();
    let (bytes, digest) = registry
        .client()
        .pull_manifest_raw(&reference, &registry.auth, &[accept.as_str()])
        .await
        .with_context(|| format!("pulling the manifest of {reference}"))?;
    let computed = super::layer::sha256(&bytes);
    ensure!(
        computed == digest,
        "{reference}: the registry says {digest}, the bytes hash to {computed}"
    );
    Ok(digest)
}

/// The tags of `<registry>/<repository>`, sorted (the auto-update tests read them).
#[allow(
    dead_code,
    reason = "used by the tests; the update tests of issue 9 list tags"
)]
pub async fn list_tags(registry: &Registry, repository: &str) -> Result<Vec<String>> {
    let reference = registry.reference(repository, "latest")?;
    let mut tags = registry
        .client()
        .list_tags(&reference, &registry.auth, None, None)
        .await
        .with_context(|| format!("listing the tags of {}/{repository}", registry.host))?
        .tags;
    tags.sort();
    Ok(tags)
}

/// Runs `future` on a fresh single-threaded runtime (xtask is synchronous elsewhere).
pub fn block_on<T>(future: impl std::future::Future<Output = Result<T>>) -> Result<T> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(future)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_only_for_this_machine_and_private_networks() {
        for local in [
            "127.0.0.1:5000",
            "localhost:5000",
            "localhost",
            "10.1.2.3:5000",
            "192.168.1.10",
            "[::1]:5000",
            "registry.localhost:5000",
        ] {
            assert!(is_local(local), "{local}");
        }
        for remote in [
            "ghcr.io",
            "registry.example.com:5000",
            "8.8.8.8:443",
            "198.20.0.1:5000",
            "[2001:db8::1]:5000",
        ] {
            assert!(!is_local(remote), "{remote}");
        }
    }
}
