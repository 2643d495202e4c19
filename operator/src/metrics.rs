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
    /// The reconcile step that failed: `finalize`, `dereference`, `apply`, `status` (`none`
    /// before any step).
    pub step: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PhaseLabels {
    pub namespace: String,
    pub name: String,
    pub phase: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ChannelLabels {
    pub namespace: String,
    pub instance: String,
    /// Channel id, e.g. `telegram`.
    pub channel: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabels {
    pub kind: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AdmissionLabels {
    /// `allowed` or `denied`.
    pub result: String,
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
    /// 1 while a configured channel of an instance is healthy, 0 while it fails.
    pub channel_up: Family<ChannelLabels, Gauge>,
    /// Admission reviews of OpenClawInstances answered by the webhook, by result.
    pub admission_reviews_total: Family<AdmissionLabels, Counter>,
    /// Last phase recorded per instance, so that the old series is removed on change.
    phases: Mutex<std::collections::HashMap<(String, String), String>>,
    /// Channels with a series, per instance, so that a removed channel's series goes too.
    channels: Mutex<std::collections::HashMap<(String, String), Vec<String>>>,
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
        let channel_up = Family::<ChannelLabels, Gauge>::default();
        registry.register(
            "channel_up",
            "1 while the instance's messaging channel is healthy, 0 while it fails",
            channel_up.clone(),
        );
        let admission_reviews_total = Family::<AdmissionLabels, Counter>::default();
        registry.register(
            "admission_reviews",
            "Admission reviews of OpenClawInstances answered by the webhook, by result",
            admission_reviews_total.clone(),
        );
        Self {
            registry,
            reconcile_total,
            reconcile_duration,
            errors_total,
            instance_phase,
            auto_update_total,
            api_writes_total,
            channel_up,
            admission_reviews_total,
            phases: Mutex::default(),
            channels: Mutex::default(),
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

    pub fn admission(&self, result: &str) {
        self.admission_reviews_total
            .get_or_create(&AdmissionLabels {
                result: result.to_owned(),
            })
            .inc();
    }

    pub fn error(&self, category: &str, step: &str) {
        self.errors_total
            .get_or_create(&ErrorLabels {
                category: category.to_owned(),
                step: step.to_owned(),
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

    /// Records each channel of an instance as up (1) or down (0), removing the series of
    /// channels no longer reported.
    pub fn set_channels(&self, namespace: &str, instance: &str, channels: &[(String, bool)]) {
        let mut known = self
            .channels
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let names: Vec<String> = channels.iter().map(|(name, _)| name.clone()).collect();
        let key = (namespace.to_owned(), instance.to_owned());
        for old in known.insert(key, names).unwrap_or_default() {
            if !channels.iter().any(|(name, _)| *name == old) {
                self.channel_up
                    .remove(&channel_labels(namespace, instance, &old));
            }
        }
        for (name, up) in channels {
            self.channel_up
                .get_or_create(&channel_labels(namespace, instance, name))
                .set(i64::from(*up));
        }
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
        drop(phases);
        self.set_channels(namespace, name, &[]);
    }
}

fn channel_labels(namespace: &str, instance: &str, channel: &str) -> ChannelLabels {
    ChannelLabels {
        namespace: namespace.to_owned(),
        instance: instance.to_owned(),
        channel: channel.to_owned(),
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
    fn channel_series_follow_the_reports() {
        let metrics = Metrics::default();
        metrics.set_channels(
            "ns",
            "a",
            &[("slack".into(), true), ("telegram".into(), false)],
        );
        let text = metrics.encode();
        assert!(
            text.contains(
                r#"openclaw_channel_up{namespace="ns",instance="a",channel="telegram"} 0"#
            ),
            "{text}"
        );
        assert!(text.contains(r#"channel="slack"} 1"#), "{text}");
        metrics.set_channels("ns", "a", &[("telegram".into(), true)]);
        let text = metrics.encode();
        assert!(!text.contains("slack"), "{text}");
        metrics.forget("ns", "a");
        assert!(!metrics.encode().contains("telegram"));
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
