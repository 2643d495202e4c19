//! `spec.observability`: the supervisor's metrics endpoint and an optional Prometheus
//! ServiceMonitor.

use std::collections::BTreeMap;

use kube::KubeSchema;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::schema::{DURATION, LABEL_VALUE, is_default, yes};

/// Port of the supervisor's HTTP listener (metrics, status, probes) unless told otherwise.
pub const DEFAULT_METRICS_PORT: i32 = 9090;

/// Scrape interval of the ServiceMonitor unless told otherwise.
pub const DEFAULT_SCRAPE_INTERVAL: &str = "30s";

/// Monitoring of the instance.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ObservabilitySpec {
    /// Prometheus metrics of the pod (gateway health, start-up steps, backups, model pulls).
    #[serde(default, skip_serializing_if = "is_default")]
    pub metrics: MetricsSpec,
}

/// Prometheus metrics of the instance's pod, served by the supervisor at `/metrics`.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct MetricsSpec {
    /// Expose `/metrics` on the Service and admit scrapers in the NetworkPolicy. Defaults to
    /// true.
    #[serde(default = "yes")]
    pub enabled: bool,

    /// Port of the supervisor's HTTP listener, which serves `/metrics` as well as the probe and
    /// status endpoints the operator reads. Defaults to 9090. The gateway's ports (18789-18899),
    /// Chromium's (9222) and Ollama's (11434) are refused.
    #[serde(default = "default_port")]
    #[schemars(range(min = 1024, max = 65535))]
    #[x_kube(validation = Rule::new("!(self >= 18789 && self <= 18899) && self != 9222 && self != 11434")
        .message("spec.observability.metrics.port: 18789-18899, 9222 and 11434 belong to the gateway, Chromium and Ollama"))]
    pub port: i32,

    /// A Prometheus Operator ServiceMonitor for the instance.
    #[serde(default, skip_serializing_if = "is_default")]
    pub service_monitor: ServiceMonitorSpec,
}

impl Default for MetricsSpec {
    fn default() -> Self {
        Self {
            enabled: true,
            port: DEFAULT_METRICS_PORT,
            service_monitor: ServiceMonitorSpec::default(),
        }
    }
}

/// A `monitoring.coreos.com/v1` ServiceMonitor scraping the instance. Needs the Prometheus
/// Operator's CRDs; without them the operator reports a condition instead of failing.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct ServiceMonitorSpec {
    /// Create the ServiceMonitor. Defaults to false; turning it off deletes it.
    #[serde(default)]
    pub enabled: bool,

    /// Scrape interval, a duration such as `30s` (the default) or `1m`.
    #[serde(default = "default_interval")]
    #[schemars(length(max = 32), regex(pattern = DURATION))]
    pub interval: String,

    /// Labels on the ServiceMonitor, so that your Prometheus' `serviceMonitorSelector` picks it.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(extend(
        "maxProperties" = 64,
        "additionalProperties" = {"type": "string", "maxLength": 63, "pattern": LABEL_VALUE}
    ))]
    pub labels: BTreeMap<String, String>,
}

impl Default for ServiceMonitorSpec {
    fn default() -> Self {
        Self {
            enabled: false,
            interval: default_interval(),
            labels: BTreeMap::new(),
        }
    }
}

fn default_port() -> i32 {
    DEFAULT_METRICS_PORT
}

fn default_interval() -> String {
    DEFAULT_SCRAPE_INTERVAL.to_owned()
}
