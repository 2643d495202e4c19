//! The start-up pipeline: prepares the workspace before the gateway starts, as a graph of steps
//! that run in parallel where independent and are skipped when their inputs did not change.
//!
//! ```text
//! restore ─┬─ config
//!          ├─ ca-bundle ── python
//!          ├─ skills
//!          ├─ plugins
//!          └─ pnpm
//! ollama            (independent: the sidecar's models, not the workspace)
//! ```
//!
//! Each step records the SHA-256 of its inputs and its output under
//! `<state_dir>/.supervisor/steps/<name>.json`; a restart with nothing changed skips every step
//! and reuses the recorded outputs (CA variables, `PATH` additions, skills, versions). Steps the
//! plan does not ask for are not in the graph (`restore` and `config` always are).

mod ca_bundle;
mod cache;
pub mod config;
pub mod dag;
mod env;
pub mod exec;
pub(crate) mod fsutil;
pub mod gateway_token;
pub mod gpu;
mod http;
pub mod merge;
pub mod node_cache;
mod npm;
mod ollama;
mod plugins;
pub(crate) mod restore;
mod runner;
mod runtime_deps;
pub mod skills;
mod step;

use std::{collections::BTreeMap, path::PathBuf, sync::Arc};

use openclaw_api::plan::RuntimePlan;
use openclaw_api::supervisor::GpuReport;

pub use env::{
    DEFAULT_CLAWHUB_URL, DEFAULT_PATH, DEFAULT_PYPI_INDEX, Mirrors, PipelineEnv, Secret,
};
pub use runner::Outcome;
pub use step::{StepOutput, names};

use crate::board::Board;
use step::{SharedStep, StepCtx};

/// What the gateway needs from the pipeline.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PipelineOutcome {
    /// Variables to set in the gateway's environment: the CA variables and `PATH` (the
    /// pipeline's directories in front of [`PipelineEnv::path`]).
    pub gateway_env: Vec<(String, String)>,
    /// The directories put in front of `PATH`, for a caller that composes `PATH` itself.
    pub path_additions: Vec<PathBuf>,
    /// Each step's outcome, in dependency order.
    pub steps: Vec<(String, Outcome)>,
}

