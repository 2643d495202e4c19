//! The admission webhook, called by the real kube-apiserver: the operator runs as a local
//! process serving HTTPS with a certificate it issued, the chart's ValidatingWebhookConfiguration
//! (rendered by `helm template`, pointed at the process by URL and scoped to this test's
//! namespace) calls it. Denials name the field, warnings reach `kubectl`, the certificate is
//! renewed and the CA bundle follows without a failed request, and with the operator stopped a
//! deletion still goes through. With cert-manager's mounted certificate instead, the operator
//! serves the files and follows their renewal, leaving the bundle to the CA injector.

use std::{
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail, ensure};
use openclaw_tests::{
    TestCluster,
    cluster::repo_root,
    process::{ChildGuard, workspace_binary},
    seed, wait,
};
use serde::Deserialize as _;
use serde_yaml::Value;

const CERT_VALIDITY: &str = "60s";

fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// The chart's ValidatingWebhookConfiguration, renamed, scoped to `ns`, calling `url`.
fn webhook_configuration(cluster: &TestCluster, name: &str, ns: &str, url: &str) -> Result<String> {
    let chart = repo_root().join("charts/openclaw-operator");
    let out = cluster.tool(
        "helm",
        &[
            "template",
            "openclaw-operator",
            &chart.display().to_string(),
            "--namespace",
            "openclaw-operator-system",
            "--show-only",
            "templates/webhook.yaml",
            "--set",
            &format!("watchNamespace={ns}"),
        ],
        None,
    )?;
    ensure!(
        out.status.success(),
        "helm template: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout)?;
    for doc in serde_yaml::Deserializer::from_str(&text) {
        let mut object = Value::deserialize(doc)?;
        if object["kind"] != "ValidatingWebhookConfiguration" {
            continue;
        }
        object["metadata"]["name"] = name.into();
        let webhooks = object["webhooks"]
            .as_sequence_mut()
            .context("no webhooks in the chart's configuration")?;
        for webhook in webhooks {
            let mut client = serde_yaml::Mapping::new();
            client.insert("url".into(), url.into());
            webhook["clientConfig"] = Value::Mapping(client);
        }
        return Ok(serde_yaml::to_string(&object)?);
    }
    bail!("the chart renders no ValidatingWebhookConfiguration:\n{text}")
}

/// Deletes the cluster-scoped configuration when the test ends, however it ends.
struct Cleanup<'a> {
    cluster: &'a TestCluster,
    name: String,
}

impl Drop for Cleanup<'_> {
    fn drop(&mut self) {
        let _ = self.cluster.kubectl(
            &[
                "delete",
                "validatingwebhookconfiguration",
                &self.name,
                "--ignore-not-found",
                "--wait=false",
            ],
            None,
        );
    }
}

fn start_operator(
    cluster: &TestCluster,
    ns: &str,
    configuration: &str,
    port: u16,
) -> Result<ChildGuard> {
    start_operator_with(
        cluster,
        ns,
        port,
        &[
            format!("--webhook-configuration={configuration}"),
            "--webhook-secret=webhook-tls".to_owned(),
            format!("--webhook-cert-validity={CERT_VALIDITY}"),
        ],
    )
}

/// The operator with its webhook on `port` and `certs` (the flags that say where its
/// certificate comes from).
fn start_operator_with(
    cluster: &TestCluster,
    ns: &str,
    port: u16,
    certs: &[String],
) -> Result<ChildGuard> {
    let log = std::fs::File::create(std::env::temp_dir().join(format!("{ns}-operator.log")))?;
    let child = Command::new(workspace_binary("openclaw-operator")?)
        .args([
            "run",
            &format!("--namespace={ns}"),
            &format!("--watch-namespace={ns}"),
            &format!("--metrics-bind-address=127.0.0.1:{}", free_port()?),
            &format!("--webhook-bind-address=127.0.0.1:{port}"),
            "--webhook-hosts=127.0.0.1",
            "--log-format=plain",
        ])
        .args(certs)
        .env("KUBECONFIG", cluster.kubeconfig())
        .env("RUST_LOG", "info,kube=warn")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()?;
    Ok(ChildGuard(child))
}

