//! The checks of Pod Security `restricted` (baseline included), as the admission plugin makes
//! them, over a pod spec; the end-to-end suite checks again against the real admission.

use k8s_openapi::api::core::v1::{Container, PodSpec, SecurityContext};

/// Volume types `restricted` allows.
const ALLOWED_VOLUMES: [&str; 8] = [
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "persistentVolumeClaim",
    "projected",
    "secret",
];

/// What `restricted` would refuse in `pod`, one line each.
pub fn violations(pod: &PodSpec) -> Vec<String> {
    let mut found = Vec::new();
    for (flag, set) in [
        ("hostNetwork", pod.host_network),
        ("hostPID", pod.host_pid),
        ("hostIPC", pod.host_ipc),
    ] {
        if set == Some(true) {
            found.push(format!("pod: {flag}"));
        }
    }
    let pod_context = pod.security_context.clone().unwrap_or_default();
    if pod_context.sysctls.is_some_and(|s| !s.is_empty()) {
        found.push("pod: sysctls".to_owned());
    }
    if pod_context.run_as_user == Some(0) {
        found.push("pod: runAsUser 0".to_owned());
    }
    let pod_seccomp = pod_context.seccomp_profile.map(|p| p.type_);
    if pod_seccomp.as_deref() == Some("Unconfined") {
        found.push("pod: seccomp Unconfined".to_owned());
    }
    for volume in pod.volumes.iter().flatten() {
        let value = serde_json::to_value(volume).unwrap_or_default();
        let kinds: Vec<String> = value
            .as_object()
            .map(|o| o.keys().filter(|k| *k != "name").cloned().collect())
            .unwrap_or_default();
        for kind in kinds {
            if !ALLOWED_VOLUMES.contains(&kind.as_str()) {
                found.push(format!("volume {}: type {kind}", volume.name));
            }
        }
    }
    let containers = pod.init_containers.iter().flatten().chain(&pod.containers);
    for container in containers {
        check(
            container,
            pod_context.run_as_non_root == Some(true),
            pod_seccomp.is_some(),
            &mut found,
        );
    }
    found
}

fn check(container: &Container, pod_non_root: bool, pod_seccomp: bool, found: &mut Vec<String>) {
    let name = &container.name;
    let context: SecurityContext = container.security_context.clone().unwrap_or_default();
    if context.privileged == Some(true) {
        found.push(format!("{name}: privileged"));
    }
    if context.allow_privilege_escalation != Some(false) {
        found.push(format!("{name}: allowPrivilegeEscalation must be false"));
    }
    match context.run_as_non_root {
        Some(false) => found.push(format!("{name}: runAsNonRoot false")),
        None if !pod_non_root => found.push(format!("{name}: runAsNonRoot unset")),
        _ => {}
    }
    if context.run_as_user == Some(0) {
        found.push(format!("{name}: runAsUser 0"));
    }
    match context.seccomp_profile.map(|p| p.type_) {
        Some(kind) if kind != "RuntimeDefault" && kind != "Localhost" => {
            found.push(format!("{name}: seccomp {kind}"));
        }
        None if !pod_seccomp => found.push(format!("{name}: seccomp unset")),
        _ => {}
    }
    let capabilities = context.capabilities.unwrap_or_default();
    if !capabilities
        .drop
        .unwrap_or_default()
        .iter()
        .any(|c| c == "ALL")
    {
        found.push(format!("{name}: capabilities must drop ALL"));
    }
    for added in capabilities.add.unwrap_or_default() {
        if added != "NET_BIND_SERVICE" {
            found.push(format!("{name}: adds capability {added}"));
        }
    }
    if context.proc_mount.is_some_and(|m| m != "Default") {
        found.push(format!("{name}: procMount"));
    }
    for port in container.ports.iter().flatten() {
        if port.host_port.is_some_and(|p| p != 0) {
            found.push(format!("{name}: hostPort"));
        }
    }
}