/// Why the pipeline did not complete.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// The step graph is malformed (a bug).
    #[error("invalid pipeline")]
    Graph(#[from] dag::DagError),
    /// The HTTP client could not be built.
    #[error("failed to set up the pipeline's HTTP client")]
    Http(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// Steps failed; the gateway must not start. Each entry is `(step, message)`, blocked
    /// dependents included.
    #[error("start-up failed: {}", .failed.iter().map(|(s, e)| format!("{s}: {e}")).collect::<Vec<_>>().join("; "))]
    StepsFailed { failed: Vec<(String, String)> },
}

/// The steps `plan` asks for, in declaration order.
fn steps(plan: &RuntimePlan) -> Vec<SharedStep> {
    let mut steps: Vec<SharedStep> =
        vec![Arc::new(restore::RestoreStep), Arc::new(config::ConfigStep)];
    if plan.gateway.token_file.is_some() {
        steps.push(Arc::new(gateway_token::GatewayTokenStep));
    }
    if plan.ca_bundle.is_some() {
        steps.push(Arc::new(ca_bundle::CaBundleStep));
    }
    if !plan.skills.is_empty() {
        steps.push(Arc::new(skills::SkillsStep));
    }
    if !plan.plugins.is_empty() {
        steps.push(Arc::new(plugins::PluginsStep));
    }
    if plan.runtime_deps.pnpm {
        steps.push(Arc::new(runtime_deps::PnpmStep));
    }
    if plan.runtime_deps.python {
        steps.push(Arc::new(runtime_deps::PythonStep {
            with_ca: plan.ca_bundle.is_some(),
        }));
    }
    if plan.ollama.as_ref().is_some_and(|o| !o.models.is_empty()) {
        steps.push(Arc::new(ollama::OllamaStep));
    }
    steps
}

/// Runs the pipeline for `plan`, showing progress on `board`; on success, returns what the
/// gateway's environment needs. Sets the board's `pipeline_done` / `pipeline_failed`, its skills,
/// versions and GPU facts (`gpu.node` from `/proc/driver/nvidia`, `gpu.ollama` from the check).
pub async fn run(
    plan: &RuntimePlan,
    env: &PipelineEnv,
    board: &Board,
) -> Result<PipelineOutcome, PipelineError> {
    let custom_ca = plan.ca_bundle.as_ref().map(|c| PathBuf::from(&c.path));
    let http = http::client(&env.system_ca_file, custom_ca.as_deref())
        .map_err(|e| PipelineError::Http(e.into()))?;
    let node = gpu::node_facts(&env.host_root);
    board.update(|s| {
        s.pipeline_done = false;
        s.pipeline_failed = false;
        s.gpu = node.map(|facts| GpuReport {
            node: Some(facts),
            ollama: None,
        });
    });
    let ctx = Arc::new(StepCtx {
        plan: plan.clone(),
        env: env.clone(),
        board: board.clone(),
        http,
    });
    let records = env.state_dir.join(cache::RECORDS_DIR);
    let results = runner::run_steps(steps(plan), ctx, &records).await?;
    let outputs: Vec<&StepOutput> = results.iter().filter_map(|(_, o)| o.output()).collect();
    apply_to_board(board, &outputs);
    let failed: Vec<(String, String)> = results
        .iter()
        .filter_map(|(name, o)| o.error().map(|e| ((*name).to_owned(), e.to_owned())))
        .collect();
    board.update(|s| {
        s.pipeline_done = failed.is_empty();
        s.pipeline_failed = !failed.is_empty();
    });
    if !failed.is_empty() {
        return Err(PipelineError::StepsFailed { failed });
    }
    let (gateway_env, path_additions) = gateway_env(env, &outputs);
    Ok(PipelineOutcome {
        gateway_env,
        path_additions,
        steps: results
            .into_iter()
            .map(|(n, o)| (n.to_owned(), o))
            .collect(),
    })
}

/// Skills, versions and GPU findings of the steps onto the board.
fn apply_to_board(board: &Board, outputs: &[&StepOutput]) {
    board.update(|s| {
        s.skills = outputs
            .iter()
            .flat_map(|o| o.skills.iter().cloned())
            .collect();
        for output in outputs {
            s.versions
                .extend(output.versions.iter().map(|(k, v)| (k.clone(), v.clone())));
            if let Some(check) = &output.vram {
                s.gpu.get_or_insert_default().ollama = Some(check.clone());
            }
        }
    });
}

/// The gateway's variables: the steps' own, then `PATH` with the steps' directories in front.
fn gateway_env(
    env: &PipelineEnv,
    outputs: &[&StepOutput],
) -> (Vec<(String, String)>, Vec<PathBuf>) {
    let mut vars: BTreeMap<String, String> = BTreeMap::new();
    for output in outputs {
        vars.extend(output.env.iter().cloned());
    }
    let mut additions: Vec<PathBuf> = Vec::new();
    for dir in outputs.iter().flat_map(|o| o.path.iter()) {
        if !additions.contains(dir) {
            additions.push(dir.clone());
        }
    }
    if !additions.is_empty() {
        let path = additions
            .iter()
            .map(|d| d.display().to_string())
            .chain(std::iter::once(env.path.clone()))
            .collect::<Vec<_>>()
            .join(":");
        vars.insert("PATH".into(), path);
    }
    (vars.into_iter().collect(), additions)
}

/// A small plan for unit tests.
#[cfg(test)]
pub(crate) fn test_plan() -> RuntimePlan {
    use openclaw_api::{
        instance::{ConfigFormat, MergeMode, RuntimeDeps},
        plan::{ConfigPlan, GATEWAY_PORT, GatewayBind, GatewayPlan, InstanceRef, PLAN_VERSION},
    };
    RuntimePlan {
        version: PLAN_VERSION,
        instance: InstanceRef {
            name: "a".into(),
            namespace: "n".into(),
        },
        config: ConfigPlan {
            raw: None,
            file: None,
            merge_mode: MergeMode::Overwrite,
            format: ConfigFormat::Json,
        },
        ca_bundle: None,
        skills: Vec::new(),
        plugins: Vec::new(),
        runtime_deps: RuntimeDeps::default(),
        ollama: None,
        gateway: GatewayPlan {
            port: GATEWAY_PORT,
            bind: GatewayBind::Loopback,
            token_env: "T".into(),
            token_file: None,
        },
        status_port: 9090,
        backup: None,
        restore: None,
    }
}
