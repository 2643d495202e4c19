//! The instance resolved once: what build, reconcile and finalize derive from the spec and the
//! cluster defaults (the status port, the GPUs, the S3 target, whether backups are on).

use openclaw_api::{
    OpenClawClusterDefaultsSpec, OpenClawInstance, instance::S3Spec, plan::DEFAULT_STATUS_PORT,
};

/// The derived settings of one instance.
#[derive(Debug, Clone, PartialEq)]
pub struct Resolved {
    /// Port of the supervisor's HTTP listener (probes, `/status`, `/metrics`, `POST /backup`).
    pub status_port: u16,
    /// GPUs of the Ollama sidecar (0 when it does not run).
    pub gpus: u32,
    /// The S3 target, field by field from the instance then the cluster defaults, even without
    /// a bucket (a `restoreFrom` of `s3://bucket/key` needs only credentials).
    pub s3: Option<S3Spec>,
    /// A bucket is known: backups run, and deletion takes a final backup (the finalizer).
    pub backups: bool,
}

impl Resolved {
    /// Resolves `instance` against the cluster defaults.
    pub fn of(instance: &OpenClawInstance, defaults: Option<&OpenClawClusterDefaultsSpec>) -> Self {
        let spec = &instance.spec;
        let own = spec.backup.s3.as_ref();
        let s3 = match defaults {
            Some(defaults) => defaults.s3(own),
            None => own.cloned(),
        };
        let gpus = if spec.ollama.enabled {
            u32::try_from(spec.ollama.gpu.unwrap_or(0)).unwrap_or(0)
        } else {
            0
        };
        Self {
            status_port: u16::try_from(spec.observability.metrics.port)
                .unwrap_or(DEFAULT_STATUS_PORT),
            gpus,
            backups: s3.as_ref().is_some_and(|s3| s3.bucket.is_some()),
            s3,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn instance(yaml: &str) -> OpenClawInstance {
        let mut instance = OpenClawInstance::new(
            "a",
            serde_yaml::from_str(yaml).unwrap_or_else(|e| panic!("{e}")),
        );
        instance.metadata.namespace = Some("n".into());
        instance
    }

    fn defaults(yaml: &str) -> OpenClawClusterDefaultsSpec {
        serde_yaml::from_str(yaml).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn the_cluster_bucket_turns_backups_on_and_the_instance_wins_field_by_field() {
        let own = instance("backup: {s3: {prefix: mine/}}");
        assert!(!Resolved::of(&own, None).backups, "no bucket, no backups");
        let cluster = defaults("backup: {s3: {bucket: shared, prefix: theirs/}}");
        let resolved = Resolved::of(&own, Some(&cluster));
        assert!(resolved.backups);
        let s3 = resolved.s3.unwrap_or_else(|| panic!("merged"));
        assert_eq!(
            (s3.bucket.as_deref(), s3.prefix.as_deref()),
            (Some("shared"), Some("mine/"))
        );
    }

    #[test]
    fn port_and_gpus() {
        let resolved = Resolved::of(&instance("{}"), None);
        assert_eq!((resolved.status_port, resolved.gpus), (9090, 0));
        let gpu =
            instance("ollama: {enabled: true, gpu: 2}\nobservability: {metrics: {port: 9100}}");
        let resolved = Resolved::of(&gpu, None);
        assert_eq!((resolved.status_port, resolved.gpus), (9100, 2));
        let off = instance("ollama: {enabled: false, gpu: 2}");
        assert_eq!(Resolved::of(&off, None).gpus, 0);
    }
}
