//! `/pypi/`: a PyPI simple index. Project pages (`/pypi/simple/<project>/`, JSON per PEP 691
//! or HTML per PEP 503, cached separately by Accept for the metadata TTL) are served with every
//! file URL rewritten to `http://<Host>/pypi/files/<sha256>/<filename>`; the original URL is
//! pinned in the index under that SHA-256, which is where `/pypi/files/` fetches from, and the
//! file must hash to it before it is stored or served. Files a page gives no SHA-256 for are
//! left out: the cache cannot check them. PEP 658 metadata links are dropped too (the cache
//! does not serve `.metadata` files), so installers read metadata from the wheel itself.

use axum::http::{HeaderMap, Uri, header};
use serde_json::Value;

use super::{
    BlobKey, Cache, Reply,
    error::Failure,
    metrics::Source,
    path, rest, serve,
    upstream::{base, encode},
    verify::{Expected, is_sha256_hex},
};

const JSON: &str = "application/vnd.pypi.simple.v1+json";

pub(crate) async fn handle(
    cache: &Cache,
    uri: &Uri,
    headers: &HeaderMap,
) -> Result<Reply, Failure> {
    let segments = path::segments(rest(uri, "/pypi/"))?;
    let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
    match segments.as_slice() {
        ["simple", project] => page(cache, project, headers).await,
        ["files", sha256, filename] => file(cache, sha256, filename, headers).await,
        ["simple"] => Err(Failure::not_found(
            "the cache serves project pages (/pypi/simple/<project>/), not the list of all projects",
        )),
        _ => Err(Failure::not_found(
            "the cache serves /pypi/simple/<project>/ and /pypi/files/<sha256>/<file> only",
        )),
    }
}

/// PEP 503 normalization: lowercase, runs of `-`, `_`, `.` as one `-`.
fn normalize(project: &str) -> String {
    let mut out = String::with_capacity(project.len());
    for c in project.chars() {
        if matches!(c, '-' | '_' | '.') {
            if !out.ends_with('-') {
                out.push('-');
            }
        } else {
            out.push(c.to_ascii_lowercase());
        }
    }
    out
}

async fn page(cache: &Cache, project: &str, headers: &HeaderMap) -> Result<Reply, Failure> {
    let host = path::host(headers.get(header::HOST))?;
    let project = normalize(project);
    let json = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains(JSON));
    let (variant, accept) = if json {
        ("json", JSON)
    } else {
        (
            "html",
            "application/vnd.pypi.simple.v1+html, text/html;q=0.9",
        )
    };
    let page_url = format!("{}/{}/", base(&cache.upstreams.pypi), encode(&project, b""));
    let key = format!("pypi:page:{project}:{variant}");
    let doc = cache
        .document(Source::Pypi, &key, &page_url, accept, false)
        .await?;
    let text = String::from_utf8_lossy(&doc.bytes);
    let (body, content_type, files) = match serde_json::from_str::<Value>(&text) {
        Ok(page) if page.get("files").is_some_and(Value::is_array) => {
            let (body, files) = rewrite_json(page, &page_url, &host);
            (body, JSON, files)
        }
        _ => {
            let links = parse_html(&text, &page_url);
            let body = render_html(&project, &links, &host);
            let files = links
                .into_iter()
                .filter_map(|l| Some((l.sha256?, l.url)))
                .collect();
            (body, "text/html; charset=utf-8", files)
        }
    };
    let pins = files
        .into_iter()
        .map(|(sha256, url)| (format!("pypi:{sha256}"), url))
        .collect();
    if let Err(error) = cache.store.set_pins(pins).await {
        tracing::warn!(%error, "failed to record the file URLs of a PyPI page");
    }
    Ok(Reply {
        response: serve::document(body.into(), content_type),
        outcome: doc.outcome,
    })
}

fn file_url(host: &str, sha256: &str, filename: &str) -> String {
    format!(
        "http://{host}/pypi/files/{sha256}/{}",
        encode(filename, b"+!")
    )
}

/// Rewrites a PEP 691 page; returns it and the (SHA-256, original URL) of its files.
fn rewrite_json(mut page: Value, page_url: &str, host: &str) -> (Vec<u8>, Vec<(String, String)>) {
    let mut pins = Vec::new();
    if let Some(files) = page.get_mut("files").and_then(Value::as_array_mut) {
        files.retain_mut(|file| {
            let sha256 = file
                .pointer("/hashes/sha256")
                .and_then(Value::as_str)
                .map(str::to_ascii_lowercase)
                .filter(|s| is_sha256_hex(s));
            let filename = file.get("filename").and_then(Value::as_str);
            let url = file.get("url").and_then(Value::as_str);
            let (Some(sha256), Some(filename), Some(url)) = (sha256, filename, url) else {
                return false;
            };
            if !path::plain(filename) {
                return false;
            }
            let original = resolve(page_url, url);
            let rewritten = file_url(host, &sha256, filename);
            pins.push((sha256, original));
            if let Some(object) = file.as_object_mut() {
                object.insert("url".into(), Value::String(rewritten));
                object.remove("core-metadata");
                object.remove("data-dist-info-metadata");
                object.remove("dist-info-metadata");
            }
            true
        });
    }
    (serde_json::to_vec(&page).unwrap_or_default(), pins)
}

/// One link of a PEP 503 page.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Link {
    filename: String,
    /// Absolute, without the fragment.
    url: String,
    sha256: Option<String>,
    /// Attribute values kept as they were written (already HTML-escaped).
    requires_python: Option<String>,
    yanked: Option<String>,
}

