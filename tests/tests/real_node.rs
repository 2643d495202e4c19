//! The whole path on the real node `node-0`: the chart's operator as a real pod, the guide's
//! `my-agent` in a real container (init container, supervisor, the real OpenClaw gateway), the
//! kernel's view of the gateway, the NetworkPolicy as a real implementation enforces it, and
//! the faults a user meets: a crashing gateway, a deleted pod, a rotated Secret, a lost
//! operator.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use k8s_openapi::api::{
    apps::v1::StatefulSet,
    coordination::v1::Lease,
    core::v1::{Pod, Secret},
};
use kube::{
    Api,
    api::{Patch, PatchParams},
};
use openclaw_testkit::seaweed::SeaweedFs;
use openclaw_tests::{
    TestCluster, backup, instances,
    real_node::{ChartOperator, READY_TIMEOUT, api_keys, my_agent, running, seconds, sh},
    seed::fixtures_dir,
    wait,
};

const CONTAINER: &str = "openclaw";
const GATEWAY_PORT: u16 = 18789;
const STATUS_PORT: u16 = 9090;
/// The node's address on the bridge: what pods reach of this machine.
const NODE_IP: &str = "198.18.0.1";

async fn pod(cluster: &TestCluster, ns: &str, name: &str) -> Result<Pod> {
    Ok(Api::<Pod>::namespaced(cluster.client.clone(), ns)
        .get(name)
        .await?)
}

fn uid<K: kube::Resource>(object: &K) -> String {
    object.meta().uid.clone().unwrap_or_default()
}

fn restarts(pod: &Pod) -> i32 {
    pod.status
        .as_ref()
        .and_then(|s| s.container_statuses.as_ref())
        .map(|c| c.iter().map(|c| c.restart_count).sum())
        .unwrap_or_default()
}

/// The gateway child of the supervisor (PID 1): the process titled `openclaw-gateway`.
fn gateway_pid(cluster: &TestCluster, ns: &str, pod: &str) -> Result<u32> {
    let out = sh(
        cluster,
        ns,
        pod,
        CONTAINER,
        r#"for p in /proc/[0-9]*; do
             if [ "$(tr '\0' ' ' < $p/cmdline 2>/dev/null | cut -d' ' -f1)" = openclaw-gateway ] \
                && grep -q '^PPid:[[:space:]]*1$' $p/status; then basename $p; fi
           done"#,
    )?;
    let pids: Vec<u32> = out
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect();
    match pids.as_slice() {
        [pid] => Ok(*pid),
        _ => bail!("expected one gateway child of PID 1 in {pod}, found {pids:?}"),
    }
}

/// `Field:\tvalue` lines of `/proc/<pid>/status`.
fn proc_status(
    cluster: &TestCluster,
    ns: &str,
    pod: &str,
    pid: u32,
) -> Result<Vec<(String, String)>> {
    let text = sh(
        cluster,
        ns,
        pod,
        CONTAINER,
        &format!("cat /proc/{pid}/status"),
    )?;
    Ok(text
        .lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.to_owned(), v.trim().to_owned()))
        .collect())
}

fn field<'a>(status: &'a [(String, String)], key: &str) -> &'a str {
    status
        .iter()
        .find(|(k, _)| k == key)
        .map_or("", |(_, v)| v.as_str())
}

/// What a TCP connection from a container to `host:port` meets: `open`, or the error code
/// (kube-router rejects what a policy forbids, `ECONNREFUSED`; nothing listening is the same).
fn connect(
    cluster: &TestCluster,
    ns: &str,
    pod: &str,
    container: &str,
    host: &str,
    port: u16,
) -> Result<String> {
    let script = format!(
        "const s = require('net').connect({{host: '{host}', port: {port}, timeout: 3000}});\
         s.on('connect', () => {{ console.log('open'); process.exit(0); }});\
         s.on('timeout', () => {{ console.log('timeout'); process.exit(0); }});\
         s.on('error', (e) => {{ console.log(e.code); process.exit(0); }});"
    );
    let out =
        openclaw_tests::real_node::exec(cluster, ns, pod, container, &["node", "-e", &script])?;
    Ok(out.trim().to_owned())
}

