//! A ClawHub registry client (the `/api/v1` routes `clawhub install` uses: skill metadata,
//! version check, zip download) and the moderation gate, decided without I/O.

use std::time::Duration;

use reqwest::StatusCode;
use serde::Deserialize;

use crate::pipeline::http::{self, HttpError, RetryPolicy};

/// Largest archive accepted (ClawHub caps a bundle at 50 MB).
pub const MAX_ARCHIVE_BYTES: u64 = 50 * 1024 * 1024;

/// `GET /api/v1/skills/{slug}`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SkillMeta {
    #[serde(default)]
    pub latest_version: Option<VersionInfo>,
    #[serde(default)]
    pub owner: Option<Owner>,
    #[serde(default)]
    pub metadata: Option<Platform>,
    #[serde(default)]
    pub moderation: Option<Moderation>,
}

/// A published version.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct VersionInfo {
    pub version: String,
}

/// The publisher.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Owner {
    #[serde(default)]
    pub handle: Option<String>,
}

/// Platform requirements.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Platform {
    #[serde(default)]
    pub os: Option<Vec<String>>,
}

/// ClawHub's moderation verdict (VirusTotal Code Insight and reports).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Moderation {
    #[serde(default)]
    pub is_suspicious: bool,
    #[serde(default)]
    pub is_malware_blocked: bool,
    #[serde(default)]
    pub summary: Option<String>,
}

/// Why a skill may not be installed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GateError {
    /// ClawHub blocked the skill as malware.
    #[error("refused: ClawHub flags {slug} as malware{}", note(.summary))]
    Blocked {
        slug: String,
        summary: Option<String>,
    },
    /// ClawHub flags the skill as suspicious and the instance does not allow those.
    #[error(
        "refused: ClawHub flags {slug} as suspicious{}; set OPENCLAW_ALLOW_SUSPICIOUS_SKILLS=true to install it anyway",
        note(.summary)
    )]
    Suspicious {
        slug: String,
        summary: Option<String>,
    },
    /// The skill belongs to another publisher than the reference names.
    #[error("refused: {slug} on ClawHub belongs to @{actual}, not @{expected}")]
    OwnerMismatch {
        slug: String,
        expected: String,
        actual: String,
    },
    /// The skill does not support Linux.
    #[error("refused: {slug} supports only {os:?}")]
    Platform { slug: String, os: Vec<String> },
    /// No version to install.
    #[error("{slug} has no published version")]
    NoVersion { slug: String },
}

fn note(summary: &Option<String>) -> String {
    summary
        .as_deref()
        .map(|s| format!(" ({s})"))
        .unwrap_or_default()
}

/// Decides whether `slug` may be installed, and which version: the requested one (`latest`
/// meaning none) or the newest.
pub fn gate(
    slug: &str,
    meta: &SkillMeta,
    owner: Option<&str>,
    requested: Option<&str>,
    allow_suspicious: bool,
) -> Result<String, GateError> {
    let moderation = meta.moderation.clone().unwrap_or_default();
    if moderation.is_malware_blocked {
        return Err(GateError::Blocked {
            slug: slug.into(),
            summary: moderation.summary,
        });
    }
    if moderation.is_suspicious && !allow_suspicious {
        return Err(GateError::Suspicious {
            slug: slug.into(),
            summary: moderation.summary,
        });
    }
    if let Some(expected) = owner {
        let actual = meta
            .owner
            .as_ref()
            .and_then(|o| o.handle.clone())
            .unwrap_or_default();
        if !actual.eq_ignore_ascii_case(expected) {
            return Err(GateError::OwnerMismatch {
                slug: slug.into(),
                expected: expected.into(),
                actual,
            });
        }
    }
    if let Some(os) = meta.metadata.as_ref().and_then(|m| m.os.clone())
        && !os.is_empty()
        && !os.iter().any(|o| o == "linux")
    {
        return Err(GateError::Platform {
            slug: slug.into(),
            os,
        });
    }
    match requested.filter(|v| *v != "latest") {
        Some(version) => Ok(version.to_owned()),
        None => meta
            .latest_version
            .as_ref()
            .map(|v| v.version.clone())
            .ok_or_else(|| GateError::NoVersion { slug: slug.into() }),
    }
}

/// Why talking to ClawHub failed.
#[derive(Debug, thiserror::Error)]
pub enum ClawHubError {
    /// No such skill.
    #[error("skill {slug} not found on {registry}")]
    NotFound { slug: String, registry: String },
    /// No such version.
    #[error("version {version} of {slug} not found on {registry}")]
    VersionNotFound {
        slug: String,
        version: String,
        registry: String,
    },
    /// The version was deleted.
    #[error("{slug}@{version} was removed from {registry}")]
    Gone {
        slug: String,
        version: String,
        registry: String,
    },
    /// Any other HTTP failure.
    #[error(transparent)]
    Http(#[from] HttpError),
    /// An answer that is not the documented JSON.
    #[error("unexpected answer from {url}")]
    Decode {
        url: String,
        #[source]
        error: serde_json::Error,
    },
}

/// A ClawHub registry.
#[derive(Debug, Clone)]
pub struct ClawHub<'a> {
    pub http: &'a reqwest::Client,
    /// Base URL, e.g. `https://clawhub.ai`.
    pub registry: &'a str,
    pub token: Option<&'a str>,
    pub retry: RetryPolicy,
}

