//! The operator's own webhook certificate, as effects: the Secret every replica shares (created
//! or renewed by whichever replica sees the need first; a conflict means another one won) and the
//! `caBundle` of the ValidatingWebhookConfiguration (written only when it differs).

use std::{
    collections::BTreeMap,
    time::{Duration, SystemTime},
};

use k8s_openapi::{
    ByteString, api::admissionregistration::v1::ValidatingWebhookConfiguration,
    api::core::v1::Secret, apimachinery::pkg::apis::meta::v1::ObjectMeta,
};
use kube::{
    Api, Client,
    api::{PostParams, ResourceExt},
};

use super::certs::{
    self, CA_KEY, CERT_KEY, Issued, KEY_KEY, NOT_AFTER_ANNOTATION, VALIDITY_ANNOTATION,
};

/// Where the operator keeps its certificate and whom it tells.
#[derive(Debug, Clone)]
pub struct Managed {
    /// The operator's namespace (the Secret's).
    pub namespace: String,
    /// The Secret holding `tls.crt`, `tls.key` and `ca.crt`.
    pub secret: String,
    /// The ValidatingWebhookConfiguration whose `caBundle` trusts the CA.
    pub webhook_configuration: String,
    /// DNS names and IP addresses of the leaf.
    pub names: Vec<String>,
    /// Validity of each certificate; renewed with a third left.
    pub validity: Duration,
}

/// Why the certificate could not be ensured.
#[derive(Debug, thiserror::Error)]
pub enum ManagedError {
    #[error("issuing the webhook certificate")]
    Issue(#[from] rcgen::Error),
    #[error("the Kubernetes API refused the webhook certificate's Secret or configuration")]
    Api(#[from] kube::Error),
    #[error("another replica kept renewing the webhook certificate; retrying later")]
    Contended,
}

/// The leaf and key to serve.
#[derive(Clone, PartialEq, Eq)]
pub struct Serving {
    pub cert_pem: String,
    pub key_pem: String,
}

impl std::fmt::Debug for Serving {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Serving { .. }")
    }
}

fn text(secret: &Secret, key: &str) -> Option<String> {
    let data = secret.data.as_ref()?.get(key)?;
    String::from_utf8(data.0.clone()).ok()
}

fn not_after(secret: &Secret) -> Option<SystemTime> {
    let value = secret.annotations().get(NOT_AFTER_ANNOTATION)?;
    humantime::parse_rfc3339(value).ok()
}

/// The Secret for `issued`, replacing `previous` (whose CA stays in the bundle).
fn secret(managed: &Managed, issued: &Issued, previous: Option<&Secret>) -> Secret {
    let previous_ca = previous.and_then(|s| text(s, CA_KEY));
    let data = BTreeMap::from([
        (
            CERT_KEY.to_owned(),
            ByteString(issued.cert_pem.clone().into_bytes()),
        ),
        (
            KEY_KEY.to_owned(),
            ByteString(issued.key_pem.clone().into_bytes()),
        ),
        (
            CA_KEY.to_owned(),
            ByteString(certs::bundle(&issued.ca_pem, previous_ca.as_deref()).into_bytes()),
        ),
    ]);
    Secret {
        metadata: ObjectMeta {
            name: Some(managed.secret.clone()),
            namespace: Some(managed.namespace.clone()),
            resource_version: previous.and_then(|s| s.metadata.resource_version.clone()),
            labels: Some(BTreeMap::from([(
                "app.kubernetes.io/managed-by".to_owned(),
                "openclaw-operator".to_owned(),
            )])),
            annotations: Some(BTreeMap::from([
                (
                    NOT_AFTER_ANNOTATION.to_owned(),
                    humantime::format_rfc3339_seconds(issued.not_after).to_string(),
                ),
                (
                    VALIDITY_ANNOTATION.to_owned(),
                    managed.validity.as_secs().to_string(),
                ),
            ])),
            ..ObjectMeta::default()
        },
        type_: Some("kubernetes.io/tls".to_owned()),
        data: Some(data),
        ..Secret::default()
    }
}

/// Makes sure a valid certificate is in the Secret and its CA in the webhook configuration;
/// returns what to serve.
pub async fn ensure(client: &Client, managed: &Managed) -> Result<Serving, ManagedError> {
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &managed.namespace);
    let mut current = None;
    for _ in 0..3 {
        let existing = secrets.get_opt(&managed.secret).await?;
        let now = SystemTime::now();
        let usable = existing.as_ref().filter(|s| {
            !certs::needs_renewal(not_after(s), managed.validity, now)
                && text(s, CERT_KEY).is_some()
                && text(s, KEY_KEY).is_some()
        });
        if let Some(usable) = usable {
            current = Some(usable.clone());
            break;
        }
        let issued = certs::issue(&managed.names, now, managed.validity)?;
        let desired = secret(managed, &issued, existing.as_ref());
        let written = match &existing {
            Some(_) => {
                secrets
                    .replace(&managed.secret, &PostParams::default(), &desired)
                    .await
            }
            None => secrets.create(&PostParams::default(), &desired).await,
        };
        match written {
            Ok(secret) => {
                tracing::info!(
                    secret = %managed.secret,
                    not_after = %humantime::format_rfc3339_seconds(issued.not_after),
                    "issued the webhook certificate"
                );
                current = Some(secret);
                break;
            }
            // Another replica renewed it first: use theirs.
            Err(kube::Error::Api(status)) if status.code == 409 => continue,
            Err(err) => return Err(err.into()),
        }
    }
    let current = current.ok_or(ManagedError::Contended)?;
    if let Some(bundle) = text(&current, CA_KEY)
        && publish_ca(client, &managed.webhook_configuration, &bundle).await?
    {
        // The API server learns the new bundle through its watch: serve the new leaf only once
        // it surely trusts it (the old leaf stays valid and trusted meanwhile).
        tokio::time::sleep(BUNDLE_PROPAGATION).await;
    }
    Ok(Serving {
        cert_pem: text(&current, CERT_KEY).unwrap_or_default(),
        key_pem: text(&current, KEY_KEY).unwrap_or_default(),
    })
}

