//! A loopback Ollama sidecar that follows its documented API: `/api/version`, `/api/tags`, streaming
//! `/api/pull` (NDJSON, per-layer `digest`/`total`/`completed` lines, `success`; or an in-stream
//! `{"error"}` line after a 200), `/api/copy`, `DELETE /api/delete`, `/api/generate` without a
//! prompt (loads the model) and `/api/ps`, which can put every loaded model in VRAM or part of it
//! on the CPU.
//!
//! A pull of a name that starts with a registry host (`127.0.0.1:5000/library/qwen3:8b`) asked
//! with `"insecure": true` or an `http://` prefix really fetches the manifest
//! (`GET http://<host>/v2/<namespace>/<model>/manifests/<tag>`) and every blob it lists (layers
//! and config, `GET .../blobs/<digest>`) over HTTP, checks each blob's SHA-256 against its digest
//! (`{"error":"digest mismatch, file must be downloaded again: want ..., got ..."}` otherwise, as
//! Ollama says it) and stores the model under the name without the scheme. Other names come
//! from [`Sidecar::library`].

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use axum::{
    Json, Router,
    body::Body,
    extract::State,
    http::{StatusCode, header},
    response::{IntoResponse, Response},
    routing::{delete, get, post},
};
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;

/// Where `/api/ps` says loaded models sit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Vram {
    /// `size_vram == size`.
    All,
    /// This share in VRAM, the rest on the CPU.
    Part(f64),
}

/// A model the registry can serve: its layers `(digest, bytes)`.
#[derive(Debug, Clone)]
pub struct Library(pub Vec<(String, i64)>);

/// The server's state.
#[derive(Debug)]
pub struct Sidecar {
    /// Models on disk: name → (digest, size).
    pub present: BTreeMap<String, (String, i64)>,
    /// Models `/api/pull` can fetch.
    pub library: BTreeMap<String, Library>,
    /// Fail pulls in the stream with this message, after some progress.
    pub pull_error: Option<String>,
    pub vram: Vram,
    /// Loaded models.
    pub loaded: Vec<String>,
    /// `/api/version` answers 503 until then.
    pub ready_at: Instant,
    /// `/api/pull` requests, by model (as asked, with `:latest` added when untagged).
    pub pulls: Vec<String>,
    /// `/api/copy` requests that succeeded: `(source, destination)`.
    pub copies: Vec<(String, String)>,
    /// `/api/delete` requests that removed a model.
    pub deletes: Vec<String>,
}

impl Default for Sidecar {
    fn default() -> Sidecar {
        Sidecar {
            present: BTreeMap::new(),
            library: BTreeMap::new(),
            pull_error: None,
            vram: Vram::All,
            loaded: Vec::new(),
            ready_at: Instant::now(),
            pulls: Vec::new(),
            copies: Vec::new(),
            deletes: Vec::new(),
        }
    }
}

pub type Shared = Arc<Mutex<Sidecar>>;

fn lock(s: &Shared) -> std::sync::MutexGuard<'_, Sidecar> {
    s.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn tagged(name: &str) -> String {
    if name.rsplit('/').next().unwrap_or(name).contains(':') {
        name.to_owned()
    } else {
        format!("{name}:latest")
    }
}

fn details() -> Value {
    json!({"format": "gguf", "family": "llama", "families": ["llama"], "parameter_size": "3.2B",
           "quantization_level": "Q4_K_M"})
}

async fn version(State(s): State<Shared>) -> Response {
    if Instant::now() < lock(&s).ready_at {
        return (StatusCode::SERVICE_UNAVAILABLE, "starting").into_response();
    }
    Json(json!({"version": "0.12.6"})).into_response()
}

async fn tags(State(s): State<Shared>) -> Json<Value> {
    let s = lock(&s);
    let models: Vec<Value> = s
        .present
        .iter()
        .map(|(name, (digest, size))| {
            json!({"name": name, "model": name, "modified_at": "2026-11-26T20:00:00Z", "size": size,
                   "digest": digest, "details": details()})
        })
        .collect();
    Json(json!({ "models": models }))
}

/// The model name of a request body: current clients send `model`, older ones `name`.
fn model_of(body: &Value) -> &str {
    body.get("model")
        .or_else(|| body.get("name"))
        .and_then(Value::as_str)
        .unwrap_or_default()
}

/// A pull from another registry: where, and the name the model is stored under.
struct Remote {
    /// `http://<host>/v2/<namespace>/<model>/`.
    base: String,
    tag: String,
    /// `<host>/<namespace>/<model>:<tag>`.
    stored: String,
}

/// The registry `name` names, when it names one that is reached over plain HTTP.
fn remote(name: &str, insecure: bool) -> Option<Remote> {
    let (scheme, rest) = match name.split_once("://") {
        Some((scheme, rest)) => (Some(scheme), rest),
        None => (None, name),
    };
    if !(insecure || scheme == Some("http")) {
        return None;
    }
    let rest = tagged(rest);
    let (path, tag) = rest.rsplit_once(':')?;
    let (host, repository) = path.split_once('/')?;
    let is_host = host.contains('.') || host.contains(':') || host == "localhost";
    (is_host && repository.contains('/')).then(|| Remote {
        base: format!("http://{host}/v2/{repository}/"),
        tag: tag.to_owned(),
        stored: rest.clone(),
    })
}

