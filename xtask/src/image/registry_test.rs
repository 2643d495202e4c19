//! Pushes an image written by the layout writer to Debian's real `docker-registry`
//! (distribution 2.8), started on a free loopback port, and reads it back with `oci-client`.

use anyhow::{Context, Result};
use openclaw_testkit::registry::Registry as RegistryProcess;

use super::{layout::tests::small_image, push};

/// Starts Debian's `docker-registry` with its data under `root`; `auth` is extra configuration
/// (e.g. an `htpasswd` section).
fn start_registry(root: &std::path::Path, auth: &str) -> Result<RegistryProcess> {
    RegistryProcess::start(root, auth).map_err(anyhow::Error::msg)
}

#[test]
fn pushes_to_a_real_registry_idempotently_and_reads_the_digest_back() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let registry_process = start_registry(dir.path(), "")?;
    let registry = push::Registry::anonymous(&registry_process.addr);
    let one = dir.path().join("one");
    let two = dir.path().join("two");
    let first = small_image(&one, "1.0.0", "#!one\n")?.digest().to_string();
    let second = small_image(&two, "2.0.0", "#!two\n")?.digest().to_string();

    push::block_on(async {
        let pushed = push::push_layout(&registry, &one, "test/app", "1.0.0").await?;
        assert_eq!(pushed.digest, first);
        assert_eq!(
            pushed.reference,
            format!("{}/test/app:1.0.0", registry.host)
        );
        // Again: nothing changes, the digest is the same.
        let again = push::push_layout(&registry, &one, "test/app", "1.0.0").await?;
        assert_eq!(again, pushed);
        assert_eq!(push::list_tags(&registry, "test/app").await?, ["1.0.0"]);

        let pushed_two = push::push_layout(&registry, &two, "test/app", "2.0.0").await?;
        assert_eq!(pushed_two.digest, second);
        assert_ne!(second, first);
        assert_eq!(
            push::list_tags(&registry, "test/app").await?,
            ["1.0.0", "2.0.0"]
        );
        assert_eq!(
            push::pull_digest(&registry, "test/app", "1.0.0").await?,
            first
        );
        assert_eq!(
            push::pull_digest(&registry, "test/app", "2.0.0").await?,
            second
        );
        // A tag that was never pushed is an error, not an empty answer.
        assert!(
            push::pull_digest(&registry, "test/app", "3.0.0")
                .await
                .is_err()
        );
        Ok(())
    })
}

#[test]
fn pushes_with_basic_auth_and_is_refused_without() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let htpasswd = dir.path().join("htpasswd");
    std::fs::write(
        &htpasswd,
        format!("pusher:{}\n", bcrypt::hash("s3cret", 4)?),
    )?;
    let auth = format!(
        "auth: {{htpasswd: {{realm: test, path: {}}}}}\n",
        htpasswd.display()
    );
    let registry_process = start_registry(dir.path(), &auth)?;
    let image = dir.path().join("image");
    let digest = small_image(&image, "1.0.0", "#!auth\n")?
        .digest()
        .to_string();
    push::block_on(async {
        for registry in [
            push::Registry::anonymous(&registry_process.addr),
            push::Registry::new(&registry_process.addr, Some("pusher"), Some("wrong")),
        ] {
            let refused = push::push_layout(&registry, &image, "test/private", "1.0.0").await;
            let error = format!("{:#}", refused.err().context("the push was accepted")?);
            assert!(error.to_lowercase().contains("unauthorized"), "{error}");
        }
        let user = push::Registry::new(&registry_process.addr, Some("pusher"), Some("s3cret"));
        let pushed = push::push_layout(&user, &image, "test/private", "1.0.0").await?;
        assert_eq!(pushed.digest, digest);
        assert_eq!(push::list_tags(&user, "test/private").await?, ["1.0.0"]);
        Ok(())
    })
}
