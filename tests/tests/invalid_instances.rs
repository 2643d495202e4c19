//! Malformed instances are refused by the real API server with a message naming the field.

use openclaw_tests::{TestCluster, seed};

/// (what is wrong, spec, a fragment the refusal must contain)
const CASES: &[(&str, &str, &str)] = &[
    (
        "wrong type: gpu as text",
        "spec:\n  ollama:\n    enabled: true\n    gpu: one\n",
        "spec.ollama.gpu",
    ),
    (
        "wrong type: skills as a string",
        "spec:\n  skills: \"@anthropic/mcp-server-fetch\"\n",
        "spec.skills",
    ),
    (
        "wrong type: persistence.enabled as text",
        "spec:\n  storage:\n    persistence:\n      enabled: maybe\n",
        "spec.storage.persistence.enabled",
    ),
    (
        "out of range: negative gpu",
        "spec:\n  ollama:\n    enabled: true\n    gpu: -1\n",
        "spec.ollama.gpu",
    ),
    (
        "out of range: too many ollama models",
        "spec:\n  ollama:\n    enabled: true\n    models: [a, b, c, d, e, f, g, h, i, j, k]\n",
        "spec.ollama.models",
    ),
    (
        "out of range: checkInterval below a minute",
        "spec:\n  autoUpdate:\n    enabled: true\n    checkInterval: \"10s\"\n",
        "spec.autoUpdate.checkInterval",
    ),
    (
        "malformed duration",
        "spec:\n  autoUpdate:\n    healthCheckTimeout: \"ten minutes\"\n",
        "spec.autoUpdate.healthCheckTimeout",
    ),
    (
        "unknown enum: mergeMode",
        "spec:\n  config:\n    mergeMode: replace\n    raw: {}\n",
        "spec.config.mergeMode",
    ),
    (
        "unknown enum: tailscale mode",
        "spec:\n  tailscale:\n    enabled: true\n    mode: public\n    authKeySecretRef:\n      name: ts\n",
        "spec.tailscale.mode",
    ),
    (
        "unknown enum: pullPolicy",
        "spec:\n  image:\n    pullPolicy: Sometimes\n",
        "spec.image.pullPolicy",
    ),
    (
        "cross-field: digest and tag",
        "spec:\n  image:\n    tag: \"2026.9.6\"\n    digest: \"sha256:0000000000000000000000000000000000000000000000000000000000000000\"\n",
        "spec.image: digest and tag are mutually exclusive",
    ),
    (
        "malformed digest",
        "spec:\n  image:\n    digest: \"md5:abc\"\n",
        "spec.image.digest",
    ),
    (
        "cross-field: tailscale without auth key",
        "spec:\n  tailscale:\n    enabled: true\n",
        "spec.tailscale.authKeySecretRef",
    ),
    (
        "cross-field: caBundle with both sources",
        "spec:\n  security:\n    caBundle:\n      configMapName: a\n      secretName: b\n",
        "spec.security.caBundle",
    ),
    (
        "cross-field: existingClaim with storageClass",
        "spec:\n  storage:\n    persistence:\n      existingClaim: pvc\n      storageClass: fast\n",
        "spec.storage.persistence",
    ),
    (
        "root user refused",
        "spec:\n  security:\n    podSecurityContext:\n      runAsUser: 0\n",
        "spec.security.podSecurityContext.runAsUser",
    ),
    (
        "runAsNonRoot false refused",
        "spec:\n  security:\n    podSecurityContext:\n      runAsNonRoot: false\n",
        "spec.security.podSecurityContext.runAsNonRoot",
    ),
    (
        "privilege escalation refused",
        "spec:\n  security:\n    containerSecurityContext:\n      allowPrivilegeEscalation: true\n",
        "spec.security.containerSecurityContext.allowPrivilegeEscalation",
    ),
    (
        "reserved sidecar name",
        "spec:\n  sidecars:\n    - name: openclaw\n      image: busybox\n",
        "spec.sidecars",
    ),
    (
        "malformed skill reference",
        "spec:\n  skills:\n    - \"rm -rf /\"\n",
        "spec.skills",
    ),
    (
        "unknown field",
        "spec:\n  autoUpdate:\n    enabeld: true\n",
        "spec.autoUpdate.enabeld",
    ),
    (
        "raw and configMapRef together",
        "spec:\n  config:\n    raw: {a: 1}\n    configMapRef:\n      name: cm\n",
        "spec.config",
    ),
    (
        "resource quantity in words",
        "spec:\n  resources:\n    limits:\n      memory: four gigabytes\n",
        "spec.resources: Invalid value",
    ),
    (
        "request above its limit",
        "spec:\n  resources:\n    requests: {memory: 8Gi}\n    limits: {memory: 4Gi}\n",
        "spec.resources: a request cannot exceed its limit",
    ),
    (
        "sidecar resources in words",
        "spec:\n  chromium:\n    enabled: true\n    resources:\n      requests: {cpu: half}\n",
        "spec.chromium.resources",
    ),
    (
        "storage size in words",
        "spec:\n  storage:\n    persistence:\n      size: ten gigabytes\n",
        "spec.storage.persistence.size",
    ),
    (
        "ollama size limit in words",
        "spec:\n  ollama:\n    enabled: true\n    storage:\n      sizeLimit: lots\n",
        "spec.ollama.storage.sizeLimit",
    ),
    (
        "node selector value with a space",
        "spec:\n  availability:\n    nodeSelector:\n      zone: eu west\n",
        "spec.availability.nodeSelector",
    ),
    (
        "ServiceMonitor label value too long",
        "spec:\n  observability:\n    metrics:\n      serviceMonitor:\n        labels:\n          release: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n",
        "spec.observability.metrics.serviceMonitor.labels",
    ),
    (
        "Service port name without a letter",
        "spec:\n  networking:\n    service:\n      ports:\n        - {name: \"8080\", port: 8080}\n",
        "spec.networking.service.ports[0].name",
    ),
    (
        "Service port on the gateway's port",
        "spec:\n  networking:\n    service:\n      ports:\n        - {name: other, port: 18789}\n",
        "spec.networking.service.ports",
    ),
    (
        "metrics port on the gateway's ports",
        "spec:\n  observability:\n    metrics:\n      port: 18789\n",
        "spec.observability.metrics.port",
    ),
];

