//! What the admission webhook decides about an instance, without I/O: the user's containers and
//! volumes must keep the pod within Pod Security `restricted` (denied, naming the field), and
//! choices that are allowed but risky get an admission warning that `kubectl` prints.
//!
//! The schema's CEL rules come first (the API server applies them before calling the webhook);
//! this covers what CEL cannot say well over the full `Container` and `Volume` types.

use k8s_openapi::api::core::v1::{Container, Volume};
use openclaw_api::{OpenClawInstanceSpec, instance::image::DEFAULT_TAG};

/// Environment variables that carry an AI provider's key.
pub const PROVIDER_KEYS: &[&str] = &[
    "ANTHROPIC_API_KEY",
    "OPENAI_API_KEY",
    "OPENROUTER_API_KEY",
    "GEMINI_API_KEY",
    "GOOGLE_API_KEY",
    "MISTRAL_API_KEY",
    "GROQ_API_KEY",
    "XAI_API_KEY",
    "DEEPSEEK_API_KEY",
    "TOGETHER_API_KEY",
    "FIREWORKS_API_KEY",
    "CEREBRAS_API_KEY",
    "MOONSHOT_API_KEY",
    "AI_GATEWAY_API_KEY",
    "AWS_BEARER_TOKEN_BEDROCK",
    "AZURE_OPENAI_API_KEY",
];

/// The webhook's answer: any denial refuses the object; warnings never do.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// Why the object is refused, each naming its field.
    pub denied: Vec<String>,
    /// Admission warnings, each naming its field.
    pub warnings: Vec<String>,
}

impl Verdict {
    /// The denial message: every reason, so one round trip fixes them all.
    pub fn denial(&self) -> Option<String> {
        (!self.denied.is_empty()).then(|| self.denied.join("; "))
    }
}

/// What the webhook learned outside the object: the variable names `spec.envFrom` gives the
/// agent (each source's prefix and keys; `None`: a source could not be read).
#[derive(Debug, Default, Clone)]
pub struct Context {
    pub env_from_names: Option<Vec<String>>,
}

/// Reviews `spec`.
pub fn review(spec: &OpenClawInstanceSpec, context: &Context) -> Verdict {
    let mut verdict = Verdict::default();
    for (i, c) in spec.init_containers.iter().enumerate() {
        container(&format!("spec.initContainers[{i}]"), c, &mut verdict.denied);
    }
    for (i, c) in spec.sidecars.iter().enumerate() {
        container(&format!("spec.sidecars[{i}]"), c, &mut verdict.denied);
    }
    for (i, v) in spec.extra_volumes.iter().enumerate() {
        volume(&format!("spec.extraVolumes[{i}]"), v, &mut verdict.denied);
    }
    for (i, v) in spec.sidecar_volumes.iter().enumerate() {
        volume(&format!("spec.sidecarVolumes[{i}]"), v, &mut verdict.denied);
    }
    // Map keys: CEL over unbounded keys costs more than the API server allows, so here.
    let maps = [
        (
            "spec.availability.nodeSelector",
            &spec.availability.node_selector,
        ),
        (
            "spec.observability.metrics.serviceMonitor.labels",
            &spec.observability.metrics.service_monitor.labels,
        ),
        ("spec.podAnnotations", &spec.pod_annotations),
        (
            "spec.networking.service.annotations",
            &spec.networking.service.annotations,
        ),
        (
            "spec.networking.ingress.annotations",
            &spec.networking.ingress.annotations,
        ),
        (
            "spec.security.rbac.serviceAccountAnnotations",
            &spec.security.rbac.service_account_annotations,
        ),
    ];
    for (path, map) in maps {
        for key in map.keys() {
            if let Some(why) = qualified_name_error(key) {
                verdict.denied.push(format!("{path}: key {key:?} {why}"));
            }
        }
    }
    warnings(spec, context, &mut verdict.warnings);
    verdict
}

