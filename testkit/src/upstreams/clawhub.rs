//! A loopback ClawHub registry that follows the `/api/v1` protocol `clawhub install` uses:
//! `GET /api/v1/skills/{slug}` (with moderation), `GET /api/v1/skills/{slug}/versions/{version}`,
//! `GET /api/v1/download?slug=&version=` (zip; 404 unknown, 410 removed), 429 with
//! `Retry-After` on demand, and `/.well-known/clawhub.json`.

use std::{
    collections::{BTreeMap, HashMap},
    net::SocketAddr,
    sync::{Arc, Mutex},
};

use axum::{
    Json, Router,
    extract::{Path, Query, State},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};
use serde_json::{Value, json};

/// ClawHub's moderation state of a skill.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Moderation {
    Clean,
    Suspicious,
    Blocked,
}

/// A published skill.
#[derive(Debug, Clone)]
pub struct Skill {
    pub owner: String,
    pub moderation: Moderation,
    /// Versions in publication order (the last is `latestVersion`), with their zip.
    pub versions: Vec<(String, Vec<u8>)>,
    /// Versions soft-deleted (download answers 410).
    pub removed: Vec<String>,
}

/// What the registry holds and what it saw.
#[derive(Debug, Default)]
pub struct Hub {
    pub skills: HashMap<String, Skill>,
    /// Download requests still to answer with 429 `Retry-After: 1`.
    pub rate_limit_downloads: usize,
    /// Every request served, as `METHOD path?query` (its length is the number of requests).
    pub requests: Vec<String>,
    /// `Authorization` headers seen.
    pub authorizations: Vec<String>,
}

/// Shared handle.
pub type SharedHub = Arc<Mutex<Hub>>;

impl Hub {
    /// Download requests so far (answered or not).
    pub fn downloads(&self) -> usize {
        self.requests
            .iter()
            .filter(|r| r.starts_with("GET /api/v1/download"))
            .count()
    }
}

/// A skill that no version was removed from.
pub fn skill(owner: &str, moderation: Moderation, versions: &[(&str, Vec<u8>)]) -> Skill {
    Skill {
        owner: owner.into(),
        moderation,
        versions: versions
            .iter()
            .map(|(v, z)| ((*v).to_owned(), z.clone()))
            .collect(),
        removed: Vec::new(),
    }
}

fn lock(hub: &SharedHub) -> std::sync::MutexGuard<'_, Hub> {
    hub.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn seen(hub: &SharedHub, headers: &HeaderMap, line: String) {
    let mut hub = lock(hub);
    hub.requests.push(line);
    if let Some(auth) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        hub.authorizations.push(auth.to_owned());
    }
}

fn not_found(message: &str) -> Response {
    (StatusCode::NOT_FOUND, Json(json!({ "error": message }))).into_response()
}

async fn well_known(State(hub): State<SharedHub>, headers: HeaderMap) -> Json<Value> {
    seen(&hub, &headers, "GET /.well-known/clawhub.json".to_owned());
    Json(json!({"apiBase": "/", "minCliVersion": "0.1.0"}))
}

async fn skill_meta(
    State(hub): State<SharedHub>,
    Path(slug): Path<String>,
    headers: HeaderMap,
) -> Response {
    seen(&hub, &headers, format!("GET /api/v1/skills/{slug}"));
    let hub = lock(&hub);
    let Some(skill) = hub.skills.get(&slug) else {
        return not_found("Skill not found");
    };
    let latest = skill
        .versions
        .last()
        .map(|(v, _)| v.clone())
        .unwrap_or_default();
    let moderation = match skill.moderation {
        Moderation::Clean => Value::Null,
        Moderation::Suspicious => json!({"isSuspicious": true, "isMalwareBlocked": false,
            "verdict": "suspicious", "reasonCodes": ["external-api"], "summary": "calls unknown hosts"}),
        Moderation::Blocked => json!({"isSuspicious": true, "isMalwareBlocked": true,
            "verdict": "malicious", "reasonCodes": ["dropper"], "summary": "installs a stealer"}),
    };
    Json(json!({
        "skill": {"slug": slug, "displayName": slug, "summary": "test skill", "tags": {"latest": latest},
                  "stats": {"downloads": 1}, "createdAt": 1_700_000_000_000u64, "updatedAt": 1_700_000_000_000u64},
        "latestVersion": {"version": latest, "createdAt": 1_700_000_000_000u64, "changelog": ""},
        "owner": {"handle": skill.owner, "displayName": skill.owner, "image": null},
        "moderation": moderation,
    }))
    .into_response()
}

async fn skill_version(
    State(hub): State<SharedHub>,
    Path((slug, version)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    seen(
        &hub,
        &headers,
        format!("GET /api/v1/skills/{slug}/versions/{version}"),
    );
    let hub = lock(&hub);
    match hub.skills.get(&slug).filter(|s| s.versions.iter().any(|(v, _)| *v == version)) {
        Some(_) => Json(json!({
            "version": {"version": version, "createdAt": 1_700_000_000_000u64, "changelog": "", "files": []},
            "skill": {"slug": slug, "displayName": slug},
        }))
        .into_response(),
        None => not_found("Version not found"),
    }
}

async fn download(
    State(hub): State<SharedHub>,
    Query(query): Query<BTreeMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let slug = query.get("slug").cloned().unwrap_or_default();
    let version = query.get("version").cloned().unwrap_or_default();
    seen(
        &hub,
        &headers,
        format!("GET /api/v1/download?slug={slug}&version={version}"),
    );
    let mut hub = lock(&hub);
    if hub.rate_limit_downloads > 0 {
        hub.rate_limit_downloads -= 1;
        return (
            StatusCode::TOO_MANY_REQUESTS,
            [
                (header::RETRY_AFTER, "1"),
                (
                    header::HeaderName::from_static("x-ratelimit-remaining"),
                    "0",
                ),
            ],
            "Rate limit exceeded",
        )
            .into_response();
    }
    let Some(skill) = hub.skills.get(&slug) else {
        return not_found("Skill not found");
    };
    if skill.removed.contains(&version) {
        return (StatusCode::GONE, Json(json!({"error": "Version removed"}))).into_response();
    }
    match skill.versions.iter().find(|(v, _)| *v == version) {
        Some((_, zip)) => {
            ([(header::CONTENT_TYPE, "application/zip")], zip.clone()).into_response()
        }
        None => not_found("Version not found"),
    }
}

/// Starts the registry on a free loopback port ([`super::LOOPBACK`]); returns its base URL and
/// the shared state.
pub async fn start(hub: Hub) -> (String, SharedHub) {
    start_on(super::LOOPBACK, hub).await
}

/// Starts the registry on `addr`; returns its base URL (`http://<ip>:<port>`, see
/// [`super`]) and the shared state.
pub async fn start_on(addr: SocketAddr, hub: Hub) -> (String, SharedHub) {
    let hub = Arc::new(Mutex::new(hub));
    let (listener, base) = super::listen(addr).await;
    let router = Router::new()
        .route("/.well-known/clawhub.json", get(well_known))
        .route("/api/v1/skills/{slug}", get(skill_meta))
        .route(
            "/api/v1/skills/{slug}/versions/{version}",
            get(skill_version),
        )
        .route("/api/v1/download", get(download))
        .with_state(Arc::clone(&hub));
    let log = Arc::clone(&hub);
    let router = super::log_unrouted(router, move |line| lock(&log).requests.push(line));
    super::spawn(listener, router);
    (base, hub)
}
