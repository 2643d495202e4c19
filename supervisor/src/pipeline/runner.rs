//! Runs the steps of a [`Schedule`] on tokio tasks: each step as soon as its dependencies
//! succeeded, skipped when its inputs hash matches its record, and every change shown on the
//! board.

use std::{path::Path, sync::Arc, time::Instant};

use tokio::task::JoinSet;

use super::{
    cache::{self, StepRecord},
    dag::{self, DagError, Schedule},
    step::{Done, SharedStep, StepCtx, StepError, StepOutput},
};

/// How one step ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// It ran.
    Ran(StepOutput),
    /// Its inputs were unchanged, or it found nothing to do.
    Skipped(StepOutput),
    /// It failed with this message.
    Failed(String),
    /// A step it depends on failed; the message says which.
    NotRun(String),
}

impl Outcome {
    /// The output, when the step succeeded.
    pub fn output(&self) -> Option<&StepOutput> {
        match self {
            Outcome::Ran(o) | Outcome::Skipped(o) => Some(o),
            Outcome::Failed(_) | Outcome::NotRun(_) => None,
        }
    }

    /// The error, when the step did not succeed.
    pub fn error(&self) -> Option<&str> {
        match self {
            Outcome::Failed(e) | Outcome::NotRun(e) => Some(e),
            Outcome::Ran(_) | Outcome::Skipped(_) => None,
        }
    }
}

/// Runs `steps` as a graph; returns each step's outcome in dependency order.
pub async fn run_steps(
    steps: Vec<SharedStep>,
    ctx: Arc<StepCtx>,
    records: &Path,
) -> Result<Vec<(&'static str, Outcome)>, DagError> {
    let declared: Vec<_> = steps.iter().map(|s| (s.name(), s.deps())).collect();
    let mut schedule = Schedule::new(&declared)?;
    let by_order: Vec<SharedStep> = schedule
        .names()
        .iter()
        .filter_map(|n| steps.iter().find(|s| s.name() == *n).cloned())
        .collect();
    ctx.board.declare_steps(schedule.names());
    let mut outcomes: Vec<Option<Outcome>> = vec![None; by_order.len()];
    let mut tasks = JoinSet::new();
    loop {
        for i in schedule.start_ready() {
            let step = Arc::clone(&by_order[i]);
            let ctx = Arc::clone(&ctx);
            let records = records.to_owned();
            tasks.spawn(async move {
                let name = step.name();
                let inner_ctx = Arc::clone(&ctx);
                let inner = tokio::spawn(async move { run_one(step, &inner_ctx, &records).await });
                // A panicking step is reported as failed; it never takes the supervisor down.
                let outcome = inner.await.unwrap_or_else(|e| {
                    let message = format!("step panicked: {e}");
                    ctx.board
                        .step_finished(name, Default::default(), false, Some(message.clone()));
                    Outcome::Failed(message)
                });
                (i, outcome)
            });
        }
        if schedule.is_done() {
            break;
        }
        let Some(joined) = tasks.join_next().await else {
            break;
        };
        let Ok((i, outcome)) = joined else { continue };
        let ok = outcome.output().is_some();
        outcomes[i] = Some(outcome);
        for j in schedule.finish(i, ok) {
            let message = dag::blocked_message(schedule.names()[i]);
            ctx.board.step_finished(
                schedule.names()[j],
                Default::default(),
                false,
                Some(message.clone()),
            );
            outcomes[j] = Some(Outcome::NotRun(message));
        }
    }
    Ok(schedule
        .names()
        .iter()
        .zip(outcomes)
        .map(|(name, outcome)| {
            (
                *name,
                outcome.unwrap_or_else(|| Outcome::Failed("step did not finish".into())),
            )
        })
        .collect())
}

