//! The S3 client: an object_store bucket built from the plan's [`S3Connection`] and the
//! credentials in the environment variables it names, and errors that say what failed without
//! ever carrying a secret.

use std::{error::Error as StdError, fmt, sync::Arc, time::Duration};

use futures::TryStreamExt;
use object_store::{
    ClientOptions, ObjectStore, ObjectStoreExt, RetryConfig, aws::AmazonS3Builder, path::Path,
};
use openclaw_api::plan::S3Connection;

use crate::error_chain::error_chain;

/// Region when the connection names none (what S3-compatible stores expect).
pub const DEFAULT_REGION: &str = "us-east-1";

/// What the error message calls an endpoint left to the AWS default.
const AWS_ENDPOINT: &str = "AWS S3";

/// S3 error codes that mean the credentials were refused.
const CREDENTIAL_CODES: [&str; 6] = [
    "SignatureDoesNotMatch",
    "InvalidAccessKeyId",
    "InvalidToken",
    "ExpiredToken",
    "AccessDenied",
    "InvalidClientTokenId",
];

/// Why an S3 operation failed. No variant carries a credential.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A credential variable the plan names is not set.
    #[error("the S3 credential variable {variable} is not set in the supervisor's environment")]
    MissingCredential {
        /// Name of the variable (never its value).
        variable: String,
    },
    /// The client could not be built from the connection.
    #[error("invalid S3 connection for bucket {bucket} at endpoint {endpoint}: {reason}")]
    Connection {
        /// Bucket.
        bucket: String,
        /// Endpoint, or `AWS S3`.
        endpoint: String,
        /// What object_store said.
        reason: String,
    },
    /// S3 answered that the credentials are wrong or not allowed.
    #[error(
        "S3 refused the credentials ({code}) for bucket {bucket} at endpoint {endpoint} \
         while trying to {action} {key}"
    )]
    Credentials {
        /// The S3 error code (`SignatureDoesNotMatch`, `InvalidAccessKeyId`, ...).
        code: String,
        /// Bucket.
        bucket: String,
        /// Endpoint, or `AWS S3`.
        endpoint: String,
        /// What was attempted.
        action: &'static str,
        /// Object key or prefix.
        key: String,
    },
    /// The object does not exist.
    #[error("s3://{bucket}/{key} does not exist (endpoint {endpoint})")]
    NotFound {
        /// Bucket.
        bucket: String,
        /// Key.
        key: String,
        /// Endpoint, or `AWS S3`.
        endpoint: String,
    },
    /// Any other failure (unreachable endpoint, timeouts, server errors).
    #[error("failed to {action} s3://{bucket}/{key} at endpoint {endpoint}: {reason}")]
    Request {
        /// What was attempted.
        action: &'static str,
        /// Bucket.
        bucket: String,
        /// Key or prefix.
        key: String,
        /// Endpoint, or `AWS S3`.
        endpoint: String,
        /// The cause, as text (object_store's chain, which holds no credential).
        reason: String,
    },
}

/// One bucket of one S3 endpoint.
#[derive(Clone)]
pub struct Bucket {
    store: Arc<dyn ObjectStore>,
    name: String,
    endpoint: String,
}

impl fmt::Debug for Bucket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Bucket")
            .field("name", &self.name)
            .field("endpoint", &self.endpoint)
            .finish_non_exhaustive()
    }
}

/// Client options: a connect timeout that notices a dead endpoint quickly, a request timeout
/// long enough for a large download's body.
fn client_options(allow_http: bool) -> ClientOptions {
    ClientOptions::new()
        .with_allow_http(allow_http)
        .with_connect_timeout(Duration::from_secs(5))
        .with_timeout(Duration::from_secs(600))
}

/// Few, short retries: a backup that cannot reach S3 fails within a minute and says why.
fn retry() -> RetryConfig {
    RetryConfig {
        max_retries: 3,
        retry_timeout: Duration::from_secs(30),
        ..RetryConfig::default()
    }
}

