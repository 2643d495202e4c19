//! The webhook's HTTPS server: `POST /validate` answers the API server's AdmissionReviews for
//! OpenClawInstances; the certificate is reloaded every [`REFRESH`] from its source.

use std::{
    future::Future,
    net::SocketAddr,
    path::PathBuf,
    sync::{Arc, atomic::Ordering},
    time::Duration,
};

use anyhow::{Context as _, Result};
use axum::{Json, Router, extract::State, routing::post};
use hyper_util::{rt::TokioIo, service::TowerToHyperService};
use k8s_openapi::api::core::v1::{ConfigMap, EnvFromSource, Secret};
use kube::{
    Api, Client,
    core::{
        DynamicObject,
        admission::{AdmissionRequest, AdmissionResponse, AdmissionReview},
    },
};
use openclaw_api::OpenClawInstance;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use super::{
    managed::{self, Managed, Serving},
    review::{self, Context},
    tls::{self, CertSlot},
};
use crate::{build::ReferenceKind, controller::dereference, http::Health, metrics::Metrics};

/// How often the certificate's source is checked (renewal, a rotated mounted Secret).
pub const REFRESH: Duration = Duration::from_secs(30);
/// Longest wait for an `envFrom` source while reviewing: the API server's budget is 5 s.
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(2);

/// Where the serving certificate comes from.
#[derive(Debug, Clone)]
pub enum CertSource {
    /// `tls.crt` and `tls.key` in a directory: a mounted Secret that cert-manager renews.
    Dir(PathBuf),
    /// Issued and renewed by the operator itself.
    Managed(Managed),
}

/// How the webhook is served.
#[derive(Debug, Clone)]
pub struct WebhookSettings {
    pub bind: SocketAddr,
    pub certs: CertSource,
}

#[derive(Clone)]
struct AppState {
    client: Client,
    metrics: Arc<Metrics>,
}

/// Serves until `stop` resolves.
pub async fn serve(
    settings: WebhookSettings,
    client: Client,
    metrics: Arc<Metrics>,
    health: Arc<Health>,
    stop: impl Future<Output = ()> + Send + 'static,
) -> Result<()> {
    let slot = Arc::new(CertSlot::default());
    let acceptor = TlsAcceptor::from(Arc::new(tls::server_config(slot.clone())?));
    let listener = TcpListener::bind(settings.bind)
        .await
        .with_context(|| format!("binding the webhook to {}", settings.bind))?;
    tracing::info!(address = %settings.bind, "webhook listening");
    let refresher = tokio::spawn(refresh(
        settings.certs.clone(),
        client.clone(),
        slot,
        health,
    ));
    let router = Router::new()
        .route("/validate", post(validate))
        .with_state(AppState { client, metrics });
    tokio::pin!(stop);
    loop {
        let (stream, peer) = tokio::select! {
            () = &mut stop => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    tracing::warn!(%error, "webhook accept failed");
                    continue;
                }
            },
        };
        let (acceptor, router) = (acceptor.clone(), router.clone());
        tokio::spawn(async move {
            let tls = match tokio::time::timeout(Duration::from_secs(10), acceptor.accept(stream))
                .await
            {
                Ok(Ok(tls)) => tls,
                Ok(Err(error)) => {
                    tracing::debug!(%peer, %error, "webhook TLS handshake failed");
                    return;
                }
                Err(_) => return,
            };
            let service = TowerToHyperService::new(router);
            if let Err(error) = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(tls), service)
                .await
            {
                tracing::debug!(%peer, %error, "webhook connection ended");
            }
        });
    }
    refresher.abort();
    Ok(())
}

