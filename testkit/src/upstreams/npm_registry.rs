//! A loopback npm registry that follows the registry protocol npm uses: `GET /<name>` (scoped
//! names as `@scope%2Fname`) answers the package document (`dist-tags.latest`,
//! `versions[v].dist.{tarball, integrity, shasum}`, `dependencies`), 404 for unknown packages,
//! and `GET /-/tarballs/<n>.tgz` the tarballs. A version can advertise a wrong integrity.

use std::{
    collections::BTreeMap,
    io::Write,
    net::SocketAddr,
    sync::{Arc, Mutex},
};

use axum::{
    Json, Router,
    extract::{Path, State},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};
use base64::Engine;
use serde_json::{Value, json};
use sha2::Digest;

/// One published version.
#[derive(Debug, Clone)]
pub struct Version {
    pub version: String,
    pub tarball: Vec<u8>,
    /// Runtime dependencies the document declares.
    pub dependencies: BTreeMap<String, String>,
    /// Advertise the SHA-512 of these bytes instead of the tarball's (a tampered tarball).
    pub integrity_of: Option<Vec<u8>>,
}

/// What the registry holds and what it saw.
#[derive(Debug, Default)]
pub struct Registry {
    /// Packages by name, versions in publication order (the last is `latest`).
    pub packages: BTreeMap<String, Vec<Version>>,
    /// Every request served, as `METHOD path` (its length is the number of requests).
    pub requests: Vec<String>,
    /// `Accept` headers of the document requests.
    pub accepts: Vec<String>,
}

impl Registry {
    /// Tarball downloads so far.
    pub fn downloads(&self) -> usize {
        self.requests
            .iter()
            .filter(|r| r.starts_with("GET /-/tarballs/"))
            .count()
    }
}

/// Shared handle.
pub type SharedRegistry = Arc<Mutex<Registry>>;

/// A version without dependencies.
pub fn version(version: &str, tarball: Vec<u8>) -> Version {
    Version {
        version: version.into(),
        tarball,
        dependencies: BTreeMap::new(),
        integrity_of: None,
    }
}

/// An npm tarball (`package/<name>` entries) of `(name, content, mode)` files.
pub fn tgz(files: &[(&str, &str, u32)]) -> Vec<u8> {
    let mut tar = tar::Builder::new(flate2::write::GzEncoder::new(
        Vec::new(),
        flate2::Compression::fast(),
    ));
    for (name, body, mode) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(body.len() as u64);
        header.set_mode(*mode);
        header.set_cksum();
        tar.append_data(&mut header, format!("package/{name}"), body.as_bytes())
            .unwrap_or_else(|e| panic!("tar: {e}"));
    }
    let mut gz = tar.into_inner().unwrap_or_else(|e| panic!("tar: {e}"));
    gz.flush().unwrap_or_else(|e| panic!("gz: {e}"));
    gz.finish().unwrap_or_else(|e| panic!("gz: {e}"))
}

fn lock(registry: &SharedRegistry) -> std::sync::MutexGuard<'_, Registry> {
    registry
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// `sha512-<base64>` of `bytes`.
pub fn integrity(bytes: &[u8]) -> String {
    format!(
        "sha512-{}",
        base64::engine::general_purpose::STANDARD.encode(sha2::Sha512::digest(bytes))
    )
}

/// Tarball ids: `<package index>-<version index>`.
fn tarball_id(packages: &BTreeMap<String, Vec<Version>>, package: &str, v: usize) -> String {
    let p = packages.keys().position(|k| k == package).unwrap_or(0);
    format!("{p}-{v}")
}

async fn document(
    State((registry, base)): State<(SharedRegistry, String)>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Response {
    let mut registry = lock(&registry);
    registry.requests.push(format!("GET /{name}"));
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    registry.accepts.push(accept);
    let Some(versions) = registry.packages.get(&name) else {
        return (StatusCode::NOT_FOUND, Json(json!({"error": "Not found"}))).into_response();
    };
    let mut documents = serde_json::Map::new();
    for (i, v) in versions.iter().enumerate() {
        let advertised = v.integrity_of.as_deref().unwrap_or(&v.tarball);
        let shasum = hex::encode(sha1::Sha1::digest(advertised));
        documents.insert(
            v.version.clone(),
            json!({
                "name": name,
                "version": v.version,
                "dependencies": v.dependencies,
                "dist": {
                    "tarball": format!("{base}/-/tarballs/{}.tgz", tarball_id(&registry.packages, &name, i)),
                    "integrity": integrity(advertised),
                    "shasum": shasum,
                },
            }),
        );
    }
    let latest = versions
        .last()
        .map(|v| v.version.clone())
        .unwrap_or_default();
    (
        [(header::CONTENT_TYPE, "application/vnd.npm.install-v1+json")],
        Json(json!({
            "name": name,
            "dist-tags": {"latest": latest},
            "versions": Value::Object(documents),
        })),
    )
        .into_response()
}

async fn tarball(
    State((registry, _)): State<(SharedRegistry, String)>,
    Path(file): Path<String>,
) -> Response {
    let mut registry = lock(&registry);
    registry.requests.push(format!("GET /-/tarballs/{file}"));
    let id = file.trim_end_matches(".tgz");
    let found = registry
        .packages
        .iter()
        .enumerate()
        .find_map(|(p, (_, versions))| {
            versions.iter().enumerate().find_map(|(v, version)| {
                (format!("{p}-{v}") == id).then(|| version.tarball.clone())
            })
        });
    match found {
        Some(bytes) => bytes.into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// Starts the registry on a free loopback port ([`super::LOOPBACK`]); returns its base URL and
/// the shared state.
pub async fn start(registry: Registry) -> (String, SharedRegistry) {
    start_on(super::LOOPBACK, registry).await
}

/// Starts the registry on `addr`; returns its base URL (`http://<ip>:<port>`, see
/// [`super`]; the tarball URLs in the documents are under it) and the shared state.
pub async fn start_on(addr: SocketAddr, registry: Registry) -> (String, SharedRegistry) {
    let shared = Arc::new(Mutex::new(registry));
    let (listener, base) = super::listen(addr).await;
    let router = Router::new()
        .route("/-/tarballs/{file}", get(tarball))
        .route("/{name}", get(document))
        .with_state((Arc::clone(&shared), base.clone()));
    let log = Arc::clone(&shared);
    let router = super::log_unrouted(router, move |line| lock(&log).requests.push(line));
    super::spawn(listener, router);
    (base, shared)
}

/// A pnpm-like package: `bin/pnpm.cjs` and `bin/pnpx.cjs` (shell scripts here, shipped without
/// their executable bit as npm tarballs often are) declared in `package.json`'s `bin`.
pub fn pnpm(version: &str) -> Vec<u8> {
    let manifest = json!({
        "name": "pnpm",
        "version": version,
        "bin": {"pnpm": "bin/pnpm.cjs", "pnpx": "bin/pnpx.cjs"},
    })
    .to_string();
    let script = format!("#!/bin/sh\necho {version}\n");
    tgz(&[
        ("package.json", &manifest, 0o644),
        ("bin/pnpm.cjs", &script, 0o644),
        ("bin/pnpx.cjs", &script, 0o644),
        ("dist/pnpm.cjs", "// the bundle\n", 0o644),
    ])
}
