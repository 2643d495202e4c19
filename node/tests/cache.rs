//! The node-local download cache over real HTTP on loopback: the cache's router on
//! 127.0.0.1:0, in front of a tiny loopback upstream (one axum server that plays ClawHub, npm,
//! PyPI, python-build-standalone and the Ollama registry, and counts what it is asked), with
//! reqwest as the pod.

use std::{
    collections::HashMap,
    path::Path,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::Duration,
};

use axum::{
    Router,
    extract::State,
    http::{HeaderMap, StatusCode, Uri, header},
    response::{IntoResponse, Response},
};
use base64::Engine;
use openclaw_node::cache::{Cache, CacheConfig, Upstreams};
use prometheus_client::registry::Registry;
use sha2::Digest;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

type TestResult = Result<(), Box<dyn std::error::Error>>;

#[derive(Clone)]
struct Canned {
    status: u16,
    body: Vec<u8>,
    content_type: String,
}

#[derive(Default)]
struct FakeState {
    routes: Mutex<HashMap<String, Canned>>,
    requests: AtomicU64,
    down: AtomicBool,
    delay_ms: AtomicU64,
}

/// A loopback upstream: canned answers by path (and query); `json:` + path answers requests
/// that accept PEP 691 JSON.
struct Fake {
    state: Arc<FakeState>,
    base: String,
}

impl Fake {
    async fn start() -> Result<Fake, Box<dyn std::error::Error>> {
        let state = Arc::new(FakeState::default());
        let app = Router::new()
            .fallback(fake_handler)
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let base = format!("http://{}", listener.local_addr()?);
        tokio::spawn(async move { axum::serve(listener, app).await });
        Ok(Fake { state, base })
    }

    fn set(&self, path: &str, body: impl Into<Vec<u8>>, content_type: &str) {
        self.set_status(path, 200, body, content_type);
    }

    fn set_status(&self, path: &str, status: u16, body: impl Into<Vec<u8>>, content_type: &str) {
        let canned = Canned {
            status,
            body: body.into(),
            content_type: content_type.into(),
        };
        lock(&self.state.routes).insert(path.into(), canned);
    }

    fn requests(&self) -> u64 {
        self.state.requests.load(Ordering::SeqCst)
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

async fn fake_handler(
    State(state): State<Arc<FakeState>>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    state.requests.fetch_add(1, Ordering::SeqCst);
    let delay = state.delay_ms.load(Ordering::SeqCst);
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    if state.down.load(Ordering::SeqCst) {
        return (StatusCode::SERVICE_UNAVAILABLE, "down").into_response();
    }
    let path = match uri.query() {
        Some(q) => format!("{}?{q}", uri.path()),
        None => uri.path().to_owned(),
    };
    let wants_json = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/vnd.pypi.simple.v1+json"));
    let routes = lock(&state.routes);
    let canned = wants_json
        .then(|| routes.get(&format!("json:{path}")))
        .flatten()
        .or_else(|| routes.get(&path))
        .cloned();
    drop(routes);
    match canned {
        Some(c) => {
            let status = StatusCode::from_u16(c.status).unwrap_or(StatusCode::OK);
            let mut response =
                (status, [(header::CONTENT_TYPE, c.content_type)], c.body).into_response();
            if status == StatusCode::TOO_MANY_REQUESTS {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, header::HeaderValue::from_static("7"));
            }
            response
        }
        None => (StatusCode::NOT_FOUND, "no such thing").into_response(),
    }
}

/// A cache serving on loopback.
struct Served {
    cache: Arc<Cache>,
    base: String,
    registry: Registry,
    server: tokio::task::JoinHandle<()>,
}

impl Served {
    fn metrics(&self) -> String {
        let mut text = String::new();
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        self.server.abort();
    }
}

fn upstreams(fake: &Fake) -> Upstreams {
    Upstreams {
        clawhub: fake.base.clone(),
        npm: fake.base.clone(),
        pypi: format!("{}/simple", fake.base),
        python: Some(format!("{}/releases", fake.base)),
        ollama: fake.base.clone(),
    }
}

async fn serve(
    dir: &Path,
    upstreams: Upstreams,
    max_bytes: u64,
    ttl: Duration,
) -> Result<Served, Box<dyn std::error::Error>> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut registry = Registry::default();
    let config = CacheConfig {
        dir: dir.to_owned(),
        max_bytes,
        metadata_ttl: ttl,
        upstreams,
    };
    let cache = Cache::open(config, &mut registry).await?;
    let app = cache.router();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok(Served {
        cache,
        base,
        registry,
        server,
    })
}

fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(sha2::Sha256::digest(bytes))
}

fn sha512_sri(bytes: &[u8]) -> String {
    format!(
        "sha512-{}",
        base64::engine::general_purpose::STANDARD.encode(sha2::Sha512::digest(bytes))
    )
}

async fn get(client: &reqwest::Client, url: &str) -> Result<(u16, Vec<u8>), reqwest::Error> {
    let response = client.get(url).send().await?;
    let status = response.status().as_u16();
    Ok((status, response.bytes().await?.to_vec()))
}

const HOUR: Duration = Duration::from_secs(3600);
const GIB: u64 = 1 << 30;

fn packument(fake: &Fake, name: &str, versions: &[(&str, &[u8])]) -> Vec<u8> {
    let short = name.rsplit('/').next().unwrap_or(name);
    let versions: serde_json::Map<String, serde_json::Value> = versions
        .iter()
        .map(|(v, bytes)| {
            (
                (*v).to_owned(),
                serde_json::json!({
                    "name": name, "version": v,
                    "dist": {
                        "tarball": format!("{}/{name}/-/{short}-{v}.tgz", fake.base),
                        "integrity": sha512_sri(bytes),
                    }
                }),
            )
        })
        .collect();
    serde_json::to_vec(
        &serde_json::json!({"name": name, "dist-tags": {"latest": "1.0.0"}, "versions": versions}),
    )
    .unwrap_or_default()
}

