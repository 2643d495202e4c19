//! A client of the Ollama sidecar's API: `/api/version`, `/api/tags`, streaming `/api/pull`,
//! `/api/copy`, `/api/delete`, `/api/generate` without a prompt (loads a model) and `/api/ps`.

use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::json;

use super::{
    progress::{Lines, Progress, PullEvent, parse_line},
    vram::PsModel,
};
use crate::pipeline::http::{self, HttpError, RetryPolicy};

/// A pull stream silent for this long is considered stalled.
const STALL: Duration = Duration::from_secs(300);

/// Why talking to Ollama failed.
#[derive(Debug, thiserror::Error)]
pub enum OllamaError {
    /// The sidecar never answered.
    #[error("Ollama at {host} did not answer /api/version within {}s (last error: {last})", .waited.as_secs())]
    Unreachable {
        host: String,
        waited: Duration,
        last: String,
    },
    #[error(transparent)]
    Http(#[from] HttpError),
    /// Not the documented JSON.
    #[error("unexpected answer from {url}")]
    Decode {
        url: String,
        #[source]
        error: serde_json::Error,
    },
    /// Ollama refused or failed the pull (non-2xx, or an `{"error"}` line in the stream).
    #[error("pulling {model} failed: {message}")]
    Pull { model: String, message: String },
    /// Loading the model failed.
    #[error("loading {model} failed: {message}")]
    Load { model: String, message: String },
    /// `/api/copy` failed.
    #[error("copying {source_model} to {destination} failed: {message}")]
    Copy {
        source_model: String,
        destination: String,
        message: String,
    },
    /// `/api/delete` failed.
    #[error("deleting {model} failed: {message}")]
    Delete { model: String, message: String },
    /// The direct pull that followed a failed pull through the mirror failed too.
    #[error("{direct} (after the pull through the mirror failed: {mirror})")]
    AfterMirror {
        direct: Box<OllamaError>,
        mirror: String,
    },
    /// The stream stopped without `success`.
    #[error("the pull stream of {model} ended before success")]
    Truncated { model: String },
    /// No bytes for [`STALL`].
    #[error("the pull of {model} stalled (no progress for {}s)", STALL.as_secs())]
    Stalled { model: String },
}

/// A model of `GET /api/tags`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct TagModel {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub digest: String,
    #[serde(default)]
    pub size: i64,
}

#[derive(Deserialize)]
struct Tags {
    #[serde(default)]
    models: Vec<TagModel>,
}

#[derive(Deserialize)]
struct Ps {
    #[serde(default)]
    models: Vec<PsModel>,
}

#[derive(Deserialize)]
struct Version {
    version: String,
}

/// The error message of an Ollama error body (`{"error": "..."}`), else the body.
fn error_message(body: &str) -> String {
    #[derive(Deserialize)]
    struct Body {
        error: String,
    }
    serde_json::from_str::<Body>(body)
        .map(|b| b.error)
        .unwrap_or_else(|_| body.trim().to_owned())
}

/// The sidecar's API.
#[derive(Debug, Clone)]
pub struct Ollama<'a> {
    pub http: &'a reqwest::Client,
    /// Base URL, e.g. `http://localhost:11434`.
    pub host: &'a str,
    pub retry: RetryPolicy,
}

