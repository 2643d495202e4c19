//! Errors of one reconcile: which named step failed, and what went wrong in it.

use std::fmt;

/// The named steps of one reconcile, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// The deletion's final backup and the finalizer.
    Finalize,
    /// Reading what the instance names (Secrets, ConfigMaps) and the cluster facts.
    Dereference,
    /// Applying the children by server-side apply.
    Apply,
    /// Writing `status`.
    Status,
}

impl Step {
    /// The step's name, as in the `step` label of `openclaw_reconcile_errors_total`.
    pub fn as_str(self) -> &'static str {
        match self {
            Step::Finalize => "finalize",
            Step::Dereference => "dereference",
            Step::Apply => "apply",
            Step::Status => "status",
        }
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What went wrong inside a step.
#[derive(Debug, thiserror::Error)]
pub enum Cause {
    #[error("Kubernetes API request failed: {0}")]
    Kube(#[from] kube::Error),
    #[error("the instance has no namespace")]
    NoNamespace,
    #[error("serializing {0} failed")]
    Serialize(&'static str, #[source] serde_json::Error),
}

/// Why a reconcile failed (it is retried; conditions carry what a person can act on).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The instance has no namespace (it did not come from the API server).
    #[error("the instance has no namespace")]
    NoNamespace,
    /// The final backup or the finalizer.
    #[error("finalize: {0}")]
    Finalize(#[source] Cause),
    /// Reading the instance's references or the cluster facts.
    #[error("dereference: {0}")]
    Dereference(#[source] Cause),
    /// Applying a child object.
    #[error("apply: {0}")]
    Apply(#[source] Cause),
    /// Writing the status.
    #[error("status: {0}")]
    Status(#[source] Cause),
}

impl Error {
    /// The step that failed; `None` before any step ran.
    pub fn step(&self) -> Option<Step> {
        match self {
            Error::NoNamespace => None,
            Error::Finalize(_) => Some(Step::Finalize),
            Error::Dereference(_) => Some(Step::Dereference),
            Error::Apply(_) => Some(Step::Apply),
            Error::Status(_) => Some(Step::Status),
        }
    }

    fn cause(&self) -> Option<&Cause> {
        match self {
            Error::NoNamespace => None,
            Error::Finalize(c) | Error::Dereference(c) | Error::Apply(c) | Error::Status(c) => {
                Some(c)
            }
        }
    }

    /// Label `category` of `openclaw_reconcile_errors_total`.
    pub fn category(&self) -> &'static str {
        match self.cause() {
            Some(Cause::Kube(_)) => "api",
            None | Some(Cause::NoNamespace) => "invalid_spec",
            Some(Cause::Serialize(..)) => "internal",
        }
    }

    /// Whether the API server failed (retried soon).
    pub fn is_api(&self) -> bool {
        matches!(self.cause(), Some(Cause::Kube(_)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_failed_step_is_named() {
        let error = Error::Apply(Cause::NoNamespace);
        assert_eq!(error.step(), Some(Step::Apply));
        assert_eq!(error.category(), "invalid_spec");
        assert!(error.to_string().starts_with("apply: "), "{error}");
        assert_eq!(Error::NoNamespace.step(), None);
    }
}