#[tokio::test]
async fn npm_packuments_are_rewritten_and_tarballs_verified() -> TestResult {
    let fake = Fake::start().await?;
    let dir = tempfile::tempdir()?;
    let served = serve(dir.path(), upstreams(&fake), GIB, HOUR).await?;
    let good: &[u8] = b"left-pad 1.0.0 tarball bytes";
    let published: &[u8] = b"left-pad 2.0.0 tarball bytes";
    fake.set(
        "/left-pad",
        packument(&fake, "left-pad", &[("1.0.0", good), ("2.0.0", published)]),
        "application/json",
    );
    fake.set(
        "/left-pad/-/left-pad-1.0.0.tgz",
        good,
        "application/octet-stream",
    );
    fake.set(
        "/left-pad/-/left-pad-2.0.0.tgz",
        b"tampered bytes".to_vec(),
        "application/octet-stream",
    );

    let pod = client();
    let (status, body) = get(&pod, &format!("{}/npm/left-pad", served.base)).await?;
    assert_eq!(status, 200);
    let doc: serde_json::Value = serde_json::from_slice(&body)?;
    let tarball = doc
        .pointer("/versions/1.0.0/dist/tarball")
        .and_then(|v| v.as_str())
        .unwrap_or_default()
        .to_owned();
    assert_eq!(
        tarball,
        format!("{}/npm/left-pad/-/left-pad-1.0.0.tgz", served.base)
    );
    let (status, body) = get(&pod, &tarball).await?;
    assert_eq!((status, body.as_slice()), (200, good));
    assert_eq!(fake.requests(), 2);

    let other_pod = client();
    let (status, _) = get(&other_pod, &format!("{}/npm/left-pad", served.base)).await?;
    assert_eq!(status, 200);
    let (status, body) = get(&other_pod, &tarball).await?;
    assert_eq!((status, body.as_slice()), (200, good));
    assert_eq!(
        fake.requests(),
        2,
        "the second pod fetched nothing upstream"
    );
    assert_eq!(served.cache.upstream_requests(), 2);

    // The abbreviated document is a separate variant.
    let abbreviated = other_pod
        .get(format!("{}/npm/left-pad", served.base))
        .header(header::ACCEPT, "application/vnd.npm.install-v1+json")
        .send()
        .await?;
    assert_eq!(abbreviated.status().as_u16(), 200);
    assert_eq!(fake.requests(), 3);

    // Bytes that do not match the packument's integrity: 502, nothing stored.
    let bad_url = format!("{}/npm/left-pad/-/left-pad-2.0.0.tgz", served.base);
    let (status, body) = get(&pod, &bad_url).await?;
    let message = String::from_utf8_lossy(&body);
    assert_eq!(status, 502, "{message}");
    assert!(message.contains("left-pad"), "{message}");
    assert!(message.contains(&sha512_sri(published)), "{message}");
    assert!(
        message.contains(&sha512_sri(b"tampered bytes")),
        "{message}"
    );
    assert!(
        served
            .metrics()
            .contains("openclaw_node_cache_verification_failures_total{source=\"npm\"} 1")
    );
    let (status, _) = get(&pod, &bad_url).await?;
    assert_eq!(status, 502, "still refused: nothing was stored");
    fake.set(
        "/left-pad/-/left-pad-2.0.0.tgz",
        published,
        "application/octet-stream",
    );
    let (status, body) = get(&pod, &bad_url).await?;
    assert_eq!((status, body.as_slice()), (200, published));

    // A scoped tarball asked before its packument (a lockfile install).
    let scoped: &[u8] = b"scoped tarball";
    fake.set(
        "/@openclaw%2Fmatrix",
        packument(&fake, "@openclaw/matrix", &[("1.0.0", scoped)]),
        "application/json",
    );
    fake.set(
        "/@openclaw/matrix/-/matrix-1.0.0.tgz",
        scoped,
        "application/octet-stream",
    );
    let (status, body) = get(
        &pod,
        &format!("{}/npm/@openclaw/matrix/-/matrix-1.0.0.tgz", served.base),
    )
    .await?;
    assert_eq!((status, body.as_slice()), (200, scoped));
    let (status, body) = get(&pod, &format!("{}/npm/@openclaw%2Fmatrix", served.base)).await?;
    assert_eq!(status, 200);
    assert!(String::from_utf8_lossy(&body).contains(&format!(
        "{}/npm/@openclaw/matrix/-/matrix-1.0.0.tgz",
        served.base
    )));
    Ok(())
}

