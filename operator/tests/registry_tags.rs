//! The auto-update's tag listing against a real registry (Debian's `docker-registry`): every
//! tag of a repository through pages smaller than the list, and a private repository readable
//! only with the credentials of a `.dockerconfigjson` pull secret.

use base64::Engine as _;
use oci_client::{
    Reference,
    client::{Config, ImageLayer},
    secrets::RegistryAuth,
};
use openclaw_operator::update::registry::{self, credentials_for, list_tags};
use openclaw_testkit::registry::Registry;

/// Pushes one tiny image to `repository` under each of `tags`.
async fn push_tags(addr: &str, repository: &str, tags: &[String], auth: &RegistryAuth) {
    let client = registry::client(&[addr.to_owned()]);
    for tag in tags {
        let reference: Reference = format!("{addr}/{repository}:{tag}")
            .parse()
            .unwrap_or_else(|e| panic!("{e}"));
        client
            .push(
                &reference,
                &[ImageLayer::oci_v1(b"layer".to_vec(), None)],
                Config::oci_v1(b"{}".to_vec(), None),
                auth,
                None,
            )
            .await
            .unwrap_or_else(|e| panic!("pushing {reference}: {e}"));
    }
}

fn calendar_tags() -> Vec<String> {
    let mut tags: Vec<String> = (1..=12)
        .flat_map(|month| (0..2).map(move |patch| format!("2026.{month}.{patch}")))
        .collect();
    tags.push("latest".to_owned());
    tags.push("2026.12.0-beta.1".to_owned());
    tags
}

#[tokio::test]
async fn lists_every_tag_through_small_pages() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let registry = Registry::start(dir.path(), "").unwrap_or_else(|e| panic!("{e}"));
    let tags = calendar_tags();
    push_tags(
        &registry.addr,
        "openclaw/openclaw",
        &tags,
        &RegistryAuth::Anonymous,
    )
    .await;
    let client = registry::client(std::slice::from_ref(&registry.addr));
    let repository = registry::repository(&format!("{}/openclaw/openclaw:2026.1.0", registry.addr))
        .unwrap_or_else(|e| panic!("{e}"));
    let mut expected = tags.clone();
    expected.sort();
    for page in [1000, 7, 1] {
        let mut listed = list_tags(&client, &repository, &RegistryAuth::Anonymous, page)
            .await
            .unwrap_or_else(|e| panic!("page size {page}: {e}"));
        listed.sort();
        assert_eq!(listed, expected, "page size {page}");
    }
}

#[tokio::test]
async fn a_private_repository_needs_the_pull_secret() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let htpasswd = dir.path().join("htpasswd");
    std::fs::write(
        &htpasswd,
        format!(
            "puller:{}\n",
            bcrypt::hash("s3cret", 4).unwrap_or_else(|e| panic!("{e}"))
        ),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let registry = Registry::start(
        dir.path(),
        &format!(
            "auth: {{htpasswd: {{realm: test, path: {}}}}}\n",
            htpasswd.display()
        ),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let basic = RegistryAuth::Basic("puller".into(), "s3cret".into());
    push_tags(
        &registry.addr,
        "corp/openclaw",
        &["2026.9.6".to_owned()],
        &basic,
    )
    .await;

    let client = registry::client(std::slice::from_ref(&registry.addr));
    let repository = registry::repository(&format!("{}/corp/openclaw", registry.addr))
        .unwrap_or_else(|e| panic!("{e}"));
    let refused = list_tags(&client, &repository, &RegistryAuth::Anonymous, 100).await;
    let error = format!("{:?}", refused.err());
    assert!(error.to_lowercase().contains("unauthorized"), "{error}");

    let secret = serde_json::json!({"auths": {registry.addr.clone(): {
        "auth": base64::engine::general_purpose::STANDARD.encode("puller:s3cret")
    }}})
    .to_string();
    let auth = credentials_for(repository.registry(), secret.as_bytes())
        .unwrap_or_else(|| panic!("no credentials for {}", repository.registry()));
    // oci-client keeps the first credentials it used for a registry: one client per identity.
    let client = registry::client(std::slice::from_ref(&registry.addr));
    let listed = list_tags(&client, &repository, &auth, 100)
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(listed, ["2026.9.6"]);
}
