//! Tests on the real node `node-0`: the operator installed by its chart as a real pod, and
//! commands run inside real containers.

use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use serde_json::Value;

use crate::{TestCluster, TestNamespace, cluster::repo_root};

/// The release `cargo xtask cluster up` installed; its image values are the ones the tests use.
const CLUSTER_RELEASE: (&str, &str) = ("openclaw-operator", "openclaw-operator-system");

/// The operator of one test: the chart installed in the test's namespace, watching only it.
#[derive(Debug)]
pub struct ChartOperator {
    pub release: String,
    pub namespace: String,
    cluster: TestCluster,
}

/// `networkPolicy.apiServerPorts` of the cluster's release, comma-separated.
fn api_server_ports(values: &Value) -> Result<String> {
    let ports = values["networkPolicy"]["apiServerPorts"]
        .as_array()
        .context("the cluster's release has no networkPolicy.apiServerPorts")?;
    Ok(ports
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(","))
}

impl ChartOperator {
    /// `helm install`s the chart into `ns`, watching namespace `watch`, with the images the
    /// control plane's own release runs (built and pushed by `cargo xtask cluster up`), and
    /// waits for the pod to be Ready.
    pub fn install(cluster: &TestCluster, ns: &TestNamespace, watch: &str) -> Result<Self> {
        Self::install_with(cluster, ns, watch, &[])
    }

    /// [`ChartOperator::install`] with more `--set` values (`key=value`), which win.
    pub fn install_with(
        cluster: &TestCluster,
        ns: &TestNamespace,
        watch: &str,
        values: &[String],
    ) -> Result<Self> {
        let chart = repo_root().join("charts/openclaw-operator");
        Self::install_chart_with(cluster, ns, watch, &chart, "install", values)
    }

    /// `helm install` (or `upgrade`, with `verb`) of `chart` (a directory or a packaged
    /// `.tgz`), as [`ChartOperator::install`]. A packaged 0.x chart gets no node agent value
    /// (0.2.0's values schema refuses unknown keys).
    pub fn install_chart(
        cluster: &TestCluster,
        ns: &TestNamespace,
        watch: &str,
        chart: &std::path::Path,
        verb: &str,
    ) -> Result<Self> {
        Self::install_chart_with(cluster, ns, watch, chart, verb, &[])
    }

