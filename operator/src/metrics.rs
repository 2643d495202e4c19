//! The operator's Prometheus metrics.

use std::sync::Mutex;

use prometheus_client::{
    encoding::{EncodeLabelSet, EncodeLabelValue, text::encode},
    metrics::{counter::Counter, family::Family, gauge::Gauge, histogram::Histogram},
    registry::Registry,
};

/// Outcome of one reconcile.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelValue)]
pub enum Outcome {
    Success,
    Error,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReconcileLabels {
    pub result: Outcome,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ErrorLabels {
    /// What kind of failure: `api`, `invalid_spec`, `missing_reference`, `internal`.
    pub category: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PhaseLabels {
    pub namespace: String,
    pub name: String,
    pub phase: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabels {
    pub kind: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct UpdateLabels {
    /// `checked`, `applied`, `rolled_back`, `paused`.
    pub event: String,
}

/// Every metric the operator exports, and the registry that encodes them.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    pub reconcile_total: Family<ReconcileLabels, Counter>,
    pub reconcile_duration: Histogram,
    pub errors_total: Family<ErrorLabels, Counter>,
    pub instance_phase: Family<PhaseLabels, Gauge>,
    pub auto_update_total: Family<UpdateLabels, Counter>,
    /// Write requests (apply, create, delete, status patch) the operator sent, by kind.
    pub api_writes_total: Family<KindLabels, Counter>,
    /// Last phase recorded per instance, so that the old series is removed on change.
    phases: Mutex<std::collections::HashMap<(String, String), String>>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("openclaw");
        let reconcile_total = Family::<ReconcileLabels, Counter>::default();
        registry.register(
            "reconcile",
            "Reconciles of OpenClawInstances, by result",
            reconcile_total.clone(),
        );
        let reconcile_duration = Histogram::new([
            0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
        ]);
        registry.register_with_unit(
            "reconcile_duration",
            "Duration of one reconcile",
            prometheus_client::registry::Unit::Seconds,
            reconcile_duration.clone(),
        );
        let errors_total = Family::<ErrorLabels, Counter>::default();
        registry.register(
            "reconcile_errors",
            "Failed reconciles, by category",
            errors_total.clone(),
        );
        let instance_phase = Family::<PhaseLabels, Gauge>::default();
        registry.register(
            "instance_phase",
            "1 for the current phase of each instance",
            instance_phase.clone(),
        );
        let auto_update_total = Family::<UpdateLabels, Counter>::default();
        registry.register(
            "auto_update",
            "Auto-update events, by kind",
            auto_update_total.clone(),
        );
        let api_writes_total = Family::<KindLabels, Counter>::default();
        registry.register(
            "api_writes",
            "Write requests sent to the API server, by object kind",
            api_writes_total.clone(),
        );
        Self {
            registry,
            reconcile_total,
            reconcile_duration,
            errors_total,
            instance_phase,
            auto_update_total,
            api_writes_total,
            phases: Mutex::default(),
        }
    }
}

impl Metrics {
    /// Text exposition format (OpenMetrics).
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }

    pub fn api_write(&self, kind: &str) {
        self.api_writes_total
            .get_or_create(&KindLabels {
                kind: kind.to_owned(),
            })
            .inc();
    }

    pub fn error(&self, category: &str) {
        self.errors_total
            .get_or_create(&ErrorLabels {
                category: category.to_owned(),
            })
            .inc();
    }

    /// Records the phase of an instance, removing the series of its previous phase.
    pub fn set_phase(&self, namespace: &str, name: &str, phase: &str) {
        let key = (namespace.to_owned(), name.to_owned());
        let mut phases = self
            .phases
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(old) = phases.insert(key, phase.to_owned())
            && old != phase
        {
            self.instance_phase.remove(&labels(namespace, name, &old));
        }
        self.instance_phase
            .get_or_create(&labels(namespace, name, phase))
            .set(1);
    }

    /// Instances with a phase series.
    pub fn instances(&self) -> Vec<(String, String)> {
        let phases = self
            .phases
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        phases.keys().cloned().collect()
    }

    /// Removes every series of a deleted instance.
    pub fn forget(&self, namespace: &str, name: &str) {
        let mut phases = self
            .phases
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(old) = phases.remove(&(namespace.to_owned(), name.to_owned())) {
            self.instance_phase.remove(&labels(namespace, name, &old));
        }
    }
}

fn labels(namespace: &str, name: &str, phase: &str) -> PhaseLabels {
    PhaseLabels {
        namespace: namespace.to_owned(),
        name: name.to_owned(),
        phase: phase.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phase_series_follow_the_instance() {
        let metrics = Metrics::default();
        metrics.set_phase("ns", "a", "Provisioning");
        metrics.set_phase("ns", "a", "Running");
        let text = metrics.encode();
        assert!(
            text.contains(r#"openclaw_instance_phase{namespace="ns",name="a",phase="Running"} 1"#),
            "{text}"
        );
        assert!(!text.contains("Provisioning"), "{text}");
        metrics.forget("ns", "a");
        assert!(!metrics.encode().contains("name=\"a\""));
    }

    #[test]
    fn names_are_the_documented_ones() {
        let metrics = Metrics::default();
        metrics
            .reconcile_total
            .get_or_create(&ReconcileLabels {
                result: Outcome::Success,
            })
            .inc();
        metrics.reconcile_duration.observe(0.1);
        let text = metrics.encode();
        assert!(
            text.contains("openclaw_reconcile_total{result=\"Success\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("openclaw_reconcile_duration_seconds_bucket"),
            "{text}"
        );
    }
}
