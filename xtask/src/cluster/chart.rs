//! With the real node, the operator runs as users run it: the chart, installed with
//! `helm upgrade --install`, its images built by `cargo xtask image` and pushed to the node's
//! registry, pinned by digest so that a rebuilt image is never confused with a cached one.

use std::{path::Path, process::Command, time::Instant};

use anyhow::{Context, Result, bail};

use super::{kubectl_apply, real_node::addr::registry_host};
use crate::{
    image::{self, OPERATOR_REPOSITORY, Profile, PushedImage, RUNTIME_REPOSITORY},
    tools::repo_root,
};

/// The Helm release of the local control plane's operator.
pub const RELEASE: &str = "openclaw-operator";
/// Its namespace (also the Lease's).
pub const NAMESPACE: &str = "openclaw-operator-system";
/// The chart in this repository.
pub const CHART: &str = "charts/openclaw-operator";

/// The images a chart release runs: the operator and the agents' runtime, each as
/// `(repository, digest)`.
#[derive(Debug, Clone)]
pub struct ChartImages {
    pub operator: (String, String),
    pub runtime: (String, String),
    /// The cargo profile of the operator and runtime binaries.
    pub profile: Profile,
}

impl ChartImages {
    /// Builds what the cache lacks (`OPENCLAW_IMAGE_PROFILE`, default `image-test`), pushes
    /// every image to the node's registry and returns the two the chart names.
    pub fn build_and_push() -> Result<Self> {
        let profile = match std::env::var("OPENCLAW_IMAGE_PROFILE") {
            Err(_) => Profile::ImageTest,
            Ok(name) => <Profile as clap::ValueEnum>::from_str(&name, false).map_err(|_| {
                anyhow::anyhow!("OPENCLAW_IMAGE_PROFILE={name}: expected release or image-test")
            })?,
        };
        let started = Instant::now();
        let registry = registry_host();
        let pushed = image::build_and_push(&registry, profile)?;
        println!(
            "==> images in {registry} ({:.1} s)",
            started.elapsed().as_secs_f64()
        );
        Ok(Self {
            operator: find(&pushed, &registry, OPERATOR_REPOSITORY)?,
            runtime: find(&pushed, &registry, RUNTIME_REPOSITORY)?,
            profile,
        })
    }

    /// Which build the figures measured, for benchmark output.
    pub fn profile_note(&self) -> String {
        match self.profile {
            Profile::Release => "release profile (what is published)".to_owned(),
            Profile::ImageTest => "image-test profile (no LTO, opt-level 1); \
                 OPENCLAW_IMAGE_PROFILE=release measures the published build"
                .to_owned(),
        }
    }

    /// The `--set` values that point the chart at these images.
    pub fn values(&self) -> Vec<String> {
        vec![
            format!("image.repository={}", self.operator.0),
            format!("image.digest={}", self.operator.1),
            format!("runtimeImage.repository={}", self.runtime.0),
            format!("runtimeImage.digest={}", self.runtime.1),
        ]
    }
}

fn find(pushed: &[PushedImage], registry: &str, repository: &str) -> Result<(String, String)> {
    let repository = format!("{registry}/{repository}");
    pushed
        .iter()
        .find(|image| {
            image
                .reference
                .rsplit_once(':')
                .is_some_and(|(name, _)| name == repository)
        })
        .map(|image| (repository.clone(), image.digest.clone()))
        .with_context(|| format!("{repository} was not pushed"))
}

/// A release of the chart: `helm upgrade --install <release> -n <namespace> --wait`, the
/// namespace created first under Pod Security `restricted` and annotated for the real node.
#[derive(Debug, Clone)]
pub struct Release<'a> {
    pub name: &'a str,
    pub namespace: &'a str,
    /// Extra `--set` values (each `key=value`).
    pub values: Vec<String>,
}

impl Release<'_> {
    pub fn install(&self, dir: &Path, images: &ChartImages) -> Result<()> {
        let started = Instant::now();
        kubectl_apply(dir, &super::files::namespace(self.namespace, true))?;
        let chart = repo_root()?.join(CHART);
        let mut command = helm(dir);
        command
            .args(["upgrade", "--install", self.name])
            .arg(&chart)
            .args(["--namespace", self.namespace, "--wait", "--timeout", "3m"]);
        for value in images.values().iter().chain(&self.values) {
            command.args(["--set", value]);
        }
        let out = command.output().context("running helm")?;
        if !out.status.success() {
            bail!(
                "helm upgrade --install {} failed: {}{}\n(kubectl -n {} describe pods shows why)",
                self.name,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr).trim(),
                self.namespace
            );
        }
        println!(
            "==> operator release {} in {} ready ({:.1} s)",
            self.name,
            self.namespace,
            started.elapsed().as_secs_f64()
        );
        Ok(())
    }
}

impl Release<'_> {
    /// `helm uninstall`, without waiting; its errors are ignored (a clean-up).
    pub fn uninstall(&self, dir: &Path) {
        let _ = helm(dir)
            .args([
                "uninstall",
                self.name,
                "--namespace",
                self.namespace,
                "--wait=false",
            ])
            .output();
    }
}

fn helm(dir: &Path) -> Command {
    let mut command = Command::new(dir.join("bin").join("helm"));
    command.arg(format!("--kubeconfig={}", dir.join("kubeconfig").display()));
    command
}

/// Installs the local control plane's operator: the chart's pod on `node-0`, watching the
/// guide's namespace (the tests run their own releases in theirs). Its node agent is off: the
/// node agent's tests install their own on `node-0`, and two agents on one node would publish
/// different facts about it (see docs/real-node.md to turn it on).
pub fn install(dir: &Path) -> Result<()> {
    println!("==> the operator as a pod: images, then helm upgrade --install {RELEASE}");
    let images = ChartImages::build_and_push()?;
    Release {
        name: RELEASE,
        namespace: NAMESPACE,
        values: vec![
            format!("watchNamespace={}", super::operator::WATCH_NAMESPACE),
            "log.format=plain".to_owned(),
            // The operator's NetworkPolicy must let it reach this API server's port.
            format!(
                "networkPolicy.apiServerPorts={{443,{}}}",
                super::APISERVER_PORT
            ),
            "nodeAgent.enabled=false".to_owned(),
        ],
    }
    .install(dir, &images)
}
