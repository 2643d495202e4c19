//! Step `pnpm`: `npm install --global pnpm@<version>` into `~/.openclaw/.local`, from the
//! configured registry (`OPENCLAW_MIRROR_NPM`), with lifecycle scripts disabled.

use serde::Serialize;

use crate::pipeline::{
    npm::Npm,
    step::{BoxFuture, Done, Step, StepCtx, StepError, StepOutput, inputs_json, names},
};

/// The `pnpm` step (only in the graph when the plan asks for pnpm).
#[derive(Debug)]
pub struct PnpmStep;

#[derive(Serialize)]
struct Inputs<'a> {
    spec: String,
    registry: Option<&'a str>,
}

impl Step for PnpmStep {
    fn name(&self) -> &'static str {
        names::PNPM
    }

    fn deps(&self) -> Vec<&'static str> {
        vec![names::RESTORE]
    }

    fn inputs<'a>(&'a self, ctx: &'a StepCtx) -> BoxFuture<'a, Result<Option<Vec<u8>>, StepError>> {
        Box::pin(async move {
            inputs_json(&Inputs {
                spec: format!("pnpm@{}", ctx.env.pnpm_version),
                registry: ctx.env.mirrors.npm_registry.as_deref(),
            })
        })
    }

    fn outputs_present(&self, ctx: &StepCtx, _recorded: &StepOutput) -> bool {
        ctx.env.bin_dir().join("pnpm").exists()
    }

    fn run<'a>(&'a self, ctx: &'a StepCtx) -> BoxFuture<'a, Result<Done, StepError>> {
        Box::pin(async move {
            let npm = Npm::of(ctx);
            let version = npm
                .install_spec("pnpm", &format!("pnpm@{}", ctx.env.pnpm_version))
                .await?;
            let mut output =
                StepOutput::summary(format!("pnpm {version} in {}", ctx.env.bin_dir().display()));
            output.path.push(ctx.env.bin_dir());
            output.versions.insert("pnpm".into(), version);
            Ok(Done::Ran(output))
        })
    }
}