#[tokio::test]
async fn guide_agent_runs_for_real_and_survives_faults() -> Result<()> {
    let cluster = TestCluster::connect().await?;
    let ns = cluster.real_namespace("real-agent").await?;
    let operator = ChartOperator::install(&cluster, &ns, &ns.name)?;
    api_keys(&cluster, &ns.name, "sk-ant-first").await?;

    // `helm test`: a pod of the operator's image asks the operator's Service for /readyz,
    // through the operator's own NetworkPolicy.
    operator.helm_test()?;

    // The chart's webhook (the operator pod behind its Service, the CA bundle the operator
    // wrote) refuses a root sidecar, naming the field.
    let denied = wait::until(
        "the chart's webhook to deny a root sidecar",
        Duration::from_secs(90),
        || async {
            let (admitted, stderr) = apply_root_sidecar(&cluster, &ns.name)?;
            ensure!(!admitted, "a root sidecar was admitted");
            Ok(stderr.contains("denied the request").then_some(stderr))
        },
    )
    .await
    .with_context(|| format!("operator log:\n{}", operator.logs()))?;
    ensure!(
        denied.contains("spec.sidecars[0].securityContext.runAsUser"),
        "{denied}"
    );

    // Applied unchanged (but for the namespace), it reaches Running/Ready in a real container.
    let applied = Instant::now();
    apply_my_agent(&cluster, &ns.name, &operator).await?;
    println!(
        "my-agent: apply → Running/Ready in {:.1} s (cold start)",
        seconds(applied)
    );
    let instance = instances::get(&cluster, &ns.name, "my-agent").await?;
    let status = instance.status.clone().unwrap_or_default();
    let supervisor = status.supervisor.clone().context("no status.supervisor")?;
    ensure!(
        supervisor.gateway_healthy == Some(true),
        "the operator pod did not read a healthy gateway from /status: {supervisor:?}"
    );
    ensure!(
        supervisor.versions.get("openclaw").map(String::as_str) == Some("2026.9.6"),
        "the gateway version from the pod's /status: {supervisor:?}"
    );
    let pod_name = "my-agent-0";
    let first = pod(&cluster, &ns.name, pod_name).await?;
    ensure!(
        first.spec.as_ref().and_then(|s| s.node_name.as_deref()) == Some("node-0"),
        "my-agent-0 is not on the real node"
    );

    // The gateway answers inside the pod.
    let health = sh(
        &cluster,
        &ns.name,
        pod_name,
        CONTAINER,
        &format!(
            "node -e \"fetch('http://127.0.0.1:{GATEWAY_PORT}/healthz').then(r => r.text().then(t => console.log(r.status, t)))\""
        ),
    )?;
    ensure!(
        health.starts_with("200"),
        "the gateway's /healthz: {health}"
    );

    // The kernel's view of the gateway child and of the container.
    let gateway = gateway_pid(&cluster, &ns.name, pod_name)?;
    let proc = proc_status(&cluster, &ns.name, pod_name, gateway)?;
    assert_eq!(field(&proc, "CapEff"), "0000000000000000", "gateway CapEff");
    assert_eq!(field(&proc, "NoNewPrivs"), "1", "gateway NoNewPrivs");
    assert_eq!(
        field(&proc, "Seccomp"),
        "2",
        "gateway seccomp mode (filter)"
    );
    assert_eq!(field(&proc, "Uid").split_whitespace().next(), Some("1000"));
    let environ = sh(
        &cluster,
        &ns.name,
        pod_name,
        CONTAINER,
        "cat /proc/1/environ 2>&1 >/dev/null; echo rc=$?",
    )?;
    assert!(
        environ.contains("Permission denied") && !environ.contains("rc=0"),
        "the supervisor's environment is readable by the gateway's user: {environ}"
    );
    let write = sh(
        &cluster,
        &ns.name,
        pod_name,
        CONTAINER,
        "touch /usr/probe 2>&1; echo rc=$?",
    )?;
    assert!(
        write.contains("Read-only file system"),
        "the root filesystem is writable: {write}"
    );

    // Fault 1: the gateway dies; the supervisor restarts it, the pod does not restart.
    sh(
        &cluster,
        &ns.name,
        pod_name,
        CONTAINER,
        &format!("kill -9 {gateway}"),
    )?;
    let killed = Instant::now();
    wait::until(
        "the supervisor to count a gateway restart",
        Duration::from_secs(120),
        || async {
            let instance = instances::get(&cluster, &ns.name, "my-agent").await?;
            let supervisor = instance.status.and_then(|s| s.supervisor);
            Ok(supervisor
                .filter(|s| {
                    s.gateway.as_ref().is_some_and(|g| g.restarts >= 1)
                        && s.gateway_healthy == Some(true)
                })
                .map(|_| ()))
        },
    )
    .await?;
    println!("gateway killed → healthy again in {:.1} s", seconds(killed));
    let after_kill = pod(&cluster, &ns.name, pod_name).await?;
    assert_eq!(uid(&after_kill), uid(&first), "the pod was replaced");
    assert_eq!(restarts(&after_kill), 0, "the container restarted");
    let respawned = gateway_pid(&cluster, &ns.name, pod_name)?;
    assert_ne!(respawned, gateway, "the same gateway process");

    // Fault 2: the pod is deleted; it comes back and the warm start skips every cached step.
    Api::<Pod>::namespaced(cluster.client.clone(), &ns.name)
        .delete(pod_name, &Default::default())
        .await?;
    let deleted = Instant::now();
    replaced_and_ready(&cluster, &ns.name, pod_name, &first).await?;
    println!(
        "pod deleted → new pod Ready in {:.1} s (warm start)",
        seconds(deleted)
    );
    running(&cluster, &ns.name, "my-agent").await?;
    let warm = wait::until(
        "the warm start's steps in the status",
        Duration::from_secs(60),
        || async {
            let instance = instances::get(&cluster, &ns.name, "my-agent").await?;
            let steps = instance
                .status
                .and_then(|s| s.supervisor)
                .map(|s| s.steps)
                .unwrap_or_default();
            // The new supervisor's report: every step done.
            Ok((!steps.is_empty()
                && steps
                    .iter()
                    .all(|s| s.state == openclaw_api::instance::status::StepState::Succeeded))
            .then_some(steps))
        },
    )
    .await?;
    for step in &warm {
        // The gateway token's private copy lives in an emptyDir: a new pod copies it again, in
        // milliseconds. Everything kept on the workspace volume is skipped.
        if step.name == "gateway-token" {
            assert!(
                !step.skipped && step.duration_ms.is_some_and(|ms| ms < 1000),
                "{warm:?}"
            );
            continue;
        }
        assert!(
            step.skipped,
            "the warm start ran step {} again: {warm:?}",
            step.name
        );
    }

    // Fault 3: the API key is rotated; the pod rolls and the gateway sees the new value.
    let before_rotation = pod(&cluster, &ns.name, pod_name).await?;
    Api::<Secret>::namespaced(cluster.client.clone(), &ns.name)
        .patch(
            "openclaw-api-keys",
            &PatchParams::default(),
            &Patch::Merge(
                serde_json::json!({"stringData": {"ANTHROPIC_API_KEY": "sk-ant-second"}}),
            ),
        )
        .await?;
    let rotated = Instant::now();
    replaced_and_ready(&cluster, &ns.name, pod_name, &before_rotation).await?;
    println!(
        "Secret rotated → new pod Ready in {:.1} s",
        seconds(rotated)
    );
    let gateway = gateway_pid(&cluster, &ns.name, pod_name)?;
    let env = sh(
        &cluster,
        &ns.name,
        pod_name,
        CONTAINER,
        &format!("tr '\\0' '\\n' < /proc/{gateway}/environ | grep '^ANTHROPIC_API_KEY='"),
    )?;
    assert_eq!(env.trim(), "ANTHROPIC_API_KEY=sk-ant-second");

    // Fault 3b: the gateway token is rotated on request; the same pod's gateway takes the new
    // token in place (kubelet refresh, supervisor hand-over, gateway hot reload).
    let token_pod = pod(&cluster, &ns.name, pod_name).await?;
    let token_gateway = gateway_pid(&cluster, &ns.name, pod_name)?;
    let secrets = Api::<Secret>::namespaced(cluster.client.clone(), &ns.name);
    let old_token = gateway_token(&secrets).await?;
    assert_eq!(invoke(&cluster, &ns.name, pod_name, &old_token)?, "200");
    cluster.kubectl(
        &[
            "annotate",
            "openclawinstance",
            "my-agent",
            "-n",
            &ns.name,
            "openclaw.rocks/rotate-gateway-token=rotation-1",
        ],
        None,
    )?;
    let asked = Instant::now();
    let new_token = wait::until(
        "the operator to write a new gateway token",
        Duration::from_secs(60),
        || async {
            let token = gateway_token(&secrets).await?;
            Ok((token != old_token).then_some(token))
        },
    )
    .await?;
    wait::until(
        "the running gateway to accept the new token",
        Duration::from_secs(180),
        || async { Ok((invoke(&cluster, &ns.name, pod_name, &new_token)? == "200").then_some(())) },
    )
    .await?;
    println!(
        "gateway token rotated → new token accepted by the same gateway in {:.1} s",
        seconds(asked)
    );
    assert_eq!(invoke(&cluster, &ns.name, pod_name, &old_token)?, "401");
    let after = pod(&cluster, &ns.name, pod_name).await?;
    assert_eq!(uid(&after), uid(&token_pod), "the pod rolled");
    assert_eq!(
        restarts(&after),
        restarts(&token_pod),
        "the container restarted"
    );
    assert_eq!(
        gateway_pid(&cluster, &ns.name, pod_name)?,
        token_gateway,
        "the gateway restarted"
    );

    // Fault 4: the operator pod is killed; a new one takes the Lease, nothing is re-created.
    let statefulsets = Api::<StatefulSet>::namespaced(cluster.client.clone(), &ns.name);
    let sts_before = uid(&statefulsets.get("my-agent").await?);
    let agent_before = uid(&pod(&cluster, &ns.name, pod_name).await?);
    // The leader (two replicas by default): the standby must take over.
    let old_operator = Api::<Lease>::namespaced(cluster.client.clone(), &ns.name)
        .get("openclaw-operator-leader")
        .await?
        .spec
        .and_then(|s| s.holder_identity)
        .context("nobody holds the operator's Lease")?;
    cluster.kubectl(
        &[
            "delete",
            "pod",
            "-n",
            &ns.name,
            &old_operator,
            "--grace-period=0",
            "--force",
        ],
        None,
    )?;
    let leases = Api::<Lease>::namespaced(cluster.client.clone(), &ns.name);
    let new_leader = wait::until(
        "a new operator pod to hold the Lease",
        Duration::from_secs(180),
        || async {
            let lease = leases.get("openclaw-operator-leader").await?;
            let holder = lease
                .spec
                .and_then(|s| s.holder_identity)
                .unwrap_or_default();
            Ok((!holder.is_empty() && holder != old_operator).then_some(holder))
        },
    )
    .await
    .with_context(|| format!("operator log:\n{}", operator.logs()))?;
    println!("operator pod {old_operator} killed → {new_leader} leads");
    running(&cluster, &ns.name, "my-agent").await?;
    // Give the new leader a few resyncs (10 s each) to do anything it would do.
    tokio::time::sleep(Duration::from_secs(25)).await;
    assert_eq!(
        uid(&statefulsets.get("my-agent").await?),
        sts_before,
        "the StatefulSet was re-created"
    );
    assert_eq!(
        uid(&pod(&cluster, &ns.name, pod_name).await?),
        agent_before,
        "the agent pod was re-created"
    );
    Ok(())
}