#[tokio::test]
async fn pypi_pages_are_rewritten_and_wheels_verified() -> TestResult {
    let fake = Fake::start().await?;
    let dir = tempfile::tempdir()?;
    let served = serve(dir.path(), upstreams(&fake), GIB, HOUR).await?;
    let wheel_name = "uv-0.9.5-py3-none-manylinux_2_17_x86_64.whl";
    let wheel: &[u8] = b"uv wheel bytes";
    let sha = sha256_hex(wheel);
    let liar_sha = sha256_hex(b"what the page promised");
    let json = serde_json::json!({
        "meta": {"api-version": "1.1"}, "name": "uv",
        "files": [
            {"filename": wheel_name, "url": format!("../../packages/{wheel_name}"), "hashes": {"sha256": sha}, "core-metadata": true},
            {"filename": "uv-0.1.0.tar.gz", "url": "../../packages/uv-0.1.0.tar.gz", "hashes": {}},
            {"filename": "uv-0.9.6.whl", "url": "../../packages/uv-0.9.6.whl", "hashes": {"sha256": liar_sha}},
        ]
    });
    fake.set(
        "json:/simple/uv/",
        serde_json::to_vec(&json)?,
        "application/vnd.pypi.simple.v1+json",
    );
    let html = format!(
        "<html><body><a href=\"/packages/{wheel_name}#sha256={sha}\" data-requires-python=\"&gt;=3.8\">{wheel_name}</a><br/>\
         <a href=\"/packages/uv-0.1.0.tar.gz\">uv-0.1.0.tar.gz</a></body></html>"
    );
    fake.set("/simple/uv/", html, "text/html");
    fake.set(
        &format!("/packages/{wheel_name}"),
        wheel,
        "application/octet-stream",
    );
    fake.set(
        "/packages/uv-0.9.6.whl",
        b"other bytes".to_vec(),
        "application/octet-stream",
    );

    let pod = client();
    let accept = "application/vnd.pypi.simple.v1+json, text/html;q=0.01";
    let page: serde_json::Value = pod
        .get(format!("{}/pypi/simple/uv/", served.base))
        .header(header::ACCEPT, accept)
        .send()
        .await?
        .json()
        .await?;
    let files = page["files"].as_array().cloned().unwrap_or_default();
    assert_eq!(
        files.len(),
        2,
        "the file without a sha256 is left out: {page}"
    );
    let url = files[0]["url"].as_str().unwrap_or_default().to_owned();
    assert_eq!(
        url,
        format!("{}/pypi/files/{sha}/{wheel_name}", served.base)
    );
    assert!(files[0].get("core-metadata").is_none());

    let (status, body) = get(&pod, &format!("{}/pypi/simple/uv/", served.base)).await?;
    assert_eq!(status, 200);
    let html = String::from_utf8_lossy(&body);
    assert!(
        html.contains(&format!(
            "href=\"{}/pypi/files/{sha}/{wheel_name}#sha256={sha}\"",
            served.base
        )),
        "{html}"
    );
    assert!(!html.contains("uv-0.1.0"), "{html}");

    let (status, body) = get(&pod, &url).await?;
    assert_eq!((status, body.as_slice()), (200, wheel));
    let upstream = fake.requests();
    assert_eq!(upstream, 3);

    let other_pod = client();
    let page = other_pod
        .get(format!("{}/pypi/simple/uv/", served.base))
        .header(header::ACCEPT, accept)
        .send()
        .await?;
    assert_eq!(page.status().as_u16(), 200);
    let (status, body) = get(&other_pod, &url).await?;
    assert_eq!((status, body.as_slice()), (200, wheel));
    assert_eq!(
        fake.requests(),
        upstream,
        "the second pod fetched nothing upstream"
    );

    let (status, _) = get(
        &pod,
        &format!("{}/pypi/files/{liar_sha}/uv-0.9.6.whl", served.base),
    )
    .await?;
    assert_eq!(
        status, 502,
        "a file that does not hash to its page's sha256 is refused"
    );
    let unknown = sha256_hex(b"never listed");
    let (status, _) = get(&pod, &format!("{}/pypi/files/{unknown}/x.whl", served.base)).await?;
    assert_eq!(status, 404);
    Ok(())
}

