//! The Helm chart lints and installs into the real control plane under Pod Security `restricted`.

use std::time::{SystemTime, UNIX_EPOCH};

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
            "1",
            "the operator Deployment has no ready replica"
        );
        let can_i = |verb: &str, resource: &str| {
            cluster.kubectl(
                &[
                    "auth",
                    "can-i",
                    verb,
                    resource,
                    "-A",
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