/// Applies the guide's `my-agent` and waits for it to run (the operator's log on failure).
async fn apply_my_agent(cluster: &TestCluster, ns: &str, operator: &ChartOperator) -> Result<()> {
    instances::apply(cluster, ns, &my_agent()?)?;
    running(cluster, ns, "my-agent")
        .await
        .with_context(|| format!("operator log:\n{}", operator.logs()))
}

/// `kubectl apply` of an instance whose sidecar runs as root: (admitted, stderr).
fn apply_root_sidecar(cluster: &TestCluster, ns: &str) -> Result<(bool, String)> {
    let manifest = openclaw_tests::seed::as_manifest(
        "spec:\n  sidecars:\n    - name: shell\n      image: busybox\n      securityContext: {runAsUser: 0}\n",
        "root-sidecar",
    );
    let out = cluster.tool("kubectl", &["apply", "-n", ns, "-f", "-"], Some(&manifest))?;
    Ok((
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    ))
}

/// The gateway token of `my-agent`'s own Secret.
async fn gateway_token(secrets: &Api<Secret>) -> Result<String> {
    let secret = secrets.get("my-agent-gateway-token").await?;
    let bytes = secret
        .data
        .and_then(|mut d| d.remove("token"))
        .context("no token key in my-agent-gateway-token")?;
    Ok(String::from_utf8(bytes.0)?)
}

