//! `/npm/`: the npm registry. Packuments (`/<name>`, `/@scope%2Fname`) are cached for the
//! metadata TTL, full and abbreviated (`Accept: application/vnd.npm.install-v1+json`)
//! separately. npm fetches `dist.tarball` literally, so every tarball URL in a served packument
//! is rewritten to this cache, in npm's own layout (`http://<Host>/npm/<name>/-/<name>-<version>.tgz`)
//! whatever the upstream's layout; the stored packument keeps the
//! upstream's URLs, which is where a tarball is fetched from, and its `dist.integrity` (else
//! `shasum`), which the tarball must match before a byte of it is stored or served.
//!
//! A tarball requested before its packument (a lockfile install) makes the cache fetch the
//! packument first: the package name is in the path. A tarball the cached packument does not
//! list (a version published since) refreshes the packument once.

use axum::http::{HeaderMap, Uri, header};
use serde_json::Value;

use super::{
    BlobKey, Cache, Reply, document_reply,
    error::Failure,
    metrics::Source,
    path, rest,
    upstream::{base, encode},
    verify::Expected,
};

/// npmjs.org: a mirror that copies its documents verbatim still serves the tarballs itself
/// (npm's `replace-registry-host=npmjs`), so its tarball URLs are fetched from the mirror.
const NPMJS: &str = "https://registry.npmjs.org";
const ABBREVIATED: &str = "application/vnd.npm.install-v1+json";

pub(crate) async fn handle(
    cache: &Cache,
    uri: &Uri,
    headers: &HeaderMap,
) -> Result<Reply, Failure> {
    let raw = normalize_scope(rest(uri, "/npm/"));
    let segments = path::segments(&raw)?;
    let scoped = segments.first().is_some_and(|s| s.starts_with('@'));
    let name_len = if scoped { 2 } else { 1 };
    if segments.len() == name_len + 2 && segments[name_len] == "-" {
        let name = segments[..name_len].join("/");
        return tarball(cache, &name, &segments, headers).await;
    }
    if segments.len() == name_len {
        let name = segments.join("/");
        return packument(cache, &name, headers).await;
    }
    Err(Failure::not_found(
        "the cache serves npm packuments (/<name>) and tarballs (/<name>/-/<file>) only",
    ))
}

/// `@scope%2Fname` and `%40scope%2Fname` as `@scope/name`.
fn normalize_scope(raw: &str) -> String {
    let raw = match raw.strip_prefix("%40") {
        Some(rest) => format!("@{rest}"),
        None => raw.to_owned(),
    };
    if raw.starts_with('@')
        && let Some(at) = raw.to_ascii_lowercase().find("%2f")
    {
        return format!("{}/{}", &raw[..at], &raw[at + 3..]);
    }
    raw
}

fn packument_key(name: &str, abbreviated: bool) -> String {
    let variant = if abbreviated { "abbreviated" } else { "full" };
    format!("npm:packument:{name}:{variant}")
}

async fn packument_document(
    cache: &Cache,
    name: &str,
    abbreviated: bool,
    force: bool,
) -> Result<super::Doc, Failure> {
    let url = format!("{}/{}", base(&cache.upstreams.npm), encode(name, b"@"));
    let accept = if abbreviated {
        ABBREVIATED
    } else {
        "application/json"
    };
    cache
        .document(
            Source::Npm,
            &packument_key(name, abbreviated),
            &url,
            accept,
            force,
        )
        .await
}

async fn packument(cache: &Cache, name: &str, headers: &HeaderMap) -> Result<Reply, Failure> {
    let host = path::host(headers.get(header::HOST))?;
    let abbreviated = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains(ABBREVIATED));
    let mut doc = packument_document(cache, name, abbreviated, false).await?;
    doc.bytes = rewrite(&doc.bytes, name, &host)
        .ok_or_else(|| {
            Failure::bad_gateway(format!("the upstream packument of {name} is not JSON"))
        })?
        .into();
    let default_type = if abbreviated {
        ABBREVIATED
    } else {
        "application/json"
    };
    Ok(document_reply(doc, default_type))
}

