//! Step `ollama`: waits for the Ollama sidecar, pulls the plan's models it does not have yet
//! (progress per model on the board), and when the instance asked for GPUs, loads each model
//! once and checks that all of it sits in VRAM.
//!
//! Decision: a model that is not (fully) on the GPU does not fail the step and does not block
//! the gateway: the agent still works, slower. It is reported as a degraded GPU check, with the
//! numbers, in the board's `gpu.ollama` (and the log), so the operator can raise a condition.
//! A failed pull does fail the step: the model the user asked for is missing.
//!
//! With a registry mirror (`OPENCLAW_MIRROR_OLLAMA`, the node cache by default) each missing
//! model is pulled through it, then named as the user wrote it (see [`mirror`]). A pull through
//! the mirror that fails is followed by a direct pull, with a warning: the mirror is a shortcut,
//! never a new way to fail.

mod api;
mod mirror;
mod progress;
mod vram;

use openclaw_api::instance::status::{ModelPull, StepState};
use serde::Serialize;

use api::{Ollama, OllamaError};
use mirror::MirrorPull;
use progress::{Progress, normalize};
use vram::{GpuCheck, assess};

use super::{
    gpu,
    http::RetryPolicy,
    step::{
        BoxFuture, Done, Step, StepCtx, StepError, StepOutput, error_chain, inputs_json, names,
    },
};

/// The models that could not be pulled.
#[derive(Debug)]
pub struct PullsFailed(pub Vec<OllamaError>);

impl std::fmt::Display for PullsFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(
            &self
                .0
                .iter()
                .map(|e| error_chain(e))
                .collect::<Vec<_>>()
                .join("; "),
        )
    }
}

impl std::error::Error for PullsFailed {}

/// The `ollama` step (only in the graph when the plan has models to pull).
#[derive(Debug)]
pub struct OllamaStep;

fn client(ctx: &StepCtx) -> Option<Ollama<'_>> {
    let plan = ctx.plan.ollama.as_ref()?;
    Some(Ollama {
        http: &ctx.http,
        host: &plan.host,
        retry: RetryPolicy::new(ctx.env.retry_base),
    })
}

fn wanted(ctx: &StepCtx) -> Vec<String> {
    let mut models: Vec<String> = ctx
        .plan
        .ollama
        .iter()
        .flat_map(|p| p.models.iter().map(|m| normalize(m)))
        .collect();
    models.dedup();
    models
}

#[derive(Serialize)]
struct Inputs {
    host: String,
    gpu: u32,
    ollama: String,
    /// Wanted models and the digest the sidecar has of each (`None`: missing).
    models: Vec<(String, Option<String>)>,
    /// The node's driver and GPUs: the placement may change with them.
    node: Option<gpu::NodeGpuFacts>,
}

impl Step for OllamaStep {
    fn name(&self) -> &'static str {
        names::OLLAMA
    }

    /// Independent of the workspace: starts at once, in parallel with everything.
    fn deps(&self) -> Vec<&'static str> {
        Vec::new()
    }

    /// What the sidecar has now (its model store may be an emptyDir that a restart wiped).
    fn inputs<'a>(&'a self, ctx: &'a StepCtx) -> BoxFuture<'a, Result<Option<Vec<u8>>, StepError>> {
        Box::pin(async move {
            let (Some(api), Some(plan)) = (client(ctx), ctx.plan.ollama.as_ref()) else {
                return Ok(None);
            };
            let version = api.wait_ready(ctx.env.ollama_wait).await?;
            let tags = api.tags().await?;
            let models = wanted(ctx)
                .into_iter()
                .map(|m| {
                    let digest = tags
                        .iter()
                        .find(|t| normalize(&t.name) == m)
                        .map(|t| t.digest.clone());
                    (m, digest)
                })
                .collect();
            inputs_json(&Inputs {
                host: plan.host.clone(),
                gpu: plan.gpu,
                ollama: version,
                models,
                node: gpu::node_facts(&ctx.env.host_root),
            })
        })
    }

    fn run<'a>(&'a self, ctx: &'a StepCtx) -> BoxFuture<'a, Result<Done, StepError>> {
        Box::pin(async move {
            let (Some(api), Some(plan)) = (client(ctx), ctx.plan.ollama.as_ref()) else {
                return Ok(Done::Skipped(StepOutput::summary("no Ollama sidecar")));
            };
            let version = api.wait_ready(ctx.env.ollama_wait).await?;
            let tags = api.tags().await?;
            let models = wanted(ctx);
            let pull = model_pull;
            let mirror = ctx.env.mirrors.ollama_registry.as_deref();
            if mirror.is_some_and(|m| mirror::mirror_host(m).is_none()) {
                // The value is not logged: it may carry credentials.
                tracing::warn!(
                    "OPENCLAW_MIRROR_OLLAMA is not an http(s)://host[:port] URL; pulling from Ollama's registry"
                );
            }
            let mut missing = Vec::new();
            for model in &models {
                match tags.iter().find(|t| normalize(&t.name) == *model) {
                    Some(tag) => ctx.board.model_pull(pull(
                        model,
                        StepState::Succeeded,
                        tag.size,
                        Some(tag.size),
                        None,
                    )),
                    None => {
                        ctx.board
                            .model_pull(pull(model, StepState::Pending, 0, None, None));
                        missing.push(model.clone());
                    }
                }
            }
            let mut failures = Vec::new();
            let (mut mirrored, mut fell_back) = (0, Vec::new());
            for model in &missing {
                let mut last = (0, None);
                let result = pull_model(ctx, &api, model, &mut last).await;
                match result {
                    Ok(how) => {
                        match how {
                            Pulled::Direct => {}
                            Pulled::Mirror => mirrored += 1,
                            Pulled::DirectAfterMirror => fell_back.push(model.as_str()),
                        }
                        ctx.board.model_pull(pull(
                            model,
                            StepState::Succeeded,
                            last.0,
                            last.1,
                            None,
                        ))
                    }
                    Err(e) => {
                        ctx.board.model_pull(pull(
                            model,
                            StepState::Failed,
                            last.0,
                            last.1,
                            Some(error_chain(&e)),
                        ));
                        failures.push(e);
                    }
                }
            }
            if !failures.is_empty() {
                return Err(PullsFailed(failures).into());
            }
            let mut output = StepOutput::summary(format!(
                "{} pulled, {} already present",
                missing.len(),
                models.len() - missing.len()
            ));
            if let (Some(mirror), true) = (mirror, mirrored > 0) {
                output
                    .summary
                    .push_str(&format!("; {mirrored} through the mirror {mirror}"));
            }
            if !fell_back.is_empty() {
                output.summary.push_str(&format!(
                    "; pulled directly after the mirror failed: {}",
                    fell_back.join(", ")
                ));
            }
            output.versions.insert("ollama".into(), version);
            if plan.gpu > 0 {
                let check = gpu_check(&api, &models, plan.gpu).await?;
                match &check.message {
                    Some(message) => {
                        tracing::warn!(%message, "Ollama models are not (all) on the GPU");
                        output
                            .summary
                            .push_str(&format!("; GPU check degraded: {message}"));
                    }
                    None => output.summary.push_str("; every model entirely in VRAM"),
                }
                output.vram = Some(check);
            }
            Ok(Done::Ran(output))
        })
    }
}