/// `POST /tools/invoke` (a read-only tool) on the gateway from inside its container, with
/// `token`: the HTTP status, or the connection error's code.
fn invoke(cluster: &TestCluster, ns: &str, pod: &str, token: &str) -> Result<String> {
    let script = "const r = require('http').request({host: '127.0.0.1', port: 18789, \
         path: '/tools/invoke', method: 'POST', headers: {authorization: 'Bearer ' + \
         process.argv[1], 'content-type': 'application/json'}}, (res) => { \
         console.log(res.statusCode); process.exit(0); }); \
         r.on('error', (e) => { console.log(e.code); process.exit(0); }); \
         r.end(JSON.stringify({tool: 'sessions_list', args: {}}));";
    let out = openclaw_tests::real_node::exec(
        cluster,
        ns,
        pod,
        CONTAINER,
        &["node", "-e", script, token],
    )?;
    Ok(out.trim().to_owned())
}

/// Waits until `name` is a pod other than `old` (a new uid), and Ready.
async fn replaced_and_ready(cluster: &TestCluster, ns: &str, name: &str, old: &Pod) -> Result<()> {
    wait::until(&format!("a new {name}, Ready"), READY_TIMEOUT, || async {
        let now = pod(cluster, ns, name).await;
        Ok(now
            .ok()
            .filter(|p| uid(p) != uid(old) && is_ready(p))
            .map(|_| ()))
    })
    .await
}