/// Percent-encodes a path segment or query value.
pub fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

impl ClawHub<'_> {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.registry.trim_end_matches('/'))
    }

    async fn get(&self, url: &str, json: bool) -> Result<reqwest::Response, HttpError> {
        http::send(&self.retry, || {
            let timeout = if json {
                Duration::from_secs(30)
            } else {
                Duration::from_secs(300)
            };
            let mut request = self.http.get(url).timeout(timeout);
            if json {
                request = request.header(reqwest::header::ACCEPT, "application/json");
            }
            match self.token {
                Some(token) => request.bearer_auth(token),
                None => request,
            }
        })
        .await
    }

    /// `GET /api/v1/skills/{slug}`.
    pub async fn skill(&self, slug: &str) -> Result<SkillMeta, ClawHubError> {
        let url = self.url(&format!("/api/v1/skills/{}", encode(slug)));
        let response = self.get(&url, true).await.map_err(|e| match e {
            HttpError::Status {
                status: StatusCode::NOT_FOUND,
                ..
            } => ClawHubError::NotFound {
                slug: slug.into(),
                registry: self.registry.into(),
            },
            e => e.into(),
        })?;
        let body = http::body_limited(response, 4 * 1024 * 1024).await?;
        serde_json::from_slice(&body).map_err(|error| ClawHubError::Decode { url, error })
    }

    /// `GET /api/v1/skills/{slug}/versions/{version}`: fails unless the version exists.
    pub async fn check_version(&self, slug: &str, version: &str) -> Result<(), ClawHubError> {
        let url = self.url(&format!(
            "/api/v1/skills/{}/versions/{}",
            encode(slug),
            encode(version)
        ));
        match self.get(&url, true).await {
            Ok(_) => Ok(()),
            Err(HttpError::Status {
                status: StatusCode::NOT_FOUND,
                ..
            }) => Err(ClawHubError::VersionNotFound {
                slug: slug.into(),
                version: version.into(),
                registry: self.registry.into(),
            }),
            Err(e) => Err(e.into()),
        }
    }

    /// `GET /api/v1/download?slug=&version=`: the zip.
    pub async fn download(&self, slug: &str, version: &str) -> Result<Vec<u8>, ClawHubError> {
        let url = self.url(&format!(
            "/api/v1/download?slug={}&version={}",
            encode(slug),
            encode(version)
        ));
        let response = self.get(&url, false).await.map_err(|e| match e {
            HttpError::Status {
                status: StatusCode::GONE,
                ..
            } => ClawHubError::Gone {
                slug: slug.into(),
                version: version.into(),
                registry: self.registry.into(),
            },
            HttpError::Status {
                status: StatusCode::NOT_FOUND,
                ..
            } => ClawHubError::VersionNotFound {
                slug: slug.into(),
                version: version.into(),
                registry: self.registry.into(),
            },
            e => e.into(),
        })?;
        Ok(http::body_limited(response, MAX_ARCHIVE_BYTES).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(json: serde_json::Value) -> SkillMeta {
        serde_json::from_value(json).unwrap_or_default()
    }

    #[test]
    fn moderation_gate() {
        let clean = meta(serde_json::json!({
            "skill": {"slug": "weather"}, "latestVersion": {"version": "1.2.0"},
            "owner": {"handle": "steipete"}, "moderation": null
        }));
        assert_eq!(
            gate("weather", &clean, None, None, false),
            Ok("1.2.0".into())
        );
        assert_eq!(
            gate("weather", &clean, Some("SteiPete"), Some("1.0.0"), false),
            Ok("1.0.0".into())
        );
        assert_eq!(
            gate("weather", &clean, None, Some("latest"), false),
            Ok("1.2.0".into())
        );
        assert!(matches!(
            gate("weather", &clean, Some("other"), None, false),
            Err(GateError::OwnerMismatch { .. })
        ));

        let blocked = meta(serde_json::json!({"latestVersion": {"version": "1"},
            "moderation": {"isSuspicious": true, "isMalwareBlocked": true, "summary": "AMOS dropper"}}));
        let error = gate("clawhub1", &blocked, None, None, true)
            .err()
            .map(|e| e.to_string());
        assert_eq!(
            error.as_deref(),
            Some("refused: ClawHub flags clawhub1 as malware (AMOS dropper)")
        );

        let suspicious = meta(serde_json::json!({"latestVersion": {"version": "1"},
            "moderation": {"isSuspicious": true, "isMalwareBlocked": false}}));
        assert!(matches!(
            gate("s", &suspicious, None, None, false),
            Err(GateError::Suspicious { .. })
        ));
        assert_eq!(gate("s", &suspicious, None, None, true), Ok("1".into()));

        let mac = meta(
            serde_json::json!({"latestVersion": {"version": "1"}, "metadata": {"os": ["darwin"]}}),
        );
        assert!(matches!(
            gate("m", &mac, None, None, false),
            Err(GateError::Platform { .. })
        ));
        assert!(matches!(
            gate("n", &SkillMeta::default(), None, None, false),
            Err(GateError::NoVersion { .. })
        ));
    }

    #[test]
    fn encodes_query_values() {
        assert_eq!(encode("1.0.0+build"), "1.0.0%2Bbuild");
        assert_eq!(encode("a b/c"), "a%20b%2Fc");
    }
}
