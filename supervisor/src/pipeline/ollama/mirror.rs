//! Pulling through an Ollama registry mirror (`OPENCLAW_MIRROR_OLLAMA`, e.g. the node cache,
//! which serves the registry protocol `/v2/<namespace>/<model>/{manifests,blobs}/...` at its
//! root, pull-through from `registry.ollama.ai`).
//!
//! Ollama pulls from another registry when the model's name starts with that registry's host:
//! `198.18.0.1:18800/library/qwen3:8b`. The model is then stored under that long name; the
//! step copies it to the plain name (`qwen3:8b`, the name the gateway's config uses) and deletes
//! the long one (the blobs are shared, nothing is downloaded twice).
//!
//! Decision: the mirrored name carries no scheme, and a plain-HTTP mirror is asked for with
//! `"insecure": true`. Ollama's `PullHandler` parses the name with `model.ParseName`, whose
//! `ParseNameBare` cuts a `scheme://` off the host, and hands `name.DisplayShortest()` (no
//! scheme) to `PullModel`; its registry requests default to `https` and `makeRequest` switches
//! them to `http` exactly when the request said `insecure` (`server/images.go`,
//! `types/model/name.go`). A `http://` prefix would therefore not select plain HTTP by itself,
//! and (in older releases, which kept it) fails without `insecure` (`insecure protocol http`).
//! The scheme-less name is also the name the pulled model is stored and listed under, which
//! `/api/copy` and `/api/delete` then use.

use super::progress::normalize;

/// A pull through the mirror.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MirrorPull {
    /// The mirror-qualified name: `<host[:port]>/<namespace>/<model>:<tag>`.
    pub name: String,
    /// The mirror is plain HTTP (`"insecure": true` in the pull request).
    pub insecure: bool,
}

/// Whether the first part of a name is a registry host (as Ollama tells them apart: a dot, a
/// port, or `localhost`).
fn is_host(part: &str) -> bool {
    part.contains('.') || part.contains(':') || part == "localhost"
}

/// The mirror's host (`host[:port]`) and whether it is plain HTTP; `None` when `mirror` is not a
/// bare `http(s)://host[:port]` URL (a registry lives at its host's root).
pub fn mirror_host(mirror: &str) -> Option<(&str, bool)> {
    let mirror = mirror.trim();
    let (rest, insecure) = if let Some(rest) = mirror.strip_prefix("http://") {
        (rest, true)
    } else if let Some(rest) = mirror.strip_prefix("https://") {
        (rest, false)
    } else {
        return None;
    };
    let host = rest.trim_end_matches('/');
    (!host.is_empty() && !host.contains(['/', '?', '#', '@'])).then_some((host, insecure))
}

/// How `model` is pulled through `mirror`; `None` when it is pulled as is: a model that names a
/// registry host of its own (`hf.co/...`), or a mirror URL Ollama cannot use.
pub fn through(model: &str, mirror: &str) -> Option<MirrorPull> {
    let (host, insecure) = mirror_host(mirror)?;
    let model = normalize(model);
    let (path, tag) = match model.rsplit_once(':') {
        Some((path, tag)) if !tag.contains('/') => (path, tag),
        _ => (model.as_str(), "latest"),
    };
    let (namespace, name) = match path.rsplit_once('/') {
        Some((namespace, name)) => (namespace, name),
        None => ("library", path),
    };
    if namespace.split('/').next().is_some_and(is_host) {
        return None;
    }
    Some(MirrorPull {
        name: format!("{host}/{namespace}/{name}:{tag}"),
        insecure,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const CACHE: &str = "http://198.18.0.1:18800";

    fn name(model: &str) -> Option<String> {
        through(model, CACHE).map(|p| p.name)
    }

    #[test]
    fn maps_names_onto_the_mirror() {
        assert_eq!(
            name("qwen3:8b").as_deref(),
            Some("198.18.0.1:18800/library/qwen3:8b"),
            "the library namespace is implied"
        );
        assert_eq!(
            name("user/m:t").as_deref(),
            Some("198.18.0.1:18800/user/m:t")
        );
        assert_eq!(
            name("m").as_deref(),
            Some("198.18.0.1:18800/library/m:latest"),
            "no tag: latest"
        );
        assert_eq!(
            name("registry.ollama.ai/library/qwen3:8b").as_deref(),
            Some("198.18.0.1:18800/library/qwen3:8b"),
            "the default registry's own name is the plain name"
        );
        assert_eq!(name("hf.co/org/m:q4"), None, "a registry of its own");
        assert_eq!(name("registry.example/x/y:z"), None);
        assert_eq!(name("localhost:5000/m"), None);
        assert_eq!(
            through("qwen3:8b", CACHE).map(|p| p.insecure),
            Some(true),
            "plain HTTP"
        );
        assert_eq!(
            through("qwen3:8b", "https://mirror.corp/"),
            Some(MirrorPull {
                name: "mirror.corp/library/qwen3:8b".into(),
                insecure: false
            })
        );
    }

    #[test]
    fn a_mirror_ollama_cannot_use_is_not_used() {
        assert_eq!(name_with("qwen3:8b", "http://cache/ollama"), None, "a path");
        assert_eq!(name_with("qwen3:8b", "cache:18800"), None, "no scheme");
        assert_eq!(name_with("qwen3:8b", "http://"), None);
    }

    fn name_with(model: &str, mirror: &str) -> Option<String> {
        through(model, mirror).map(|p| p.name)
    }
}