fn is_ready(pod: &Pod) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

/// A self-signed CA certificate, as a corporate proxy's would be (openssl, a prerequisite of
/// the tests).
fn corporate_ca() -> Result<String> {
    let out = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            "/dev/null",
            "-subj",
            "/CN=corporate-test-ca",
            "-days",
            "1",
        ])
        .output()
        .context("running openssl (apt-get install openssl)")?;
    ensure!(
        out.status.success(),
        "openssl: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8(out.stdout)?)
}

/// Ports the probe pods listen on: one an agent may reach (443), one it may not.
const PROBE_PORTS: [u16; 2] = [443, 5000];

/// A pod from the OpenClaw image (it has `node` for the connection probes) that accepts TCP
/// connections on [`PROBE_PORTS`], restricted like everything else (a port below 1024 through
/// the safe sysctl `net.ipv4.ip_unprivileged_port_start`, no capability).
fn probe_pod(name: &str) -> String {
    let server = format!(
        "const net = require('net'); for (const p of {PROBE_PORTS:?}) \
         net.createServer((c) => c.end()).listen(p);"
    );
    serde_json::json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": "probe"}},
        "spec": {
            "securityContext": {
                "runAsNonRoot": true,
                "runAsUser": 1000,
                "seccompProfile": {"type": "RuntimeDefault"},
                "sysctls": [{"name": "net.ipv4.ip_unprivileged_port_start", "value": "0"}]
            },
            "containers": [{
                "name": "probe",
                "image": "ghcr.io/openclaw/openclaw:2026.9.6",
                "command": ["node", "-e", server],
                "securityContext": {
                    "allowPrivilegeEscalation": false,
                    "readOnlyRootFilesystem": true,
                    "capabilities": {"drop": ["ALL"]}
                }
            }],
            "terminationGracePeriodSeconds": 0
        }
    })
    .to_string()
}

