//! Connecting to the local control plane, running kubectl/helm, and per-test namespaces.

use std::{
    path::{Path, PathBuf},
    process::{Command, Output},
    sync::atomic::{AtomicU32, Ordering},
    time::{SystemTime, UNIX_EPOCH},
};

use anyhow::{Context, Result, bail};
use k8s_openapi::api::core::v1::Namespace;
use kube::{
    Api, Client, Config,
    api::{ObjectMeta, PostParams},
    config::{KubeConfigOptions, Kubeconfig},
};

/// The running local control plane started by `cargo xtask cluster up`.
#[derive(Clone)]
pub struct TestCluster {
    pub client: Client,
    pub state_dir: PathBuf,
}

impl std::fmt::Debug for TestCluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestCluster")
            .field("state_dir", &self.state_dir)
            .finish()
    }
}

/// Repository root (the parent of `tests/`).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

impl TestCluster {
    /// Connects to `.cluster/kubeconfig`, failing with how to start the control plane.
    pub async fn connect() -> Result<Self> {
        let state_dir = repo_root().join(".cluster");
        let path = state_dir.join("kubeconfig");
        if !path.exists() {
            bail!(
                "the local control plane is not running ({} is missing): start it with \
                 `cargo xtask cluster up`, or run the whole suite with `cargo xtask test`",
                path.display()
            );
        }
        let kubeconfig =
            Kubeconfig::read_from(&path).with_context(|| format!("reading {}", path.display()))?;
        let config =
            Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default()).await?;
        let client = Client::try_from(config)?;
        client.apiserver_version().await.context(
            "the local control plane does not answer: restart it with `cargo xtask cluster down && cargo xtask cluster up`",
        )?;
        Ok(Self { client, state_dir })
    }

    /// A client acting as `user` (impersonation), e.g. the operator's ServiceAccount, to check
    /// that the permissions the chart grants are enough.
    pub async fn client_as(&self, user: &str) -> Result<Client> {
        let path = self.kubeconfig();
        let mut kubeconfig = Kubeconfig::read_from(&path)?;
        for auth in &mut kubeconfig.auth_infos {
            if let Some(info) = auth.auth_info.as_mut() {
                info.impersonate = Some(user.to_owned());
            }
        }
        let config =
            Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default()).await?;
        Ok(Client::try_from(config)?)
    }

    pub fn kubeconfig(&self) -> PathBuf {
        self.state_dir.join("kubeconfig")
    }

    /// Runs a tool from `.cluster/bin` (kubectl, helm) against the cluster; returns its output.
    pub fn tool(&self, tool: &str, args: &[&str], stdin: Option<&str>) -> Result<Output> {
        use std::io::Write;
        let mut cmd = Command::new(self.state_dir.join("bin").join(tool));
        cmd.arg(format!("--kubeconfig={}", self.kubeconfig().display()))
            .args(args);
        cmd.stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let mut child = cmd.spawn().with_context(|| format!("running {tool}"))?;
        if let Some(mut input) = child.stdin.take() {
            input.write_all(stdin.unwrap_or_default().as_bytes())?;
        }
        Ok(child.wait_with_output()?)
    }

    /// Runs kubectl and returns stdout, failing with stderr.
    pub fn kubectl(&self, args: &[&str], stdin: Option<&str>) -> Result<String> {
        let out = self.tool("kubectl", args, stdin)?;
        if !out.status.success() {
            bail!(
                "kubectl {}: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Creates a fresh namespace for one test, enforcing Pod Security `restricted`.
    pub async fn namespace(&self, prefix: &str) -> Result<TestNamespace> {
        TestNamespace::create(self, prefix, false).await
    }

    /// Like [`Self::namespace`], its pods on the real node `node-0` (PodNodeSelector
    /// `type=real`); fails, saying how to get one, when the control plane has no real node.
    pub async fn real_namespace(&self, prefix: &str) -> Result<TestNamespace> {
        let ready = self
            .kubectl(
                &[
                    "get",
                    "node",
                    "node-0",
                    "-o",
                    "jsonpath={.status.conditions[?(@.type==\"Ready\")].status}",
                ],
                None,
            )
            .unwrap_or_default();
        if ready.trim() != "True" {
            bail!(
                "this test runs pods on the real node node-0, which is not Ready ({}): start the \
                 control plane with it, `cargo xtask cluster down && cargo xtask cluster up` as \
                 root (see docs/real-node.md), or run everything with `cargo xtask test`",
                if ready.trim().is_empty() {
                    "absent"
                } else {
                    ready.trim()
                }
            );
        }
        TestNamespace::create(self, prefix, true).await
    }
}

/// A namespace owned by one test; deleted (without waiting) when dropped.
#[derive(Debug)]
pub struct TestNamespace {
    pub name: String,
    kubectl: PathBuf,
    kubeconfig: PathBuf,
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

impl TestNamespace {
    async fn create(cluster: &TestCluster, prefix: &str, real_node: bool) -> Result<Self> {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or_default();
        let name = format!(
            "{prefix}-{:x}{}",
            nanos & 0xfffff,
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let labels = [
            ("pod-security.kubernetes.io/enforce", "restricted"),
            ("pod-security.kubernetes.io/enforce-version", "latest"),
            ("openclaw.rocks/test", "true"),
        ];
        let ns = Namespace {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                labels: Some(
                    labels
                        .iter()
                        .map(|(k, v)| ((*k).into(), (*v).into()))
                        .collect(),
                ),
                annotations: real_node.then(|| {
                    [(
                        "scheduler.alpha.kubernetes.io/node-selector".to_owned(),
                        "type=real".to_owned(),
                    )]
                    .into()
                }),
                ..Default::default()
            },
            ..Default::default()
        };
        Api::<Namespace>::all(cluster.client.clone())
            .create(&PostParams::default(), &ns)
            .await
            .with_context(|| format!("creating namespace {name}"))?;
        Ok(Self {
            name,
            kubectl: cluster.state_dir.join("bin/kubectl"),
            kubeconfig: cluster.kubeconfig(),
        })
    }
}

impl Drop for TestNamespace {
    fn drop(&mut self) {
        let _ = Command::new(&self.kubectl)
            .arg(format!("--kubeconfig={}", self.kubeconfig.display()))
            .args([
                "delete",
                "namespace",
                &self.name,
                "--wait=false",
                "--ignore-not-found",
            ])
            .output();
    }
}