/// How long a changed CA bundle is given to reach the API server before the new leaf is served.
const BUNDLE_PROPAGATION: Duration = Duration::from_secs(3);

/// Writes `bundle` into every webhook of the configuration whose `caBundle` differs; true when
/// something was written.
async fn publish_ca(client: &Client, name: &str, bundle: &str) -> Result<bool, kube::Error> {
    let api: Api<ValidatingWebhookConfiguration> = Api::all(client.clone());
    let Some(mut config) = api.get_opt(name).await? else {
        tracing::warn!(
            configuration = %name,
            "the ValidatingWebhookConfiguration does not exist: nothing calls the webhook"
        );
        return Ok(false);
    };
    let wanted = ByteString(bundle.as_bytes().to_vec());
    let mut changed = false;
    for webhook in config.webhooks.iter_mut().flatten() {
        if webhook.client_config.ca_bundle.as_ref() != Some(&wanted) {
            webhook.client_config.ca_bundle = Some(wanted.clone());
            changed = true;
        }
    }
    if changed {
        api.replace(name, &PostParams::default(), &config).await?;
        tracing::info!(configuration = %name, "published the webhook CA bundle");
    }
    Ok(changed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn managed() -> Managed {
        Managed {
            namespace: "ops".into(),
            secret: "hook-tls".into(),
            webhook_configuration: "hook".into(),
            names: vec!["hook.ops.svc".into()],
            validity: Duration::from_secs(3600),
        }
    }

    #[test]
    fn the_secret_records_expiry_and_keeps_the_previous_ca() -> Result<(), rcgen::Error> {
        let now = SystemTime::now();
        let first = certs::issue(&managed().names, now, Duration::from_secs(3600))?;
        let one = secret(&managed(), &first, None);
        assert_eq!(one.type_.as_deref(), Some("kubernetes.io/tls"));
        let expiry = not_after(&one).map(|t| t.duration_since(now).unwrap_or_default());
        assert!(
            expiry.is_some_and(|e| e.as_secs().abs_diff(3600) <= 1),
            "{expiry:?}"
        );
        assert_eq!(text(&one, CA_KEY).as_deref(), Some(first.ca_pem.as_str()));

        let second = certs::issue(&managed().names, now, Duration::from_secs(3600))?;
        let two = secret(&managed(), &second, Some(&one));
        let bundle = text(&two, CA_KEY).unwrap_or_default();
        assert!(bundle.starts_with(second.ca_pem.trim_end()));
        assert!(bundle.contains(first.ca_pem.trim_end()));
        assert_eq!(
            text(&two, CERT_KEY).as_deref(),
            Some(second.cert_pem.as_str())
        );
        Ok(())
    }
}