#[tokio::test]
async fn network_policy_is_enforced_by_a_real_implementation() -> Result<()> {
    let cluster = TestCluster::connect().await?;
    let operator_ns = cluster.real_namespace("real-np-op").await?;
    let agents = cluster.real_namespace("real-np").await?;
    let other = cluster.real_namespace("real-np-other").await?;
    let operator = ChartOperator::install(&cluster, &operator_ns, &agents.name)?;
    api_keys(&cluster, &agents.name, "sk-ant-x").await?;
    // The guide's agent with its corporate CA bundle example (11-spec-security.yaml) added.
    let ca = corporate_ca()?;
    instances::create_config_map(
        &cluster,
        &agents.name,
        "corporate-ca-bundle",
        &[("ca-bundle.crt", &ca)],
    )
    .await?;
    let mut agent: serde_json::Value = serde_yaml::from_str(&my_agent()?)?;
    let security: serde_json::Value = serde_yaml::from_str(&std::fs::read_to_string(
        fixtures_dir().join("11-spec-security.yaml"),
    )?)?;
    agent["spec"]["security"] = security["spec"]["security"].clone();
    instances::apply(&cluster, &agents.name, &serde_json::to_string(&agent)?)?;
    for ns in [&operator_ns.name, &other.name] {
        cluster.kubectl(&["apply", "-n", ns, "-f", "-"], Some(&probe_pod("probe")))?;
    }
    running(&cluster, &agents.name, "my-agent")
        .await
        .with_context(|| format!("operator log:\n{}", operator.logs()))?;
    for ns in [&operator_ns.name, &other.name] {
        cluster.kubectl(
            &[
                "wait",
                "-n",
                ns,
                "--for=condition=Ready",
                "pod/probe",
                "--timeout=120s",
            ],
            None,
        )?;
    }
    let agent = pod(&cluster, &agents.name, "my-agent-0").await?;
    let ip = agent
        .status
        .and_then(|s| s.pod_ip)
        .context("my-agent-0 has no IP")?;

    // Another namespace reaches neither the gateway nor the supervisor's status port.
    for port in [GATEWAY_PORT, STATUS_PORT] {
        let outcome = connect(&cluster, &other.name, "probe", "probe", &ip, port)?;
        assert_ne!(
            outcome, "open",
            "a pod of another namespace reached {ip}:{port}"
        );
    }
    // The operator's namespace reaches the status port, and still not the gateway.
    let outcome = connect(
        &cluster,
        &operator_ns.name,
        "probe",
        "probe",
        &ip,
        STATUS_PORT,
    )?;
    assert_eq!(
        outcome, "open",
        "the operator's namespace could not reach the status port"
    );
    let outcome = connect(
        &cluster,
        &operator_ns.name,
        "probe",
        "probe",
        &ip,
        GATEWAY_PORT,
    )?;
    assert_ne!(
        outcome, "open",
        "the operator's namespace reached the gateway"
    );

    // Egress: port 443 gets out of the agent's pod, other ports do not, neither to a pod that
    // listens on both nor to the node's API server, kubelet and registry.
    let probe = pod(&cluster, &other.name, "probe").await?;
    let probe_ip = probe
        .status
        .and_then(|s| s.pod_ip)
        .context("the probe has no IP")?;
    let [allowed, denied] = PROBE_PORTS;
    let outcome = connect(
        &cluster,
        &agents.name,
        "my-agent-0",
        CONTAINER,
        &probe_ip,
        allowed,
    )?;
    assert_eq!(
        outcome, "open",
        "egress to {probe_ip}:{allowed} was blocked"
    );
    let outcome = connect(
        &cluster,
        &agents.name,
        "my-agent-0",
        CONTAINER,
        &probe_ip,
        denied,
    )?;
    assert_ne!(outcome, "open", "egress to {probe_ip}:{denied} was allowed");
    for port in [16443, 10250, 5000] {
        let outcome = connect(
            &cluster,
            &agents.name,
            "my-agent-0",
            CONTAINER,
            NODE_IP,
            port,
        )?;
        assert_ne!(
            outcome, "open",
            "egress to the node's port {port} was allowed"
        );
    }
    // The CA bundle reached the gateway: Node reads the extra CA from the file it names.
    let gateway = gateway_pid(&cluster, &agents.name, "my-agent-0")?;
    let file = sh(
        &cluster,
        &agents.name,
        "my-agent-0",
        CONTAINER,
        &format!("tr '\\0' '\\n' < /proc/{gateway}/environ | sed -n 's/^NODE_EXTRA_CA_CERTS=//p'"),
    )?;
    let file = file.trim();
    ensure!(!file.is_empty(), "the gateway has no NODE_EXTRA_CA_CERTS");
    let mounted = sh(
        &cluster,
        &agents.name,
        "my-agent-0",
        CONTAINER,
        &format!("cat {file}"),
    )?;
    let body = |pem: &str| {
        pem.lines()
            .filter(|l| !l.starts_with("-----"))
            .collect::<String>()
    };
    ensure!(
        body(&mounted).contains(&body(&ca)),
        "{file} does not hold the corporate CA:\n{mounted}"
    );

    // The probe itself is not restricted: what the agent met is its own policy.
    let outcome = connect(
        &cluster,
        &operator_ns.name,
        "probe",
        "probe",
        &probe_ip,
        denied,
    )?;
    assert_eq!(outcome, "open", "the probe pod does not listen on {denied}");
    Ok(())
}