impl Ollama<'_> {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.host.trim_end_matches('/'))
    }

    async fn get_json<T: serde::de::DeserializeOwned>(&self, path: &str) -> Result<T, OllamaError> {
        let url = self.url(path);
        let response = http::send(&self.retry, || {
            self.http.get(&url).timeout(Duration::from_secs(30))
        })
        .await?;
        let body = http::body_limited(response, 16 * 1024 * 1024).await?;
        serde_json::from_slice(&body).map_err(|error| OllamaError::Decode { url, error })
    }

    /// `GET /api/version`, once.
    pub async fn version(&self) -> Result<String, OllamaError> {
        let url = self.url("/api/version");
        let once = RetryPolicy {
            attempts: 1,
            ..self.retry
        };
        let response = http::send(&once, || {
            self.http.get(&url).timeout(Duration::from_secs(5))
        })
        .await?;
        let body = http::body_limited(response, 64 * 1024).await?;
        let version: Version =
            serde_json::from_slice(&body).map_err(|error| OllamaError::Decode { url, error })?;
        Ok(version.version)
    }

    /// Polls `/api/version` until it answers or `wait` has passed; returns the version.
    pub async fn wait_ready(&self, wait: Duration) -> Result<String, OllamaError> {
        let started = Instant::now();
        let mut delay = Duration::from_millis(100);
        loop {
            match self.version().await {
                Ok(version) => return Ok(version),
                Err(e) if started.elapsed() + delay > wait => {
                    return Err(OllamaError::Unreachable {
                        host: self.host.into(),
                        waited: started.elapsed(),
                        last: crate::pipeline::step::error_chain(&e),
                    });
                }
                Err(_) => {
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(2));
                }
            }
        }
    }

    /// `GET /api/tags`.
    pub async fn tags(&self) -> Result<Vec<TagModel>, OllamaError> {
        Ok(self.get_json::<Tags>("/api/tags").await?.models)
    }

    /// `GET /api/ps`.
    pub async fn ps(&self) -> Result<Vec<PsModel>, OllamaError> {
        Ok(self.get_json::<Ps>("/api/ps").await?.models)
    }

    /// `POST /api/pull` streaming; `progress` sees the byte counts as they change.
    pub async fn pull(
        &self,
        model: &str,
        progress: impl FnMut(&Progress),
    ) -> Result<(), OllamaError> {
        self.pull_as(model, false, model, progress).await
    }

    /// `POST /api/pull` of `name` (`insecure`: the registry in the name is plain HTTP); errors
    /// name the model `shown_as`.
    pub async fn pull_as(
        &self,
        name: &str,
        insecure: bool,
        shown_as: &str,
        mut progress: impl FnMut(&Progress),
    ) -> Result<(), OllamaError> {
        let url = self.url("/api/pull");
        let body = if insecure {
            json!({"model": name, "insecure": true, "stream": true})
        } else {
            json!({"model": name, "stream": true})
        };
        let model = shown_as;
        let failed = |message: String| OllamaError::Pull {
            model: model.into(),
            message,
        };
        let mut response = http::send(&self.retry, || self.http.post(&url).json(&body))
            .await
            .map_err(|e| match e {
                HttpError::Status { status, body, .. } => {
                    failed(format!("{status}: {}", error_message(&body)))
                }
                e => e.into(),
            })?;
        let mut lines = Lines::default();
        let mut state = Progress::default();
        let mut handle = |line: &str, state: &mut Progress| -> Result<bool, OllamaError> {
            match parse_line(line)
                .map_err(|e| failed(format!("unreadable stream line {line:?}: {e}")))?
            {
                Some(PullEvent::Error(message)) => Err(failed(message)),
                Some(PullEvent::Layer {
                    digest,
                    total,
                    completed,
                }) => {
                    state.layer(&digest, total, completed);
                    progress(state);
                    Ok(false)
                }
                Some(PullEvent::Success) => {
                    state.complete();
                    progress(state);
                    Ok(true)
                }
                Some(PullEvent::Status(_)) | None => Ok(false),
            }
        };
        loop {
            let chunk = tokio::time::timeout(STALL, response.chunk())
                .await
                .map_err(|_| OllamaError::Stalled {
                    model: model.into(),
                })?
                .map_err(|source| HttpError::Body {
                    url: url.clone(),
                    source,
                })?;
            let Some(chunk) = chunk else { break };
            for line in lines.push(&chunk) {
                if handle(&line, &mut state)? {
                    return Ok(());
                }
            }
        }
        match lines.finish() {
            Some(line) if handle(&line, &mut state)? => Ok(()),
            _ => Err(OllamaError::Truncated {
                model: model.into(),
            }),
        }
    }

    /// `POST /api/copy`: `source` also under the name `destination`.
    pub async fn copy(&self, source: &str, destination: &str) -> Result<(), OllamaError> {
        let url = self.url("/api/copy");
        let body = json!({"source": source, "destination": destination});
        http::send(&self.retry, || {
            self.http
                .post(&url)
                .json(&body)
                .timeout(Duration::from_secs(60))
        })
        .await
        .map_err(|e| match e {
            HttpError::Status { status, body, .. } => OllamaError::Copy {
                source_model: source.into(),
                destination: destination.into(),
                message: format!("{status}: {}", error_message(&body)),
            },
            e => e.into(),
        })?;
        Ok(())
    }

    /// `DELETE /api/delete`: removes the name `model` (blobs other names use stay).
    pub async fn delete(&self, model: &str) -> Result<(), OllamaError> {
        let url = self.url("/api/delete");
        let body = json!({"model": model});
        http::send(&self.retry, || {
            self.http
                .delete(&url)
                .json(&body)
                .timeout(Duration::from_secs(60))
        })
        .await
        .map_err(|e| match e {
            HttpError::Status { status, body, .. } => OllamaError::Delete {
                model: model.into(),
                message: format!("{status}: {}", error_message(&body)),
            },
            e => e.into(),
        })?;
        Ok(())
    }

    /// Loads `model` into memory without generating (`/api/generate` with no prompt), kept for
    /// five minutes.
    pub async fn load(&self, model: &str) -> Result<(), OllamaError> {
        let url = self.url("/api/generate");
        let body = json!({"model": model, "keep_alive": "5m", "stream": false});
        http::send(&self.retry, || {
            self.http
                .post(&url)
                .json(&body)
                .timeout(Duration::from_secs(900))
        })
        .await
        .map_err(|e| match e {
            HttpError::Status { status, body, .. } => OllamaError::Load {
                model: model.into(),
                message: format!("{status}: {}", error_message(&body)),
            },
            e => e.into(),
        })?;
        Ok(())
    }
}
