//! The ollama step against a loopback Ollama: waiting for the sidecar, diffing `/api/tags`,
//! per-layer pull progress on the board, in-stream errors, and the VRAM check both ways.

#[allow(dead_code)]
mod support;

use std::time::{Duration, Instant};

use openclaw_api::{instance::status::StepState, plan::OllamaPlan};
use openclaw_supervisor::{board::Board, pipeline};
use openclaw_testkit::ollama::{self, Sidecar, Vram, two_layers};

async fn setup(
    sidecar: Sidecar,
    models: &[&str],
    gpu: u32,
) -> (
    tempfile::TempDir,
    pipeline::PipelineEnv,
    openclaw_api::plan::RuntimePlan,
    ollama::Shared,
) {
    let (url, shared) = ollama::start(sidecar).await;
    let home = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let env = support::env(home.path());
    let mut plan = support::plan();
    plan.ollama = Some(OllamaPlan {
        host: url,
        models: models.iter().map(|m| (*m).to_owned()).collect(),
        gpu,
    });
    (home, env, plan, shared)
}

fn library() -> Sidecar {
    let mut sidecar = Sidecar::default();
    sidecar
        .library
        .insert("llama3.2:latest".into(), two_layers(2_019_377_376));
    sidecar
        .present
        .insert("qwen3:8b".into(), ("sha256:qwen".into(), 5_000_000_000));
    sidecar
}

#[tokio::test]
async fn pulls_what_is_missing_with_progress_and_checks_vram() {
    let mut sidecar = library();
    sidecar.ready_at = Instant::now() + Duration::from_millis(600);
    let (_home, env, plan, shared) = setup(sidecar, &["llama3.2", "qwen3:8b"], 1).await;
    let board = Board::default();
    pipeline::run(&plan, &env, &board)
        .await
        .unwrap_or_else(|e| panic!("{e}"));

    let state = shared
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    assert_eq!(
        state.pulls,
        ["llama3.2:latest"],
        "only the missing model is pulled"
    );
    drop(state);
    let snapshot = board.snapshot();
    let llama = snapshot
        .model_pulls
        .iter()
        .find(|p| p.model == "llama3.2:latest")
        .cloned();
    let llama = llama.unwrap_or_else(|| panic!("{:?}", snapshot.model_pulls));
    assert_eq!(llama.state, StepState::Succeeded);
    assert_eq!(
        llama.total_bytes,
        Some(2_019_377_376 + 12_403),
        "totals summed over layers"
    );
    assert_eq!(llama.completed_bytes, 2_019_377_376 + 12_403);
    let vram = snapshot.vram().cloned().unwrap_or_default();
    assert!(vram.healthy, "{vram:?}");
    assert_eq!(vram.models[0].percent_in_vram, 100);
    assert_eq!(vram.models[0].vram_bytes, vram.models[0].size_bytes);
    assert_eq!(
        snapshot.versions.get("ollama").map(String::as_str),
        Some("0.12.6")
    );
}

#[tokio::test]
async fn partial_vram_is_a_degraded_warning_not_a_failure() {
    let mut sidecar = Sidecar::default();
    sidecar.present.insert(
        "llama3.2:latest".into(),
        ("sha256:l".into(), 2 * 1024 * 1024 * 1024),
    );
    sidecar.vram = Vram::Part(0.6);
    let (_home, env, plan, _shared) = setup(sidecar, &["llama3.2"], 1).await;
    let board = Board::default();
    pipeline::run(&plan, &env, &board)
        .await
        .unwrap_or_else(|e| panic!("the gateway may start: {e}"));
    let snapshot = board.snapshot();
    let vram = snapshot.vram().cloned().unwrap_or_default();
    assert!(!vram.healthy);
    assert_eq!(
        vram.message.as_deref(),
        Some(
            "llama3.2:latest: 1.2 GiB of 2.0 GiB in VRAM (60%); Ollama fell back to CPU for the rest"
        )
    );
    let step = snapshot.steps.iter().find(|s| s.name == "ollama").cloned();
    assert_eq!(
        step.map(|s| (s.state, s.error)),
        Some((StepState::Succeeded, None))
    );
    assert!(snapshot.pipeline_done);
}

#[tokio::test]
async fn an_error_in_the_stream_fails_the_step_clearly() {
    let mut sidecar = library();
    sidecar.pull_error = Some("write /root/.ollama/models/blobs: no space left on device".into());
    let (_home, env, plan, _shared) = setup(sidecar, &["llama3.2", "nosuchmodel"], 0).await;
    let board = Board::default();
    let error = match pipeline::run(&plan, &env, &board).await {
        Err(e) => e.to_string(),
        Ok(_) => panic!("a failed pull must fail the pipeline"),
    };
    assert!(error.contains("ollama: pulling llama3.2:latest failed: write /root/.ollama/models/blobs: no space left on device"), "{error}");
    assert!(
        error.contains(
            "pulling nosuchmodel:latest failed: pull model manifest: file does not exist"
        ),
        "{error}"
    );
    let pulls = board.snapshot().model_pulls;
    let llama = pulls
        .iter()
        .find(|p| p.model == "llama3.2:latest")
        .cloned()
        .unwrap_or_else(|| panic!("{pulls:?}"));
    assert_eq!(llama.state, StepState::Failed);
    assert_eq!(
        llama.completed_bytes,
        2_019_377_376 / 2,
        "progress up to the error"
    );
    assert!(llama.error.is_some_and(|e| e.contains("no space left")));
    assert_eq!(
        board.snapshot().gpu,
        None,
        "no GPU asked for, none on this node"
    );
}

#[tokio::test]
async fn an_absent_sidecar_fails_after_the_wait() {
    let home = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let mut env = support::env(home.path());
    env.ollama_wait = Duration::from_millis(500);
    let mut plan = support::plan();
    // A port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(1);
    plan.ollama = Some(OllamaPlan {
        host: format!("http://127.0.0.1:{port}"),
        models: vec!["llama3.2".into()],
        gpu: 0,
    });
    let error = match pipeline::run(&plan, &env, &Board::default()).await {
        Err(e) => e.to_string(),
        Ok(_) => panic!("no sidecar, no models"),
    };
    assert!(
        error.contains("did not answer /api/version within"),
        "{error}"
    );
}
