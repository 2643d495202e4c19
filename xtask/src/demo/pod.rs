//! With the real node the gateway a user reaches is the one in `my-agent-0`: `kubectl
//! port-forward` brings the pod's gateway port (18789) and the supervisor's status port (9090)
//! to localhost, as a user would on any cluster.

use std::{
    path::Path,
    process::{Child, Command, Stdio},
    thread::sleep,
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail};

use super::{
    GATEWAY, INSTANCE, NAMESPACE, check, http_get, json_has, json_true, kubectl_get, secret_key,
};

/// The pod's supervisor status port, forwarded to the same port on localhost.
const STATUS: &str = "127.0.0.1:9090";

pub fn serve(dir: &Path, smoke: bool, started: Instant) -> Result<()> {
    let pod = format!("{INSTANCE}-0");
    super::wait("my-agent Ready", Duration::from_secs(300), || {
        Ok(kubectl_get(
            dir,
            "openclawinstance",
            INSTANCE,
            "{.status.conditions[?(@.type==\"Ready\")].status}",
        )? == "True")
    })?;
    let node = kubectl_get(dir, "pod", &pod, "{.spec.nodeName}")?;
    let ip = kubectl_get(dir, "pod", &pod, "{.status.podIP}")?;
    println!(
        "==> {NAMESPACE}/{pod} is Ready on {node} ({ip}), {:.0}s after the demo started",
        started.elapsed().as_secs_f64()
    );
    let mut forward = PortForward::start(dir, &pod)?;
    let token = secret_key(dir, &format!("{INSTANCE}-gateway-token"), "token")?;

    if smoke {
        check("my-agent-0 runs on the real node", node == "node-0", &node)?;
        let (code, body) = http_get(STATUS, "/readyz")?;
        check(
            "the pod's supervisor /readyz says ready",
            code == 200 && json_has(&body, "status", "\"ready\""),
            format!("{code} {body}"),
        )?;
        let (code, body) = http_get(GATEWAY, "/healthz")?;
        check(
            "the pod's gateway /healthz says ok",
            code == 200 && json_true(&body, "ok"),
            format!("{code} {body}"),
        )?;
        let version = kubectl_get(
            dir,
            "openclawinstance",
            INSTANCE,
            "{.status.supervisor.versions.openclaw}",
        )?;
        check(
            "the operator read the gateway's version from the pod",
            !version.is_empty(),
            "status.supervisor.versions.openclaw is empty",
        )?;
        forward.stop();
        return Ok(());
    }

    println!(
        "\nOpenClaw runs in {NAMESPACE}/{pod} on {node}, forwarded to localhost by kubectl port-forward.\n\
         \n  Control UI       http://{GATEWAY}/#token={token}\
         \n  gateway health   curl http://{GATEWAY}/healthz\
         \n  supervisor       curl http://{STATUS}/status\
         \n  the instance     export KUBECONFIG={}; kubectl get openclawinstances -n {NAMESPACE}\
         \n  logs             kubectl logs -n {NAMESPACE} {pod} -f\
         \n\nCtrl-C stops the port-forward; `cargo xtask cluster down` stops the control plane.",
        dir.join("kubeconfig").display(),
    );
    let status = forward.wait()?;
    println!("==> kubectl port-forward exited ({status})");
    Ok(())
}

/// `kubectl port-forward pod/<pod> 18789 9090` on 127.0.0.1, killed when dropped.
struct PortForward {
    child: Option<Child>,
}

impl PortForward {
    fn start(dir: &Path, pod: &str) -> Result<Self> {
        let child = Command::new(dir.join("bin").join("kubectl"))
            .arg(format!("--kubeconfig={}", dir.join("kubeconfig").display()))
            .args(["port-forward", "-n", NAMESPACE, &format!("pod/{pod}")])
            .args(["18789:18789", "9090:9090", "--address=127.0.0.1"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .context("running kubectl port-forward")?;
        let mut forward = Self { child: Some(child) };
        let deadline = Instant::now() + Duration::from_secs(30);
        while http_get(GATEWAY, "/healthz").is_err() {
            if let Some(child) = forward.child.as_mut()
                && let Some(status) = child.try_wait()?
            {
                bail!("kubectl port-forward exited ({status})");
            }
            if Instant::now() > deadline {
                bail!("kubectl port-forward did not bring {GATEWAY} up within 30 s");
            }
            sleep(Duration::from_millis(200));
        }
        Ok(forward)
    }

    fn wait(&mut self) -> Result<std::process::ExitStatus> {
        let mut child = self.child.take().context("already stopped")?;
        Ok(child.wait()?)
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for PortForward {
    fn drop(&mut self) {
        self.stop();
    }
}