fn container(path: &str, c: &Container, denied: &mut Vec<String>) {
    if let Some(sc) = &c.security_context {
        if sc.run_as_user == Some(0) {
            denied.push(format!(
                "{path}.securityContext.runAsUser: 0 runs the container as root, which agent pods never do"
            ));
        }
        if sc.run_as_non_root == Some(false) {
            denied.push(format!(
                "{path}.securityContext.runAsNonRoot: false would let the container run as root"
            ));
        }
        if sc.privileged == Some(true) {
            denied.push(format!(
                "{path}.securityContext.privileged: a privileged container has the node's devices and every capability"
            ));
        }
        if sc.allow_privilege_escalation == Some(true) {
            denied.push(format!(
                "{path}.securityContext.allowPrivilegeEscalation: true lets a process gain more privileges than its parent"
            ));
        }
        let added = sc
            .capabilities
            .as_ref()
            .and_then(|caps| caps.add.as_ref())
            .filter(|add| !add.is_empty());
        if let Some(added) = added {
            denied.push(format!(
                "{path}.securityContext.capabilities.add: {} (agent pods drop every capability and add none)",
                added.join(", ")
            ));
        }
        if sc
            .windows_options
            .as_ref()
            .and_then(|w| w.host_process)
            .unwrap_or(false)
        {
            denied.push(format!(
                "{path}.securityContext.windowsOptions.hostProcess: a host process shares the node's namespaces"
            ));
        }
    }
    for (i, port) in c.ports.iter().flatten().enumerate() {
        if port.host_port.is_some_and(|p| p != 0) {
            denied.push(format!(
                "{path}.ports[{i}].hostPort: a host port binds in the node's network namespace"
            ));
        }
    }
}

fn volume(path: &str, v: &Volume, denied: &mut Vec<String>) {
    if v.host_path.is_some() {
        denied.push(format!(
            "{path}.hostPath: a hostPath volume exposes the node's file system to the pod"
        ));
    }
}

/// Why `key` is not a Kubernetes label or annotation key (an optional DNS-subdomain prefix and
/// `/`, then a name of 1 to 63 characters: alphanumerics, `-`, `_`, `.`, alphanumeric at both
/// ends).
pub fn qualified_name_error(key: &str) -> Option<&'static str> {
    let (prefix, name) = match key.split_once('/') {
        Some((prefix, name)) => (Some(prefix), name),
        None => (None, key),
    };
    if name.contains('/') {
        return Some("has more than one '/'");
    }
    if let Some(prefix) = prefix {
        let labels_ok = prefix.split('.').all(|label| {
            !label.is_empty()
                && label
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        });
        if prefix.is_empty() || prefix.len() > 253 || !labels_ok {
            return Some("has a prefix that is not a lowercase DNS subdomain");
        }
    }
    let alnum = |b: Option<u8>| b.is_some_and(|b| b.is_ascii_alphanumeric());
    let name_ok = (1..=63).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        && alnum(name.bytes().next())
        && alnum(name.bytes().last());
    (!name_ok).then_some(
        "is not a valid key: at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit",
    )
}

fn warnings(spec: &OpenClawInstanceSpec, context: &Context, out: &mut Vec<String>) {
    if !spec.security.network_policy.enabled {
        out.push(
            "spec.security.networkPolicy.enabled is false: any pod may reach the agent and it may reach anything"
                .to_owned(),
        );
    }
    let ingress = &spec.networking.ingress;
    if ingress.enabled && ingress.tls.is_empty() {
        out.push(
            "spec.networking.ingress has no tls: the gateway token would cross the network in clear text"
                .to_owned(),
        );
    }
    if !spec.ollama.enabled && !has_provider_key(spec, context) {
        out.push(format!(
            "no AI provider key found in spec.env or spec.envFrom (such as {}): the agent cannot call a model",
            PROVIDER_KEYS[..2].join(" or ")
        ));
    }
    let tag = spec.image.tag.as_deref().unwrap_or(DEFAULT_TAG);
    if spec.image.digest.is_none() && tag == "latest" && !spec.auto_update.enabled {
        out.push(
            "spec.image.tag is latest with spec.autoUpdate off: each restart may run another version; pin a version or enable autoUpdate"
                .to_owned(),
        );
    }
}

