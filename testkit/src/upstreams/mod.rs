//! Loopback fakes of the upstream services the supervisor's start-up pipeline talks to, each
//! following the documented protocol closely enough for the real client code:
//!
//! - [`clawhub`]: the ClawHub `/api/v1` registry (`clawhub install`'s skills).
//! - [`npm_registry`]: the npm registry protocol (package documents and tarballs).
//! - [`pypi`]: a PyPI simple index (PEP 691 JSON) serving one fake uv wheel.
//!
//! Each `start` listens on a free loopback port ([`LOOPBACK`]); each `start_on` on a chosen
//! address. Both return the base URL, always `http://<ip>:<port>` with a loopback IP when the
//! address is unspecified (`0.0.0.0` → `127.0.0.1`, `[::]` → `[::1]`), so that another process
//! on the same machine can use it, and the fake's shared state. Every request a fake serves is
//! in its state's `requests` log (`METHOD path`), including those no route takes (answered as
//! axum answers them: 404 without a body, 405 with `Allow`), so `requests.len()` is the number of
//! requests served and a test can assert that nothing reached the upstream.
//!
//! [`zip`] builds the zip archives the fakes serve (skills, wheels).

pub mod clawhub;
pub mod npm_registry;
pub mod pypi;

use std::{
    io::{Cursor, Write},
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr},
};

use axum::{
    Router,
    extract::Request,
    http::{Method, StatusCode, Uri},
    middleware::{self, Next},
};
use tokio::net::TcpListener;

/// A free port on `127.0.0.1`: where [`clawhub::start`], [`npm_registry::start`] and
/// [`pypi::start`] listen.
pub const LOOPBACK: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0);

/// A zip of `(name, content, mode)` files.
pub fn zip(files: &[(&str, &str, u32)]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
    for (name, body, mode) in files {
        let options = zip::write::SimpleFileOptions::default().unix_permissions(*mode);
        w.start_file(*name, options)
            .unwrap_or_else(|e| panic!("zip: {e}"));
        w.write_all(body.as_bytes())
            .unwrap_or_else(|e| panic!("zip: {e}"));
    }
    w.finish()
        .unwrap_or_else(|e| panic!("zip: {e}"))
        .into_inner()
}

/// Binds `addr`; returns the listener and its base URL (`http://<ip>:<port>`, a loopback IP
/// for an unspecified address).
async fn listen(addr: SocketAddr) -> (TcpListener, String) {
    let listener = TcpListener::bind(addr)
        .await
        .unwrap_or_else(|e| panic!("bind {addr}: {e}"));
    let mut local = listener
        .local_addr()
        .unwrap_or_else(|e| panic!("addr: {e}"));
    match local.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => local.set_ip(IpAddr::V4(Ipv4Addr::LOCALHOST)),
        IpAddr::V6(ip) if ip.is_unspecified() => local.set_ip(IpAddr::V6(Ipv6Addr::LOCALHOST)),
        _ => {}
    }
    (listener, format!("http://{local}"))
}

/// Serves `router` on `listener` until the runtime ends.
fn spawn(listener: TcpListener, router: Router) {
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
}

/// Adds to `router` (whose handlers log their own requests) the logging of the requests no
/// handler sees, with the answers axum gives them: 404 without a body where no route matches,
/// 405 (with `Allow`) where the route takes another method.
fn log_unrouted<L>(router: Router, log: L) -> Router
where
    L: Fn(String) + Clone + Send + Sync + 'static,
{
    let unmatched = log.clone();
    router
        .fallback(move |method: Method, uri: Uri| {
            unmatched(format!("{method} {uri}"));
            async { StatusCode::NOT_FOUND }
        })
        .layer(middleware::from_fn(move |request: Request, next: Next| {
            let log = log.clone();
            let line = format!("{} {}", request.method(), request.uri());
            async move {
                let response = next.run(request).await;
                if response.status() == StatusCode::METHOD_NOT_ALLOWED {
                    log(line);
                }
                response
            }
        }))
}

#[cfg(test)]
mod tests {
    use std::{
        collections::HashMap,
        io::Read,
        net::{Ipv4Addr, SocketAddr},
    };

    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    /// `GET`s (or `method`s) `path` on `base` over a fresh connection; returns the raw answer.
    async fn raw(base: &str, method: &str, path: &str, accept: &str) -> String {
        let address = base.trim_start_matches("http://");
        let mut stream = tokio::net::TcpStream::connect(address)
            .await
            .unwrap_or_else(|e| panic!("connect {address}: {e}"));
        let request = format!(
            "{method} {path} HTTP/1.1\r\nhost: {address}\r\naccept: {accept}\r\nconnection: close\r\n\r\n"
        );
        stream
            .write_all(request.as_bytes())
            .await
            .unwrap_or_else(|e| panic!("write: {e}"));
        let mut answer = Vec::new();
        stream
            .read_to_end(&mut answer)
            .await
            .unwrap_or_else(|e| panic!("read: {e}"));
        String::from_utf8_lossy(&answer).into_owned()
    }

    fn status(answer: &str) -> &str {
        answer.lines().next().unwrap_or_default()
    }