/// Loads the certificate at once, then every [`REFRESH`]; failures are logged and retried (the
/// certificate served so far stays). The replica is ready once a first certificate is served.
async fn refresh(source: CertSource, client: Client, slot: Arc<CertSlot>, health: Arc<Health>) {
    let mut served: Option<Serving> = None;
    loop {
        let loaded = match &source {
            CertSource::Managed(managed) => managed::ensure(&client, managed)
                .await
                .map_err(anyhow::Error::from),
            CertSource::Dir(dir) => read_dir(dir).await,
        };
        match loaded {
            Ok(serving) if served.as_ref() != Some(&serving) => {
                match tls::certified_key(serving.cert_pem.as_bytes(), serving.key_pem.as_bytes()) {
                    Ok(key) => {
                        slot.replace(key);
                        health.ready.store(true, Ordering::Relaxed);
                        tracing::info!("webhook certificate loaded");
                        served = Some(serving);
                    }
                    Err(error) => tracing::warn!(
                        error = &error as &dyn std::error::Error,
                        "the webhook certificate is unusable"
                    ),
                }
            }
            Ok(_) => {}
            Err(error) => tracing::warn!(error = format!("{error:#}"), "webhook certificate"),
        }
        // Retry sooner until a first certificate is served; check often enough that a short
        // validity is renewed in time.
        let every = match &source {
            CertSource::Managed(managed) => REFRESH.min(managed.validity / 6),
            CertSource::Dir(_) => REFRESH,
        };
        let wait = if slot.is_loaded() {
            every
        } else {
            Duration::from_secs(2)
        };
        tokio::time::sleep(wait).await;
    }
}

async fn read_dir(dir: &std::path::Path) -> Result<Serving> {
    let read = |name: &'static str| {
        let path = dir.join(name);
        async move {
            tokio::fs::read_to_string(&path)
                .await
                .with_context(|| format!("reading {}", path.display()))
        }
    };
    Ok(Serving {
        cert_pem: read("tls.crt").await?,
        key_pem: read("tls.key").await?,
    })
}

async fn validate(
    State(state): State<AppState>,
    Json(review): Json<AdmissionReview<OpenClawInstance>>,
) -> Json<AdmissionReview<DynamicObject>> {
    let request: AdmissionRequest<OpenClawInstance> = match review.try_into() {
        Ok(request) => request,
        Err(error) => return Json(AdmissionResponse::invalid(error).into_review()),
    };
    let mut response = AdmissionResponse::from(&request);
    if let Some(instance) = &request.object {
        let namespace = request.namespace.clone().unwrap_or_default();
        let context = Context {
            env_from_names: env_from_names(&state.client, &namespace, &instance.spec.env_from)
                .await,
        };
        let verdict = review::review(&instance.spec, &context);
        let name = request.name.as_str();
        match verdict.denial() {
            Some(denial) => {
                tracing::info!(instance = %format!("{namespace}/{name}"), %denial, "admission denied");
                state.metrics.admission("denied");
                response = response.deny(denial);
            }
            None => state.metrics.admission("allowed"),
        }
        if !verdict.warnings.is_empty() {
            response.warnings = Some(verdict.warnings);
        }
    }
    Json(response.into_review())
}

/// The variable names `sources` give the agent, or `None` when one could not be read in time.
async fn env_from_names(
    client: &Client,
    namespace: &str,
    sources: &[EnvFromSource],
) -> Option<Vec<String>> {
    let secrets: Api<Secret> = Api::namespaced(client.clone(), namespace);
    let config_maps: Api<ConfigMap> = Api::namespaced(client.clone(), namespace);
    let mut names = Vec::new();
    for source in sources {
        let (kind, name) = match (&source.secret_ref, &source.config_map_ref) {
            (Some(secret), _) => (ReferenceKind::Secret, &secret.name),
            (None, Some(map)) => (ReferenceKind::ConfigMap, &map.name),
            (None, None) => continue,
        };
        let found = tokio::time::timeout(
            LOOKUP_TIMEOUT,
            dereference::content(&secrets, &config_maps, kind, name),
        )
        .await
        .ok()?
        .ok()?;
        let prefix = source.prefix.as_deref().unwrap_or_default();
        names.extend(
            found
                .unwrap_or_default()
                .into_keys()
                .map(|key| format!("{prefix}{key}")),
        );
    }
    Some(names)
}
