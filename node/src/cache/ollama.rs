//! `/v2/`: the Ollama registry (the OCI distribution API as Ollama uses it). Ollama pulls
//! through the node when told to pull `http://<node>:<port>/library/<model>:<tag>` with
//! insecure. Manifests (`/v2/<name>/manifests/<tag>`) are cached for the metadata TTL, since a
//! tag moves; blobs (`/v2/<name>/blobs/sha256:<hex>`) are content-addressed: checked against
//! the digest in their name before a byte is stored or served, then shared by every model
//! that names them. HEAD is answered like GET without the body (so a HEAD fetches the blob),
//! and a single `Range` is honoured, which Ollama's parallel part downloads need.

use axum::http::{HeaderMap, HeaderName, HeaderValue, Uri};

use super::{
    BlobKey, Cache, Reply,
    error::Failure,
    metrics::Source,
    path, rest, serve,
    upstream::{base, encode},
    verify::{Expected, is_sha256_hex, sha256_hex},
};

const MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";

fn digest_header(sha256: &str) -> Vec<(HeaderName, HeaderValue)> {
    HeaderValue::from_str(&format!("sha256:{sha256}"))
        .map(|v| vec![(HeaderName::from_static("docker-content-digest"), v)])
        .unwrap_or_default()
}

pub(crate) async fn handle(
    cache: &Cache,
    uri: &Uri,
    headers: &HeaderMap,
) -> Result<Reply, Failure> {
    let segments = path::segments(rest(uri, "/v2/"))?;
    let n = segments.len();
    if n < 3 {
        return Err(Failure::not_found(
            "the cache serves /v2/<name>/manifests/<tag> and /v2/<name>/blobs/sha256:<hex> only",
        ));
    }
    let name: Vec<String> = segments[..n - 2].iter().map(|s| encode(s, b"")).collect();
    let name = name.join("/");
    let base_url = format!("{}/v2/{name}", base(&cache.upstreams.ollama));
    let reference = &segments[n - 1];
    match segments[n - 2].as_str() {
        "manifests" => {
            let key = format!("ollama:manifest:{name}:{reference}");
            let url = format!("{base_url}/manifests/{}", encode(reference, b":"));
            let doc = cache
                .document(Source::Ollama, &key, &url, MANIFEST, false)
                .await?;
            let content_type = doc.content_type.clone().unwrap_or_else(|| MANIFEST.into());
            let digest = digest_header(&sha256_hex(&doc.bytes));
            let mut response = serve::document(doc.bytes, &content_type);
            for (name, value) in digest {
                response.headers_mut().insert(name, value);
            }
            Ok(Reply {
                response,
                outcome: doc.outcome,
            })
        }
        "blobs" => {
            let hex = reference
                .strip_prefix("sha256:")
                .filter(|h| is_sha256_hex(h))
                .ok_or_else(|| {
                    Failure::bad_request(format!("{reference:?} is not a sha256:<hex> digest"))
                })?;
            let url = format!("{base_url}/blobs/sha256:{hex}");
            let expected = Expected::Sha256Hex(hex.to_owned());
            let what = format!("Ollama blob sha256:{hex}");
            let blob = cache
                .artifact(
                    Source::Ollama,
                    BlobKey::Content(hex),
                    &url,
                    Some(&expected),
                    &what,
                )
                .await?;
            Cache::blob_reply(
                blob,
                "application/octet-stream",
                headers,
                &digest_header(hex),
            )
            .await
        }
        _ => Err(Failure::not_found(
            "the cache serves /v2/<name>/manifests/<tag> and /v2/<name>/blobs/sha256:<hex> only",
        )),
    }
}