#[tokio::test]
async fn a_deleted_agent_is_backed_up_from_its_pod_and_restored_into_a_new_one() -> Result<()> {
    let cluster = TestCluster::connect().await?;
    let ns = cluster.real_namespace("real-backup").await?;
    let s3 = SeaweedFs::start_on(NODE_IP).await;
    let operator = ChartOperator::install(&cluster, &ns, &ns.name)?;
    backup::credentials(&cluster, &ns.name, &s3).await?;
    instances::apply(&cluster, &ns.name, &backup::instance("keeper", &s3, ""))?;
    running(&cluster, &ns.name, "keeper")
        .await
        .with_context(|| format!("operator log:\n{}", operator.logs()))?;
    // What the agent wrote, on its volume: it must survive the instance.
    sh(
        &cluster,
        &ns.name,
        "keeper-0",
        CONTAINER,
        "mkdir -p /home/node/.openclaw/workspace && echo 'remember the milk' > /home/node/.openclaw/workspace/notes.md",
    )?;

    // Deleting the instance: the operator asks the pod's supervisor for a final backup, which
    // goes from inside the pod to SeaweedFS on this machine.
    let deleted = Instant::now();
    cluster.kubectl(
        &[
            "delete",
            "openclawinstance",
            "keeper",
            "-n",
            &ns.name,
            "--wait=true",
            "--timeout=180s",
        ],
        None,
    )?;
    println!(
        "keeper: deleted with its final backup in {:.1} s",
        seconds(deleted)
    );
    let keys = s3.list(&format!("{}/keeper/", ns.name)).await?;
    let archives: Vec<&String> = keys.iter().filter(|k| k.ends_with(".tar.zst")).collect();
    assert_eq!(archives.len(), 1, "one final snapshot expected: {keys:?}");
    let source = archives[0].clone();

    // A new instance restores it into its empty volume before the gateway starts.
    instances::apply(
        &cluster,
        &ns.name,
        &backup::instance("restored", &s3, &format!("  restoreFrom: \"{source}\"\n")),
    )?;
    running(&cluster, &ns.name, "restored").await?;
    let instance = instances::get(&cluster, &ns.name, "restored").await?;
    assert!(
        instances::condition(&instance, "RestoreComplete").is_some_and(|c| c.status == "True"),
        "no RestoreComplete: {:?}",
        instance.status
    );
    let notes = sh(
        &cluster,
        &ns.name,
        "restored-0",
        CONTAINER,
        "cat /home/node/.openclaw/workspace/notes.md",
    )?;
    assert_eq!(notes, "remember the milk\n");
    assert_eq!(
        instance.status.and_then(|s| s.restored_from).as_deref(),
        Some(source.as_str())
    );
    backup::skip_final_backup(&cluster, &ns.name, "restored")?;
    Ok(())
}

