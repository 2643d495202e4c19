//! Looking inside the server: an object_store S3 client per bucket (list, put, get), bucket
//! creation and the list of unfinished multipart uploads through the filer's HTTP API.

use std::{sync::Arc, time::Duration};

use futures::TryStreamExt;
use object_store::{
    ClientOptions, ObjectStore, ObjectStoreExt, RetryConfig,
    aws::{AmazonS3, AmazonS3Builder},
    path::Path as ObjectPath,
};

use super::{ACCESS_KEY, BUCKET, REGION, SECRET_KEY, SeaweedFs};

/// Key of the object written and deleted to tell that the server is ready.
const PROBE_KEY: &str = ".openclaw-testkit-probe";

/// An S3 client for one bucket of the server, signing with one secret.
#[derive(Debug, Clone)]
pub struct S3Client {
    store: Arc<AmazonS3>,
}

impl S3Client {
    /// The underlying object_store client (for multipart uploads, heads, deletes).
    pub fn store(&self) -> Arc<AmazonS3> {
        Arc::clone(&self.store)
    }

    /// Keys under `prefix` (`""` for the whole bucket), sorted.
    pub async fn list(&self, prefix: &str) -> Result<Vec<String>, object_store::Error> {
        let prefix = (!prefix.is_empty()).then(|| ObjectPath::from(prefix));
        let mut keys: Vec<String> = self
            .store
            .list(prefix.as_ref())
            .map_ok(|meta| meta.location.to_string())
            .try_collect()
            .await?;
        keys.sort();
        Ok(keys)
    }

    /// Writes one object in a single PUT.
    pub async fn put(&self, key: &str, body: Vec<u8>) -> Result<(), object_store::Error> {
        self.store
            .put(&ObjectPath::from(key), body.into())
            .await
            .map(drop)
    }

    /// Reads one whole object.
    pub async fn get(&self, key: &str) -> Result<Vec<u8>, object_store::Error> {
        let result = self.store.get(&ObjectPath::from(key)).await?;
        Ok(result.bytes().await?.to_vec())
    }

    /// Deletes one object.
    pub async fn delete(&self, key: &str) -> Result<(), object_store::Error> {
        self.store.delete(&ObjectPath::from(key)).await
    }

    /// Writes and deletes a probe object: proves the gateway, the filer and a volume all work.
    pub(super) async fn probe(&self) -> Result<(), object_store::Error> {
        self.put(PROBE_KEY, b"ready".to_vec()).await?;
        self.delete(PROBE_KEY).await
    }
}

impl SeaweedFs {
    /// An object_store builder set up for this server and [`BUCKET`]: endpoint, plain HTTP,
    /// path-style, region, keys, and short retries (one retry, 5 s) and timeouts so that a
    /// stopped server fails requests within seconds.
    pub fn s3_builder(&self) -> AmazonS3Builder {
        AmazonS3Builder::new()
            .with_endpoint(self.endpoint())
            .with_virtual_hosted_style_request(false)
            .with_region(REGION)
            .with_bucket_name(BUCKET)
            .with_access_key_id(ACCESS_KEY)
            .with_secret_access_key(SECRET_KEY)
            .with_retry(RetryConfig {
                max_retries: 1,
                retry_timeout: Duration::from_secs(5),
                ..RetryConfig::default()
            })
            .with_client_options(
                ClientOptions::new()
                    .with_allow_http(true)
                    .with_connect_timeout(Duration::from_secs(2))
                    .with_timeout(Duration::from_secs(30)),
            )
    }

    /// A client for [`BUCKET`] with the right keys.
    pub fn s3(&self) -> S3Client {
        self.client(SECRET_KEY, BUCKET)
    }

    /// A client for another bucket (see [`Self::create_bucket`]).
    pub fn s3_bucket(&self, bucket: &str) -> S3Client {
        self.client(SECRET_KEY, bucket)
    }

    /// A client for [`BUCKET`] that signs with `secret` instead of the server's secret key.
    pub fn s3_with_secret(&self, secret: &str) -> S3Client {
        self.client(secret, BUCKET)
    }

    /// Keys under `prefix` in [`BUCKET`], sorted.
    pub async fn list(&self, prefix: &str) -> Result<Vec<String>, object_store::Error> {
        self.s3().list(prefix).await
    }

    /// Writes one object into [`BUCKET`].
    pub async fn put(&self, key: &str, body: Vec<u8>) -> Result<(), object_store::Error> {
        self.s3().put(key, body).await
    }

    /// Reads one object of [`BUCKET`].
    pub async fn get(&self, key: &str) -> Result<Vec<u8>, object_store::Error> {
        self.s3().get(key).await
    }

    /// Creates another bucket (a directory under the filer's `/buckets`; object_store has no
    /// CreateBucket call).
    ///
    /// # Panics
    /// When the filer refuses.
    pub async fn create_bucket(&self, name: &str) {
        let url = format!("{}/buckets/{name}/", self.filer_url());
        let response = filer_client()
            .post(&url)
            .send()
            .await
            .unwrap_or_else(|e| panic!("creating bucket {name} through {url}: {e}"));
        let status = response.status();
        assert!(
            status.is_success(),
            "creating bucket {name} through {url}: HTTP {status}"
        );
    }

    /// Multipart uploads started in [`BUCKET`] and neither completed nor aborted, as the
    /// filer's entry names (one per upload). An upload that failed half-way must have been
    /// aborted: this is then empty.
    ///
    /// # Panics
    /// When the filer does not answer.
    pub async fn pending_multipart_uploads(&self) -> Vec<String> {
        let url = format!("{}/buckets/{BUCKET}/.uploads/", self.filer_url());
        let response = filer_client()
            .get(&url)
            .header("Accept", "application/json")
            .send()
            .await
            .unwrap_or_else(|e| panic!("listing multipart uploads through {url}: {e}"));
        if response.status() == reqwest::StatusCode::NOT_FOUND {
            return Vec::new();
        }
        let body = response
            .text()
            .await
            .unwrap_or_else(|e| panic!("reading {url}: {e}"));
        let listing: serde_json::Value = serde_json::from_str(&body)
            .unwrap_or_else(|e| panic!("{url} answered something else than JSON ({e}): {body}"));
        listing["Entries"]
            .as_array()
            .map(|entries| {
                entries
                    .iter()
                    .filter_map(|entry| entry["FullPath"].as_str())
                    .map(|path| path.rsplit('/').next().unwrap_or(path).to_owned())
                    .collect()
            })
            .unwrap_or_default()
    }

    pub(super) fn client(&self, secret: &str, bucket: &str) -> S3Client {
        install_crypto_provider();
        let store = self
            .s3_builder()
            .with_bucket_name(bucket)
            .with_secret_access_key(secret)
            .build()
            .unwrap_or_else(|e| panic!("building an S3 client for {}: {e}", self.endpoint()));
        S3Client {
            store: Arc::new(store),
        }
    }

    fn filer_url(&self) -> String {
        format!("http://{}:{}", self.ip(), self.ports().filer)
    }
}

/// reqwest is built without a default TLS provider (as in the supervisor): installs ring's,
/// unless the process already has one.
fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

fn filer_client() -> reqwest::Client {
    install_crypto_provider();
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap_or_else(|e| panic!("building an HTTP client: {e}"))
}
