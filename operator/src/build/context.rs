//! What every builder asks of the [`BuildContext`]: the instance's identity, metadata of the
//! objects it owns, and its settings with the cluster defaults applied.

use k8s_openapi::{api::core::v1::EnvVar, apimachinery::pkg::apis::meta::v1::ObjectMeta};
use kube::Resource;
use openclaw_api::{
    OpenClawInstanceSpec,
    instance::{ImageSpec, S3Spec},
    plan::GATEWAY_PORT,
};

use super::{BuildContext, BuildError, labels, paths, resolve::Resolved};

/// The OpenClaw image the spec asks for, cluster defaults applied.
pub fn spec_image(
    instance: &openclaw_api::OpenClawInstance,
    defaults: Option<&openclaw_api::OpenClawClusterDefaultsSpec>,
) -> ImageSpec {
    match defaults {
        Some(defaults) => defaults.image(&instance.spec.image),
        None => instance.spec.image.clone(),
    }
}

/// The registry mirror of the pod's images, cluster defaults applied.
pub fn registry(
    instance: &openclaw_api::OpenClawInstance,
    defaults: Option<&openclaw_api::OpenClawClusterDefaultsSpec>,
) -> Option<String> {
    let own = instance.spec.registry.as_deref();
    match defaults {
        Some(defaults) => defaults.registry(own).map(str::to_owned),
        None => own.map(str::to_owned),
    }
}

impl BuildContext<'_> {
    /// `metadata.name` of the instance ([`BuildContext::validate`] ensures it is set).
    pub fn name(&self) -> &str {
        self.instance.metadata.name.as_deref().unwrap_or_default()
    }

    /// `metadata.namespace` of the instance ([`BuildContext::validate`] ensures it is set).
    pub fn namespace(&self) -> &str {
        self.instance
            .metadata
            .namespace
            .as_deref()
            .unwrap_or_default()
    }

    /// The instance's spec.
    pub fn spec(&self) -> &OpenClawInstanceSpec {
        &self.instance.spec
    }

    /// Refuses an instance that cannot be built: no name, namespace or uid (it did not come from
    /// the API server), a status port out of range.
    pub fn validate(&self) -> Result<(), BuildError> {
        let meta = &self.instance.metadata;
        for (field, value) in [
            ("metadata.name", &meta.name),
            ("metadata.namespace", &meta.namespace),
            ("metadata.uid", &meta.uid),
        ] {
            if value.as_deref().is_none_or(str::is_empty) {
                return Err(invalid(field, "must be set"));
            }
        }
        let port = self.spec().observability.metrics.port;
        let gateway = i32::from(GATEWAY_PORT);
        let taken = (gateway..gateway + 111).contains(&port)
            || port == paths::CDP_PORT
            || port == paths::OLLAMA_PORT;
        if u16::try_from(port).is_err() || taken {
            return Err(invalid(
                "spec.observability.metrics.port",
                "must be a TCP port other than the gateway's (18789-18899), Chromium's (9222) and Ollama's (11434)",
            ));
        }
        Ok(())
    }

    /// Metadata of an object of this instance: name, namespace, standard labels and a controller
    /// owner reference to the instance.
    pub fn meta(&self, name: impl Into<String>) -> ObjectMeta {
        ObjectMeta {
            owner_references: self
                .instance
                .controller_owner_ref(&())
                .map(|owner| vec![owner]),
            ..self.unowned_meta(name)
        }
    }

    /// Like [`BuildContext::meta`], without the owner reference (the object outlives the
    /// instance).
    pub fn unowned_meta(&self, name: impl Into<String>) -> ObjectMeta {
        ObjectMeta {
            name: Some(name.into()),
            namespace: Some(self.namespace().to_owned()),
            labels: Some(labels::labels(self.name())),
            ..ObjectMeta::default()
        }
    }

    /// The settings derived from the spec and the cluster defaults.
    pub fn resolved(&self) -> Resolved {
        Resolved::of(self.instance, self.defaults)
    }

    /// Port of the supervisor's HTTP listener (probes, status, metrics).
    pub fn status_port(&self) -> u16 {
        self.resolved().status_port
    }

    /// Registry mirror of every image of the pod but the user's containers.
    pub fn registry(&self) -> Option<String> {
        registry(self.instance, self.defaults)
    }

    /// The OpenClaw image the pod runs: the spec's with the cluster defaults applied
    /// ([`spec_image`]), on the tag auto-update chose when it chose one.
    pub fn image(&self) -> ImageSpec {
        let mut image = spec_image(self.instance, self.defaults);
        if let Some(tag) = &self.update.tag
            && image.digest.is_none()
        {
            image.tag = Some(tag.clone());
        }
        image
    }

    /// The user passes the gateway token in its own `OPENCLAW_GATEWAY_TOKEN` (cluster defaults or
    /// `spec.env`): the gateway then reads that variable, and the token cannot rotate in place.
    pub fn gateway_token_from_user_env(&self) -> bool {
        self.user_env()
            .iter()
            .any(|var| var.name == openclaw_api::plan::GATEWAY_TOKEN_ENV)
    }

    /// The instance's environment: cluster defaults, then `spec.env` (same name replaces).
    pub fn user_env(&self) -> Vec<EnvVar> {
        match self.defaults {
            Some(defaults) => defaults.env(&self.spec().env),
            None => self.spec().env.clone(),
        }
    }

    /// The S3 target, field by field from the instance then the cluster defaults, even without
    /// a bucket (a `restoreFrom` of `s3://bucket/key` needs only credentials).
    pub fn s3(&self) -> Option<S3Spec> {
        self.resolved().s3
    }

    /// Whether the supervisor talks to S3 at all: backups (a bucket is known) or a restore.
    pub fn uses_s3(&self) -> bool {
        self.resolved().backups || self.spec().restore_from.is_some()
    }

    /// Name of the Secret holding the S3 credentials, when the supervisor uses S3 with static
    /// credentials (none: workload identity).
    pub fn s3_credentials_secret(&self) -> Option<String> {
        if !self.uses_s3() {
            return None;
        }
        self.s3()
            .and_then(|s3| s3.credentials_secret_ref)
            .map(|secret| secret.name)
    }
}

/// A [`BuildError::Invalid`].
pub(crate) fn invalid(field: impl Into<String>, message: impl Into<String>) -> BuildError {
    BuildError::Invalid {
        field: field.into(),
        message: message.into(),
    }
}