    /// [`ChartOperator::install_chart`] with more `--set` values. The node agent is off unless
    /// `values` turn it on: one node agent per node (its port is the node's), and only the node
    /// agent's own test runs one.
    pub fn install_chart_with(
        cluster: &TestCluster,
        ns: &TestNamespace,
        watch: &str,
        chart: &std::path::Path,
        verb: &str,
        extra: &[String],
    ) -> Result<Self> {
        let out = cluster.tool(
            "helm",
            &[
                "get",
                "values",
                CLUSTER_RELEASE.0,
                "-n",
                CLUSTER_RELEASE.1,
                "-o",
                "json",
            ],
            None,
        )?;
        if !out.status.success() {
            bail!(
                "the control plane has no operator release ({}): start it with the real node, \
                 `cargo xtask cluster up` as root (see docs/real-node.md)",
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        let values: Value = serde_json::from_slice(&out.stdout)?;
        let image = |key: &str, field: &str| -> Result<String> {
            values[key][field]
                .as_str()
                .map(str::to_owned)
                .with_context(|| format!("the cluster's release has no {key}.{field}"))
        };
        let release = format!("op-{}", ns.name);
        let mut args: Vec<String> = [
            verb,
            &release,
            &chart.display().to_string(),
            "--namespace",
            &ns.name,
            "--wait",
            "--timeout",
            "180s",
        ]
        .map(String::from)
        .to_vec();
        for set in [
            format!("image.repository={}", image("image", "repository")?),
            format!("image.digest={}", image("image", "digest")?),
            format!(
                "runtimeImage.repository={}",
                image("runtimeImage", "repository")?
            ),
            format!("runtimeImage.digest={}", image("runtimeImage", "digest")?),
            format!("watchNamespace={watch}"),
            "log.format=plain".to_owned(),
            "resyncInterval=10s".to_owned(),
        ] {
            args.push("--set".into());
            args.push(set);
        }
        // The API server's port as the cluster's own release knows it.
        args.push("--set".into());
        args.push(format!(
            "networkPolicy.apiServerPorts={{{}}}",
            api_server_ports(&values)?
        ));
        let has_node_agent = !chart
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("openclaw-operator-0."));
        if has_node_agent {
            args.push("--set".into());
            args.push("nodeAgent.enabled=false".into());
        }
        for value in extra {
            args.push("--set".into());
            args.push(value.clone());
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = cluster.tool("helm", &args, None)?;
        if !out.status.success() {
            let pods = cluster
                .kubectl(&["describe", "pods", "-n", &ns.name], None)
                .unwrap_or_default();
            bail!(
                "helm {verb} {release} failed: {}{}\n{pods}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        webhook_routes(cluster, watch)?;
        Ok(Self {
            release,
            namespace: ns.name.clone(),
            cluster: cluster.clone(),
        })
    }

    /// The names of the running operator pods.
    fn running_pods(&self) -> Result<Vec<String>> {
        let names = self.cluster.kubectl(
            &[
                "get",
                "pods",
                "-n",
                &self.namespace,
                "-l",
                "app.kubernetes.io/name=openclaw-operator",
                "--field-selector=status.phase=Running",
                "-o",
                "jsonpath={.items[*].metadata.name}",
            ],
            None,
        )?;
        Ok(names.split_whitespace().map(str::to_owned).collect())
    }

    /// The name of the operator pod that is Ready (the one holding the Lease with one replica).
    pub fn pod(&self) -> Result<String> {
        self.running_pods()?
            .into_iter()
            .next()
            .context("no running operator pod")
    }

    /// The `/metrics` of every running operator pod, one after the other (the Lease holder's
    /// among them), through the API server's pod proxy.
    pub fn metrics(&self) -> Result<String> {
        let mut all = String::new();
        for pod in self.running_pods()? {
            all.push_str(&self.cluster.kubectl(
                &[
                    "get",
                    "--raw",
                    &format!(
                        "/api/v1/namespaces/{}/pods/{pod}:8080/proxy/metrics",
                        self.namespace
                    ),
                ],
                None,
            )?);
        }
        Ok(all)
    }

    /// `helm test` of the release, failing with its output.
    pub fn helm_test(&self) -> Result<()> {
        let out = self.cluster.tool(
            "helm",
            &[
                "test",
                &self.release,
                "-n",
                &self.namespace,
                "--timeout",
                "120s",
            ],
            None,
        )?;
        ensure!(
            out.status.success(),
            "helm test {}: {}{}",
            self.release,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(())
    }

    /// The operator's log (every container of the release's pods).
    pub fn logs(&self) -> String {
        self.cluster
            .kubectl(
                &[
                    "logs",
                    "-n",
                    &self.namespace,
                    "-l",
                    "app.kubernetes.io/name=openclaw-operator",
                    "--tail=200",
                ],
                None,
            )
            .unwrap_or_else(|e| format!("(no logs: {e:#})"))
    }
}

impl Drop for ChartOperator {
    fn drop(&mut self) {
        // Cluster-scoped objects (ClusterRoles and bindings) do not go with the namespace.
        let _ = self.cluster.tool(
            "helm",
            &[
                "uninstall",
                &self.release,
                "-n",
                &self.namespace,
                "--wait=false",
            ],
            None,
        );
    }
}

/// Runs `command` in `container` of `pod` (`kubectl exec`), returning stdout; fails with
/// stderr and the exit status.
pub fn exec(
    cluster: &TestCluster,
    ns: &str,
    pod: &str,
    container: &str,
    command: &[&str],
) -> Result<String> {
    let mut args = vec!["exec", "-n", ns, pod, "-c", container, "--"];
    args.extend_from_slice(command);
    cluster.kubectl(&args, None)
}

/// Runs a shell script in the container (the OpenClaw image has Debian's `sh`).
pub fn sh(
    cluster: &TestCluster,
    ns: &str,
    pod: &str,
    container: &str,
    script: &str,
) -> Result<String> {
    exec(cluster, ns, pod, container, &["sh", "-c", script])
}

/// Seconds since `from`, for the figures the tests print.
pub fn seconds(from: std::time::Instant) -> f64 {
    from.elapsed().as_secs_f64()
}

/// How long a real pod may take to become Ready on this machine: the first pull of the
/// OpenClaw image into containerd, the init container, the gateway's own start (about 10 s
/// on two cores, see the fixtures) and the kubelet's probe period.
pub const READY_TIMEOUT: Duration = Duration::from_secs(300);

/// The guide's first example, unchanged but for its namespace.
pub fn my_agent() -> Result<String> {
    Ok(std::fs::read_to_string(
        crate::seed::fixtures_dir().join("01-my-agent.yaml"),
    )?)
}

/// Waits for instance `ns/name` to be Running with Ready True.
pub async fn running(cluster: &TestCluster, ns: &str, name: &str) -> Result<()> {
    crate::wait::until(
        &format!("{ns}/{name} Running and Ready"),
        READY_TIMEOUT,
        || {
            crate::instances::in_phase(
                cluster,
                ns,
                name,
                openclaw_api::instance::Phase::Running,
                "True",
            )
        },
    )
    .await
    .map(|_| ())
}

/// The guide's `openclaw-api-keys` Secret with `key` as the Anthropic key.
pub async fn api_keys(cluster: &TestCluster, ns: &str, key: &str) -> Result<()> {
    crate::instances::create_secret(
        cluster,
        ns,
        "openclaw-api-keys",
        &[("ANTHROPIC_API_KEY", key)],
    )
    .await
}

/// Waits until an instance created in `ns` (a server-side dry run, which goes through
/// admission) reaches the release's webhook: `helm install --wait` returns once the operator pod
/// is Ready, but the webhook Service may not route for some seconds more (kube-proxy programs it),
/// and the webhook's `failurePolicy: Fail` refuses every instance meanwhile.
fn webhook_routes(cluster: &TestCluster, ns: &str) -> Result<()> {
    let probe = serde_json::json!({
        "apiVersion": "openclaw.rocks/v1alpha1",
        "kind": "OpenClawInstance",
        "metadata": { "name": "webhook-probe", "namespace": ns },
        "spec": {},
    })
    .to_string();
    let started = std::time::Instant::now();
    loop {
        let out = cluster.tool(
            "kubectl",
            &["create", "--dry-run=server", "-o", "name", "-f", "-"],
            Some(&probe),
        )?;
        let stderr = String::from_utf8_lossy(&out.stderr);
        if out.status.success() || !stderr.contains("failed calling webhook") {
            return Ok(());
        }
        if started.elapsed() > Duration::from_secs(90) {
            bail!("the release's webhook did not answer within 90 s: {stderr}");
        }
        std::thread::sleep(Duration::from_secs(1));
    }
}
