//! The webhook's serving certificate when the operator issues it itself: a CA and a leaf for the
//! webhook Service's names, kept in a Secret of the operator's namespace (shared by every
//! replica), renewed when a third of its validity is left. The API server trusts the CA through
//! the `caBundle` of the ValidatingWebhookConfiguration, which holds the new CA and the previous
//! one while both may still sign what a replica serves, so a renewal never fails a request.
//!
//! Pure: generation and the renewal decision; the Secret and the patch are in `managed.rs`.

use std::time::{Duration, SystemTime};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

/// Keys of the Secret.
pub const CERT_KEY: &str = "tls.crt";
pub const KEY_KEY: &str = "tls.key";
pub const CA_KEY: &str = "ca.crt";
/// Annotation of the Secret: when its leaf expires (RFC 3339), so no X.509 parsing is needed to
/// decide a renewal.
pub const NOT_AFTER_ANNOTATION: &str = "openclaw.rocks/not-after";
/// Annotation of the Secret: the validity it was issued with, in seconds.
pub const VALIDITY_ANNOTATION: &str = "openclaw.rocks/validity-seconds";

/// One issued certificate.
#[derive(Clone)]
pub struct Issued {
    /// The CA, PEM.
    pub ca_pem: String,
    /// The leaf, PEM.
    pub cert_pem: String,
    /// The leaf's private key, PEM (PKCS#8).
    pub key_pem: String,
    /// When both expire.
    pub not_after: SystemTime,
}

impl std::fmt::Debug for Issued {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Issued")
            .field("not_after", &self.not_after)
            .finish_non_exhaustive()
    }
}

/// Issues a CA and a leaf for `names` (DNS names or IP addresses), valid from a minute ago (clock
/// skew) for `validity`.
pub fn issue(
    names: &[String],
    now: SystemTime,
    validity: Duration,
) -> Result<Issued, rcgen::Error> {
    let not_before = now - Duration::from_secs(60);
    let not_after = now + validity;

    let ca_key = KeyPair::generate()?;
    let mut ca = CertificateParams::new(Vec::<String>::new())?;
    ca.distinguished_name
        .push(DnType::CommonName, "openclaw-operator webhook CA");
    ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    ca.not_before = not_before.into();
    ca.not_after = not_after.into();
    let ca_cert = ca.self_signed(&ca_key)?;
    let issuer = Issuer::new(ca, ca_key);

    let key = KeyPair::generate()?;
    let mut leaf = CertificateParams::new(names.to_vec())?;
    leaf.distinguished_name.push(
        DnType::CommonName,
        names
            .first()
            .map_or("openclaw-operator-webhook", String::as_str),
    );
    leaf.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    leaf.not_before = not_before.into();
    leaf.not_after = not_after.into();
    let cert = leaf.signed_by(&key, &issuer)?;
    Ok(Issued {
        ca_pem: ca_cert.pem(),
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
        not_after,
    })
}

/// True when a leaf expiring at `not_after` must be renewed: less than a third of `validity`
/// left (or already expired, or never recorded).
pub fn needs_renewal(not_after: Option<SystemTime>, validity: Duration, now: SystemTime) -> bool {
    match not_after {
        Some(not_after) => not_after
            .duration_since(now)
            .map_or(true, |left| left < validity / 3),
        None => true,
    }
}

/// The CA bundle after a renewal: the new CA, then the previous one (a replica may still serve
/// the old leaf until it reloads the Secret).
pub fn bundle(new_ca: &str, previous_ca: Option<&str>) -> String {
    let mut bundle = new_ca.trim_end().to_owned();
    bundle.push('\n');
    if let Some(previous) = previous_ca.and_then(first_pem) {
        bundle.push_str(previous.trim_end());
        bundle.push('\n');
    }
    bundle
}

/// The first PEM block of `text` (the current CA of a bundle).
fn first_pem(text: &str) -> Option<&str> {
    const END: &str = "-----END CERTIFICATE-----";
    let start = text.find("-----BEGIN CERTIFICATE-----")?;
    let end = text[start..].find(END)? + start + END.len();
    Some(&text[start..end])
}

/// The names a Service `service` in `namespace` is reached by, plus `extra` ones.
pub fn service_names(service: &str, namespace: &str, extra: &[String]) -> Vec<String> {
    let mut names = vec![
        format!("{service}.{namespace}.svc"),
        format!("{service}.{namespace}.svc.cluster.local"),
        format!("{service}.{namespace}"),
        service.to_owned(),
    ];
    names.extend(extra.iter().cloned());
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issues_a_ca_and_a_leaf_for_the_service_and_addresses() -> Result<(), rcgen::Error> {
        let names = service_names("hook", "ops", &["127.0.0.1".to_owned()]);
        let now = SystemTime::now();
        let issued = issue(&names, now, Duration::from_secs(3600))?;
        assert!(issued.ca_pem.starts_with("-----BEGIN CERTIFICATE-----"));
        assert!(issued.cert_pem.starts_with("-----BEGIN CERTIFICATE-----"));
        assert!(issued.key_pem.starts_with("-----BEGIN PRIVATE KEY-----"));
        assert_ne!(issued.ca_pem, issued.cert_pem);
        assert_eq!(issued.not_after, now + Duration::from_secs(3600));
        assert!(!format!("{issued:?}").contains("PRIVATE"));
        Ok(())
    }

    #[test]
    fn renews_with_a_third_of_the_validity_left() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let validity = Duration::from_secs(300);
        let at = |secs| Some(now + Duration::from_secs(secs));
        assert!(!needs_renewal(at(200), validity, now));
        assert!(!needs_renewal(at(101), validity, now));
        assert!(needs_renewal(at(99), validity, now));
        assert!(needs_renewal(
            Some(now - Duration::from_secs(1)),
            validity,
            now
        ));
        assert!(needs_renewal(None, validity, now));
    }

    #[test]
    fn the_bundle_keeps_one_previous_ca() {
        let a = "-----BEGIN CERTIFICATE-----\nA\n-----END CERTIFICATE-----\n";
        let b = "-----BEGIN CERTIFICATE-----\nB\n-----END CERTIFICATE-----";
        assert_eq!(bundle(a, None), a);
        let ab = bundle(a, Some(b));
        assert_eq!(ab, format!("{a}{b}\n"));
        // Renewing again drops the oldest: only the current and the one before.
        let c = "-----BEGIN CERTIFICATE-----\nC\n-----END CERTIFICATE-----\n";
        assert_eq!(bundle(c, Some(&ab)), format!("{c}{a}"));
    }
}
