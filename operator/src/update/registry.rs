//! The tags of an image repository, listed with oci-client: the distribution API's
//! `GET /v2/<name>/tags/list`, paged with `n` and `last` (a registry may cap a page below what
//! was asked, so paging stops only on an empty or repeated page), anonymously or with the
//! credentials the instance's `imagePullSecrets` give for that registry.
//!
//! Docker Hub's short names (`ollama/ollama`, `nginx`) are resolved as Docker does
//! (`docker.io/library/nginx`, listed at `index.docker.io`). The instance's registry mirror is
//! already part of the reference the operator resolved, so the mirror is what is listed.

use base64::Engine as _;
use oci_client::{
    Client, Reference,
    client::{ClientConfig, ClientProtocol},
    secrets::RegistryAuth,
};
use serde::Deserialize;

/// Tags asked for per page.
pub const PAGE_SIZE: usize = 1000;
/// Pages read at most (a repository with more tags than this is cut short, and said so).
const MAX_PAGES: usize = 50;

/// Why the tags could not be listed.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("{image} is not an image reference")]
    Reference {
        image: String,
        #[source]
        source: oci_client::ParseError,
    },
    #[error("listing the tags of {repository} failed")]
    List {
        repository: String,
        #[source]
        source: oci_client::errors::OciDistributionError,
    },
    #[error("resolving the digest of {reference} failed")]
    Digest {
        reference: String,
        #[source]
        source: oci_client::errors::OciDistributionError,
    },
    #[error("{repository} has more than {} tags; only the first were read", PAGE_SIZE * MAX_PAGES)]
    TooManyTags { repository: String },
}

/// A client that speaks plain HTTP to the `insecure` registries (`host[:port]`), HTTPS to every
/// other. oci-client keeps the first credentials it was given for a registry (its token cache),
/// so a client serves one identity: anonymous, or one pull secret's.
pub fn client(insecure: &[String]) -> Client {
    crate::install_crypto_provider();
    let protocol = if insecure.is_empty() {
        ClientProtocol::Https
    } else {
        ClientProtocol::HttpsExcept(insecure.to_vec())
    };
    Client::new(ClientConfig {
        protocol,
        ..ClientConfig::default()
    })
}

/// The repository of `image` (a tag or digest, if any, is ignored).
pub fn repository(image: &str) -> Result<Reference, RegistryError> {
    image
        .parse::<Reference>()
        .map_err(|source| RegistryError::Reference {
            image: image.to_owned(),
            source,
        })
}

/// Every tag of `repository`, in the registry's order, page by page.
pub async fn list_tags(
    client: &Client,
    repository: &Reference,
    auth: &RegistryAuth,
    page_size: usize,
) -> Result<Vec<String>, RegistryError> {
    let name = format!("{}/{}", repository.registry(), repository.repository());
    let mut tags: Vec<String> = Vec::new();
    let mut last: Option<String> = None;
    for _ in 0..MAX_PAGES {
        let page = client
            .list_tags(repository, auth, Some(page_size), last.as_deref())
            .await
            .map_err(|source| RegistryError::List {
                repository: name.clone(),
                source,
            })?;
        let Some(end) = page.tags.last().cloned() else {
            return Ok(tags);
        };
        if last.as_deref() == Some(end.as_str()) {
            return Ok(tags);
        }
        tags.extend(page.tags);
        last = Some(end);
    }
    Err(RegistryError::TooManyTags { repository: name })
}

/// The digest the registry gives for `reference` (a tag): the manifest or index the kubelet
/// pulls, so the pod's image ID carries the same digest.
pub async fn digest(
    client: &Client,
    reference: &Reference,
    auth: &RegistryAuth,
) -> Result<String, RegistryError> {
    client
        .fetch_manifest_digest(reference, auth)
        .await
        .map_err(|source| RegistryError::Digest {
            reference: reference.whole(),
            source,
        })
}

#[derive(Debug, Deserialize)]
struct DockerConfig {
    #[serde(default)]
    auths: std::collections::BTreeMap<String, DockerAuth>,
}

#[derive(Debug, Deserialize)]
struct DockerAuth {
    username: Option<String>,
    password: Option<String>,
    auth: Option<String>,
}

/// The host a `.dockerconfigjson` key names: `https://index.docker.io/v1/` → `index.docker.io`,
/// `registry:5000` → `registry:5000`.
fn config_host(key: &str) -> &str {
    let key = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    key.split('/').next().unwrap_or(key)
}

/// The credentials a `kubernetes.io/dockerconfigjson` Secret (its `.dockerconfigjson` bytes)
/// gives for `registry` (`host[:port]`, as in the reference); `None` when it names none.
pub fn credentials_for(registry: &str, dockerconfigjson: &[u8]) -> Option<RegistryAuth> {
    let config: DockerConfig = serde_json::from_slice(dockerconfigjson).ok()?;
    let hub = |host: &str| {
        matches!(
            host,
            "docker.io" | "index.docker.io" | "registry-1.docker.io"
        )
    };
    let entry = config.auths.iter().find_map(|(key, auth)| {
        let host = config_host(key);
        (host == registry || (hub(host) && hub(registry))).then_some(auth)
    })?;
    match (&entry.username, &entry.password, &entry.auth) {
        (Some(user), Some(password), _) => {
            Some(RegistryAuth::Basic(user.clone(), password.clone()))
        }
        (_, _, Some(encoded)) => {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(encoded.trim())
                .ok()?;
            let text = String::from_utf8(decoded).ok()?;
            let (user, password) = text.split_once(':')?;
            Some(RegistryAuth::Basic(user.to_owned(), password.to_owned()))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_hub_short_names_resolve_as_docker_does() -> Result<(), RegistryError> {
        let nginx = repository("nginx")?;
        assert_eq!(
            (nginx.registry(), nginx.repository()),
            ("docker.io", "library/nginx")
        );
        assert_eq!(nginx.resolve_registry(), "index.docker.io");
        let ollama = repository("ollama/ollama:0.9.0")?;
        assert_eq!(ollama.repository(), "ollama/ollama");
        let mirrored = repository("198.18.0.1:5000/openclaw/openclaw:2026.9.6")?;
        assert_eq!(
            (mirrored.registry(), mirrored.repository()),
            ("198.18.0.1:5000", "openclaw/openclaw")
        );
        Ok(())
    }

    #[test]
    fn credentials_come_from_the_pull_secret_for_that_registry() {
        let config = serde_json::json!({"auths": {
            "https://index.docker.io/v1/": {"auth": base64::engine::general_purpose::STANDARD.encode("hub:secret")},
            "registry.corp:5000": {"username": "ci", "password": "pw"},
        }})
        .to_string();
        let found = |registry: &str| match credentials_for(registry, config.as_bytes()) {
            Some(RegistryAuth::Basic(user, password)) => Some((user, password)),
            _ => None,
        };
        let pair = |user: &str, password: &str| Some((user.to_owned(), password.to_owned()));
        assert_eq!(found("registry.corp:5000"), pair("ci", "pw"));
        assert_eq!(found("docker.io"), pair("hub", "secret"));
        assert_eq!(found("ghcr.io"), None);
        assert!(credentials_for("ghcr.io", b"not json").is_none());
    }
}
