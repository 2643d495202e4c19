//! Errors of one reconcile, with the category they are counted under.

/// Why a reconcile failed (it is retried; conditions carry what a person can act on).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("Kubernetes API request failed: {0}")]
    Kube(#[from] kube::Error),
    #[error("the instance has no namespace")]
    NoNamespace,
    #[error("serializing {0} failed")]
    Serialize(&'static str, #[source] serde_json::Error),
}

impl Error {
    /// Label of `openclaw_reconcile_errors_total`.
    pub fn category(&self) -> &'static str {
        match self {
            Error::Kube(_) => "api",
            Error::NoNamespace => "invalid_spec",
            Error::Serialize(..) => "internal",
        }
    }
}
