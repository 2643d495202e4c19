//! `/clawhub/`: the ClawHub API as `clawhub install` and the supervisor use it. Skill metadata
//! (`/api/v1/skills/{slug}`), the version check (`/api/v1/skills/{slug}/versions/{version}`)
//! and any other `/api/…` GET are JSON cached for the metadata TTL. The download
//! (`/api/v1/download?slug=&version=`, a zip) is immutable per slug and version: it is checked
//! against the `sha256` the cached version document gives when it gives one, else the SHA-256
//! of its first download is pinned, and a later upstream answer with other bytes for the same
//! version is refused. The cache never forwards a pod's `Authorization`: it fetches anonymously,
//! so it serves public skills only, and one pod's private skill can never reach another pod.

use axum::http::{HeaderMap, Uri};
use serde_json::Value;

use super::{
    BlobKey, Cache, Reply, document_reply,
    error::Failure,
    metrics::Source,
    path, rest,
    upstream::{base, encode},
    verify::Expected,
};

const JSON: &str = "application/json";

pub(crate) async fn handle(
    cache: &Cache,
    uri: &Uri,
    headers: &HeaderMap,
) -> Result<Reply, Failure> {
    let segments = path::segments(rest(uri, "/clawhub/"))?;
    let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
    let base_url = base(&cache.upstreams.clawhub);
    match segments.as_slice() {
        ["api", "v1", "download"] => {
            download(cache, uri.query().unwrap_or_default(), headers).await
        }
        ["api", "v1", "skills", slug] => {
            let doc = skill(cache, slug).await?;
            Ok(document_reply(doc, JSON))
        }
        ["api", "v1", "skills", slug, "versions", version] => {
            let url = format!(
                "{base_url}/api/v1/skills/{}/versions/{}",
                encode(slug, b""),
                encode(version, b"")
            );
            let doc = cache
                .document(
                    Source::ClawHub,
                    &version_key(slug, version),
                    &url,
                    JSON,
                    false,
                )
                .await?;
            Ok(document_reply(doc, JSON))
        }
        ["api", ..] => {
            let query = uri.query().unwrap_or_default();
            let query_ok = query
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-._~%&=+,:@".contains(&b));
            if !query_ok {
                return Err(Failure::bad_request(format!("refused query {query:?}")));
            }
            let path: Vec<String> = segments.iter().map(|s| encode(s, b"@")).collect();
            let path = path.join("/");
            let url = match query {
                "" => format!("{base_url}/{path}"),
                q => format!("{base_url}/{path}?{q}"),
            };
            let key = format!("clawhub:get:/{path}?{query}");
            let doc = cache
                .document(Source::ClawHub, &key, &url, JSON, false)
                .await?;
            Ok(document_reply(doc, JSON))
        }
        _ => Err(Failure::not_found(
            "the cache serves the ClawHub API (/clawhub/api/...) only",
        )),
    }
}

fn version_key(slug: &str, version: &str) -> String {
    format!("clawhub:version:{slug}@{version}")
}

async fn skill(cache: &Cache, slug: &str) -> Result<super::Doc, Failure> {
    let url = format!(
        "{}/api/v1/skills/{}",
        base(&cache.upstreams.clawhub),
        encode(slug, b"")
    );
    cache
        .document(
            Source::ClawHub,
            &format!("clawhub:skill:{slug}"),
            &url,
            JSON,
            false,
        )
        .await
}

/// A `sha256` the version document gives for the archive (top level or under `version`).
fn version_sha256(doc: &[u8]) -> Option<Expected> {
    let doc: Value = serde_json::from_slice(doc).ok()?;
    ["/sha256", "/version/sha256"].iter().find_map(|p| {
        doc.pointer(p)
            .and_then(Value::as_str)
            .and_then(Expected::sha256)
    })
}

async fn download(cache: &Cache, query: &str, headers: &HeaderMap) -> Result<Reply, Failure> {
    let parsed = reqwest::Url::parse(&format!("http://query/?{query}"))
        .map_err(|_| Failure::bad_request(format!("refused query {query:?}")))?;
    let param = |name: &str| {
        parsed
            .query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    };
    let slug = param("slug").ok_or_else(|| Failure::bad_request("slug is required"))?;
    if !path::plain(&slug) {
        return Err(Failure::bad_request(format!("refused slug {slug:?}")));
    }
    let version = match param("version").filter(|v| !v.is_empty() && v != "latest") {
        Some(version) => version,
        None => {
            let doc = skill(cache, &slug).await?;
            serde_json::from_slice::<Value>(&doc.bytes)
                .ok()
                .and_then(|d| {
                    d.pointer("/latestVersion/version")
                        .and_then(Value::as_str)
                        .map(str::to_owned)
                })
                .ok_or_else(|| Failure::not_found(format!("{slug} has no published version")))?
        }
    };
    if !path::plain(&version) {
        return Err(Failure::bad_request(format!("refused version {version:?}")));
    }
    let pin_key = format!("clawhub:{slug}@{version}");
    let pinned = cache.store.pin(&pin_key).and_then(|p| Expected::sha256(&p));
    let expected = match pinned.clone() {
        Some(expected) => Some(expected),
        None => cache
            .cached_document(&version_key(&slug, &version), None)
            .await
            .and_then(|doc| version_sha256(&doc.bytes)),
    };
    let url = format!(
        "{}/api/v1/download?slug={}&version={}",
        base(&cache.upstreams.clawhub),
        encode(&slug, b""),
        encode(&version, b"")
    );
    let key = format!("clawhub:download:{slug}@{version}");
    let what = format!("ClawHub skill {slug}@{version}");
    let blob = cache
        .artifact(
            Source::ClawHub,
            BlobKey::Entry(&key),
            &url,
            expected.as_ref(),
            &what,
        )
        .await?;
    if pinned.is_none()
        && let Err(error) = cache
            .store
            .set_pins(vec![(pin_key, blob.sha256.clone())])
            .await
    {
        tracing::warn!(%error, "failed to pin the SHA-256 of a ClawHub version");
    }
    Cache::blob_reply(blob, "application/zip", headers, &[]).await
}
