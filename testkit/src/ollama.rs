//! A loopback Ollama sidecar that follows its documented API: `/api/version`, `/api/tags`, streaming
//! `/api/pull` (NDJSON, per-layer `digest`/`total`/`completed` lines, `success`; or an in-stream
//! `{"error"}` line after a 200), `/api/generate` without a prompt (loads the model) and
//! `/api/ps`, which can put every loaded model in VRAM or part of it on the CPU.

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
    routing::{get, post},
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
    /// `/api/pull` requests, by model.
    pub pulls: Vec<String>,
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
        }
    }
}

pub type Shared = Arc<Mutex<Sidecar>>;

fn lock(s: &Shared) -> std::sync::MutexGuard<'_, Sidecar> {
    s.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn tagged(name: &str) -> String {
    if name.contains(':') {
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

async fn pull(State(s): State<Shared>, Json(body): Json<Value>) -> Response {
    // Current clients send `model`; older ones `name`.
    let model = body
        .get("model")
        .or_else(|| body.get("name"))
        .and_then(Value::as_str)
        .unwrap_or_default();
    let model = tagged(model);
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
    Response::builder()
        .header(header::CONTENT_TYPE, "application/x-ndjson")
        .body(Body::from_stream(tokio_util::io::ReaderStream::new(reader)))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
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