#[tokio::test]
async fn invalid_instances_are_refused_naming_the_field() -> anyhow::Result<()> {
    let cluster = TestCluster::connect().await?;
    let ns = cluster.namespace("invalid").await?;
    let mut failures = Vec::new();
    for (i, (what, spec, expected)) in CASES.iter().enumerate() {
        let manifest = seed::as_manifest(spec, &format!("invalid-{i}"));
        let out = cluster.tool(
            "kubectl",
            &[
                "create",
                "--dry-run=server",
                "--validate=strict",
                "-n",
                &ns.name,
                "-f",
                "-",
            ],
            Some(&manifest),
        )?;
        let stderr = String::from_utf8_lossy(&out.stderr);
        if out.status.success() {
            failures.push(format!("{what}: accepted"));
        } else if !stderr.contains(expected) {
            failures.push(format!(
                "{what}: refused without naming {expected:?}: {}",
                stderr.trim()
            ));
        }
    }
    assert!(CASES.len() >= 15);
    assert!(
        failures.is_empty(),
        "{} of {} cases wrong:\n{}",
        failures.len(),
        CASES.len(),
        failures.join("\n")
    );
    Ok(())
}

/// The instance's name ends up in a StatefulSet's pod label (`controller-revision-hash`) and a
/// Service name: refused at the door when it cannot, accepted at the longest it can be.
#[tokio::test]
async fn instance_names_fit_what_is_derived_from_them() -> anyhow::Result<()> {
    let cluster = TestCluster::connect().await?;
    let ns = cluster.namespace("names").await?;
    let create = |name: &str| {
        let manifest = seed::as_manifest("spec: {}\n", name);
        cluster.tool(
            "kubectl",
            &["create", "--dry-run=server", "-n", &ns.name, "-f", "-"],
            Some(&manifest),
        )
    };
    for name in ["7-agents", &"a".repeat(53)] {
        let out = create(name)?;
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{name} accepted");
        assert!(
            stderr.contains("metadata.name: at most 52 characters"),
            "{name}: {stderr}"
        );
    }
    let longest = "a".repeat(52);
    let out = create(&longest)?;
    assert!(
        out.status.success(),
        "a 52-character name refused: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}

/// Well-formed quantities, integers included (the schema's int-or-string), pass the new rules.
#[tokio::test]
async fn quantities_in_every_form_are_accepted() -> anyhow::Result<()> {
    let cluster = TestCluster::connect().await?;
    let ns = cluster.namespace("quantities").await?;
    let manifest = seed::as_manifest(
        "spec:\n  resources:\n    requests: {cpu: 500m, memory: 1Gi}\n    limits: {cpu: 2, memory: 4Gi}\n  storage:\n    persistence:\n      size: 10G\n  availability:\n    nodeSelector:\n      topology.kubernetes.io/zone: eu-west-1a\n  podAnnotations:\n    example.com/owner: team-a\n",
        "quantities",
    );
    let out = cluster.tool(
        "kubectl",
        &["create", "--dry-run=server", "-n", &ns.name, "-f", "-"],
        Some(&manifest),
    )?;
    assert!(
        out.status.success(),
        "refused: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}

/// A valid instance next to the invalid ones, so the test cannot pass by refusing everything.
#[tokio::test]
async fn a_minimal_instance_is_accepted_with_defaults() -> anyhow::Result<()> {
    let cluster = TestCluster::connect().await?;
    let ns = cluster.namespace("minimal").await?;
    let manifest = seed::as_manifest("spec: {}\n", "minimal");
    cluster.kubectl(&["create", "-n", &ns.name, "-f", "-"], Some(&manifest))?;
    let size = cluster.kubectl(
        &[
            "get",
            "claw",
            "minimal",
            "-n",
            &ns.name,
            "-o",
            "jsonpath={.spec.storage.persistence.size}",
        ],
        None,
    )?;
    assert_eq!(size, "10Gi", "the default workspace size was not applied");
    let np = cluster.kubectl(
        &[
            "get",
            "claw",
            "minimal",
            "-n",
            &ns.name,
            "-o",
            "jsonpath={.spec.security.networkPolicy.enabled}",
        ],
        None,
    )?;
    assert_eq!(np, "true", "the NetworkPolicy is not on by default");
    Ok(())
}