#[tokio::test]
async fn clawhub_metadata_and_downloads_are_cached_and_pinned() -> TestResult {
    let fake = Fake::start().await?;
    let dir = tempfile::tempdir()?;
    let zip: &[u8] = b"PK weather 1.2.0";
    fake.set(
        "/api/v1/skills/weather",
        serde_json::to_vec(&serde_json::json!({"latestVersion": {"version": "1.2.0"}, "owner": {"handle": "steipete"}}))?,
        "application/json",
    );
    fake.set(
        "/api/v1/skills/weather/versions/1.2.0",
        serde_json::to_vec(&serde_json::json!({"version": {"version": "1.2.0"}}))?,
        "application/json",
    );
    fake.set(
        "/api/v1/download?slug=weather&version=1.2.0",
        zip,
        "application/zip",
    );
    {
        let served = serve(dir.path(), upstreams(&fake), GIB, HOUR).await?;
        for _pod in 0..2 {
            let pod = client();
            let (status, body) = get(
                &pod,
                &format!("{}/clawhub/api/v1/skills/weather", served.base),
            )
            .await?;
            assert_eq!(status, 200);
            assert!(String::from_utf8_lossy(&body).contains("steipete"));
            let (status, _) = get(
                &pod,
                &format!(
                    "{}/clawhub/api/v1/skills/weather/versions/1.2.0",
                    served.base
                ),
            )
            .await?;
            assert_eq!(status, 200);
            let (status, body) = get(
                &pod,
                &format!(
                    "{}/clawhub/api/v1/download?slug=weather&version=1.2.0",
                    served.base
                ),
            )
            .await?;
            assert_eq!((status, body.as_slice()), (200, zip));
            assert_eq!(
                fake.requests(),
                3,
                "the second pod fetched nothing upstream"
            );
        }
        let (status, _) = get(
            &client(),
            &format!("{}/clawhub/api/v1/skills/nope", served.base),
        )
        .await?;
        assert_eq!(status, 404, "an upstream 404 passes through");
    }
    // The stored zip is lost; the upstream now serves other bytes for the same version.
    std::fs::remove_file(dir.path().join("blobs/sha256").join(sha256_hex(zip)))?;
    fake.set(
        "/api/v1/download?slug=weather&version=1.2.0",
        b"PK changed".to_vec(),
        "application/zip",
    );
    let served = serve(dir.path(), upstreams(&fake), GIB, HOUR).await?;
    let (status, body) = get(
        &client(),
        &format!(
            "{}/clawhub/api/v1/download?slug=weather&version=1.2.0",
            served.base
        ),
    )
    .await?;
    let message = String::from_utf8_lossy(&body);
    assert_eq!(status, 502, "{message}");
    assert!(message.contains("weather@1.2.0"), "{message}");
    Ok(())
}

#[tokio::test]
async fn ollama_manifests_and_blobs() -> TestResult {
    let fake = Fake::start().await?;
    let dir = tempfile::tempdir()?;
    let served = serve(dir.path(), upstreams(&fake), GIB, HOUR).await?;
    let layer: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
    let digest = sha256_hex(&layer);
    let manifest = serde_json::json!({"schemaVersion": 2, "layers": [{"digest": format!("sha256:{digest}"), "size": layer.len()}]});
    fake.set(
        "/v2/library/tiny/manifests/latest",
        serde_json::to_vec(&manifest)?,
        "application/vnd.docker.distribution.manifest.v2+json",
    );
    fake.set(
        &format!("/v2/library/tiny/blobs/sha256:{digest}"),
        layer.clone(),
        "application/octet-stream",
    );
    let wrong = sha256_hex(b"the name");
    fake.set(
        &format!("/v2/library/tiny/blobs/sha256:{wrong}"),
        b"other bytes".to_vec(),
        "application/octet-stream",
    );

    for _pod in 0..2 {
        let pod = client();
        let response = pod
            .get(format!("{}/v2/library/tiny/manifests/latest", served.base))
            .send()
            .await?;
        assert_eq!(response.status().as_u16(), 200);
        assert_eq!(
            response
                .headers()
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok()),
            Some("application/vnd.docker.distribution.manifest.v2+json")
        );
        let blob_url = format!("{}/v2/library/tiny/blobs/sha256:{digest}", served.base);
        let head = pod.head(&blob_url).send().await?;
        assert_eq!(head.status().as_u16(), 200);
        assert_eq!(
            head.headers()
                .get(header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok()),
            Some("10000")
        );
        let (status, body) = get(&pod, &blob_url).await?;
        assert_eq!((status, body), (200, layer.clone()));
        let part = pod
            .get(&blob_url)
            .header(header::RANGE, "bytes=100-199")
            .send()
            .await?;
        assert_eq!(part.status().as_u16(), 206);
        assert_eq!(
            part.headers()
                .get(header::CONTENT_RANGE)
                .and_then(|v| v.to_str().ok()),
            Some("bytes 100-199/10000")
        );
        assert_eq!(part.bytes().await?.as_ref(), &layer[100..200]);
        assert_eq!(
            fake.requests(),
            2,
            "the second pod fetched nothing upstream"
        );
    }
    let bad_url = format!("{}/v2/library/tiny/blobs/sha256:{wrong}", served.base);
    let (status, _) = get(&client(), &bad_url).await?;
    assert_eq!(status, 502);
    let (status, _) = get(&client(), &bad_url).await?;
    assert_eq!(status, 502, "nothing was stored");
    assert!(
        served
            .metrics()
            .contains("openclaw_node_cache_verification_failures_total{source=\"ollama\"} 2")
    );
    Ok(())
}