/// The path a tarball URL is served under (after `/npm`): its path below the upstream base
/// (or below npmjs.org), else its URL's path.
fn tarball_path(upstream: &str, tarball: &str) -> Option<String> {
    let below = |prefix: &str| {
        tarball
            .strip_prefix(prefix)
            .filter(|rest| rest.starts_with('/'))
            .map(str::to_owned)
    };
    let path = below(base(upstream)).or_else(|| below(NPMJS)).or_else(|| {
        reqwest::Url::parse(tarball)
            .ok()
            .map(|u| u.path().to_owned())
    })?;
    let path = path.split(['?', '#']).next().unwrap_or_default();
    Some(path.to_owned())
}

/// Where to fetch a tarball from: npmjs.org URLs from the upstream when it is a mirror.
fn fetch_url(upstream: &str, tarball: &str) -> String {
    let upstream = base(upstream);
    match tarball.strip_prefix(NPMJS) {
        Some(rest) if upstream != NPMJS && rest.starts_with('/') => format!("{upstream}{rest}"),
        _ => tarball.to_owned(),
    }
}

/// The file name a version's tarball is served under: npm's own layout,
/// `<name without scope>-<version>.tgz`, whatever the upstream calls it (registries differ:
/// Nexus, GitHub Packages and Verdaccio each have their own paths), so that the path alone
/// names the package and the version.
fn canonical_file(name: &str, version: &str) -> String {
    let base = name.rsplit('/').next().unwrap_or(name);
    format!("{base}-{version}.tgz")
}

/// The packument with every `dist.tarball` pointing at this cache, under
/// `/npm/<name>/-/<canonical file>`.
fn rewrite(bytes: &[u8], name: &str, host: &str) -> Option<Vec<u8>> {
    let mut packument: Value = serde_json::from_slice(bytes).ok()?;
    if let Some(versions) = packument.get_mut("versions").and_then(Value::as_object_mut) {
        for (version, manifest) in versions.iter_mut() {
            let Some(tarball) = manifest.pointer_mut("/dist/tarball") else {
                continue;
            };
            *tarball = Value::String(format!(
                "http://{host}/npm/{name}/-/{}",
                canonical_file(name, version)
            ));
        }
    }
    serde_json::to_vec(&packument).ok()
}

/// The upstream URL and checksum of the tarball served at `segments`, from a packument: the
/// version whose canonical path it is, or (a client that kept an upstream-style path, such as
/// a lockfile written against npmjs.org) whose upstream tarball path it is.
fn find_dist(
    bytes: &[u8],
    name: &str,
    upstream: &str,
    segments: &[String],
) -> Option<(String, Option<Expected>)> {
    let packument: Value = serde_json::from_slice(bytes).ok()?;
    packument
        .get("versions")?
        .as_object()?
        .iter()
        .find_map(|(version, manifest)| {
            let dist = manifest.get("dist")?;
            let tarball = dist.get("tarball")?.as_str()?;
            let canonical =
                path::segments(&format!("{name}/-/{}", canonical_file(name, version))).ok()?;
            let upstream_style = tarball_path(upstream, tarball).and_then(|path| {
                path::segments(&normalize_scope(path.trim_start_matches('/'))).ok()
            });
            (canonical == segments || upstream_style.as_deref() == Some(segments)).then(|| {
                let expected = Expected::npm(
                    dist.get("integrity").and_then(Value::as_str),
                    dist.get("shasum").and_then(Value::as_str),
                );
                (fetch_url(upstream, tarball), expected)
            })
        })
}

