//! `spec.restoreFrom`: which object to restore, and whether this instance may read it.
//!
//! An instance restores from its own namespace's area of its backup bucket
//! (`<prefix>/<namespace>/`, so a new instance can take over another one's snapshot in the same
//! namespace); any other source must be allowed cluster-wide in `OpenClawClusterDefaults`
//! `spec.backup.allowedRestoreSources`. The operator decides; the supervisor only executes.

use openclaw_api::{
    backup::ARCHIVE_SUFFIX,
    instance::S3Spec,
    plan::{RestorePlan, S3Connection},
};

use super::{BuildContext, BuildError, context::invalid, plan::backup_prefix};

const FIELD: &str = "spec.restoreFrom";

/// The resolved and authorized restore, `None` when the spec asks for none.
pub fn restore_plan(
    ctx: &BuildContext<'_>,
    connection: impl FnOnce(&S3Spec) -> S3Connection,
) -> Result<Option<RestorePlan>, BuildError> {
    let Some(source) = ctx.spec().restore_from.as_deref() else {
        return Ok(None);
    };
    let s3 = ctx.s3().unwrap_or_default();
    let own_area = s3.bucket.as_deref().map(|bucket| {
        (
            bucket,
            namespace_area(s3.prefix.as_deref(), ctx.namespace()),
        )
    });
    let (bucket, key) = resolve(
        source,
        own_area.as_ref().map(|(bucket, _)| *bucket),
        &backup_prefix(s3.prefix.as_deref(), ctx.namespace(), ctx.name()),
    )
    .map_err(|message| invalid(FIELD, message))?;
    let own = own_area
        .as_ref()
        .is_some_and(|(own_bucket, area)| *own_bucket == bucket && key.starts_with(area.as_str()));
    let allowed = ctx
        .defaults
        .map(|d| d.backup.allowed_restore_sources.as_slice())
        .unwrap_or_default();
    if !own && !allowed.iter().any(|a| admits(a, &bucket, &key)) {
        let area = own_area.map_or_else(
            || "none: no backup bucket is configured".to_owned(),
            |(b, area)| format!("s3://{b}/{area}"),
        );
        return Err(invalid(
            FIELD,
            format!(
                "s3://{bucket}/{key} is outside this namespace's backups ({area}); a cluster \
                 administrator can allow it in OpenClawClusterDefaults \
                 spec.backup.allowedRestoreSources"
            ),
        ));
    }
    Ok(Some(RestorePlan {
        source: source.to_owned(),
        connection: connection(&s3),
        bucket,
        key,
        replace: None,
    }))
}

/// The restore of auto-update's rollback: the pre-update backup, taken by this instance into
/// its own bucket, restored over the workspace the new version migrated. `None` without a
/// bucket (the backup could not have been taken).
pub fn rollback_plan(
    ctx: &BuildContext<'_>,
    rollback: &super::RollbackRestore,
    connection: impl FnOnce(&S3Spec) -> S3Connection,
) -> Option<RestorePlan> {
    let s3 = ctx.s3()?;
    let bucket = s3.bucket.clone()?;
    Some(RestorePlan {
        source: format!("s3://{bucket}/{}", rollback.key),
        connection: connection(&s3),
        bucket,
        key: rollback.key.clone(),
        replace: Some(rollback.id.clone()),
    })
}

/// `<prefix>/<namespace>/`: every backup of the namespace's instances.
fn namespace_area(prefix: Option<&str>, namespace: &str) -> String {
    let instance = backup_prefix(prefix, namespace, "");
    instance.strip_suffix('/').unwrap_or(&instance).to_owned()
}

/// `(bucket, key)` of a source: `s3://bucket/key`, a key in the backup bucket (has a `/`), or
/// a snapshot id of the instance's own prefix.
fn resolve(
    source: &str,
    own_bucket: Option<&str>,
    own_prefix: &str,
) -> Result<(String, String), String> {
    let (bucket, key) = match source.strip_prefix("s3://") {
        Some(rest) => {
            let (bucket, key) = rest
                .split_once('/')
                .ok_or_else(|| format!("{source} names a bucket but no object key"))?;
            (bucket.to_owned(), key.to_owned())
        }
        None => {
            let bucket = own_bucket.ok_or_else(|| {
                format!(
                    "{source} is not an s3:// URL and no backup bucket is configured \
                     (spec.backup.s3.bucket or the cluster defaults)"
                )
            })?;
            let key = if source.contains('/') {
                source.to_owned()
            } else if source.ends_with(ARCHIVE_SUFFIX) {
                format!("{own_prefix}{source}")
            } else {
                format!("{own_prefix}{source}{ARCHIVE_SUFFIX}")
            };
            (bucket.to_owned(), key)
        }
    };
    if bucket.is_empty() || key.is_empty() || key.ends_with('/') {
        return Err(format!("{source} does not name an object"));
    }
    if key
        .split('/')
        .any(|segment| segment == ".." || segment == ".")
    {
        return Err(format!(
            "{source}: the key must not contain . or .. segments"
        ));
    }
    Ok((bucket, key))
}

/// Whether an allowed source `s3://bucket/prefix` covers `bucket`/`key`.
fn admits(allowed: &str, bucket: &str, key: &str) -> bool {
    let Some(rest) = allowed.strip_prefix("s3://") else {
        return false;
    };
    let (allowed_bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    allowed_bucket == bucket && key.starts_with(prefix)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_resolve_to_bucket_and_key() {
        let own = "team/ns/a/";
        assert_eq!(
            resolve("s3://bucket/path/to/backup.tar.gz", None, own),
            Ok(("bucket".into(), "path/to/backup.tar.gz".into()))
        );
        assert_eq!(
            resolve("20261125T234203Z", Some("agents"), own),
            Ok(("agents".into(), "team/ns/a/20261125T234203Z.tar.zst".into()))
        );
        assert_eq!(
            resolve("team/ns/b/x.tar.zst", Some("agents"), own),
            Ok(("agents".into(), "team/ns/b/x.tar.zst".into()))
        );
        for bad in ["s3://bucket", "s3://bucket/", "s3://b/a/../other/x.tar.zst"] {
            assert!(resolve(bad, Some("agents"), own).is_err(), "{bad}");
        }
        assert!(resolve("snap", None, own).is_err());
    }

    #[test]
    fn allowed_sources_match_bucket_and_prefix() {
        assert!(admits("s3://bucket/path/", "bucket", "path/to/x.tar.gz"));
        assert!(admits("s3://bucket", "bucket", "anything"));
        assert!(!admits("s3://bucket/path/", "other", "path/x"));
        assert!(!admits("s3://bucket/path/", "bucket", "pathology/x"));
        assert!(!admits("bucket/path", "bucket", "path/x"));
    }
}
