//! The node agent's download cache as the pod's default mirror.
//!
//! The operator gives a pod `OPENCLAW_NODE_CACHE=http://<node IP>:<port>` when the node agents
//! serve a cache. At start the supervisor asks it which sources it serves (`GET /healthz`, one
//! second at most); each of those becomes the default of its `OPENCLAW_MIRROR_*` variable.
//! A variable the user set (under any of its names) still wins, source by source, and a cache
//! that does not answer leaves every source to its upstream: the cache is a shortcut, never a
//! new way to fail.
//!
//! What comes through the cache is verified again here, as from any mirror: npm tarballs by the
//! package document's integrity, wheels by the index's SHA-256, Python by uv's own checksums.

use std::time::Duration;

use serde::Deserialize;

/// `OPENCLAW_NODE_CACHE`.
pub use openclaw_api::node::NODE_CACHE_ENV;

/// For each source the cache may serve: the cache's route, and the variables that name a mirror
/// for it (the first is the one the cache fills in).
const ROUTES: &[(&str, &str, &[&str])] = &[
    (
        "clawhub",
        "/clawhub",
        &[
            "OPENCLAW_MIRROR_CLAWHUB",
            "CLAWHUB_REGISTRY",
            "CLAWDHUB_REGISTRY",
        ],
    ),
    (
        "npm",
        "/npm/",
        &[
            "OPENCLAW_MIRROR_NPM",
            "NPM_CONFIG_REGISTRY",
            "npm_config_registry",
        ],
    ),
    (
        "pypi",
        "/pypi/simple",
        &["OPENCLAW_MIRROR_PYPI", "PIP_INDEX_URL"],
    ),
    (
        "python",
        "/python",
        &["OPENCLAW_MIRROR_PYTHON", "UV_PYTHON_INSTALL_MIRROR"],
    ),
    // The Ollama registry protocol (`/v2/...`) at the cache's root.
    ("ollama", "", &["OPENCLAW_MIRROR_OLLAMA"]),
];

#[derive(Debug, Deserialize)]
struct Health {
    cache: CacheHealth,
}

#[derive(Debug, Deserialize)]
struct CacheHealth {
    sources: Vec<String>,
}

/// The sources the cache at `base` serves; `None` when it does not answer in time.
pub async fn sources(base: &str) -> Option<Vec<String>> {
    // reqwest is built without a default TLS provider; the cache is plain HTTP, but building a
    // client needs one.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(1))
        .build()
        .ok()?;
    let url = format!("{}/healthz", base.trim_end_matches('/'));
    let response = client.get(&url).send().await.ok()?;
    if !response.status().is_success() {
        return None;
    }
    response
        .json::<Health>()
        .await
        .ok()
        .map(|h| h.cache.sources)
}

/// The mirror variables the cache fills in: `(variable, URL)` for every source it serves whose
/// variables `lookup` finds all unset.
pub fn mirror_defaults(
    base: &str,
    sources: &[String],
    lookup: impl Fn(&str) -> Option<String>,
) -> Vec<(&'static str, String)> {
    let base = base.trim_end_matches('/');
    ROUTES
        .iter()
        .filter(|(source, _, _)| sources.iter().any(|s| s == source))
        .filter(|(_, _, names)| {
            names
                .iter()
                .all(|name| lookup(name).is_none_or(|v| v.trim().is_empty()))
        })
        .map(|(_, route, names)| (names[0], format!("{base}{route}")))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fills_only_what_the_user_left_unset_and_the_cache_serves() {
        let sources: Vec<String> = ["clawhub", "npm", "pypi", "ollama"]
            .map(String::from)
            .to_vec();
        let user = |name: &str| (name == "NPM_CONFIG_REGISTRY").then(|| "http://corp/npm".into());
        assert_eq!(
            mirror_defaults("http://198.18.0.1:18800/", &sources, user),
            [
                (
                    "OPENCLAW_MIRROR_CLAWHUB",
                    "http://198.18.0.1:18800/clawhub".into()
                ),
                (
                    "OPENCLAW_MIRROR_PYPI",
                    "http://198.18.0.1:18800/pypi/simple".into()
                ),
                ("OPENCLAW_MIRROR_OLLAMA", "http://198.18.0.1:18800".into()),
            ],
            "npm is the user's; python is not served; Ollama's registry at the root"
        );
        let user = |name: &str| (name == "OPENCLAW_MIRROR_OLLAMA").then(|| "https://reg".into());
        assert!(
            mirror_defaults("http://x", &sources, user)
                .iter()
                .all(|(name, _)| *name != "OPENCLAW_MIRROR_OLLAMA"),
            "the user's Ollama mirror wins"
        );
        assert!(mirror_defaults("http://x", &[], |_| None).is_empty());
    }

    #[tokio::test]
    async fn a_cache_that_does_not_answer_serves_nothing() {
        assert_eq!(sources("http://127.0.0.1:1").await, None);
    }
}
