//! The node agent (`openclaw-node`, the chart's DaemonSet) on the real node `node-0`: the
//! gateway's seccomp profile in the kubelet's directory and the node labelled for it, `my-agent`
//! running under it (Localhost) with a syscall outside it refused, the node's GPU facts (a
//! captured H100 node's `/proc/driver/nvidia`) on the Node and the operator's verdict on a model
//! too large for them, the agent kept to its own Node by the chart's admission policy, and the
//! node-local download cache: a second instance installs its skill and runtime dependencies
//! without one request to the upstreams.

use std::{fs, path::Path, time::Duration};

use anyhow::{Context, Result, ensure};
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::Api;
use openclaw_api::node::{
    GATEWAY_PROFILE_JSON, GPU_DRIVER_ANNOTATION, GPUS_ANNOTATION, LocalhostProfile,
};
use openclaw_testkit::upstreams::{clawhub, npm_registry, pypi};
use openclaw_tests::{
    TestCluster, instances,
    real_node::{ChartOperator, api_keys, my_agent, running, sh},
    wait,
};

/// The node's address on the bridge: where agent pods reach the node agent.
const NODE_IP: &str = "198.18.0.1";
/// The node agent's port (the chart's default; only this test runs a node agent).
const PORT: u16 = 18_800;

/// `/proc/driver/nvidia` of the captured H100 node (shared/fixtures/gpu/h100-driver580).
const NVIDIA_VERSION: &str = "NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  580.159.04  Release Build  (nixbld@)  \nGCC version:  gcc version 15.3.0 (GCC) \n";
const NVIDIA_INFORMATION: &str = "Model: \t\t NVIDIA H100 80GB HBM3\nIRQ:   \t\t 41\nGPU UUID: \t GPU-00652040-e266-579a-ffbd-c6356e021409\nVideo BIOS: \t 96.00.da.00.0c\nBus Type: \t PCIe\nDMA Size: \t 52 bits\nDMA Mask: \t 0xfffffffffffff\nBus Location: \t 0000:00:06.0\nDevice Minor: \t 0\nGPU Firmware: \t 580.159.04\nGPU Excluded:\t No\n";

/// The node agent's namespace: Pod Security `privileged`, its pods on the real node. Deleted
/// when dropped.
struct AgentNamespace {
    cluster: TestCluster,
    name: String,
}

impl AgentNamespace {
    fn create(cluster: &TestCluster, name: String) -> Result<Self> {
        cluster.kubectl(
            &["apply", "-f", "-"],
            Some(&format!(
                "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {name}\n  labels:\n    \
                 pod-security.kubernetes.io/enforce: privileged\n  annotations:\n    \
                 scheduler.alpha.kubernetes.io/node-selector: type=real\n"
            )),
        )?;
        Ok(Self {
            cluster: cluster.clone(),
            name,
        })
    }
}

impl Drop for AgentNamespace {
    fn drop(&mut self) {
        let _ = self
            .cluster
            .kubectl(&["delete", "namespace", &self.name, "--wait=false"], None);
    }
}

/// A root holding `proc/driver/nvidia` as the captured H100 node has it.
fn gpu_root(dir: &Path) -> Result<()> {
    let nvidia = dir.join("proc/driver/nvidia");
    fs::create_dir_all(nvidia.join("gpus/0000:00:06.0"))?;
    fs::write(nvidia.join("version"), NVIDIA_VERSION)?;
    fs::write(
        nvidia.join("gpus/0000:00:06.0/information"),
        NVIDIA_INFORMATION,
    )?;
    Ok(())
}

/// The guide's `my-agent`, named `name`, with a ClawHub skill and both runtime dependencies.
fn agent_with_downloads(name: &str) -> Result<String> {
    let mut agent: serde_json::Value = serde_yaml::from_str(&my_agent()?)?;
    agent["metadata"]["name"] = name.into();
    agent["spec"]["skills"] = serde_json::json!(["weather"]);
    agent["spec"]["runtimeDeps"] = serde_json::json!({"pnpm": true, "python": true});
    Ok(serde_json::to_string(&agent)?)
}

/// The node agent's metrics, from the node's address as Prometheus would scrape them.
async fn agent_metrics() -> Result<String> {
    Ok(reqwest::get(format!("http://{NODE_IP}:{PORT}/metrics"))
        .await?
        .error_for_status()?
        .text()
        .await?)
}

/// The value of the first sample of `metric` whose line contains every `label`.
fn sample(metrics: &str, metric: &str, labels: &[&str]) -> f64 {
    metrics
        .lines()
        .filter(|l| l.starts_with(metric) && labels.iter().all(|label| l.contains(label)))
        .filter_map(|l| l.rsplit_once(' ')?.1.parse::<f64>().ok())
        .sum()
}

/// Labels node-0 as the node agent's ServiceAccount would, its token saying it runs on
/// `node_name`: the `kubectl` stderr when refused.
fn label_as_agent(
    cluster: &TestCluster,
    agent: &str,
    node_name: &str,
    label: &str,
) -> Result<Option<String>> {
    let out = cluster.tool(
        "kubectl",
        &[
            "label",
            "node",
            "node-0",
            label,
            "--overwrite",
            &format!("--as={agent}"),
            &format!("--as-user-extra=authentication.kubernetes.io/node-name={node_name}"),
        ],
        None,
    )?;
    Ok((!out.status.success()).then(|| String::from_utf8_lossy(&out.stderr).into_owned()))
}