/// The board's entry of one model's pull.
fn model_pull(
    model: &str,
    state: StepState,
    completed: i64,
    total: Option<i64>,
    error: Option<String>,
) -> ModelPull {
    ModelPull {
        model: model.to_owned(),
        state,
        completed_bytes: completed,
        total_bytes: total,
        error,
    }
}

/// How a missing model came.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pulled {
    /// From its own registry (no mirror, or one the model does not go through).
    Direct,
    /// Through the mirror.
    Mirror,
    /// From its own registry, after the pull through the mirror failed.
    DirectAfterMirror,
}

/// Pulls `model` (through the mirror when there is one), reporting progress on the board;
/// `last` keeps the last byte counts.
async fn pull_model(
    ctx: &StepCtx,
    api: &Ollama<'_>,
    model: &str,
    last: &mut (i64, Option<i64>),
) -> Result<Pulled, OllamaError> {
    let mut report = |p: &Progress| {
        *last = (p.completed(), p.total());
        ctx.board
            .model_pull(model_pull(model, StepState::Running, last.0, last.1, None));
    };
    let Some((mirror, through)) = ctx
        .env
        .mirrors
        .ollama_registry
        .as_deref()
        .and_then(|mirror| Some((mirror, mirror::through(model, mirror)?)))
    else {
        api.pull(model, report).await?;
        return Ok(Pulled::Direct);
    };
    let Err(e) = pull_through(api, model, mirror, &through, &mut report).await else {
        return Ok(Pulled::Mirror);
    };
    let mirror_error = error_chain(&e);
    tracing::warn!(
        model,
        mirror,
        error = %mirror_error,
        "the pull through the mirror failed; pulling from the model's registry"
    );
    match api.pull(model, report).await {
        Ok(()) => Ok(Pulled::DirectAfterMirror),
        Err(direct) => Err(OllamaError::AfterMirror {
            direct: Box::new(direct),
            mirror: mirror_error,
        }),
    }
}

/// Pulls `through.name` from the mirror, copies it to `model` and deletes the mirror's name.
async fn pull_through(
    api: &Ollama<'_>,
    model: &str,
    mirror: &str,
    through: &MirrorPull,
    report: impl FnMut(&Progress),
) -> Result<(), OllamaError> {
    let shown = format!("{model} through the mirror {mirror}");
    api.pull_as(&through.name, through.insecure, &shown, report)
        .await?;
    if let Err(e) = api.copy(&through.name, model).await {
        // Nothing left behind under the mirror's name; the direct pull follows.
        let _ = api.delete(&through.name).await;
        return Err(e);
    }
    if let Err(e) = api.delete(&through.name).await {
        tracing::warn!(
            model,
            name = %through.name,
            error = %error_chain(&e),
            "the mirror's name of the model stays (an extra name of the same blobs)"
        );
    }
    Ok(())
}

/// Loads each model once, then reads `/api/ps`. A model that fails to load is reported as not
/// on the GPU, with the reason.
async fn gpu_check(
    api: &Ollama<'_>,
    models: &[String],
    gpus: u32,
) -> Result<GpuCheck, OllamaError> {
    let mut load_errors = Vec::new();
    for model in models {
        if let Err(e) = api.load(model).await {
            load_errors.push(error_chain(&e));
        }
    }
    let mut check = assess(models, &api.ps().await?, gpus);
    if !load_errors.is_empty() {
        check.healthy = false;
        let mut message = check.message.take().map(|m| vec![m]).unwrap_or_default();
        message.extend(load_errors);
        check.message = Some(message.join("; "));
    }
    Ok(check)
}
