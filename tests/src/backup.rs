//! Instances backed up to a test's SeaweedFS, and the credentials they read.

use anyhow::Result;
use openclaw_testkit::seaweed::SeaweedFs;

use crate::{TestCluster, instances::create_secret};

/// The Secret holding the S3 credentials of [`instance`].
pub const CREDENTIALS_SECRET: &str = "backup-s3";

/// An instance backed up to `s3`, its credentials in the Secret [`CREDENTIALS_SECRET`];
/// `extra_spec` is appended under `spec:` (two-space indented lines).
pub fn instance(name: &str, s3: &SeaweedFs, extra_spec: &str) -> String {
    format!(
        "apiVersion: openclaw.rocks/v1alpha1
kind: OpenClawInstance
metadata:
  name: {name}
spec:
  backup:
    s3:
      endpoint: \"{}\"
      bucket: {}
      region: {}
      pathStyle: true
      credentialsSecretRef:
        name: {CREDENTIALS_SECRET}
{extra_spec}",
        s3.endpoint(),
        s3.bucket(),
        s3.region()
    )
}

/// Creates the Secret [`CREDENTIALS_SECRET`] with `s3`'s keys in `ns`.
pub async fn credentials(cluster: &TestCluster, ns: &str, s3: &SeaweedFs) -> Result<()> {
    create_secret(
        cluster,
        ns,
        CREDENTIALS_SECRET,
        &[
            ("AWS_ACCESS_KEY_ID", s3.access_key()),
            ("AWS_SECRET_ACCESS_KEY", s3.secret_key()),
        ],
    )
    .await
}

/// Annotates instance `ns/name` to be deleted without a final backup (a test's namespace goes
/// with the test, its store too).
pub fn skip_final_backup(cluster: &TestCluster, ns: &str, name: &str) -> Result<()> {
    cluster.kubectl(
        &[
            "annotate",
            "openclawinstance",
            name,
            "-n",
            ns,
            &format!("{}=true", openclaw_api::backup::SKIP_BACKUP_ANNOTATION),
        ],
        None,
    )?;
    Ok(())
}