/// `kubectl apply` of an instance: (succeeded, stderr).
fn apply(cluster: &TestCluster, ns: &str, name: &str, spec: &str) -> Result<(bool, String)> {
    let manifest = seed::as_manifest(spec, name);
    let out = cluster.tool("kubectl", &["apply", "-n", ns, "-f", "-"], Some(&manifest))?;
    Ok((
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    ))
}

/// Replaces the instance's finalizers with `finalizers` (JSON).
fn set_finalizers(cluster: &TestCluster, ns: &str, name: &str, finalizers: &str) -> Result<()> {
    let patch = format!(r#"{{"metadata":{{"finalizers":{finalizers}}}}}"#);
    cluster.kubectl(
        &[
            "patch",
            "claw",
            name,
            "-n",
            ns,
            "--type=merge",
            "-p",
            &patch,
        ],
        None,
    )?;
    Ok(())
}

fn secret_field(cluster: &TestCluster, ns: &str, path: &str) -> String {
    cluster
        .kubectl(
            &[
                "get",
                "secret",
                "webhook-tls",
                "-n",
                ns,
                "-o",
                &format!("jsonpath={path}"),
            ],
            None,
        )
        .unwrap_or_default()
}

fn ca_bundle(cluster: &TestCluster, configuration: &str) -> String {
    cluster
        .kubectl(
            &[
                "get",
                "validatingwebhookconfiguration",
                configuration,
                "-o",
                "jsonpath={.webhooks[0].clientConfig.caBundle}",
            ],
            None,
        )
        .unwrap_or_default()
}

const KEYED: &str =
    "spec:\n  image: {tag: '2026.9.6'}\n  env: [{name: ANTHROPIC_API_KEY, value: sk-ant-test}]\n";

#[tokio::test]
async fn the_api_server_calls_the_webhook_which_denies_warns_renews_and_never_blocks_a_delete()
-> Result<()> {
    let cluster = TestCluster::connect().await?;
    let ns = cluster.namespace("webhook").await?;
    let configuration = format!("openclaw-{}", ns.name);
    let port = free_port()?;
    let url = format!("https://127.0.0.1:{port}/validate");
    let _cleanup = Cleanup {
        cluster: &cluster,
        name: configuration.clone(),
    };
    let manifest = webhook_configuration(&cluster, &configuration, &ns.name, &url)?;
    cluster.kubectl(&["apply", "-f", "-"], Some(&manifest))?;
    let operator = start_operator(&cluster, &ns.name, &configuration, port)?;

    // The operator issues its certificate and publishes its CA; admission then works.
    wait::until(
        "the operator to publish its CA bundle",
        Duration::from_secs(60),
        || async { Ok((!ca_bundle(&cluster, &configuration).is_empty()).then_some(())) },
    )
    .await?;
    wait::until(
        "a first instance to pass the webhook",
        Duration::from_secs(30),
        || async { Ok(apply(&cluster, &ns.name, "good", KEYED)?.0.then_some(())) },
    )
    .await?;

    // Denied, naming the field; nothing was stored.
    let (ok, stderr) = apply(
        &cluster,
        &ns.name,
        "root-sidecar",
        &format!(
            "{KEYED}  sidecars:\n    - name: shell\n      image: busybox\n      securityContext: {{runAsUser: 0}}\n"
        ),
    )?;
    ensure!(!ok, "a root sidecar was admitted");
    ensure!(
        stderr.contains("denied the request")
            && stderr.contains("spec.sidecars[0].securityContext.runAsUser"),
        "{stderr}"
    );
    ensure!(
        cluster
            .kubectl(&["get", "claw", "root-sidecar", "-n", &ns.name], None)
            .is_err(),
        "the denied instance exists"
    );
    let (ok, stderr) = apply(
        &cluster,
        &ns.name,
        "host-volume",
        &format!("{KEYED}  extraVolumes:\n    - name: host\n      hostPath: {{path: /}}\n"),
    )?;
    ensure!(
        !ok && stderr.contains("spec.extraVolumes[0].hostPath"),
        "{stderr}"
    );
    // Map keys, which CEL cannot check within the API server's cost budget.
    let (ok, stderr) = apply(
        &cluster,
        &ns.name,
        "bad-keys",
        &format!(
            "{KEYED}  podAnnotations: {{\"my key\": x}}\n  availability: {{nodeSelector: {{a/b/c: x}}}}\n"
        ),
    )?;
    ensure!(
        !ok && stderr.contains("spec.podAnnotations: key \"my key\"")
            && stderr.contains("spec.availability.nodeSelector: key \"a/b/c\""),
        "{stderr}"
    );

    // Allowed with warnings, which kubectl prints.
    let (ok, stderr) = apply(
        &cluster,
        &ns.name,
        "open",
        "spec:\n  security: {networkPolicy: {enabled: false}}\n",
    )?;
    ensure!(ok, "refused: {stderr}");
    for warning in [
        "Warning: spec.security.networkPolicy.enabled is false",
        "Warning: no AI provider key found",
        "Warning: spec.image.tag is latest",
    ] {
        ensure!(stderr.contains(warning), "no {warning:?} in: {stderr}");
    }

    // Renewal: a new certificate before the old one expires, the old CA kept in the bundle,
    // admission working throughout and after the old certificate's end.
    let first_expiry = secret_field(
        &cluster,
        &ns.name,
        "{.metadata.annotations.openclaw\\.rocks/not-after}",
    );
    ensure!(!first_expiry.is_empty(), "the Secret records no expiry");
    let renewed_at = Instant::now();
    let refused = std::sync::Mutex::new(Vec::new());
    let second_expiry = wait::until(
        "the webhook certificate to be renewed",
        Duration::from_secs(90),
        || async {
            let (ok, stderr) = apply(&cluster, &ns.name, "good", KEYED)?;
            if !ok && let Ok(mut refused) = refused.lock() {
                refused.push(stderr);
            }
            let now = secret_field(
                &cluster,
                &ns.name,
                "{.metadata.annotations.openclaw\\.rocks/not-after}",
            );
            Ok((!now.is_empty() && now != first_expiry).then_some(now))
        },
    )
    .await?;
    let refused = refused.into_inner().unwrap_or_default();
    ensure!(
        refused.is_empty(),
        "admission failed during the renewal: {refused:?}"
    );
    println!(
        "webhook certificate renewed after {:.0} s ({first_expiry} → {second_expiry})",
        renewed_at.elapsed().as_secs_f64()
    );
    wait::until(
        "the CA bundle to hold the new and the previous CA",
        Duration::from_secs(30),
        || async {
            let bundle = ca_bundle(&cluster, &configuration);
            let pem =
                String::from_utf8(base64_decode(&bundle).context("the caBundle is not base64")?)?;
            Ok((pem.matches("BEGIN CERTIFICATE").count() == 2).then_some(()))
        },
    )
    .await?;
    // Past the first certificate's end, the renewed one is served.
    tokio::time::sleep(Duration::from_secs(25)).await;
    let (ok, stderr) = apply(&cluster, &ns.name, "after-renewal", KEYED)?;
    ensure!(ok, "admission failed after the renewal: {stderr}");

    // A finalizer that only a (stopped) operator would remove.
    set_finalizers(&cluster, &ns.name, "good", r#"["example.com/hold"]"#)?;

    // The operator stops: creating is refused (fail closed), deleting is not.
    drop(operator);
    let (ok, stderr) = apply(&cluster, &ns.name, "while-down", KEYED)?;
    ensure!(!ok && stderr.contains("failed calling webhook"), "{stderr}");
    cluster.kubectl(
        &["delete", "claw", "good", "-n", &ns.name, "--wait=false"],
        None,
    )?;
    // Removing the finalizer of an instance being deleted is an update the webhook never sees.
    set_finalizers(&cluster, &ns.name, "good", "null")?;
    wait::until(
        "the instance to be gone",
        Duration::from_secs(30),
        || async {
            Ok(cluster
                .kubectl(&["get", "claw", "good", "-n", &ns.name], None)
                .is_err()
                .then_some(()))
        },
    )
    .await?;
    cluster.kubectl(
        &["delete", "claw", "open", "-n", &ns.name, "--wait=false"],
        None,
    )?;
    Ok(())
}

fn base64_decode(text: &str) -> Option<Vec<u8>> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .ok()
}

/// Writes a certificate into `dir` the way a mounted cert-manager Secret presents it (`tls.crt`,
/// `tls.key`, `ca.crt`), each file replaced whole; returns the CA.
fn write_mounted_certificate(dir: &std::path::Path) -> Result<String> {
    let issued = openclaw_operator::webhook::certs::issue(
        &["127.0.0.1".to_owned()],
        std::time::SystemTime::now(),
        Duration::from_secs(3600),
    )?;
    for (file, text) in [
        ("tls.crt", &issued.cert_pem),
        ("tls.key", &issued.key_pem),
        ("ca.crt", &issued.ca_pem),
    ] {
        let tmp = dir.join(format!(".{file}.tmp"));
        std::fs::write(&tmp, text)?;
        std::fs::rename(&tmp, dir.join(file))?;
    }
    Ok(issued.ca_pem)
}

/// Sets the configuration's `caBundle`, as cert-manager's CA injector does.
fn inject_ca(cluster: &TestCluster, configuration: &str, ca_pem: &str) -> Result<()> {
    use base64::Engine as _;
    let bundle = base64::engine::general_purpose::STANDARD.encode(ca_pem);
    cluster.kubectl(
        &[
            "patch",
            "validatingwebhookconfiguration",
            configuration,
            "--type=json",
            "-p",
            &format!(
                r#"[{{"op":"add","path":"/webhooks/0/clientConfig/caBundle","value":"{bundle}"}}]"#
            ),
        ],
        None,
    )?;
    Ok(())
}

/// With the chart's `webhook.certManager.enabled`, the operator serves the certificate mounted
/// from cert-manager's Secret and publishes nothing itself. The API server calls it; when the
/// files are replaced (a renewal) and the CA injector updates the bundle, the new certificate
/// is served within the operator's refresh period, and admission keeps working.
#[tokio::test]
async fn a_mounted_certificate_is_served_and_followed_when_renewed() -> Result<()> {
    let cluster = TestCluster::connect().await?;
    let ns = cluster.namespace("webhook-dir").await?;
    let configuration = format!("openclaw-{}", ns.name);
    let port = free_port()?;
    let url = format!("https://127.0.0.1:{port}/validate");
    let _cleanup = Cleanup {
        cluster: &cluster,
        name: configuration.clone(),
    };
    let dir = tempfile::tempdir()?;
    let first_ca = write_mounted_certificate(dir.path())?;
    let manifest = webhook_configuration(&cluster, &configuration, &ns.name, &url)?;
    cluster.kubectl(&["apply", "-f", "-"], Some(&manifest))?;
    inject_ca(&cluster, &configuration, &first_ca)?;
    let _operator = start_operator_with(
        &cluster,
        &ns.name,
        port,
        &[format!("--webhook-cert-dir={}", dir.path().display())],
    )?;
    let root_sidecar = format!(
        "{KEYED}  sidecars:\n    - name: shell\n      image: busybox\n      securityContext: {{runAsUser: 0}}\n"
    );
    let denied_by_the_webhook = || async {
        let (ok, stderr) = apply(&cluster, &ns.name, "root-sidecar", &root_sidecar)?;
        ensure!(!ok, "a root sidecar was admitted");
        Ok(stderr.contains("denied the request").then_some(stderr))
    };
    wait::until(
        "the webhook to answer with the mounted certificate",
        Duration::from_secs(30),
        denied_by_the_webhook,
    )
    .await?;
    ensure!(
        ca_bundle(&cluster, &configuration) == {
            use base64::Engine as _;
            base64::engine::general_purpose::STANDARD.encode(&first_ca)
        },
        "the operator rewrote a bundle that cert-manager owns"
    );

    // Renewal: new files, then the injector's new bundle. Until the operator reads the files
    // again the API server cannot verify it; after that, admission works again.
    let second_ca = write_mounted_certificate(dir.path())?;
    inject_ca(&cluster, &configuration, &second_ca)?;
    let renewed = Instant::now();
    wait::until(
        "the webhook to serve the renewed certificate",
        Duration::from_secs(75),
        denied_by_the_webhook,
    )
    .await?;
    println!(
        "mounted certificate renewed: served {:.1} s after the files changed",
        renewed.elapsed().as_secs_f64()
    );
    Ok(())
}