async fn run_one(step: SharedStep, ctx: &StepCtx, records: &Path) -> Outcome {
    let name = step.name();
    ctx.board.step_running(name);
    let started = Instant::now();
    let result = cached_run(step.as_ref(), ctx, records).await;
    let took = started.elapsed();
    match result {
        Ok(Done::Ran(output)) => {
            tracing::info!(step = name, took_ms = took.as_millis() as u64, summary = %output.summary, "step ran");
            ctx.board.step_finished(name, took, false, None);
            Outcome::Ran(output)
        }
        Ok(Done::Skipped(output)) => {
            tracing::info!(step = name, summary = %output.summary, "step skipped");
            ctx.board.step_finished(name, took, true, None);
            Outcome::Skipped(output)
        }
        Err(error) => {
            let message = error.chain();
            tracing::error!(step = name, error = %message, "step failed");
            if let Err(e) = cache::remove(records, name) {
                tracing::warn!(step = name, error = %e, "failed to remove the step record");
            }
            ctx.board
                .step_finished(name, took, false, Some(message.clone()));
            Outcome::Failed(message)
        }
    }
}

async fn cached_run(
    step: &dyn crate::pipeline::step::Step,
    ctx: &StepCtx,
    records: &Path,
) -> Result<Done, StepError> {
    let name = step.name();
    if let Some(inputs) = step.inputs(ctx).await? {
        let hash = cache::inputs_hash(name, &inputs);
        if let Some(record) = cache::read(records, name)
            && record.inputs_sha256 == hash
            && step.outputs_present(ctx, &record.outputs)
        {
            return Ok(Done::Skipped(record.outputs));
        }
    }
    let done = step.run(ctx).await?;
    // Record what the inputs are now that the step ran (they may include its own output).
    if let Some(inputs) = step.inputs(ctx).await? {
        let output = match &done {
            Done::Ran(o) | Done::Skipped(o) => o.clone(),
        };
        let record = StepRecord::new(name, cache::inputs_hash(name, &inputs), output);
        cache::write(records, &record).map_err(|source| RecordError { step: name, source })?;
    }
    Ok(done)
}

/// The record of a successful step could not be written.
#[derive(Debug, thiserror::Error)]
#[error("failed to record step {step} on the volume")]
struct RecordError {
    step: &'static str,
    #[source]
    source: std::io::Error,
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use openclaw_api::instance::status::StepState;
    use tokio::sync::Barrier;

    use super::*;
    use crate::{board::Board, pipeline::step::BoxFuture};

    struct TestStep {
        name: &'static str,
        deps: Vec<&'static str>,
        inputs: Option<&'static str>,
        fail: bool,
        runs: Arc<AtomicUsize>,
        barrier: Option<Arc<Barrier>>,
    }