fn line(v: Value) -> String {
    let mut line = v.to_string();
    line.push('\n');
    line
}

async fn send(writer: &mut tokio::io::DuplexStream, v: Value) {
    let _ = writer.write_all(line(v).as_bytes()).await;
}

/// Fetches `url`'s body, or says why not.
async fn fetch(client: &reqwest::Client, url: &str, accept: &str) -> Result<Vec<u8>, String> {
    let response = client
        .get(url)
        .header(header::ACCEPT, accept)
        .send()
        .await
        .map_err(|e| format!("{url}: {e}"))?;
    let status = response.status();
    let body = response.bytes().await.map_err(|e| format!("{url}: {e}"))?;
    if !status.is_success() {
        let text = String::from_utf8_lossy(&body);
        return Err(if status == reqwest::StatusCode::NOT_FOUND {
            "file does not exist".to_owned()
        } else {
            format!("{status}: {}", text.trim())
        });
    }
    Ok(body.to_vec())
}

/// What a pull from another registry writes in the stream, line by line; stores the model
/// before `success`.
async fn pull_remote(
    shared: Shared,
    remote: Remote,
    writer: &mut tokio::io::DuplexStream,
) -> Result<(), String> {
    use sha2::Digest;
    send(writer, json!({"status": "pulling manifest"})).await;
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::builder()
        .build()
        .map_err(|e| format!("client: {e}"))?;
    let manifest = fetch(
        &client,
        &format!("{}manifests/{}", remote.base, remote.tag),
        "application/vnd.docker.distribution.manifest.v2+json",
    )
    .await
    .map_err(|e| format!("pull model manifest: {e}"))?;
    let parsed: Value =
        serde_json::from_slice(&manifest).map_err(|e| format!("pull model manifest: {e}"))?;
    let mut blobs: Vec<(String, i64)> = parsed["layers"]
        .as_array()
        .into_iter()
        .flatten()
        .chain(parsed.get("config"))
        .map(|b| {
            (
                b["digest"].as_str().unwrap_or_default().to_owned(),
                b["size"].as_i64().unwrap_or_default(),
            )
        })
        .collect();
    blobs.dedup();
    let mut fetched = Vec::new();
    for (digest, total) in &blobs {
        let short: String = digest
            .trim_start_matches("sha256:")
            .chars()
            .take(12)
            .collect();
        let status = format!("pulling {short}");
        send(
            writer,
            json!({"status": status, "digest": digest, "total": total}),
        )
        .await;
        let body = fetch(
            &client,
            &format!("{}blobs/{digest}", remote.base),
            "application/octet-stream",
        )
        .await?;
        let completed = json!({"status": status, "digest": digest, "total": total,
                               "completed": body.len()});
        send(writer, completed).await;
        fetched.push((digest.clone(), hex::encode(sha2::Sha256::digest(&body))));
    }
    send(writer, json!({"status": "verifying sha256 digest"})).await;
    for (digest, got) in fetched {
        if digest.strip_prefix("sha256:") != Some(got.as_str()) {
            return Err(format!(
                "digest mismatch, file must be downloaded again: want {digest}, got sha256:{got}"
            ));
        }
    }
    send(writer, json!({"status": "writing manifest"})).await;
    lock(&shared).present.insert(
        remote.stored,
        (
            hex::encode(sha2::Sha256::digest(&manifest)),
            blobs.iter().map(|(_, size)| size).sum(),
        ),
    );
    send(writer, json!({"status": "success"})).await;
    Ok(())
}

