//! TLS for the webhook: a rustls server whose certificate can be replaced while it serves (a
//! renewed Secret, a cert-manager rotation), without dropping the listener.

use std::sync::{Arc, RwLock};

use tokio_rustls::rustls::{
    self, ServerConfig,
    crypto::ring,
    pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject},
    server::{ClientHello, ResolvesServerCert},
    sign::CertifiedKey,
};

/// Why a certificate could not be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("the certificate PEM holds no certificate")]
    NoCertificate,
    #[error("invalid certificate PEM")]
    Certificate(#[source] rustls::pki_types::pem::Error),
    #[error("invalid private key PEM")]
    Key(#[source] rustls::pki_types::pem::Error),
    #[error("unsupported private key")]
    Unsupported(#[source] rustls::Error),
    #[error("invalid TLS configuration")]
    Config(#[source] rustls::Error),
}

/// A certificate chain and key, parsed and ready to sign handshakes.
pub fn certified_key(cert_pem: &[u8], key_pem: &[u8]) -> Result<CertifiedKey, TlsError> {
    let chain = CertificateDer::pem_slice_iter(cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(TlsError::Certificate)?;
    if chain.is_empty() {
        return Err(TlsError::NoCertificate);
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(TlsError::Key)?;
    let signer = ring::sign::any_supported_type(&key).map_err(TlsError::Unsupported)?;
    Ok(CertifiedKey::new(chain, signer))
}

/// The certificate being served; empty until the first one is loaded (handshakes then fail).
#[derive(Debug, Default)]
pub struct CertSlot(RwLock<Option<Arc<CertifiedKey>>>);

impl CertSlot {
    /// Serves `key` from the next handshake on.
    pub fn replace(&self, key: CertifiedKey) {
        if let Ok(mut slot) = self.0.write() {
            *slot = Some(Arc::new(key));
        }
    }

    /// True once a certificate is loaded.
    pub fn is_loaded(&self) -> bool {
        self.0.read().is_ok_and(|slot| slot.is_some())
    }
}

impl ResolvesServerCert for CertSlot {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.0.read().ok()?.clone()
    }
}

/// A TLS 1.2/1.3 server configuration serving whatever `slot` holds, HTTP/1.1 only.
pub fn server_config(slot: Arc<CertSlot>) -> Result<ServerConfig, TlsError> {
    let mut config = ServerConfig::builder_with_provider(Arc::new(ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(TlsError::Config)?
        .with_no_client_auth()
        .with_cert_resolver(slot);
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::webhook::certs;

    #[test]
    fn an_issued_certificate_loads_and_garbage_does_not() -> Result<(), Box<dyn std::error::Error>>
    {
        let issued = certs::issue(
            &["hook.ops.svc".to_owned()],
            std::time::SystemTime::now(),
            std::time::Duration::from_secs(60),
        )?;
        let key = certified_key(issued.cert_pem.as_bytes(), issued.key_pem.as_bytes())?;
        assert_eq!(key.cert.len(), 1);
        let slot = CertSlot::default();
        assert!(!slot.is_loaded());
        slot.replace(key);
        assert!(slot.is_loaded());
        assert!(matches!(
            certified_key(b"nothing", issued.key_pem.as_bytes()),
            Err(TlsError::NoCertificate)
        ));
        assert!(certified_key(issued.cert_pem.as_bytes(), b"nothing").is_err());
        server_config(Arc::new(slot))?;
        Ok(())
    }
}
