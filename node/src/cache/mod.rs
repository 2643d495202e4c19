//! The node-local, content-addressed download cache (interface only until merged).
use std::{path::PathBuf, sync::Arc, time::Duration};
pub struct CacheConfig {
    pub dir: PathBuf,
    pub max_bytes: u64,
    pub metadata_ttl: Duration,
    pub upstreams: Upstreams,
}
pub struct Upstreams {
    pub clawhub: String,
    pub npm: String,
    pub pypi: String,
    pub python: Option<String>,
    pub ollama: String,
}
#[derive(Debug, thiserror::Error)]
#[error("cache")]
pub struct CacheError;
pub struct Cache;
impl Cache {
    pub async fn open(
        _config: CacheConfig,
        _registry: &mut prometheus_client::registry::Registry,
    ) -> Result<Arc<Cache>, CacheError> {
        Ok(Arc::new(Cache))
    }
    pub fn router(self: &Arc<Self>) -> axum::Router {
        axum::Router::new()
    }
}