    #[test]
    fn zip_holds_the_files_with_their_modes() {
        let bytes = zip(&[("a/run", "#!/bin/sh\n", 0o755), ("b.md", "# B", 0o644)]);
        let mut archive =
            ::zip::ZipArchive::new(Cursor::new(bytes)).unwrap_or_else(|e| panic!("zip: {e}"));
        let mut seen = HashMap::new();
        for i in 0..archive.len() {
            let mut file = archive.by_index(i).unwrap_or_else(|e| panic!("zip: {e}"));
            let mut body = String::new();
            file.read_to_string(&mut body)
                .unwrap_or_else(|e| panic!("zip: {e}"));
            let mode = file.unix_mode().map(|m| m & 0o777);
            let name = file
                .name()
                .unwrap_or_else(|e| panic!("zip: {e}"))
                .into_owned();
            seen.insert(name, (body, mode));
        }
        assert_eq!(seen["a/run"], ("#!/bin/sh\n".to_owned(), Some(0o755)));
        assert_eq!(seen["b.md"], ("# B".to_owned(), Some(0o644)));
    }

    #[tokio::test]
    async fn urls_are_loopback_even_on_an_unspecified_address() {
        let (_, url) = listen(LOOPBACK).await;
        assert!(url.starts_with("http://127.0.0.1:"), "{url}");
        let (_, url) = listen(SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0)).await;
        assert!(url.starts_with("http://127.0.0.1:"), "{url}");
        assert!(!url.ends_with(":0"), "{url}");
    }

    #[tokio::test]
    async fn clawhub_counts_every_request() {
        let mut hub = clawhub::Hub::default();
        hub.skills.insert(
            "weather".into(),
            clawhub::skill(
                "steipete",
                clawhub::Moderation::Clean,
                &[("1.0.0", zip(&[("SKILL.md", "# Weather", 0o644)]))],
            ),
        );
        let (url, hub) = clawhub::start(hub).await;
        assert!(url.starts_with("http://127.0.0.1:"), "{url}");
        assert!(hub.lock().is_ok_and(|h| h.requests.is_empty()));
        let answer = raw(&url, "GET", "/api/v1/skills/weather", "*/*").await;
        assert!(status(&answer).ends_with("200 OK"), "{answer}");
        let answer = raw(
            &url,
            "GET",
            "/api/v1/download?slug=weather&version=1.0.0",
            "*/*",
        )
        .await;
        assert!(answer.contains("application/zip"), "{answer}");
        let answer = raw(&url, "GET", "/.well-known/clawhub.json", "*/*").await;
        assert!(answer.contains(r#""apiBase":"/""#), "{answer}");
        let answer = raw(&url, "GET", "/nowhere/at/all", "*/*").await;
        assert!(status(&answer).ends_with("404 Not Found"), "{answer}");
        let answer = raw(&url, "POST", "/api/v1/download", "*/*").await;
        assert!(
            status(&answer).ends_with("405 Method Not Allowed"),
            "{answer}"
        );
        let hub = hub
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        assert_eq!(
            hub.requests,
            [
                "GET /api/v1/skills/weather",
                "GET /api/v1/download?slug=weather&version=1.0.0",
                "GET /.well-known/clawhub.json",
                "GET /nowhere/at/all",
                "POST /api/v1/download",
            ]
        );
        assert_eq!(hub.downloads(), 1);
    }

    #[tokio::test]
    async fn npm_registry_counts_every_request() {
        let mut registry = npm_registry::Registry::default();
        registry.packages.insert(
            "pnpm".into(),
            vec![npm_registry::version(
                "10.0.0",
                npm_registry::pnpm("10.0.0"),
            )],
        );
        let any = SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0);
        let (url, registry) = npm_registry::start_on(any, registry).await;
        assert!(url.starts_with("http://127.0.0.1:"), "{url}");
        let answer = raw(&url, "GET", "/pnpm", "application/json").await;
        assert!(
            answer.contains(&format!("{url}/-/tarballs/0-0.tgz")),
            "{answer}"
        );
        let answer = raw(&url, "GET", "/-/tarballs/0-0.tgz", "*/*").await;
        assert!(status(&answer).ends_with("200 OK"), "{answer}");
        let answer = raw(&url, "GET", "/a/b/c", "*/*").await;
        assert!(status(&answer).ends_with("404 Not Found"), "{answer}");
        let registry = registry
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        assert_eq!(
            registry.requests,
            ["GET /pnpm", "GET /-/tarballs/0-0.tgz", "GET /a/b/c"]
        );
        assert_eq!(registry.downloads(), 1);
    }

    #[tokio::test]
    async fn pypi_counts_every_request() {
        let (simple, index) = pypi::start().await;
        assert!(simple.starts_with("http://127.0.0.1:"), "{simple}");
        let base = simple.trim_end_matches("/simple");
        let answer = raw(
            base,
            "GET",
            "/simple/uv/",
            "application/vnd.pypi.simple.v1+json",
        )
        .await;
        assert!(answer.contains(&pypi::wheel_name()), "{answer}");
        let wheel = format!("/packages/{}", pypi::wheel_name());
        let answer = raw(base, "GET", &wheel, "*/*").await;
        assert!(status(&answer).ends_with("200 OK"), "{answer}");
        let answer = raw(base, "GET", "/simple/numpy/", "*/*").await;
        assert!(status(&answer).ends_with("404 Not Found"), "{answer}");
        let index = index
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        assert_eq!(
            index.requests,
            [
                "GET /simple/uv/".to_owned(),
                format!("GET {wheel}"),
                "GET /simple/numpy/".to_owned()
            ]
        );
        assert_eq!(index.downloads(), 1);
    }
}
