//! Probes of the `openclaw` container. They ask the supervisor's status port, not the gateway:
//! the supervisor knows where start-up stands (installs, model pulls) and checks the gateway's
//! JSON health bodies, so the startup probe can wait long without guessing a budget.

use k8s_openapi::{
    api::core::v1::{HTTPGetAction, Probe},
    apimachinery::pkg::util::intstr::IntOrString,
};
use openclaw_api::instance::ProbeSpec;

use super::super::BuildContext;

/// Startup, liveness and readiness probes; `None` where `spec.probes` disables one.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Probes {
    pub startup: Option<Probe>,
    pub liveness: Option<Probe>,
    pub readiness: Option<Probe>,
}

/// The probes: startup `/startupz` every 2 s up to 300 times (10 min of installs and pulls),
/// liveness `/livez` every 10 s (3 failures), readiness `/readyz` every 5 s (3 failures).
pub fn probes(ctx: &BuildContext<'_>) -> Probes {
    let spec = &ctx.spec().probes;
    let port = i32::from(ctx.status_port());
    Probes {
        startup: probe(&spec.startup, "/startupz", port, (2, 2, 300)),
        liveness: probe(&spec.liveness, "/livez", port, (10, 3, 3)),
        readiness: probe(&spec.readiness, "/readyz", port, (5, 3, 3)),
    }
}

/// An HTTP probe with (period, timeout, failure threshold) defaults the spec may override.
fn probe(spec: &ProbeSpec, path: &str, port: i32, defaults: (i32, i32, i32)) -> Option<Probe> {
    let (period, timeout, failures) = defaults;
    spec.enabled.then(|| Probe {
        http_get: Some(HTTPGetAction {
            path: Some(path.to_owned()),
            port: IntOrString::Int(port),
            scheme: Some("HTTP".to_owned()),
            ..HTTPGetAction::default()
        }),
        initial_delay_seconds: spec.initial_delay_seconds,
        period_seconds: Some(spec.period_seconds.unwrap_or(period)),
        timeout_seconds: Some(spec.timeout_seconds.unwrap_or(timeout)),
        failure_threshold: Some(spec.failure_threshold.unwrap_or(failures)),
        ..Probe::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::build::tests::{context, instance};

    fn path(probe: &Option<Probe>) -> Option<String> {
        probe.clone()?.http_get?.path
    }

    #[test]
    fn ask_the_supervisor_on_the_status_port() {
        let instance = instance("spec: {}");
        let probes = probes(&context(&instance));
        assert_eq!(path(&probes.startup).as_deref(), Some("/startupz"));
        assert_eq!(path(&probes.liveness).as_deref(), Some("/livez"));
        assert_eq!(path(&probes.readiness).as_deref(), Some("/readyz"));
        let startup = probes.startup.unwrap_or_default();
        assert_eq!(
            (startup.period_seconds, startup.failure_threshold),
            (Some(2), Some(300))
        );
        assert_eq!(
            startup.http_get.map(|h| h.port),
            Some(IntOrString::Int(9090))
        );
        let liveness = probes.liveness.unwrap_or_default();
        assert_eq!(
            (liveness.period_seconds, liveness.failure_threshold),
            (Some(10), Some(3))
        );
        let readiness = probes.readiness.unwrap_or_default();
        assert_eq!(
            (readiness.period_seconds, readiness.failure_threshold),
            (Some(5), Some(3))
        );
    }

    #[test]
    fn tunable_and_removable() {
        let instance = instance(
            "spec:\n  probes:\n    liveness: {enabled: false}\n    readiness: {periodSeconds: 20, timeoutSeconds: 9}\n    startup: {failureThreshold: 900, initialDelaySeconds: 5}\n",
        );
        let probes = probes(&context(&instance));
        assert!(probes.liveness.is_none());
        let readiness = probes.readiness.unwrap_or_default();
        assert_eq!(
            (readiness.period_seconds, readiness.timeout_seconds),
            (Some(20), Some(9))
        );
        let startup = probes.startup.unwrap_or_default();
        assert_eq!(
            (startup.failure_threshold, startup.initial_delay_seconds),
            (Some(900), Some(5))
        );
    }
}
