//! Step `pnpm`: pnpm from the npm registry (`OPENCLAW_MIRROR_NPM`), installed natively where
//! `npm install --global` would put it: the package in
//! `~/.openclaw/.local/lib/node_modules/pnpm`, its executables (`pnpm`, `pnpx`) linked in
//! `~/.openclaw/.local/bin`. The tarball is checked against the registry's integrity; no
//! lifecycle script runs (pnpm has no runtime dependencies, so no npm process either).

use serde::Serialize;

use crate::pipeline::{
    npm::install::{any_package, install_into, link_bins},
    step::{BoxFuture, Done, Step, StepCtx, StepError, StepOutput, inputs_json, names},
};

/// The `pnpm` step (only in the graph when the plan asks for pnpm).
#[derive(Debug)]
pub struct PnpmStep;

/// The package.
const PACKAGE: &str = "pnpm";

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
            let prefix = ctx.env.local_dir();
            let package_dir = prefix.join("lib/node_modules").join(PACKAGE);
            let placed = install_into(
                ctx,
                PACKAGE,
                Some(&ctx.env.pnpm_version),
                None,
                &package_dir,
                any_package,
            )
            .await?;
            let bin = ctx.env.bin_dir();
            let linked = link_bins(PACKAGE, &package_dir, &prefix, &bin)?;
            let mut output = StepOutput::summary(format!(
                "pnpm {} in {} ({})",
                placed.version,
                bin.display(),
                linked.join(", ")
            ));
            output.path.push(bin);
            output.versions.insert("pnpm".into(), placed.version);
            Ok(Done::Ran(output))
        })
    }
}
