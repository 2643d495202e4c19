//! The ollama step pulling through a registry mirror (`OPENCLAW_MIRROR_OLLAMA`, the node cache's
//! root): a loopback registry that serves one model over the registry protocol, the loopback
//! Ollama fetching and verifying it, the copy to the plain name, the removal of the long one,
//! and the direct pull when the mirror's pull fails.

#[allow(dead_code)]
mod support;

use std::{
    collections::BTreeMap,
    io::Write,
    sync::{Arc, Mutex},
};

use axum::{
    Router,
    extract::{Path, State},
    http::{StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};
use openclaw_api::{instance::status::StepState, plan::OllamaPlan};
use openclaw_supervisor::{board::Board, pipeline};
use openclaw_testkit::ollama::{self, Sidecar, two_layers};
use serde_json::json;
use sha2::{Digest, Sha256};

/// What the loopback registry serves and what it was asked.
#[derive(Default)]
struct Registry {
    manifest: Vec<u8>,
    /// Digest → the bytes served under it.
    blobs: BTreeMap<String, Vec<u8>>,
    /// `(digest, size)` of the model layer and the config, as the manifest lists them.
    listed: Vec<(String, usize)>,
    manifest_gets: usize,
    blob_gets: Vec<String>,
}

type SharedRegistry = Arc<Mutex<Registry>>;

fn lock(r: &SharedRegistry) -> std::sync::MutexGuard<'_, Registry> {
    r.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

async fn get_manifest(State(r): State<SharedRegistry>, Path(tag): Path<String>) -> Response {
    let mut r = lock(&r);
    r.manifest_gets += 1;
    if tag != "8b" {
        return (
            StatusCode::NOT_FOUND,
            axum::Json(json!({"errors": [{"code": "MANIFEST_UNKNOWN"}]})),
        )
            .into_response();
    }
    (
        [(
            header::CONTENT_TYPE,
            "application/vnd.docker.distribution.manifest.v2+json",
        )],
        r.manifest.clone(),
    )
        .into_response()
}

async fn get_blob(State(r): State<SharedRegistry>, Path(digest): Path<String>) -> Response {
    let mut r = lock(&r);
    r.blob_gets.push(digest.clone());
    match r.blobs.get(&digest) {
        Some(bytes) => bytes.clone().into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// A registry serving `library/qwen3:8b`; with `corrupt`, the model blob's bytes do not match
/// its digest.
async fn registry(corrupt: bool) -> (String, SharedRegistry) {
    let weights: Vec<u8> = b"GGUF".iter().copied().cycle().take(64 * 1024).collect();
    let config = br#"{"model_format":"gguf","model_family":"qwen3","file_type":"Q4_K_M"}"#.to_vec();
    let (weights_digest, config_digest) = (digest(&weights), digest(&config));
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {"digest": config_digest, "size": config.len(),
                   "mediaType": "application/vnd.docker.container.image.v1+json"},
        "layers": [{"digest": weights_digest, "size": weights.len(),
                    "mediaType": "application/vnd.ollama.image.model"}],
    });
    let mut served = weights.clone();
    if corrupt {
        served[100] ^= 0xff;
    }
    let registry = Arc::new(Mutex::new(Registry {
        manifest: manifest.to_string().into_bytes(),
        blobs: BTreeMap::from([
            (weights_digest.clone(), served),
            (config_digest.clone(), config.clone()),
        ]),
        listed: vec![
            (weights_digest, weights.len()),
            (config_digest, config.len()),
        ],
        ..Registry::default()
    }));
    let router = Router::new()
        .route("/v2/library/qwen3/manifests/{tag}", get(get_manifest))
        .route("/v2/library/qwen3/blobs/{digest}", get(get_blob))
        .with_state(Arc::clone(&registry));
    (openclaw_testkit::http::serve(router).await, registry)
}

struct Setup {
    _home: tempfile::TempDir,
    env: pipeline::PipelineEnv,
    plan: openclaw_api::plan::RuntimePlan,
    ollama: ollama::Shared,
    registry: SharedRegistry,
    /// `host:port` of the registry.
    host: String,
}

async fn setup(sidecar: Sidecar, models: &[&str], corrupt: bool) -> Setup {
    let (url, shared) = ollama::start(sidecar).await;
    let (mirror, registry) = registry(corrupt).await;
    let home = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let mut env = support::env(home.path());
    env.mirrors.ollama_registry = Some(mirror.clone());
    let mut plan = support::plan();
    plan.ollama = Some(OllamaPlan {
        host: url,
        models: models.iter().map(|m| (*m).to_owned()).collect(),
        gpu: 0,
    });
    Setup {
        _home: home,
        env,
        plan,
        ollama: shared,
        registry,
        host: mirror.trim_start_matches("http://").to_owned(),
    }
}

fn sidecar(s: &ollama::Shared) -> std::sync::MutexGuard<'_, ollama::Sidecar> {
    s.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn summary(outcome: &pipeline::PipelineOutcome) -> String {
    outcome
        .steps
        .iter()
        .find(|(name, _)| name == "ollama")
        .and_then(|(_, o)| o.output())
        .map(|o| o.summary.clone())
        .unwrap_or_default()
}

/// What the supervisor logs while the guard lives (this thread: `tokio::test` runs every task
/// on it).
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Logs {
    type Writer = Logs;

    fn make_writer(&'a self) -> Logs {
        self.clone()
    }
}

impl Logs {
    fn capture(&self) -> tracing::subscriber::DefaultGuard {
        tracing::subscriber::set_default(
            tracing_subscriber::fmt()
                .with_ansi(false)
                .with_writer(self.clone())
                .finish(),
        )
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(
            &self
                .0
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        )
        .into_owned()
    }
}

#[tokio::test]
async fn pulls_through_the_mirror_and_names_the_model_as_asked() {
    let s = setup(Sidecar::default(), &["qwen3:8b"], false).await;
    let board = Board::default();
    let outcome = pipeline::run(&s.plan, &s.env, &board)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let long = format!("{}/library/qwen3:8b", s.host);

    let (listed, manifest_gets, blob_gets) = {
        let r = lock(&s.registry);
        (r.listed.clone(), r.manifest_gets, r.blob_gets.clone())
    };
    assert_eq!(manifest_gets, 1, "the manifest came from the mirror");
    let mut wanted: Vec<String> = listed.iter().map(|(d, _)| d.clone()).collect();
    let mut got = blob_gets.clone();
    wanted.sort();
    got.sort();
    assert_eq!(got, wanted, "every blob came from the mirror, once");
    {
        let state = sidecar(&s.ollama);
        assert_eq!(
            state.pulls,
            std::slice::from_ref(&long),
            "one pull, of the mirror's name"
        );
        assert_eq!(state.copies, [(long.clone(), "qwen3:8b".to_owned())]);
        assert_eq!(
            state.deletes,
            std::slice::from_ref(&long),
            "the long name is removed"
        );
        assert_eq!(
            state.present.keys().collect::<Vec<_>>(),
            ["qwen3:8b"],
            "/api/tags lists the model under the name the config uses"
        );
    }
    let pulls = board.snapshot().model_pulls;
    let qwen = pulls
        .iter()
        .find(|p| p.model == "qwen3:8b")
        .cloned()
        .unwrap_or_else(|| panic!("{pulls:?}"));
    let size: usize = listed.iter().map(|(_, size)| size).sum();
    assert_eq!(qwen.state, StepState::Succeeded);
    assert_eq!(qwen.total_bytes, Some(size as i64), "progress of the pull");
    assert_eq!(qwen.completed_bytes, size as i64);
    assert!(
        summary(&outcome).contains("1 pulled, 0 already present; 1 through the mirror http://"),
        "{}",
        summary(&outcome)
    );

    // Again, with the model present: nothing is pulled, the mirror is not asked.
    pipeline::run(&s.plan, &s.env, &Board::default())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(sidecar(&s.ollama).pulls.len(), 1, "nothing pulled again");
    let r = lock(&s.registry);
    assert_eq!((r.manifest_gets, r.blob_gets.len()), (1, 2));
}

#[tokio::test]
async fn a_corrupt_blob_falls_back_to_a_direct_pull_with_a_warning() {
    let mut direct = Sidecar::default();
    direct
        .library
        .insert("qwen3:8b".into(), two_layers(5_000_000));
    let s = setup(direct, &["qwen3:8b"], true).await;
    let logs = Logs::default();
    let guard = logs.capture();
    let board = Board::default();
    let outcome = pipeline::run(&s.plan, &s.env, &board)
        .await
        .unwrap_or_else(|e| panic!("the direct pull succeeds: {e}"));
    drop(guard);
    let long = format!("{}/library/qwen3:8b", s.host);

    assert_eq!(lock(&s.registry).blob_gets.len(), 2, "the mirror was tried");
    {
        let state = sidecar(&s.ollama);
        assert_eq!(
            state.pulls,
            [long.clone(), "qwen3:8b".to_owned()],
            "the mirror's name, then the plain name"
        );
        assert!(state.copies.is_empty(), "{:?}", state.copies);
        assert_eq!(state.present.keys().collect::<Vec<_>>(), ["qwen3:8b"]);
    }
    let logs = logs.text();
    assert!(logs.contains("WARN"), "{logs}");
    assert!(
        logs.contains("the pull through the mirror failed; pulling from the model's registry"),
        "{logs}"
    );
    assert!(
        logs.contains(&format!(
            "pulling qwen3:8b through the mirror http://{} failed: digest mismatch, file must be downloaded again: want sha256:",
            s.host
        )),
        "the error names the model as asked, and the mirror: {logs}"
    );
    assert!(
        summary(&outcome).contains("pulled directly after the mirror failed: qwen3:8b"),
        "{}",
        summary(&outcome)
    );
    let pulls = board.snapshot().model_pulls;
    let qwen = pulls.iter().find(|p| p.model == "qwen3:8b").cloned();
    let qwen = qwen.unwrap_or_else(|| panic!("{pulls:?}"));
    assert_eq!(qwen.state, StepState::Succeeded);
    assert_eq!(
        qwen.total_bytes,
        Some(5_000_000 + 12_403),
        "the direct pull's progress"
    );
}

#[tokio::test]
async fn both_failing_fails_the_step_naming_both() {
    let s = setup(Sidecar::default(), &["qwen3:8b"], true).await;
    let board = Board::default();
    let error = match pipeline::run(&s.plan, &s.env, &board).await {
        Err(e) => e.to_string(),
        Ok(_) => panic!("the model is nowhere"),
    };
    assert!(
        error.contains("pulling qwen3:8b failed: pull model manifest: file does not exist"),
        "{error}"
    );
    assert!(
        error.contains(&format!(
            "(after the pull through the mirror failed: pulling qwen3:8b through the mirror http://{} failed: digest mismatch",
            s.host
        )),
        "{error}"
    );
    let pulls = board.snapshot().model_pulls;
    assert!(
        pulls
            .iter()
            .any(|p| p.model == "qwen3:8b" && p.state == StepState::Failed),
        "{pulls:?}"
    );
}

#[tokio::test]
async fn a_model_of_another_registry_is_pulled_as_is() {
    let mut sidecar_state = Sidecar::default();
    sidecar_state
        .library
        .insert("hf.co/org/m:q4".into(), two_layers(1_000));
    let s = setup(sidecar_state, &["hf.co/org/m:q4"], false).await;
    pipeline::run(&s.plan, &s.env, &Board::default())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(sidecar(&s.ollama).pulls, ["hf.co/org/m:q4"]);
    assert!(sidecar(&s.ollama).copies.is_empty());
    let r = lock(&s.registry);
    assert_eq!(
        (r.manifest_gets, r.blob_gets.len()),
        (0, 0),
        "the mirror is not asked"
    );
}