async fn tarball(
    cache: &Cache,
    name: &str,
    segments: &[String],
    headers: &HeaderMap,
) -> Result<Reply, Failure> {
    const TYPE: &str = "application/octet-stream";
    let key = format!("npm:tarball:/{}", segments.join("/"));
    if let Some(blob) = cache.lookup(BlobKey::Entry(&key)).await {
        return Cache::blob_reply(blob, TYPE, headers, &[]).await;
    }
    let file = segments.last().map(String::as_str).unwrap_or_default();
    let upstream = &cache.upstreams.npm;
    let mut found = None;
    let mut had_packument = false;
    for abbreviated in [true, false] {
        if let Some(doc) = cache
            .cached_document(&packument_key(name, abbreviated), None)
            .await
        {
            had_packument = true;
            found = find_dist(&doc.bytes, name, upstream, segments);
            if found.is_some() {
                break;
            }
        }
    }
    if found.is_none() {
        let doc = packument_document(cache, name, true, had_packument).await?;
        found = find_dist(&doc.bytes, name, upstream, segments);
    }
    let (url, expected) = found.ok_or_else(|| {
        Failure::not_found(format!(
            "no version in the packument of {name} has the tarball {file}"
        ))
    })?;
    let expected = expected.ok_or_else(|| {
        Failure::bad_gateway(format!(
            "the packument of {name} gives no sha512/sha384/sha256/sha1 checksum for {file}; \
             refusing to serve it unverified"
        ))
    })?;
    let what = format!("{name} tarball {file}");
    let blob = cache
        .artifact(
            Source::Npm,
            BlobKey::Entry(&key),
            &url,
            Some(&expected),
            &what,
        )
        .await?;
    Cache::blob_reply(blob, TYPE, headers, &[]).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_tarball_urls_to_paths() {
        let mirror = "http://nexus/repository/npm/";
        assert_eq!(
            tarball_path(mirror, "http://nexus/repository/npm/p/-/p-1.tgz").as_deref(),
            Some("/p/-/p-1.tgz")
        );
        assert_eq!(
            tarball_path(mirror, "https://registry.npmjs.org/@s/p/-/p-1.tgz").as_deref(),
            Some("/@s/p/-/p-1.tgz")
        );
        assert_eq!(
            tarball_path(mirror, "https://cdn.example/x/p-1.tgz?sig=1").as_deref(),
            Some("/x/p-1.tgz")
        );
        assert_eq!(
            fetch_url(mirror, "https://registry.npmjs.org/p/-/p-1.tgz"),
            "http://nexus/repository/npm/p/-/p-1.tgz"
        );
        assert_eq!(normalize_scope("%40s%2Fp"), "@s/p");
        assert_eq!(normalize_scope("@s%2fp/-/p-1.tgz"), "@s/p/-/p-1.tgz");
    }

    #[test]
    fn tarballs_are_served_in_npms_layout_whatever_the_upstreams() -> Result<(), String> {
        let upstream = "http://127.0.0.1:9/";
        let packument = serde_json::json!({
            "name": "@s/p",
            "versions": {
                "1.0.0": {"dist": {"tarball": "http://127.0.0.1:9/-/tarballs/0-0.tgz", "integrity": "sha512-AAAA"}},
                "2.0.0": {"dist": {"tarball": "http://127.0.0.1:9/download/@s/p/2.0.0/abc", "shasum": "da39a3ee5e6b4b0d3255bfef95601890afd80709"}}
            }
        })
        .to_string();
        let served =
            rewrite(packument.as_bytes(), "@s/p", "198.18.0.1:18800").ok_or("not rewritten")?;
        let served: Value = serde_json::from_slice(&served).map_err(|e| e.to_string())?;
        assert_eq!(
            served["versions"]["1.0.0"]["dist"]["tarball"],
            "http://198.18.0.1:18800/npm/@s/p/-/p-1.0.0.tgz"
        );
        let segments = |p: &str| path::segments(p).map_err(|_| p.to_owned());
        let (url, expected) = find_dist(
            packument.as_bytes(),
            "@s/p",
            upstream,
            &segments("@s/p/-/p-2.0.0.tgz")?,
        )
        .ok_or("2.0.0 not found")?;
        assert_eq!(url, "http://127.0.0.1:9/download/@s/p/2.0.0/abc");
        assert!(expected.is_some());
        // A lockfile's upstream-style path still finds its version.
        let (url, _) = find_dist(
            packument.as_bytes(),
            "@s/p",
            upstream,
            &segments("-/tarballs/0-0.tgz")?,
        )
        .ok_or("upstream path not found")?;
        assert_eq!(url, "http://127.0.0.1:9/-/tarballs/0-0.tgz");
        assert!(
            find_dist(
                packument.as_bytes(),
                "@s/p",
                upstream,
                &segments("@s/p/-/p-3.0.0.tgz")?
            )
            .is_none()
        );
        Ok(())
    }
}