    fn step(name: &'static str, deps: &[&'static str]) -> TestStep {
        TestStep {
            name,
            deps: deps.to_vec(),
            inputs: Some("v1"),
            fail: false,
            runs: Arc::default(),
            barrier: None,
        }
    }

    #[derive(Debug, thiserror::Error)]
    #[error("boom")]
    struct Boom;

    impl crate::pipeline::step::Step for TestStep {
        fn name(&self) -> &'static str {
            self.name
        }
        fn deps(&self) -> Vec<&'static str> {
            self.deps.clone()
        }
        fn inputs<'a>(
            &'a self,
            _: &'a StepCtx,
        ) -> BoxFuture<'a, Result<Option<Vec<u8>>, StepError>> {
            Box::pin(async move { Ok(self.inputs.map(|i| i.as_bytes().to_vec())) })
        }
        fn run<'a>(&'a self, _: &'a StepCtx) -> BoxFuture<'a, Result<Done, StepError>> {
            Box::pin(async move {
                self.runs.fetch_add(1, Ordering::SeqCst);
                if let Some(barrier) = &self.barrier {
                    barrier.wait().await;
                }
                if self.fail {
                    return Err(Boom.into());
                }
                Ok(Done::Ran(StepOutput::summary(format!("{} ran", self.name))))
            })
        }
    }

    fn ctx(state: &Path) -> Arc<StepCtx> {
        let plan = crate::pipeline::test_plan();
        let mut env = crate::pipeline::PipelineEnv::from_lookup(|_| None);
        env.state_dir = state.to_owned();
        let http = crate::pipeline::http::client(Path::new("/nonexistent"), None)
            .unwrap_or_else(|e| panic!("{e}"));
        Arc::new(StepCtx {
            plan,
            env,
            board: Board::default(),
            http,
        })
    }

    #[tokio::test]
    async fn independent_steps_run_at_the_same_time() -> Result<(), DagError> {
        let dir = tempfile::tempdir().map_err(|_| DagError::Duplicate("tempdir"))?;
        let barrier = Arc::new(Barrier::new(2));
        let mut a = step("a", &[]);
        let mut b = step("b", &[]);
        a.barrier = Some(Arc::clone(&barrier));
        b.barrier = Some(barrier);
        let ctx = ctx(dir.path());
        let run = run_steps(vec![Arc::new(a), Arc::new(b)], ctx, dir.path());
        // Each waits for the other: only a parallel run finishes.
        let results = tokio::time::timeout(std::time::Duration::from_secs(5), run)
            .await
            .map_err(|_| DagError::Cycle(vec!["steps ran one after another"]))??;
        assert!(
            results.iter().all(|(_, o)| matches!(o, Outcome::Ran(_))),
            "{results:?}"
        );
        Ok(())
    }

    #[tokio::test]
    async fn a_failure_stops_dependents_only() -> Result<(), DagError> {
        let dir = tempfile::tempdir().map_err(|_| DagError::Duplicate("tempdir"))?;
        let mut a = step("a", &[]);
        a.fail = true;
        let ctx = ctx(dir.path());
        let steps: Vec<SharedStep> = vec![
            Arc::new(a),
            Arc::new(step("b", &["a"])),
            Arc::new(step("c", &["b"])),
            Arc::new(step("d", &[])),
        ];
        let results = run_steps(steps, Arc::clone(&ctx), dir.path()).await?;
        let by_name = |n: &str| {
            results
                .iter()
                .find(|(name, _)| *name == n)
                .map(|(_, o)| o.clone())
        };
        assert_eq!(by_name("a"), Some(Outcome::Failed("boom".into())));
        assert_eq!(
            by_name("b"),
            Some(Outcome::NotRun("not run: depends on a which failed".into()))
        );
        assert_eq!(
            by_name("c"),
            Some(Outcome::NotRun("not run: depends on a which failed".into()))
        );
        assert!(matches!(by_name("d"), Some(Outcome::Ran(_))));
        let board = ctx.board.snapshot();
        let state = |n: &str| {
            board
                .steps
                .iter()
                .find(|s| s.name == n)
                .map(|s| (s.state, s.error.clone()))
        };
        assert_eq!(state("a"), Some((StepState::Failed, Some("boom".into()))));
        assert_eq!(
            state("c"),
            Some((
                StepState::Failed,
                Some("not run: depends on a which failed".into())
            ))
        );
        assert_eq!(state("d").map(|s| s.0), Some(StepState::Succeeded));
        assert!(
            cache::read(dir.path(), "a").is_none(),
            "a failed step leaves no record"
        );
        Ok(())
    }

    #[tokio::test]
    async fn unchanged_inputs_skip_and_changed_inputs_run() -> Result<(), DagError> {
        let dir = tempfile::tempdir().map_err(|_| DagError::Duplicate("tempdir"))?;
        let first = step("a", &[]);
        let runs = Arc::clone(&first.runs);
        let results = run_steps(vec![Arc::new(first)], ctx(dir.path()), dir.path()).await?;
        assert!(matches!(&results[0].1, Outcome::Ran(o) if o.summary == "a ran"));

        let mut again = step("a", &[]);
        again.runs = Arc::clone(&runs);
        let ctx2 = ctx(dir.path());
        let results = run_steps(vec![Arc::new(again)], Arc::clone(&ctx2), dir.path()).await?;
        assert!(
            matches!(&results[0].1, Outcome::Skipped(o) if o.summary == "a ran"),
            "{results:?}"
        );
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        assert!(ctx2.board.snapshot().steps[0].skipped);

        let mut changed = step("a", &[]);
        changed.runs = Arc::clone(&runs);
        changed.inputs = Some("v2");
        let results = run_steps(vec![Arc::new(changed)], ctx(dir.path()), dir.path()).await?;
        assert!(matches!(&results[0].1, Outcome::Ran(_)));
        assert_eq!(runs.load(Ordering::SeqCst), 2);

        let mut uncached = step("a", &[]);
        uncached.runs = Arc::clone(&runs);
        uncached.inputs = None;
        run_steps(vec![Arc::new(uncached)], ctx(dir.path()), dir.path()).await?;
        assert_eq!(
            runs.load(Ordering::SeqCst),
            3,
            "a step without inputs always runs"
        );
        Ok(())
    }
}