fn parse_html(body: &str, page_url: &str) -> Vec<Link> {
    let mut links = Vec::new();
    let mut rest = body;
    while let Some(start) = rest.find("<a ") {
        rest = &rest[start..];
        let Some(tag_end) = rest.find('>') else { break };
        let tag = &rest[..tag_end];
        let Some(text_end) = rest[tag_end..].find("</a>").map(|i| tag_end + i) else {
            break;
        };
        let filename = rest[tag_end + 1..text_end].trim().replace("&amp;", "&");
        if let Some(href) = attribute(tag, "href") {
            let href = href.replace("&amp;", "&");
            let (url, fragment) = href.split_once('#').unwrap_or((href.as_str(), ""));
            let yanked = attribute(tag, "data-yanked")
                .map(str::to_owned)
                .or_else(|| {
                    tag.split_whitespace()
                        .any(|word| word == "data-yanked")
                        .then(String::new)
                });
            links.push(Link {
                url: resolve(page_url, url),
                sha256: fragment
                    .strip_prefix("sha256=")
                    .map(str::to_ascii_lowercase)
                    .filter(|s| is_sha256_hex(s)),
                filename,
                requires_python: attribute(tag, "data-requires-python").map(str::to_owned),
                yanked,
            });
        }
        rest = &rest[text_end..];
    }
    links
}

fn attribute<'a>(tag: &'a str, name: &str) -> Option<&'a str> {
    let at = tag.find(&format!(" {name}="))? + name.len() + 2;
    let quote = tag[at..].chars().next()?;
    if quote != '"' && quote != '\'' {
        return None;
    }
    let value = &tag[at + 1..];
    value.find(quote).map(|end| &value[..end])
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A PEP 503 page of the links that have a SHA-256, pointing at this cache.
fn render_html(project: &str, links: &[Link], host: &str) -> Vec<u8> {
    let mut out = format!(
        "<!DOCTYPE html>\n<html>\n<head><meta name=\"pypi:repository-version\" content=\"1.0\"><title>Links for {p}</title></head>\n<body>\n<h1>Links for {p}</h1>\n",
        p = escape(project)
    );
    for link in links {
        let Some(sha256) = &link.sha256 else { continue };
        if !path::plain(&link.filename) {
            continue;
        }
        out.push_str(&format!(
            "<a href=\"{}#sha256={sha256}\"",
            escape(&file_url(host, sha256, &link.filename))
        ));
        if let Some(requires) = &link.requires_python {
            out.push_str(&format!(" data-requires-python=\"{requires}\""));
        }
        if let Some(yanked) = &link.yanked {
            out.push_str(&format!(" data-yanked=\"{yanked}\""));
        }
        out.push_str(&format!(">{}</a><br/>\n", escape(&link.filename)));
    }
    out.push_str("</body>\n</html>\n");
    out.into_bytes()
}

/// Resolves `href` against the page's URL.
fn resolve(base: &str, href: &str) -> String {
    if href.contains("://") {
        return href.to_owned();
    }
    match reqwest::Url::parse(base).and_then(|b| b.join(href)) {
        Ok(url) => url.to_string(),
        Err(_) => href.to_owned(),
    }
}

async fn file(
    cache: &Cache,
    sha256: &str,
    filename: &str,
    headers: &HeaderMap,
) -> Result<Reply, Failure> {
    const TYPE: &str = "application/octet-stream";
    if !is_sha256_hex(sha256) {
        return Err(Failure::bad_request(format!(
            "{sha256:?} is not a lowercase hex SHA-256"
        )));
    }
    if let Some(blob) = cache.lookup(BlobKey::Content(sha256)).await {
        return Cache::blob_reply(blob, TYPE, headers, &[]).await;
    }
    let url = cache.store.pin(&format!("pypi:{sha256}")).ok_or_else(|| {
        Failure::not_found(format!(
            "unknown file {filename} (sha256 {sha256}): fetch its project page through this cache first"
        ))
    })?;
    let expected = Expected::Sha256Hex(sha256.to_owned());
    let what = format!("PyPI file {filename}");
    let blob = cache
        .artifact(
            Source::Pypi,
            BlobKey::Content(sha256),
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
    fn reads_html_links() {
        let sha = "ab".repeat(32);
        let html = format!(
            "<a href=\"../../packages/uv-1.whl#sha256={sha}\" data-requires-python=\"&gt;=3.8\">uv-1.whl</a><br/>\
             <a href='https://files.example/uv-2.tar.gz' data-yanked>uv-2.tar.gz</a>"
        );
        let links = parse_html(&html, "https://mirror.example/simple/uv/");
        assert_eq!(links.len(), 2);
        assert_eq!(links[0].url, "https://mirror.example/packages/uv-1.whl");
        assert_eq!(links[0].sha256.as_deref(), Some(sha.as_str()));
        assert_eq!(links[0].requires_python.as_deref(), Some("&gt;=3.8"));
        assert_eq!(links[1].sha256, None);
        assert_eq!(links[1].yanked.as_deref(), Some(""));
        let page =
            String::from_utf8(render_html("uv", &links, "10.0.0.1:8080")).unwrap_or_default();
        assert!(page.contains(&format!(
            "href=\"http://10.0.0.1:8080/pypi/files/{sha}/uv-1.whl#sha256={sha}\" data-requires-python=\"&gt;=3.8\""
        )));
        assert!(!page.contains("uv-2"));
        assert_eq!(normalize("Foo.Bar__baz"), "foo-bar-baz");
    }
}