impl Bucket {
    /// Opens `bucket` over `connection`, reading credentials through `lookup` (the process
    /// environment in production); without credential variables, the ambient AWS configuration
    /// (`AWS_*` variables, web identity) is used.
    pub fn open(
        connection: &S3Connection,
        bucket: &str,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Bucket, StoreError> {
        // The HTTP client takes rustls' process-wide provider (ring, as `main` installs it);
        // installed here too so that every entry point (tests, benchmarks) can reach S3.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let endpoint_text = connection
            .endpoint
            .clone()
            .unwrap_or_else(|| AWS_ENDPOINT.to_owned());
        let mut builder = match &connection.credentials {
            None => AmazonS3Builder::from_env(),
            Some(names) => {
                let read = |variable: &str| {
                    lookup(variable).filter(|v| !v.is_empty()).ok_or_else(|| {
                        StoreError::MissingCredential {
                            variable: variable.to_owned(),
                        }
                    })
                };
                let mut builder = AmazonS3Builder::new()
                    .with_access_key_id(read(&names.access_key_id)?)
                    .with_secret_access_key(read(&names.secret_access_key)?);
                if let Some(token) = names
                    .session_token
                    .as_deref()
                    .and_then(|name| lookup(name).filter(|v| !v.is_empty()))
                {
                    builder = builder.with_token(token);
                }
                builder
            }
        };
        let allow_http = connection
            .endpoint
            .as_deref()
            .is_some_and(|e| e.starts_with("http://"));
        builder = builder
            .with_bucket_name(bucket)
            .with_region(connection.region.as_deref().unwrap_or(DEFAULT_REGION))
            .with_virtual_hosted_style_request(!connection.path_style)
            .with_client_options(client_options(allow_http))
            .with_retry(retry())
            // The request signature covers the headers, not a hash of each part: the archive's
            // own sha256 (in the manifest, checked on every restore) guards the content end to
            // end, and hashing every part again on both sides costs a CPU pass over the backup.
            .with_unsigned_payload(true);
        if let Some(endpoint) = &connection.endpoint {
            builder = builder.with_endpoint(if connection.path_style {
                endpoint.clone()
            } else {
                virtual_host_endpoint(endpoint, bucket)
            });
        }
        let store = builder.build().map_err(|e| StoreError::Connection {
            bucket: bucket.to_owned(),
            endpoint: endpoint_text.clone(),
            reason: error_chain(&e),
        })?;
        Ok(Bucket {
            store: Arc::new(store),
            name: bucket.to_owned(),
            endpoint: endpoint_text,
        })
    }

    /// The object_store client.
    pub fn store(&self) -> Arc<dyn ObjectStore> {
        Arc::clone(&self.store)
    }

    /// The bucket's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `s3://<bucket>/<key>`.
    pub fn url(&self, key: &str) -> String {
        format!("s3://{}/{key}", self.name)
    }

    /// Turns an object_store error of `action` on `key` into a [`StoreError`].
    pub fn error(
        &self,
        action: &'static str,
        key: &str,
        error: &object_store::Error,
    ) -> StoreError {
        classify(error, action, &self.name, key, &self.endpoint)
    }

    /// Every key under `prefix` (which ends in `/`, or is empty for the whole bucket).
    pub async fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        let path = Path::from(prefix);
        let location = (!prefix.is_empty()).then_some(&path);
        self.store
            .list(location)
            .map_ok(|meta| meta.location.to_string())
            .try_collect()
            .await
            .map_err(|e| self.error("list", prefix, &e))
    }

    /// Writes a small object in one request.
    pub async fn put(&self, key: &str, body: Vec<u8>) -> Result<(), StoreError> {
        self.store
            .put(&Path::from(key), body.into())
            .await
            .map(|_| ())
            .map_err(|e| self.error("write", key, &e))
    }

    /// Reads a small object whole; `None` when it does not exist.
    pub async fn get_small(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let path = Path::from(key);
        let result = match self.store.get(&path).await {
            Ok(result) => result,
            Err(object_store::Error::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(self.error("read", key, &e)),
        };
        result
            .bytes()
            .await
            .map(|b| Some(b.to_vec()))
            .map_err(|e| self.error("read", key, &e))
    }

    /// Deletes one object (deleting a missing object succeeds).
    pub async fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.store
            .delete(&Path::from(key))
            .await
            .map_err(|e| self.error("delete", key, &e))
    }
}