#[tokio::test]
async fn python_builds_are_verified_against_sha256sums() -> TestResult {
    let fake = Fake::start().await?;
    let dir = tempfile::tempdir()?;
    let served = serve(dir.path(), upstreams(&fake), GIB, HOUR).await?;
    let file = "cpython-3.12.8+20250101-x86_64-unknown-linux-gnu-install_only_stripped.tar.gz";
    let build: &[u8] = b"python build";
    let sums = format!(
        "{}  {file}\n{}  cpython-broken.tar.gz\n",
        sha256_hex(build),
        sha256_hex(b"promised")
    );
    fake.set("/releases/20250101/SHA256SUMS", sums, "text/plain");
    fake.set(
        &format!("/releases/20250101/{}", file.replace('+', "%2B")),
        build,
        "application/gzip",
    );
    fake.set(
        &format!("/releases/20250101/{file}"),
        build,
        "application/gzip",
    );
    fake.set(
        "/releases/20250101/cpython-broken.tar.gz",
        b"tampered".to_vec(),
        "application/gzip",
    );

    let url = format!(
        "{}/python/20250101/{}",
        served.base,
        file.replace('+', "%2B")
    );
    let (status, body) = get(&client(), &url).await?;
    assert_eq!((status, body.as_slice()), (200, build));
    let upstream = fake.requests();
    let (status, body) = get(&client(), &url).await?;
    assert_eq!((status, body.as_slice()), (200, build));
    assert_eq!(fake.requests(), upstream);
    let (status, _) = get(
        &client(),
        &format!("{}/python/20250101/cpython-broken.tar.gz", served.base),
    )
    .await?;
    assert_eq!(status, 502);
    let (status, _) = get(
        &client(),
        &format!("{}/python/20250101/unlisted.tar.gz", served.base),
    )
    .await?;
    assert_eq!(status, 404);

    let other = tempfile::tempdir()?;
    let unconfigured = serve(
        other.path(),
        Upstreams {
            python: None,
            ..upstreams(&fake)
        },
        GIB,
        HOUR,
    )
    .await?;
    let (status, body) = get(
        &client(),
        &format!("{}/python/20250101/{file}", unconfigured.base),
    )
    .await?;
    assert_eq!(status, 404);
    assert!(String::from_utf8_lossy(&body).contains("no python-build-standalone upstream"));
    Ok(())
}

fn blob_fixture(fake: &Fake, seed: u8, size: usize) -> (String, Vec<u8>) {
    let bytes: Vec<u8> = (0..size).map(|i| (i as u8).wrapping_mul(seed)).collect();
    let digest = sha256_hex(&bytes);
    fake.set(
        &format!("/v2/library/m/blobs/sha256:{digest}"),
        bytes.clone(),
        "application/octet-stream",
    );
    (format!("/v2/library/m/blobs/sha256:{digest}"), bytes)
}

