//! A loopback PyPI simple index (PEP 691 JSON) serving one uv wheel, whose `uv` is a script that
//! fakes `uv python install 3.12` by laying out a python-build-standalone directory.

use std::{
    net::SocketAddr,
    sync::{Arc, Mutex},
};

use axum::{
    Json, Router,
    http::{HeaderMap, header},
    response::IntoResponse,
    routing::get,
};
use serde_json::json;

/// What the index saw.
#[derive(Debug, Default)]
pub struct Index {
    /// Every request served, as `METHOD path` (its length is the number of requests).
    pub requests: Vec<String>,
}

impl Index {
    /// Wheel downloads so far.
    pub fn downloads(&self) -> usize {
        self.requests
            .iter()
            .filter(|r| r.starts_with("GET /packages/"))
            .count()
    }
}

/// Shared handle.
pub type SharedIndex = Arc<Mutex<Index>>;

fn log(index: &SharedIndex, line: String) {
    index
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .requests
        .push(line);
}

/// The fake `uv` inside the wheel.
pub const FAKE_UV: &str = r#"#!/bin/sh
set -e
if [ "$1 $2 $3" = "python install 3.12" ]; then
  dir="$UV_PYTHON_INSTALL_DIR/cpython-3.12.7-linux-x86_64-gnu/bin"
  mkdir -p "$dir"
  printf '#!/bin/sh\necho Python 3.12.7\n' > "$dir/python3"
  chmod +x "$dir/python3"
  echo "mirror=$UV_PYTHON_INSTALL_MIRROR" > "$UV_PYTHON_INSTALL_DIR/../uv.log"
  exit 0
fi
echo "uv 0.9.5"
"#;

/// The wheel's file name for this machine.
pub fn wheel_name() -> String {
    let arch = std::env::consts::ARCH;
    format!("uv-0.9.5-py3-none-manylinux_2_17_{arch}.manylinux2014_{arch}.whl")
}

/// Starts the index on a free loopback port ([`super::LOOPBACK`]); returns its `/simple` URL
/// and the shared state.
pub async fn start() -> (String, SharedIndex) {
    start_on(super::LOOPBACK).await
}

/// Starts the index on `addr`; returns its `/simple` URL (`http://<ip>:<port>/simple`, see
/// [`super`]) and the shared state.
pub async fn start_on(addr: SocketAddr) -> (String, SharedIndex) {
    let index = SharedIndex::default();
    let (listener, base) = super::listen(addr).await;
    let wheel = super::zip(&[
        ("uv-0.9.5.data/scripts/uv", FAKE_UV, 0o755),
        (
            "uv-0.9.5.dist-info/METADATA",
            "Name: uv\nVersion: 0.9.5\n",
            0o644,
        ),
    ]);
    let sha = sha256_hex(&wheel);
    let name = wheel_name();
    let page = json!({"meta": {"api-version": "1.1"}, "name": "uv", "files": [
        {"filename": name, "url": format!("../../packages/{name}"), "hashes": {"sha256": sha}},
        {"filename": "uv-0.9.5.tar.gz", "url": "../../packages/uv-0.9.5.tar.gz", "hashes": {}},
    ]});
    let (page_log, wheel_log) = (Arc::clone(&index), Arc::clone(&index));
    let router = Router::new()
        .route(
            "/simple/uv/",
            get(move |headers: HeaderMap| {
                let page = page.clone();
                log(&page_log, "GET /simple/uv/".to_owned());
                async move {
                    let wants_json = headers
                        .get(header::ACCEPT)
                        .and_then(|v| v.to_str().ok())
                        .is_some_and(|v| v.contains("application/vnd.pypi.simple.v1+json"));
                    assert!(wants_json, "the client asks for the JSON form");
                    (
                        [(header::CONTENT_TYPE, "application/vnd.pypi.simple.v1+json")],
                        Json(page),
                    )
                }
            }),
        )
        .route(
            &format!("/packages/{}", wheel_name()),
            get(move || {
                let wheel = wheel.clone();
                log(&wheel_log, format!("GET /packages/{}", wheel_name()));
                async move { wheel.into_response() }
            }),
        );
    let unrouted = Arc::clone(&index);
    let router = super::log_unrouted(router, move |line| log(&unrouted, line));
    super::spawn(listener, router);
    (format!("{base}/simple"), index)
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}
