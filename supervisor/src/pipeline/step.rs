//! What a pipeline step is: a name, the steps it waits for, the inputs that decide whether it can
//! be skipped, and the effect it runs.

use std::{
    collections::BTreeMap, error::Error as StdError, fmt, future::Future, path::PathBuf, pin::Pin,
    sync::Arc,
};

use openclaw_api::{instance::status::InstalledSkill, plan::RuntimePlan};
use serde::{Deserialize, Serialize};

use super::env::PipelineEnv;
use crate::board::Board;

/// A boxed, sendable future (steps are trait objects run on tokio tasks).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Names of the steps, in the order they are declared on the board.
pub mod names {
    /// Restore the workspace from a backup (into an empty workspace only).
    pub const RESTORE: &str = "restore";
    /// Seed or merge `openclaw.json`.
    pub const CONFIG: &str = "config";
    /// Hand the gateway its token (a private copy the config's SecretRef reads).
    pub const GATEWAY_TOKEN: &str = "gateway-token";
    /// Build the combined CA bundle and export it.
    pub const CA_BUNDLE: &str = "ca-bundle";
    /// Install ClawHub skills and `npm:` packages.
    pub const SKILLS: &str = "skills";
    /// Install the plan's OpenClaw plugins into `~/.openclaw/extensions`.
    pub const PLUGINS: &str = "plugins";
    /// Install pnpm onto the workspace volume.
    pub const PNPM: &str = "pnpm";
    /// Install uv and Python 3.12 onto the workspace volume.
    pub const PYTHON: &str = "python";
    /// Pull the Ollama models and check where they run.
    pub const OLLAMA: &str = "ollama";
}

/// What every step can read: the plan, the environment, the board and one HTTP client.
#[derive(Debug)]
pub struct StepCtx {
    pub plan: RuntimePlan,
    pub env: PipelineEnv,
    pub board: Board,
    pub http: reqwest::Client,
}

/// What a finished step hands to the gateway and to the status; recorded with the step so a
/// skipped step still provides it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StepOutput {
    /// Environment variables for the gateway.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<(String, String)>,
    /// Directories to put in front of the gateway's `PATH`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub path: Vec<PathBuf>,
    /// Skills installed, for `/status`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skills: Vec<InstalledSkill>,
    /// Versions of what was installed (`pnpm`, `python`, `uv`, `ollama`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub versions: BTreeMap<String, String>,
    /// The Ollama VRAM verdict, for the board's `gpu.ollama`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vram: Option<openclaw_api::supervisor::VramCheck>,
    /// One line for people: what the step did.
    #[serde(default)]
    pub summary: String,
}

impl StepOutput {
    /// An output with only a summary.
    pub fn summary(text: impl Into<String>) -> StepOutput {
        StepOutput {
            summary: text.into(),
            ..StepOutput::default()
        }
    }
}

/// How a step ended without error.
#[derive(Clone, Debug, PartialEq)]
pub enum Done {
    /// It did its work.
    Ran(StepOutput),
    /// It found nothing to do (not requested, already in place).
    Skipped(StepOutput),
}

/// A step's failure: the step's own typed error, erased at the graph's boundary.
pub struct StepError(Box<dyn StdError + Send + Sync>);

impl StepError {
    /// Wraps a step's error.
    pub fn new(error: impl StdError + Send + Sync + 'static) -> StepError {
        StepError(Box::new(error))
    }

    /// The message and all its sources, `outer: inner: innermost`.
    pub fn chain(&self) -> String {
        error_chain(self.0.as_ref())
    }
}

impl fmt::Debug for StepError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.chain())
    }
}

impl fmt::Display for StepError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.chain())
    }
}

impl<E: StdError + Send + Sync + 'static> From<E> for StepError {
    fn from(error: E) -> StepError {
        StepError::new(error)
    }
}

pub use crate::error_chain::error_chain;

/// One step of the pipeline.
pub trait Step: Send + Sync + 'static {
    /// Name shown on the board and used for the record on the volume.
    fn name(&self) -> &'static str;

    /// Steps that must succeed before this one starts.
    fn deps(&self) -> Vec<&'static str>;

    /// The bytes whose hash decides whether the step may be skipped (a previous run with the same
    /// hash recorded its output); `None` when the step is never cached. Called before the step
    /// runs and again after it ran: the second value is what gets recorded, so a step whose
    /// inputs include its own output (the config file) is skipped on the next start.
    fn inputs<'a>(&'a self, ctx: &'a StepCtx) -> BoxFuture<'a, Result<Option<Vec<u8>>, StepError>>;

    /// Whether what the recorded run produced is still in place (files not deleted).
    fn outputs_present(&self, _ctx: &StepCtx, _recorded: &StepOutput) -> bool {
        true
    }

    /// Does the work.
    fn run<'a>(&'a self, ctx: &'a StepCtx) -> BoxFuture<'a, Result<Done, StepError>>;
}

/// A shared step.
pub type SharedStep = Arc<dyn Step>;

/// Serializes a step's inputs (a plain serde value) for hashing.
pub fn inputs_json(value: &impl Serialize) -> Result<Option<Vec<u8>>, StepError> {
    Ok(Some(serde_json::to_vec(value)?))
}
