//! `/python/`: a python-build-standalone release mirror, the base uv is given as
//! `UV_PYTHON_INSTALL_MIRROR` (it fetches `<mirror>/<release>/<file>`). A file is checked
//! against its line in the release's `SHA256SUMS` (fetched from the upstream, cached for the
//! metadata TTL, refreshed once when it does not list the file) before it is stored or
//! served. Without a configured upstream the route answers 404 and says so.

use axum::http::{HeaderMap, Uri};

use super::{
    BlobKey, Cache, Reply, document_reply,
    error::Failure,
    metrics::{Outcome, Source},
    path, rest,
    upstream::{base, encode},
    verify::Expected,
};

pub(crate) async fn handle(
    cache: &Cache,
    uri: &Uri,
    headers: &HeaderMap,
) -> Result<Reply, Failure> {
    let Some(upstream) = cache.upstreams.python.as_deref() else {
        return Err(Failure::not_found(
            "no python-build-standalone upstream is configured on this node agent; \
             configure one, or do not set OPENCLAW_MIRROR_PYTHON",
        ));
    };
    let segments = path::segments(rest(uri, "/python/"))?;
    let [release, file] = segments.as_slice() else {
        return Err(Failure::not_found(
            "the cache serves /python/<release>/<file> only",
        ));
    };
    let sums_key = format!("python:sums:{release}");
    let release_url = format!("{}/{}", base(upstream), encode(release, b""));
    let sums_url = format!("{release_url}/SHA256SUMS");
    if file == "SHA256SUMS" {
        let doc = cache
            .document(Source::Python, &sums_key, &sums_url, "text/plain", false)
            .await?;
        return Ok(document_reply(doc, "text/plain; charset=utf-8"));
    }
    const TYPE: &str = "application/octet-stream";
    let key = format!("python:file:{release}/{file}");
    if let Some(blob) = cache.lookup(BlobKey::Entry(&key)).await {
        return Cache::blob_reply(blob, TYPE, headers, &[]).await;
    }
    let mut doc = cache
        .document(Source::Python, &sums_key, &sums_url, "text/plain", false)
        .await?;
    let mut expected = listed(&doc.bytes, file);
    if expected.is_none() && doc.outcome != Outcome::Miss {
        doc = cache
            .document(Source::Python, &sums_key, &sums_url, "text/plain", true)
            .await?;
        expected = listed(&doc.bytes, file);
    }
    let expected = expected.ok_or_else(|| {
        Failure::not_found(format!(
            "{file} is not listed in SHA256SUMS of release {release}"
        ))
    })?;
    let url = format!("{release_url}/{}", encode(file, b""));
    let what = format!("python-build-standalone {release}/{file}");
    let blob = cache
        .artifact(
            Source::Python,
            BlobKey::Entry(&key),
            &url,
            Some(&expected),
            &what,
        )
        .await?;
    Cache::blob_reply(blob, TYPE, headers, &[]).await
}

/// The SHA-256 `SHA256SUMS` gives for `file` (`<hex>  <name>` lines, `*` marking binary mode).
fn listed(sums: &[u8], file: &str) -> Option<Expected> {
    String::from_utf8_lossy(sums).lines().find_map(|line| {
        let mut words = line.split_whitespace();
        let hash = words.next()?;
        let name = words.next()?.trim_start_matches('*');
        (name == file).then(|| Expected::sha256(hash)).flatten()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_sha256sums() {
        let a = "ab".repeat(32);
        let sums = format!(
            "{a}  cpython-3.12.8+20241219-x86_64.tar.gz\n{}  *other\n",
            "cd".repeat(32)
        );
        assert_eq!(
            listed(sums.as_bytes(), "cpython-3.12.8+20241219-x86_64.tar.gz"),
            Some(Expected::Sha256Hex(a))
        );
        assert!(listed(sums.as_bytes(), "other").is_some());
        assert_eq!(listed(sums.as_bytes(), "missing"), None);
    }
}