#[tokio::test]
async fn least_recently_used_blobs_are_evicted() -> TestResult {
    let fake = Fake::start().await?;
    let dir = tempfile::tempdir()?;
    let served = serve(dir.path(), upstreams(&fake), 2500, HOUR).await?;
    let (a, _) = blob_fixture(&fake, 3, 1000);
    let (b, _) = blob_fixture(&fake, 5, 1000);
    let (c, _) = blob_fixture(&fake, 7, 1000);
    let pod = client();
    for path in [&a, &b, &a, &c] {
        let (status, _) = get(&pod, &format!("{}{path}", served.base)).await?;
        assert_eq!(status, 200);
    }
    assert_eq!(fake.requests(), 3);
    assert!(served.cache.stored_bytes() <= 2500);
    assert!(
        served
            .metrics()
            .contains("openclaw_node_cache_stored_bytes 2000"),
        "{}",
        served.metrics()
    );
    assert!(
        served
            .metrics()
            .contains("openclaw_node_cache_evictions_total 1")
    );
    let (status, _) = get(&pod, &format!("{}{a}", served.base)).await?;
    assert_eq!(status, 200);
    assert_eq!(
        fake.requests(),
        3,
        "a was used more recently than b, and kept"
    );
    let (status, _) = get(&pod, &format!("{}{b}", served.base)).await?;
    assert_eq!(status, 200);
    assert_eq!(fake.requests(), 4, "b was evicted");

    // A blob larger than the whole cache is served, not kept.
    let (big, bytes) = blob_fixture(&fake, 11, 4000);
    let (status, body) = get(&pod, &format!("{}{big}", served.base)).await?;
    assert_eq!((status, body), (200, bytes));
    assert!(served.cache.stored_bytes() <= 2500);
    Ok(())
}

#[tokio::test]
async fn a_restart_keeps_the_store_and_catches_corruption() -> TestResult {
    let fake = Fake::start().await?;
    let dir = tempfile::tempdir()?;
    let (path, bytes) = blob_fixture(&fake, 13, 5000);
    fake.set(
        "/left-pad",
        packument(&fake, "left-pad", &[("1.0.0", b"x")]),
        "application/json",
    );
    {
        let served = serve(dir.path(), upstreams(&fake), GIB, HOUR).await?;
        let (status, _) = get(&client(), &format!("{}{path}", served.base)).await?;
        assert_eq!(status, 200);
        let (status, _) = get(&client(), &format!("{}/npm/left-pad", served.base)).await?;
        assert_eq!(status, 200);
    }
    assert_eq!(fake.requests(), 2);
    // A crash left a half-written download behind.
    std::fs::write(dir.path().join("tmp/half-written"), b"partial")?;
    {
        let served = serve(dir.path(), upstreams(&fake), GIB, HOUR).await?;
        assert!(!dir.path().join("tmp/half-written").exists());
        let (status, body) = get(&client(), &format!("{}{path}", served.base)).await?;
        assert_eq!((status, body), (200, bytes.clone()));
        let (status, body) = get(&client(), &format!("{}/npm/left-pad", served.base)).await?;
        assert_eq!(status, 200);
        assert!(String::from_utf8_lossy(&body).contains(&served.base));
        assert_eq!(
            served.cache.upstream_requests(),
            0,
            "served without the upstream"
        );
    }
    // Bit rot: same size, other bytes.
    let file = dir.path().join("blobs/sha256").join(sha256_hex(&bytes));
    let mut rotten = bytes.clone();
    rotten[10] ^= 0xff;
    std::fs::write(&file, &rotten)?;
    let served = serve(dir.path(), upstreams(&fake), GIB, HOUR).await?;
    let (status, body) = get(&client(), &format!("{}{path}", served.base)).await?;
    assert_eq!((status, body), (200, bytes.clone()));
    assert_eq!(
        served.cache.upstream_requests(),
        1,
        "the corrupt blob was fetched again"
    );
    assert_eq!(std::fs::read(&file)?, bytes);
    Ok(())
}

