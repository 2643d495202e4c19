//! Step `ollama`: waits for the Ollama sidecar, pulls the plan's models it does not have yet
//! (progress per model on the board), and when the instance asked for GPUs, loads each model
//! once and checks that all of it sits in VRAM.
//!
//! Decision: a model that is not (fully) on the GPU does not fail the step and does not block
//! the gateway: the agent still works, slower. It is reported as a degraded GPU check, with the
//! numbers, in the board's `gpu.ollama` (and the log), so the operator can raise a condition.
//! A failed pull does fail the step: the model the user asked for is missing.

mod api;
mod progress;
mod vram;

use openclaw_api::instance::status::{ModelPull, StepState};
use serde::Serialize;

use api::{Ollama, OllamaError};
use progress::normalize;
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
            let pull = |model: &str, state, completed, total, error| ModelPull {
                model: model.to_owned(),
                state,
                completed_bytes: completed,
                total_bytes: total,
                error,
            };
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
            for model in &missing {
                let mut last = (0, None);
                let result = api
                    .pull(model, |p| {
                        last = (p.completed(), p.total());
                        ctx.board
                            .model_pull(pull(model, StepState::Running, last.0, last.1, None));
                    })
                    .await;
                match result {
                    Ok(()) => ctx.board.model_pull(pull(
                        model,
                        StepState::Succeeded,
                        last.0,
                        last.1,
                        None,
                    )),
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
