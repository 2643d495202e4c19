//! The Helm chart lints and installs into the real control plane under Pod Security `restricted`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use openclaw_tests::{TestCluster, cluster::repo_root};

fn chart() -> String {
    repo_root()
        .join("charts/openclaw-operator")
        .display()
        .to_string()
}

#[tokio::test]
async fn chart_lints_strictly() -> anyhow::Result<()> {
    let cluster = TestCluster::connect().await?;
    let out = cluster.tool("helm", &["lint", "--strict", &chart()], None)?;
    assert!(
        out.status.success(),
        "helm lint failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}

#[tokio::test]
async fn chart_refuses_a_mistyped_value() -> anyhow::Result<()> {
    let cluster = TestCluster::connect().await?;
    let out = cluster.tool(
        "helm",
        &["template", "x", &chart(), "--set", "replicaCount=two"],
        None,
    )?;
    assert!(!out.status.success(), "a string replicaCount was accepted");
    let out = cluster.tool(
        "helm",
        &["template", "x", &chart(), "--set", "imagee.tag=1"],
        None,
    )?;
    assert!(
        !out.status.success(),
        "an unknown top-level value was accepted"
    );
    Ok(())
}

#[tokio::test]
async fn chart_installs_and_the_operator_becomes_ready() -> anyhow::Result<()> {
    let cluster = TestCluster::connect().await?;
    let ns = cluster.namespace("chart").await?;
    let release = format!(
        "oc{}",
        SystemTime::now().duration_since(UNIX_EPOCH)?.subsec_nanos() % 100_000
    );
    let out = cluster.tool(
        "helm",
        &[
            "install",
            &release,
            &chart(),
            "--namespace",
            &ns.name,
            "--wait",
            "--timeout",
            "120s",
            // The webhook (failurePolicy Fail) then covers this namespace only: the KWOK pod
            // behind it serves nothing, and other tests create instances meanwhile.
            "--set",
            &format!("watchNamespace={}", ns.name),
            // The node agent runs on real nodes only (see real_node_agent.rs).
            "--set",
            "nodeAgent.enabled=false",
        ],
        None,
    )?;
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let result = (|| -> anyhow::Result<()> {
        assert!(out.status.success(), "helm install failed:\n{log}");
        assert!(
            !log.contains("violate PodSecurity"),
            "the operator pod breaks Pod Security restricted:\n{log}"
        );
        let ready = cluster.kubectl(
            &[
                "get",
                "deployment",
                "-n",
                &ns.name,
                "-l",
                "app.kubernetes.io/instance",
                "-o",
                "jsonpath={.items[*].status.readyReplicas}",
            ],
            None,
        )?;
        assert_eq!(
            ready.trim(),
            "2",
            "the operator Deployment has not its two ready replicas (the default)"
        );
        let can_i = |verb: &str, resource: &str| {
            cluster.kubectl(
                &[
                    "auth",
                    "can-i",
                    verb,
                    resource,
                    // watchNamespace: the operator's namespaced permissions hold there.
                    "-n",
                    &ns.name,
                    &format!(
                        "--as=system:serviceaccount:{}:{release}-openclaw-operator",
                        ns.name
                    ),
                ],
                None,
            )
        };
        assert_eq!(
            can_i("watch", "openclawinstances.openclaw.rocks")
                .unwrap_or_default()
                .trim(),
            "yes"
        );
        assert_ne!(
            can_i("create", "clusterrolebindings")
                .unwrap_or_default()
                .trim(),
            "yes",
            "RBAC is not least privilege"
        );
        assert_ne!(
            can_i("delete", "namespaces").unwrap_or_default().trim(),
            "yes",
            "RBAC is not least privilege"
        );
        Ok(())
    })();
    let _ = cluster.tool(
        "helm",
        &["uninstall", &release, "--namespace", &ns.name, "--wait"],
        None,
    );
    result
}

/// The operator, acting with exactly the permissions the chart grants its ServiceAccount,
/// brings an instance to Running: the RBAC is least privilege and still enough.
#[tokio::test]
async fn the_charts_permissions_are_enough_to_reconcile() -> anyhow::Result<()> {
    use openclaw_api::instance::Phase;
    use openclaw_tests::{instances, operator::OperatorHandle, wait};

    let cluster = TestCluster::connect().await?;
    let system = cluster.namespace("rbac-system").await?;
    let agents = cluster.namespace("rbac-agents").await?;
    let more_agents = cluster.namespace("rbac-more").await?;
    let elsewhere = cluster.namespace("rbac-elsewhere").await?;
    let release = format!(
        "rb{}",
        SystemTime::now().duration_since(UNIX_EPOCH)?.subsec_nanos() % 100_000
    );
    let out = cluster.tool(
        "helm",
        &[
            "install",
            &release,
            &chart(),
            "--namespace",
            &system.name,
            // The chart's webhook covers the agents' namespaces only and, since the KWOK pod
            // behind it serves nothing, must not refuse the instances this test creates there.
            "--set",
            &format!("watchNamespaces={{{},{}}}", agents.name, more_agents.name),
            "--set",
            "webhook.failurePolicy=Ignore",
            "--set",
            "nodeAgent.enabled=false",
        ],
        None,
    )?;
    assert!(
        out.status.success(),
        "helm install failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let result = async {
        let user = format!(
            "system:serviceaccount:{}:{release}-openclaw-operator",
            system.name
        );
        let client = cluster.client_as(&user).await?;
        // The impersonation is real: the ServiceAccount may not read Namespaces.
        let denied = kube::Api::<k8s_openapi::api::core::v1::Namespace>::all(client.clone())
            .list(&Default::default())
            .await;
        assert!(
            matches!(denied, Err(kube::Error::Api(ref s)) if s.code == 403),
            "{denied:?}"
        );
        // The webhook's certificate under the same identity: the Secret in the release's
        // namespace and the caBundle of the release's own ValidatingWebhookConfiguration.
        let fullname = format!("{release}-openclaw-operator");
        let managed = openclaw_operator::webhook::managed::Managed {
            namespace: system.name.clone(),
            secret: format!("{fullname}-webhook-tls"),
            webhook_configuration: fullname.clone(),
            names: vec![format!("{fullname}-webhook.{}.svc", system.name)],
            validity: Duration::from_secs(3600),
        };
        openclaw_operator::webhook::managed::ensure(&client, &managed).await?;
        let bundle = cluster.kubectl(
            &[
                "get",
                "validatingwebhookconfiguration",
                &fullname,
                "-o",
                "jsonpath={.webhooks[0].clientConfig.caBundle}",
            ],
            None,
        )?;
        assert!(
            !bundle.is_empty(),
            "the chart's identity could not publish the CA"
        );
        // watchNamespaces: the namespaced permissions hold in the watched namespaces (and the
        // release's), nowhere else.
        // `kubectl auth can-i` exits 1 on "no": its answer is on stdout either way.
        let can_i = |verb: &str, resource: &str, ns: &str| {
            let as_user = format!("--as={user}");
            let mut args = vec!["auth", "can-i", verb, resource];
            if ns == "--all-namespaces" {
                args.push(ns);
            } else {
                args.extend(["-n", ns]);
            }
            args.push(&as_user);
            cluster
                .tool("kubectl", &args, None)
                .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_owned())
                .unwrap_or_default()
        };
        for ns in [&agents.name, &more_agents.name, &system.name] {
            assert_eq!(can_i("watch", "statefulsets.apps", ns), "yes", "{ns}");
        }
        assert_eq!(can_i("list", "secrets", &elsewhere.name), "no");
        assert_eq!(can_i("list", "secrets", "--all-namespaces"), "no");
        let operator = OperatorHandle::start_with_client(
            client,
            &format!("{},{}", agents.name, more_agents.name),
            openclaw_tests::operator::TEST_RESYNC,
        );
        let manifest =
            std::fs::read_to_string(openclaw_tests::seed::fixtures_dir().join("01-my-agent.yaml"))?;
        for ns in [&agents.name, &more_agents.name] {
            instances::create_secret(
                &cluster,
                ns,
                "openclaw-api-keys",
                &[("ANTHROPIC_API_KEY", "k")],
            )
            .await?;
            instances::apply(&cluster, ns, &manifest)?;
        }
        for ns in [&agents.name, &more_agents.name] {
            wait::until(
                &format!("{ns}/my-agent Running under the chart's RBAC"),
                Duration::from_secs(60),
                || instances::in_phase(&cluster, ns, "my-agent", Phase::Running, "True"),
            )
            .await?;
        }
        // Nothing the operator called was denied: no API error was recorded on the way.
        let metrics = operator.metrics.encode();
        let denied: Vec<&str> = metrics
            .lines()
            .filter(|l| l.starts_with("openclaw_reconcile_errors_total{category=\"api\""))
            .filter(|l| !l.ends_with(" 0"))
            .collect();
        assert!(
            denied.is_empty(),
            "API errors under the chart's RBAC: {denied:?}"
        );
        anyhow::Ok(())
    }
    .await;
    let _ = cluster.tool(
        "helm",
        &["uninstall", &release, "--namespace", &system.name, "--wait"],
        None,
    );
    result
}

/// Each alert of the PrometheusRule links to a runbook section that exists in docs/runbooks.md,
/// and the production objects render by default (NetworkPolicy, PDB, anti-affinity, helm test).
#[tokio::test]
async fn alerts_link_to_existing_runbooks_and_production_objects_render() -> anyhow::Result<()> {
    let cluster = TestCluster::connect().await?;
    let out = cluster.tool(
        "helm",
        &[
            "template",
            "openclaw-operator",
            &chart(),
            "--api-versions",
            "monitoring.coreos.com/v1",
            "--set",
            "metrics.prometheusRule.enabled=true",
        ],
        None,
    )?;
    assert!(
        out.status.success(),
        "helm template: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout)?;
    let runbooks = std::fs::read_to_string(repo_root().join("docs/runbooks.md"))?;
    let anchors: Vec<String> = runbooks
        .lines()
        .filter_map(|l| l.strip_prefix("## "))
        .map(str::to_lowercase)
        .collect();
    let mut kinds = Vec::new();
    let mut alerts = Vec::new();
    for doc in serde_yaml::Deserializer::from_str(&text) {
        let object = <serde_yaml::Value as serde::Deserialize>::deserialize(doc)?;
        let kind = object["kind"].as_str().unwrap_or_default().to_owned();
        if kind == "PrometheusRule" {
            for group in object["spec"]["groups"].as_sequence().into_iter().flatten() {
                for rule in group["rules"].as_sequence().into_iter().flatten() {
                    let alert = rule["alert"].as_str().unwrap_or_default().to_owned();
                    let url = rule["annotations"]["runbook_url"]
                        .as_str()
                        .unwrap_or_default();
                    let anchor = url.rsplit('#').next().unwrap_or_default();
                    assert!(
                        url.contains("docs/runbooks.md#") && anchors.iter().any(|a| a == anchor),
                        "{alert}: runbook {url} has no section in docs/runbooks.md"
                    );
                    assert!(
                        rule["expr"].as_str().is_some_and(|e| !e.is_empty()),
                        "{alert}"
                    );
                    alerts.push(alert);
                }
            }
        }
        if kind == "Deployment" {
            assert_eq!(object["spec"]["replicas"], 2);
            let anti = &object["spec"]["template"]["spec"]["affinity"]["podAntiAffinity"];
            assert!(!anti.is_null(), "no anti-affinity for the two replicas");
        }
        kinds.push(kind);
    }
    alerts.sort();
    assert_eq!(
        alerts,
        [
            "OpenClawAutoUpdatePaused",
            "OpenClawAutoUpdateRolledBack",
            "OpenClawBackupFailing",
            "OpenClawInstanceDegraded",
            "OpenClawInstanceFailed",
            "OpenClawReconcileErrors"
        ]
    );
    for kind in [
        "NetworkPolicy",
        "PodDisruptionBudget",
        "ValidatingWebhookConfiguration",
        "Pod",
    ] {
        assert!(
            kinds.iter().any(|k| k == kind),
            "no {kind} rendered: {kinds:?}"
        );
    }
    Ok(())
}