async fn pull(State(s): State<Shared>, Json(body): Json<Value>) -> Response {
    let asked = model_of(&body);
    let insecure = body.get("insecure").and_then(Value::as_bool) == Some(true);
    let model = tagged(asked);
    if let Some(remote) = remote(asked, insecure) {
        lock(&s).pulls.push(model);
        let (mut writer, reader) = tokio::io::duplex(1024);
        let shared = Arc::clone(&s);
        tokio::spawn(async move {
            if let Err(message) = pull_remote(shared, remote, &mut writer).await {
                send(&mut writer, json!({"error": message})).await;
            }
        });
        return ndjson(Body::from_stream(tokio_util::io::ReaderStream::new(reader)));
    }
    let (layers, error) = {
        let mut state = lock(&s);
        state.pulls.push(model.clone());
        (state.library.get(&model).cloned(), state.pull_error.clone())
    };
    let (mut writer, reader) = tokio::io::duplex(1024);
    let shared = Arc::clone(&s);
    tokio::spawn(async move {
        let send = |v: Value| {
            let mut line = v.to_string();
            line.push('\n');
            line
        };
        let mut lines = vec![send(json!({"status": "pulling manifest"}))];
        let Some(Library(layers)) = layers else {
            lines.push(send(
                json!({"error": "pull model manifest: file does not exist"}),
            ));
            for line in lines {
                let _ = writer.write_all(line.as_bytes()).await;
            }
            return;
        };
        for (i, (digest, total)) in layers.iter().enumerate() {
            let short: String = digest
                .trim_start_matches("sha256:")
                .chars()
                .take(12)
                .collect();
            let status = format!("pulling {short}");
            lines.push(send(
                json!({"status": status, "digest": digest, "total": total}),
            ));
            for part in [1, 2] {
                lines.push(send(json!({"status": status, "digest": digest, "total": total, "completed": total * part / 2})));
                if let (Some(message), 0, 1) = (&error, i, part) {
                    lines.push(send(json!({"error": message})));
                    for line in lines {
                        let _ = writer.write_all(line.as_bytes()).await;
                    }
                    return;
                }
            }
        }
        lines.push(send(json!({"status": "verifying sha256 digest"})));
        lines.push(send(json!({"status": "writing manifest"})));
        lines.push(send(json!({"status": "success"})));
        // The manifest is written before `success` is sent.
        let size = layers.iter().map(|(_, t)| t).sum();
        lock(&shared)
            .present
            .insert(model.clone(), (format!("{model}-digest"), size));
        for line in lines {
            // Small writes with pauses: lines arrive split across chunks.
            for piece in line.as_bytes().chunks(40) {
                let _ = writer.write_all(piece).await;
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
    });
    ndjson(Body::from_stream(tokio_util::io::ReaderStream::new(reader)))
}

fn ndjson(body: Body) -> Response {
    Response::builder()
        .header(header::CONTENT_TYPE, "application/x-ndjson")
        .body(body)
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

fn not_found(model: &str) -> Response {
    (
        StatusCode::NOT_FOUND,
        Json(json!({"error": format!("model '{model}' not found")})),
    )
        .into_response()
}

async fn copy(State(s): State<Shared>, Json(body): Json<Value>) -> Response {
    let name = |key| tagged(body.get(key).and_then(Value::as_str).unwrap_or_default());
    let (source, destination) = (name("source"), name("destination"));
    let mut s = lock(&s);
    let Some(model) = s.present.get(&source).cloned() else {
        return not_found(&source);
    };
    s.present.insert(destination.clone(), model);
    s.copies.push((source, destination));
    StatusCode::OK.into_response()
}

async fn remove(State(s): State<Shared>, Json(body): Json<Value>) -> Response {
    let model = tagged(model_of(&body));
    let mut s = lock(&s);
    if s.present.remove(&model).is_none() {
        return not_found(&model);
    }
    s.loaded.retain(|m| *m != model);
    s.deletes.push(model);
    StatusCode::OK.into_response()
}

async fn generate(State(s): State<Shared>, Json(body): Json<Value>) -> Response {
    let model = tagged(
        body.get("model")
            .and_then(Value::as_str)
            .unwrap_or_default(),
    );
    let has_prompt = body
        .get("prompt")
        .and_then(Value::as_str)
        .is_some_and(|p| !p.is_empty());
    let mut s = lock(&s);
    if !s.present.contains_key(&model) {
        return (
            StatusCode::NOT_FOUND,
            Json(json!({"error": format!("model '{model}' not found")})),
        )
            .into_response();
    }
    if has_prompt {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": "this test server only loads models"})),
        )
            .into_response();
    }
    if !s.loaded.contains(&model) {
        s.loaded.push(model.clone());
    }
    Json(
        json!({"model": model, "created_at": "2026-11-26T20:00:00Z", "response": "", "done": true,
                "done_reason": "load"}),
    )
    .into_response()
}

async fn ps(State(s): State<Shared>) -> Json<Value> {
    let s = lock(&s);
    let models: Vec<Value> = s
        .loaded
        .iter()
        .filter_map(|m| s.present.get(m).map(|(digest, size)| (m, digest, size)))
        .map(|(m, digest, size)| {
            let vram = match s.vram {
                Vram::All => *size,
                Vram::Part(share) => (*size as f64 * share) as i64,
            };
            json!({"name": m, "model": m, "size": size, "digest": digest, "details": details(),
                   "expires_at": "2026-11-26T20:05:00Z", "size_vram": vram})
        })
        .collect();
    Json(json!({ "models": models }))
}

/// Starts the sidecar; returns its base URL and the shared state.
pub async fn start(sidecar: Sidecar) -> (String, Shared) {
    let shared = Arc::new(Mutex::new(sidecar));
    let router = Router::new()
        .route("/", get(|| async { "Ollama is running" }))
        .route("/api/version", get(version))
        .route("/api/tags", get(tags))
        .route("/api/pull", post(pull))
        .route("/api/copy", post(copy))
        .route("/api/delete", delete(remove))
        .route("/api/generate", post(generate))
        .route("/api/ps", get(ps))
        .with_state(Arc::clone(&shared));
    (crate::http::serve(router).await, shared)
}

/// A library model of two layers (a big blob and a small params file).
pub fn two_layers(blob: i64) -> Library {
    Library(vec![
        ("sha256:6a0746a1ec1aabcdef".into(), blob),
        ("sha256:4fa551d4f938abcdef".into(), 12_403),
    ])
}
