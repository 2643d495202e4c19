//! Reading a PyPI simple index page (JSON, PEP 691, or HTML, PEP 503) and choosing the uv wheel
//! for this machine, without I/O.

use serde::Deserialize;

/// One file of a project page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dist {
    pub filename: String,
    /// Absolute URL.
    pub url: String,
    /// SHA-256 the index states, when it does.
    pub sha256: Option<String>,
}

#[derive(Deserialize)]
struct JsonPage {
    files: Vec<JsonFile>,
}

#[derive(Deserialize)]
struct JsonFile {
    filename: String,
    url: String,
    #[serde(default)]
    hashes: std::collections::BTreeMap<String, String>,
}

/// Resolves `href` against the page's URL.
pub fn resolve(base: &str, href: &str) -> String {
    if href.contains("://") {
        return href.to_owned();
    }
    let origin_end = base
        .find("://")
        .map(|i| i + 3)
        .and_then(|i| base[i..].find('/').map(|j| i + j));
    if href.starts_with('/') {
        let origin = origin_end.map_or(base, |end| &base[..end]);
        return format!("{origin}{href}");
    }
    let dir = match base.rfind('/') {
        Some(i) if origin_end.is_some_and(|end| i >= end) => &base[..=i],
        _ => base,
    };
    let dir = if dir.ends_with('/') {
        dir.to_owned()
    } else {
        format!("{dir}/")
    };
    format!("{dir}{href}")
}

/// The files of a project page (`page_url` ends with `/`).
pub fn parse_page(body: &str, page_url: &str) -> Vec<Dist> {
    if let Ok(page) = serde_json::from_str::<JsonPage>(body) {
        return page
            .files
            .into_iter()
            .map(|f| Dist {
                url: resolve(page_url, &f.url),
                sha256: f.hashes.get("sha256").cloned(),
                filename: f.filename,
            })
            .collect();
    }
    let mut dists = Vec::new();
    let mut rest = body;
    while let Some(start) = rest.find("<a ") {
        rest = &rest[start..];
        let Some(tag_end) = rest.find('>') else { break };
        let tag = &rest[..tag_end];
        let Some(text_end) = rest[tag_end..].find("</a>").map(|i| tag_end + i) else {
            break;
        };
        let filename = rest[tag_end + 1..text_end].trim().to_owned();
        if let Some(href) = attribute(tag, "href") {
            let href = href.replace("&amp;", "&");
            let (url, fragment) = href.split_once('#').unwrap_or((href.as_str(), ""));
            dists.push(Dist {
                url: resolve(page_url, url),
                sha256: fragment.strip_prefix("sha256=").map(str::to_owned),
                filename,
            });
        }
        rest = &rest[text_end..];
    }
    dists
}

fn attribute<'a>(tag: &'a str, name: &str) -> Option<&'a str> {
    let at = tag.find(&format!("{name}="))? + name.len() + 1;
    let quote = tag[at..].chars().next()?;
    let value = &tag[at + 1..];
    value.find(quote).map(|end| &value[..end])
}

/// Numeric release version of a wheel (`uv-0.9.5-...` → `[0, 9, 5]`); `None` for pre-releases.
pub fn wheel_version(filename: &str) -> Option<Vec<u64>> {
    let version = filename.split('-').nth(1)?;
    version.split('.').map(|p| p.parse().ok()).collect()
}

/// The uv wheel for `arch` (`x86_64`, `aarch64`): glibc (`manylinux`) first, `musllinux`
/// otherwise; the requested version or the newest release.
pub fn pick_uv_wheel<'a>(dists: &'a [Dist], arch: &str, version: Option<&str>) -> Option<&'a Dist> {
    let candidates = dists.iter().filter(|d| {
        d.filename.starts_with("uv-")
            && d.filename.ends_with(".whl")
            && d.filename.contains(arch)
            && (d.filename.contains("manylinux") || d.filename.contains("musllinux"))
            && version.is_none_or(|v| d.filename.split('-').nth(1) == Some(v))
    });
    candidates
        .filter_map(|d| {
            Some((
                wheel_version(&d.filename)?,
                d.filename.contains("manylinux"),
                d,
            ))
        })
        .max_by(|a, b| (&a.0, a.1).cmp(&(&b.0, b.1)))
        .map(|(_, _, d)| d)
}

#[cfg(test)]
mod tests {
    use super::*;

    const WHEEL: &str = "uv-0.9.5-py3-none-manylinux_2_17_x86_64.manylinux2014_x86_64.whl";

    #[test]
    fn reads_json_and_html_pages() {
        let json = format!(
            r#"{{"meta":{{"api-version":"1.1"}},"name":"uv","files":[{{"filename":"{WHEEL}","url":"../../packages/x/{WHEEL}","hashes":{{"sha256":"ab"}}}}]}}"#
        );
        let dists = parse_page(&json, "https://mirror.example/simple/uv/");
        assert_eq!(
            dists[0].url,
            format!("https://mirror.example/simple/uv/../../packages/x/{WHEEL}")
        );
        assert_eq!(dists[0].sha256.as_deref(), Some("ab"));
        let html = format!(
            "<html><body><a href=\"/packages/{WHEEL}#sha256=cd\" data-requires-python=\"&gt;=3.8\">{WHEEL}</a><br/>\n\
             <a href='https://files.example/uv-0.10.0rc1-py3-none-manylinux_2_17_x86_64.whl'>uv-0.10.0rc1-py3-none-manylinux_2_17_x86_64.whl</a></body></html>"
        );
        let dists = parse_page(&html, "https://mirror.example/simple/uv/");
        assert_eq!(dists.len(), 2);
        assert_eq!(
            dists[0].url,
            format!("https://mirror.example/packages/{WHEEL}")
        );
        assert_eq!(dists[0].sha256.as_deref(), Some("cd"));
        assert_eq!(dists[1].sha256, None);
    }

    #[test]
    fn picks_the_newest_glibc_wheel_for_the_arch() {
        let dist = |f: &str| Dist {
            filename: f.into(),
            url: f.into(),
            sha256: None,
        };
        let dists = [
            dist("uv-0.9.5-py3-none-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"),
            dist("uv-0.10.2-py3-none-musllinux_1_1_x86_64.whl"),
            dist("uv-0.10.2-py3-none-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"),
            dist("uv-0.10.2-py3-none-manylinux_2_17_aarch64.manylinux2014_aarch64.whl"),
            dist("uv-0.11.0rc1-py3-none-manylinux_2_17_x86_64.whl"),
            dist("uv-0.10.2.tar.gz"),
        ];
        let name = |d: Option<&Dist>| d.map(|d| d.filename.clone()).unwrap_or_default();
        assert_eq!(
            name(pick_uv_wheel(&dists, "x86_64", None)),
            dists[2].filename
        );
        assert_eq!(
            name(pick_uv_wheel(&dists, "aarch64", None)),
            dists[3].filename
        );
        assert_eq!(
            name(pick_uv_wheel(&dists, "x86_64", Some("0.9.5"))),
            dists[0].filename
        );
        assert_eq!(pick_uv_wheel(&dists, "riscv64", None), None);
    }
}