/// `helm upgrade` from the previous chart version (0.2.0, packaged in tests/fixtures/charts)
/// to this one: the CRDs and the running agent stay (same pod, never restarted), the operator
/// comes back with two replicas and its webhook, which then refuses a root sidecar.
#[tokio::test]
async fn the_chart_upgrades_from_the_previous_version_with_the_agent_running() -> Result<()> {
    let cluster = TestCluster::connect().await?;
    let ns = cluster.real_namespace("upgrade").await?;
    let previous = openclaw_tests::cluster::repo_root()
        .join("tests/fixtures/charts/openclaw-operator-0.2.0.tgz");
    let operator = ChartOperator::install_chart(&cluster, &ns, &ns.name, &previous, "install")?;
    api_keys(&cluster, &ns.name, "sk-ant-upgrade").await?;
    apply_my_agent(&cluster, &ns.name, &operator).await?;
    let before = pod(&cluster, &ns.name, "my-agent-0").await?;

    let current = openclaw_tests::cluster::repo_root().join("charts/openclaw-operator");
    let upgraded = Instant::now();
    let operator = ChartOperator::install_chart(&cluster, &ns, &ns.name, &current, "upgrade")?;
    println!("helm upgrade 0.2.0 → current: {:.1} s", seconds(upgraded));
    let replicas = cluster.kubectl(
        &[
            "get",
            "deployment",
            "-n",
            &ns.name,
            "-l",
            "app.kubernetes.io/name=openclaw-operator",
            "-o",
            "jsonpath={.items[0].status.readyReplicas}",
        ],
        None,
    )?;
    ensure!(
        replicas.trim() == "2",
        "ready operator replicas: {replicas}"
    );
    cluster.kubectl(&["get", "crd", "openclawinstances.openclaw.rocks"], None)?;
    // A few resyncs of the new operator: nothing rolls.
    tokio::time::sleep(Duration::from_secs(25)).await;
    running(&cluster, &ns.name, "my-agent").await?;
    let after = pod(&cluster, &ns.name, "my-agent-0").await?;
    ensure!(
        uid(&after) == uid(&before),
        "the upgrade replaced the agent pod"
    );
    ensure!(
        restarts(&after) == restarts(&before),
        "the upgrade restarted the agent's containers"
    );
    operator.helm_test()?;
    let (admitted, stderr) = apply_root_sidecar(&cluster, &ns.name)?;
    ensure!(
        !admitted && stderr.contains("spec.sidecars[0].securityContext.runAsUser"),
        "after the upgrade: {stderr}"
    );
    Ok(())
}