/// The endpoint of `bucket` in virtual-hosted style: the bucket as the first label of the
/// endpoint's host (object_store takes a custom endpoint as the bucket's own).
pub fn virtual_host_endpoint(endpoint: &str, bucket: &str) -> String {
    match endpoint.split_once("://") {
        Some((scheme, host)) => format!("{scheme}://{bucket}.{host}"),
        None => format!("{bucket}.{endpoint}"),
    }
}

/// The S3 error code in `text` that means refused credentials, if any.
pub fn credential_code(text: &str) -> Option<&'static str> {
    CREDENTIAL_CODES
        .into_iter()
        .find(|code| text.contains(code))
}

/// Maps an object_store error to a [`StoreError`], recognising refused credentials whatever
/// layer reported them.
fn classify(
    error: &object_store::Error,
    action: &'static str,
    bucket: &str,
    key: &str,
    endpoint: &str,
) -> StoreError {
    let chain = error_chain(error as &(dyn StdError + 'static));
    let code = credential_code(&chain).or(match error {
        object_store::Error::PermissionDenied { .. } => Some("AccessDenied"),
        object_store::Error::Unauthenticated { .. } => Some("Unauthenticated"),
        _ => None,
    });
    if let Some(code) = code {
        return StoreError::Credentials {
            code: code.to_owned(),
            bucket: bucket.to_owned(),
            endpoint: endpoint.to_owned(),
            action,
            key: key.to_owned(),
        };
    }
    if let object_store::Error::NotFound { .. } = error {
        return StoreError::NotFound {
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            endpoint: endpoint.to_owned(),
        };
    }
    StoreError::Request {
        action,
        bucket: bucket.to_owned(),
        key: key.to_owned(),
        endpoint: endpoint.to_owned(),
        reason: chain,
    }
}

#[cfg(test)]
mod tests {
    use openclaw_api::plan::S3CredentialsEnv;

    use super::*;

    fn connection() -> S3Connection {
        S3Connection {
            endpoint: Some("http://127.0.0.1:1".into()),
            region: None,
            path_style: true,
            credentials: Some(S3CredentialsEnv::default()),
        }
    }

    #[test]
    fn a_missing_credential_variable_is_named_not_guessed() {
        let error = Bucket::open(&connection(), "b", |_| None).err();
        let text = error.map(|e| e.to_string()).unwrap_or_default();
        assert!(
            text.contains("OPENCLAW_BACKUP_ACCESS_KEY_ID is not set"),
            "{text}"
        );
    }

    #[test]
    fn opens_with_credentials_and_hides_them_from_debug() -> Result<(), StoreError> {
        let bucket = Bucket::open(&connection(), "backups", |name| {
            Some(format!("value-of-{name}"))
        })?;
        assert_eq!(bucket.url("a/b.tar.zst"), "s3://backups/a/b.tar.zst");
        assert!(!format!("{bucket:?}").contains("value-of"));
        Ok(())
    }

    #[test]
    fn virtual_hosted_style_puts_the_bucket_in_the_host() {
        assert_eq!(
            virtual_host_endpoint("https://s3.example.com", "agents"),
            "https://agents.s3.example.com"
        );
    }

    #[test]
    fn recognises_refused_credentials() {
        assert_eq!(
            credential_code("<Error><Code>SignatureDoesNotMatch</Code></Error>"),
            Some("SignatureDoesNotMatch")
        );
        assert_eq!(credential_code("connection refused"), None);
        let error = object_store::Error::Generic {
            store: "S3",
            source: "Server returned non-2xx status code: 403 Forbidden: <Code>InvalidAccessKeyId</Code>"
                .into(),
        };
        let text = classify(&error, "write", "b", "k", "http://s3").to_string();
        assert_eq!(
            text,
            "S3 refused the credentials (InvalidAccessKeyId) for bucket b at endpoint http://s3 \
             while trying to write k"
        );
    }
}