fn has_provider_key(spec: &OpenClawInstanceSpec, context: &Context) -> bool {
    let named = |name: &str| PROVIDER_KEYS.contains(&name);
    let in_env = spec.env.iter().any(|var| named(&var.name));
    // A source that could not be read may hold a key: no warning on a guess.
    let in_env_from = context
        .env_from_names
        .as_ref()
        .is_none_or(|names| names.iter().any(|n| named(n)));
    in_env || in_env_from
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::build::tests::instance;

    fn verdict(yaml: &str, env_from_names: &[&str]) -> Verdict {
        let instance = instance(yaml);
        let context = Context {
            env_from_names: Some(env_from_names.iter().map(|k| (*k).to_owned()).collect()),
        };
        review(&instance.spec, &context)
    }

    const KEYED: &str =
        "  image: {tag: '2026.9.6'}\n  env: [{name: ANTHROPIC_API_KEY, value: sk}]\n";

    #[test]
    fn the_guide_agent_passes_without_warnings() {
        let verdict = verdict(
            "spec:\n  image: {tag: '2026.9.6'}\n  envFrom: [{secretRef: {name: openclaw-api-keys}}]\n",
            &["ANTHROPIC_API_KEY"],
        );
        assert_eq!(verdict, Verdict::default());
    }

    #[test]
    fn each_way_to_leave_restricted_is_denied_naming_its_field() {
        let cases = [
            (
                "sidecars: [{name: s, image: x, securityContext: {runAsUser: 0}}]",
                "spec.sidecars[0].securityContext.runAsUser",
            ),
            (
                "sidecars: [{name: s, image: x, securityContext: {runAsNonRoot: false}}]",
                "spec.sidecars[0].securityContext.runAsNonRoot",
            ),
            (
                "initContainers: [{name: i, image: x, securityContext: {privileged: true}}]",
                "spec.initContainers[0].securityContext.privileged",
            ),
            (
                "sidecars: [{name: s, image: x}, {name: t, image: x, securityContext: {allowPrivilegeEscalation: true}}]",
                "spec.sidecars[1].securityContext.allowPrivilegeEscalation",
            ),
            (
                "sidecars: [{name: s, image: x, securityContext: {capabilities: {add: [NET_ADMIN, SYS_TIME]}}}]",
                "spec.sidecars[0].securityContext.capabilities.add: NET_ADMIN, SYS_TIME",
            ),
            (
                "sidecars: [{name: s, image: x, securityContext: {windowsOptions: {hostProcess: true}}}]",
                "spec.sidecars[0].securityContext.windowsOptions.hostProcess",
            ),
            (
                "sidecars: [{name: s, image: x, ports: [{containerPort: 80, hostPort: 80}]}]",
                "spec.sidecars[0].ports[0].hostPort",
            ),
            (
                "extraVolumes: [{name: host, hostPath: {path: /}}]",
                "spec.extraVolumes[0].hostPath",
            ),
            (
                "sidecarVolumes: [{name: ok, emptyDir: {}}, {name: host, hostPath: {path: /var/run}}]",
                "spec.sidecarVolumes[1].hostPath",
            ),
        ];
        for (field, expected) in cases {
            let verdict = verdict(&format!("spec:\n{KEYED}  {field}\n"), &[]);
            let denial = verdict.denial().unwrap_or_default();
            assert!(denial.starts_with(expected), "{field}: {denial}");
            assert_eq!(verdict.denied.len(), 1, "{field}: {:?}", verdict.denied);
        }
    }

    #[test]
    fn label_and_annotation_keys_follow_kubernetes() {
        for good in [
            "app",
            "example.com/owner",
            "a.b-c.io/Name_1.x",
            "topology.kubernetes.io/zone",
        ] {
            assert_eq!(qualified_name_error(good), None, "{good}");
        }
        for bad in [
            "",
            "my key",
            "a/b/c",
            "/name",
            "Example.com/x",
            "-a",
            "a-",
            &"x".repeat(64),
            "ex_ample.com/x",
        ] {
            assert!(qualified_name_error(bad).is_some(), "{bad}");
        }
        let verdict = verdict(
            &format!(
                "spec:\n{KEYED}  podAnnotations: {{\"my key\": x}}\n  availability: {{nodeSelector: {{a/b/c: x}}}}\n"
            ),
            &[],
        );
        assert_eq!(verdict.denied.len(), 2, "{:?}", verdict.denied);
        assert!(verdict.denied[0].starts_with("spec.availability.nodeSelector: key \"a/b/c\""));
        assert!(verdict.denied[1].starts_with("spec.podAnnotations: key \"my key\""));
    }

    #[test]
    fn a_hardened_sidecar_and_volumes_pass() {
        let verdict = verdict(
            &format!(
                "spec:\n{KEYED}  sidecars: [{{name: s, image: x, ports: [{{containerPort: 80}}], securityContext: {{runAsUser: 1000, runAsNonRoot: true, privileged: false, allowPrivilegeEscalation: false, capabilities: {{drop: [ALL], add: []}}}}}}]\n  sidecarVolumes: [{{name: v, emptyDir: {{}}}}]\n"
            ),
            &[],
        );
        assert_eq!(verdict, Verdict::default());
    }

    #[test]
    fn risky_choices_are_warned_about() {
        let verdict = verdict(
            "spec:\n  security: {networkPolicy: {enabled: false}}\n  networking: {ingress: {enabled: true, hosts: [{host: a.example.com}]}}\n",
            &["UNRELATED"],
        );
        assert!(verdict.denied.is_empty());
        let starts: Vec<&str> = verdict
            .warnings
            .iter()
            .map(|w| w.split(' ').next().unwrap_or_default())
            .collect();
        assert_eq!(
            starts,
            [
                "spec.security.networkPolicy.enabled",
                "spec.networking.ingress",
                "no",
                "spec.image.tag"
            ]
        );
        for warning in &verdict.warnings {
            assert!(
                warning.len() <= 256,
                "too long for the API server: {warning}"
            );
        }
    }

    #[test]
    fn provider_keys_are_found_by_their_exact_names_in_env_and_env_from() {
        let no_key = |yaml: &str, keys: &[&str]| {
            verdict(&format!("spec:\n  image: {{tag: '1'}}\n{yaml}"), keys)
                .warnings
                .iter()
                .any(|w| w.starts_with("no AI provider key"))
        };
        assert!(no_key("", &[]));
        assert!(!no_key("  env: [{name: OPENAI_API_KEY, value: k}]\n", &[]));
        assert!(!no_key(
            "  envFrom: [{secretRef: {name: keys}}]\n",
            &["OPENROUTER_API_KEY"]
        ));
        // OpenClaw reads the exact names: a prefixed copy does not count.
        assert!(no_key(
            "  envFrom: [{prefix: TEAM_, secretRef: {name: keys}}]\n",
            &["TEAM_ANTHROPIC_API_KEY"]
        ));
        assert!(!no_key("  ollama: {enabled: true}\n", &[]));
        // An unreadable source is not guessed empty.
        let instance = instance("spec:\n  envFrom: [{secretRef: {name: keys}}]\n");
        let unknown = review(&instance.spec, &Context::default());
        assert!(
            !unknown
                .warnings
                .iter()
                .any(|w| w.starts_with("no AI provider key"))
        );
    }

    #[test]
    fn a_pinned_digest_or_auto_update_silences_the_latest_warning() {
        for yaml in [
            "spec:\n  image: {digest: 'sha256:0000000000000000000000000000000000000000000000000000000000000000'}\n",
            "spec:\n  autoUpdate: {enabled: true}\n",
        ] {
            let verdict = verdict(yaml, &["ANTHROPIC_API_KEY"]);
            assert_eq!(verdict.warnings, Vec::<String>::new(), "{yaml}");
        }
    }
}