#[tokio::test]
async fn the_node_agent_serves_its_node() -> Result<()> {
    let cluster = TestCluster::connect().await?;
    let ns = cluster.real_namespace("real-node-agent").await?;

    // The upstreams, on this machine's loopback: the node agent uses the host network.
    let mut hub = clawhub::Hub::default();
    hub.skills.insert(
        "weather".into(),
        clawhub::skill(
            "steipete",
            clawhub::Moderation::Clean,
            &[(
                "1.2.0",
                openclaw_testkit::upstreams::zip(&[(
                    "SKILL.md",
                    "---\nname: weather\ndescription: Forecasts\n---\n",
                    0o644,
                )]),
            )],
        ),
    );
    let (hub_url, hub) = clawhub::start(hub).await;
    let mut registry = npm_registry::Registry::default();
    registry.packages.insert(
        "pnpm".into(),
        vec![npm_registry::version(
            "10.11.0",
            npm_registry::pnpm("10.11.0"),
        )],
    );
    let (npm_url, npm) = npm_registry::start(registry).await;
    let (pypi_url, pypi) = pypi::start().await;
    // Every request each upstream served: (ClawHub, npm, PyPI).
    let upstream_requests = || {
        (
            hub.lock().map_or(usize::MAX, |h| h.requests.len()),
            npm.lock().map_or(usize::MAX, |r| r.requests.len()),
            pypi.lock().map_or(usize::MAX, |i| i.requests.len()),
        )
    };

    let host = tempfile::tempdir()?;
    gpu_root(&host.path().join("gpu"))?;
    let seccomp_dir = cluster.state_dir.join("node/kubelet/seccomp");
    let agent_ns = AgentNamespace::create(&cluster, format!("{}-node", ns.name))?;
    let operator = ChartOperator::install_with(
        &cluster,
        &ns,
        &ns.name,
        &[
            "nodeAgent.enabled=true".to_owned(),
            format!("nodeAgent.namespace={}", agent_ns.name),
            "nodeAgent.createNamespace=false".to_owned(),
            "nodeAgent.nodeSelector.type=real".to_owned(),
            format!("nodeAgent.seccompDir={}", seccomp_dir.display()),
            format!("nodeAgent.hostRoot={}", host.path().join("gpu").display()),
            "nodeAgent.interval=5s".to_owned(),
            format!(
                "nodeAgent.cache.hostPath={}",
                host.path().join("cache").display()
            ),
            format!("nodeAgent.cache.upstreams.clawhub={hub_url}"),
            format!("nodeAgent.cache.upstreams.npm={npm_url}"),
            format!("nodeAgent.cache.upstreams.pypi={pypi_url}"),
        ],
    )?;
    let agent_logs = || {
        cluster
            .kubectl(
                &[
                    "logs",
                    "-n",
                    &agent_ns.name,
                    "-l",
                    "app.kubernetes.io/component=node-agent",
                    "--tail=100",
                ],
                None,
            )
            .unwrap_or_else(|e| format!("(no logs: {e:#})"))
    };

    // The profile, byte for byte, under its content-addressed name, and node-0 labelled for it.
    let profile = LocalhostProfile::gateway();
    let file = seccomp_dir.join(profile.localhost_path());
    ensure!(
        fs::read_to_string(&file).ok().as_deref() == Some(GATEWAY_PROFILE_JSON),
        "{} does not hold the gateway's profile\nnode agent:\n{}",
        file.display(),
        agent_logs()
    );
    let nodes: Api<Node> = Api::all(cluster.client.clone());
    let node = wait::until(
        "node-0 labelled for the profile and annotated with its GPUs",
        Duration::from_secs(60),
        || async {
            let node = nodes.get("node-0").await?;
            let labelled = node.metadata.labels.as_ref().is_some_and(|l| {
                l.get(&profile.node_label()).map(String::as_str) == Some("installed")
            });
            let annotated = node
                .metadata
                .annotations
                .as_ref()
                .is_some_and(|a| a.contains_key(GPUS_ANNOTATION));
            Ok((labelled && annotated).then_some(node))
        },
    )
    .await
    .with_context(agent_logs)?;
    let annotations = node.metadata.annotations.unwrap_or_default();
    assert_eq!(
        annotations.get(GPU_DRIVER_ANNOTATION).map(String::as_str),
        Some("580.159.04")
    );
    let gpus = &annotations[GPUS_ANNOTATION];
    ensure!(
        gpus.contains("NVIDIA H100 80GB HBM3") && gpus.contains(r#""memoryMiB":81559"#),
        "{gpus}"
    );

    // The chart's admission policy keeps the agent to its own Node and to its own keys.
    let agent_user = format!(
        "system:serviceaccount:{}:op-{}-openclaw-operator-node",
        agent_ns.name, ns.name
    );
    let other_node = label_as_agent(
        &cluster,
        &agent_user,
        "kwok-node-0",
        "seccomp.openclaw.rocks/test=installed",
    )?
    .context("the agent changed a Node it does not run on")?;
    ensure!(
        other_node.contains("only change the Node it runs on"),
        "{other_node}"
    );
    let foreign = label_as_agent(&cluster, &agent_user, "node-0", "type=elsewhere")?
        .context("the agent changed a label outside its prefix")?;
    ensure!(
        foreign.contains("labels under seccomp.openclaw.rocks/"),
        "{foreign}"
    );

    // The first agent: its gateway runs under the Localhost profile and downloads through the
    // node cache.
    api_keys(&cluster, &ns.name, "sk-ant-node").await?;
    instances::apply(&cluster, &ns.name, &agent_with_downloads("my-agent")?)?;
    running(&cluster, &ns.name, "my-agent")
        .await
        .with_context(|| {
            format!(
                "operator log:\n{}\nnode agent:\n{}",
                operator.logs(),
                agent_logs()
            )
        })?;
    let pod = Api::<Pod>::namespaced(cluster.client.clone(), &ns.name)
        .get("my-agent-0")
        .await?;
    let spec = pod.spec.clone().unwrap_or_default();
    for container in spec
        .containers
        .iter()
        .chain(spec.init_containers.iter().flatten())
        .filter(|c| c.name == "openclaw" || c.name == "openclaw-init")
    {
        let seccomp = container
            .security_context
            .as_ref()
            .and_then(|s| s.seccomp_profile.clone())
            .unwrap_or_default();
        assert_eq!(
            (seccomp.type_.as_str(), seccomp.localhost_profile.as_deref()),
            ("Localhost", Some(profile.localhost_path().as_str())),
            "{}",
            container.name
        );
    }
    // ptrace(PTRACE_TRACEME): allowed by the runtime's default profile, not by ours.
    let ptrace = sh(
        &cluster,
        &ns.name,
        "my-agent-0",
        "openclaw",
        "perl -e '$r = syscall(101, 0, 0, 0, 0); print \"$r $!\\n\"'",
    )?;
    ensure!(
        ptrace.trim() == "-1 Operation not permitted",
        "ptrace in the openclaw container: {ptrace}"
    );
    let first = upstream_requests();
    ensure!(
        first.0 > 0 && first.1 > 0 && first.2 > 0,
        "the first agent did not download through the cache from every upstream: {first:?}"
    );

    // The second agent on the node: everything from the cache.
    instances::apply(&cluster, &ns.name, &agent_with_downloads("second-agent")?)?;
    running(&cluster, &ns.name, "second-agent")
        .await
        .with_context(|| {
            format!(
                "operator log:\n{}\nnode agent:\n{}",
                operator.logs(),
                agent_logs()
            )
        })?;
    let second = instances::get(&cluster, &ns.name, "second-agent").await?;
    let status = second.status.unwrap_or_default();
    ensure!(
        status.skills.iter().any(|s| s.name == "weather"),
        "the second agent has no weather skill: {:?}",
        status.skills
    );
    let versions = status.supervisor.map(|s| s.versions).unwrap_or_default();
    ensure!(
        versions.get("pnpm").map(String::as_str) == Some("10.11.0"),
        "the second agent's pnpm: {versions:?}"
    );
    assert_eq!(
        upstream_requests(),
        first,
        "the second agent made upstream requests (ClawHub, npm, PyPI)"
    );
    let metrics = agent_metrics().await?;
    ensure!(
        sample(
            &metrics,
            "openclaw_node_cache_requests_total",
            &["result=\"hit\""]
        ) > 0.0,
        "no cache hit counted:\n{metrics}"
    );
    ensure!(
        sample(&metrics, "openclaw_node_round_errors_total", &[]) == 0.0,
        "the node agent's rounds failed (an RBAC denial shows in its log):\n{}",
        agent_logs()
    );

    // A model no node's GPU memory can hold is named before any pod is scheduled.
    instances::apply(
        &cluster,
        &ns.name,
        &openclaw_tests::seed::as_manifest(
            "spec:\n  ollama:\n    enabled: true\n    gpu: 1\n    models: [\"llama3.1:405b\"]\n",
            "big-model",
        ),
    )?;
    let condition = wait::until(
        "big-model's ModelsFitGPU condition",
        Duration::from_secs(60),
        || async {
            let instance = instances::get(&cluster, &ns.name, "big-model").await?;
            Ok(instance
                .status
                .unwrap_or_default()
                .conditions
                .into_iter()
                .find(|c| c.type_ == "ModelsFitGPU"))
        },
    )
    .await?;
    assert_eq!(
        (condition.status.as_str(), condition.reason.as_str()),
        ("False", "ModelTooLarge")
    );
    ensure!(
        condition
            .message
            .contains("llama3.1:405b needs about 251.5 GiB")
            && condition
                .message
                .contains("node node-0 (1 × NVIDIA H100 80GB HBM3, 79.6 GiB)"),
        "{}",
        condition.message
    );
    Ok(())
}