#[tokio::test]
async fn metadata_expires_and_stale_metadata_covers_an_outage() -> TestResult {
    let fake = Fake::start().await?;
    let dir = tempfile::tempdir()?;
    let ttl = Duration::from_millis(300);
    let served = serve(dir.path(), upstreams(&fake), GIB, ttl).await?;
    fake.set(
        "/v2/library/tiny/manifests/latest",
        b"{\"v\":1}".to_vec(),
        "application/json",
    );
    let url = format!("{}/v2/library/tiny/manifests/latest", served.base);
    let pod = client();
    assert_eq!(get(&pod, &url).await?, (200, b"{\"v\":1}".to_vec()));
    assert_eq!(get(&pod, &url).await?, (200, b"{\"v\":1}".to_vec()));
    assert_eq!(fake.requests(), 1);
    fake.set(
        "/v2/library/tiny/manifests/latest",
        b"{\"v\":2}".to_vec(),
        "application/json",
    );
    tokio::time::sleep(ttl + Duration::from_millis(100)).await;
    assert_eq!(
        get(&pod, &url).await?,
        (200, b"{\"v\":2}".to_vec()),
        "refetched after the TTL"
    );
    assert_eq!(fake.requests(), 2);

    fake.state.down.store(true, Ordering::SeqCst);
    tokio::time::sleep(ttl + Duration::from_millis(100)).await;
    assert_eq!(
        get(&pod, &url).await?,
        (200, b"{\"v\":2}".to_vec()),
        "stale while the upstream is down"
    );
    assert!(
        served
            .metrics()
            .contains("openclaw_node_cache_requests_total{source=\"ollama\",result=\"stale\"} 1")
    );
    let (status, _) = get(
        &pod,
        &format!("{}/v2/library/other/manifests/latest", served.base),
    )
    .await?;
    assert_eq!(status, 502, "nothing stale to serve");

    fake.state.down.store(false, Ordering::SeqCst);
    fake.set_status(
        "/v2/library/limited/manifests/latest",
        429,
        b"slow down".to_vec(),
        "text/plain",
    );
    let limited = pod
        .get(format!(
            "{}/v2/library/limited/manifests/latest",
            served.base
        ))
        .send()
        .await?;
    assert_eq!(limited.status().as_u16(), 429);
    assert_eq!(
        limited
            .headers()
            .get(header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok()),
        Some("7")
    );
    Ok(())
}

#[tokio::test]
async fn concurrent_requests_make_one_upstream_request() -> TestResult {
    let fake = Fake::start().await?;
    let dir = tempfile::tempdir()?;
    let served = serve(dir.path(), upstreams(&fake), GIB, HOUR).await?;
    let (path, bytes) = blob_fixture(&fake, 17, 100_000);
    fake.state.delay_ms.store(200, Ordering::SeqCst);
    let url = format!("{}{path}", served.base);
    let requests = (0..10).map(|_| {
        let url = url.clone();
        async move { get(&client(), &url).await }
    });
    for answer in futures::future::join_all(requests).await {
        assert_eq!(answer?, (200, bytes.clone()));
    }
    assert_eq!(fake.requests(), 1);
    Ok(())
}

async fn raw_status(base: &str, path: &str) -> Result<String, Box<dyn std::error::Error>> {
    let address = base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(address).await?;
    stream
        .write_all(
            format!("GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        )
        .await?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await?;
    let answer = String::from_utf8_lossy(&answer);
    Ok(answer.lines().next().unwrap_or_default().to_owned())
}

#[tokio::test]
async fn path_traversal_is_refused() -> TestResult {
    let fake = Fake::start().await?;
    let dir = tempfile::tempdir()?;
    let served = serve(dir.path(), upstreams(&fake), GIB, HOUR).await?;
    for path in [
        "/npm/../../etc/passwd",
        "/npm/%2e%2e/-/x.tgz",
        "/pypi/simple/..%2f..%2fadmin/",
        "/python/20250101/..%2F..%2Fsecret",
        "/v2/library/../blobs/sha256:00",
        "/clawhub/api/v1/skills/..%5c..",
        "/clawhub/api/v1/download?slug=..&version=1",
        "/v2/library/tiny/blobs/sha256:..%2f..%2fetc",
    ] {
        let status = raw_status(&served.base, path).await?;
        assert!(status.contains(" 400 "), "{path}: {status}");
    }
    assert_eq!(fake.requests(), 0);
    Ok(())
}
