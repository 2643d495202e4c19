//! Reading Ollama's `/api/pull` stream without I/O: NDJSON lines split across chunks, per-layer
//! progress summed over distinct digests, and the in-stream `{"error": ...}` line that arrives
//! after a 200 status.

use std::collections::BTreeMap;

use serde::Deserialize;

/// One meaningful line of the stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PullEvent {
    /// A phase (`pulling manifest`, `verifying sha256 digest`, `writing manifest`...).
    Status(String),
    /// Progress of one layer; `completed` is absent until bytes arrive.
    Layer {
        digest: String,
        total: i64,
        completed: i64,
    },
    /// The pull finished.
    Success,
    /// Ollama reported a failure in the stream.
    Error(String),
}

#[derive(Deserialize)]
struct Line {
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    digest: Option<String>,
    #[serde(default)]
    total: Option<i64>,
    #[serde(default)]
    completed: Option<i64>,
    #[serde(default)]
    error: Option<String>,
}

/// Parses one line; blank lines give `None`.
pub fn parse_line(line: &str) -> Result<Option<PullEvent>, serde_json::Error> {
    if line.trim().is_empty() {
        return Ok(None);
    }
    let line: Line = serde_json::from_str(line)?;
    if let Some(error) = line.error {
        return Ok(Some(PullEvent::Error(error)));
    }
    let status = line.status.unwrap_or_default();
    Ok(Some(match (line.digest, line.total) {
        (Some(digest), Some(total)) => PullEvent::Layer {
            digest,
            total,
            completed: line.completed.unwrap_or(0),
        },
        _ if status == "success" => PullEvent::Success,
        _ => PullEvent::Status(status),
    }))
}

/// Splits a byte stream into lines.
#[derive(Debug, Default)]
pub struct Lines {
    pending: Vec<u8>,
}

impl Lines {
    /// Adds a chunk; returns the lines it completed.
    pub fn push(&mut self, chunk: &[u8]) -> Vec<String> {
        self.pending.extend_from_slice(chunk);
        let mut lines = Vec::new();
        while let Some(end) = self.pending.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.pending.drain(..=end).collect();
            lines.push(String::from_utf8_lossy(&line[..end]).into_owned());
        }
        lines
    }

    /// What is left once the stream ended (a last line without newline).
    pub fn finish(self) -> Option<String> {
        (!self.pending.is_empty()).then(|| String::from_utf8_lossy(&self.pending).into_owned())
    }
}

/// Bytes done and to do over all layers seen so far.
#[derive(Debug, Default, Clone)]
pub struct Progress {
    layers: BTreeMap<String, (i64, i64)>,
}

impl Progress {
    /// Takes a layer's progress into account.
    pub fn layer(&mut self, digest: &str, total: i64, completed: i64) {
        let entry = self.layers.entry(digest.to_owned()).or_default();
        *entry = (entry.0.max(completed.min(total)), total);
    }

    /// Bytes downloaded.
    pub fn completed(&self) -> i64 {
        self.layers.values().map(|(c, _)| c).sum()
    }

    /// Bytes announced; `None` before the first layer.
    pub fn total(&self) -> Option<i64> {
        (!self.layers.is_empty()).then(|| self.layers.values().map(|(_, t)| t).sum())
    }

    /// Marks every layer complete (after `success`).
    pub fn complete(&mut self) {
        for (c, t) in self.layers.values_mut() {
            *c = *t;
        }
    }
}

/// A model name as `/api/tags` lists it: `:latest` added when no tag is given, the default
/// registry's prefix removed.
pub fn normalize(name: &str) -> String {
    let name = name.trim();
    let name = name
        .strip_prefix("registry.ollama.ai/library/")
        .unwrap_or(name);
    let last = name.rsplit('/').next().unwrap_or(name);
    if last.contains(':') {
        name.to_owned()
    } else {
        format!("{name}:latest")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_documented_stream_split_anywhere() -> Result<(), serde_json::Error> {
        let stream = concat!(
            "{\"status\":\"pulling manifest\"}\n",
            "{\"status\":\"pulling 6a0746a1ec1a\",\"digest\":\"sha256:6a07\",\"total\":2019377376}\n",
            "{\"status\":\"pulling 6a0746a1ec1a\",\"digest\":\"sha256:6a07\",\"total\":2019377376,\"completed\":1000000000}\n",
            "{\"status\":\"pulling 4fa551d4f938\",\"digest\":\"sha256:4fa5\",\"total\":12403,\"completed\":12403}\n",
            "{\"status\":\"verifying sha256 digest\"}\n{\"status\":\"writing manifest\"}\n{\"status\":\"success\"}"
        );
        let mut lines = Lines::default();
        let mut events = Vec::new();
        for chunk in stream.as_bytes().chunks(7) {
            for line in lines.push(chunk) {
                events.extend(parse_line(&line)?);
            }
        }
        events.extend(
            lines
                .finish()
                .map(|l| parse_line(&l))
                .transpose()?
                .flatten(),
        );
        assert_eq!(events.len(), 7);
        assert_eq!(events[0], PullEvent::Status("pulling manifest".into()));
        assert_eq!(
            events[1],
            PullEvent::Layer {
                digest: "sha256:6a07".into(),
                total: 2_019_377_376,
                completed: 0
            }
        );
        assert_eq!(events[6], PullEvent::Success);
        let mut progress = Progress::default();
        for event in &events {
            if let PullEvent::Layer {
                digest,
                total,
                completed,
            } = event
            {
                progress.layer(digest, *total, *completed);
            }
        }
        assert_eq!(progress.completed(), 1_000_012_403);
        assert_eq!(progress.total(), Some(2_019_389_779));
        progress.complete();
        assert_eq!(progress.completed(), 2_019_389_779);
        Ok(())
    }

    #[test]
    fn an_error_line_is_an_error() -> Result<(), serde_json::Error> {
        assert_eq!(
            parse_line("{\"error\":\"pull model manifest: file does not exist\"}")?,
            Some(PullEvent::Error(
                "pull model manifest: file does not exist".into()
            ))
        );
        assert_eq!(parse_line("  ")?, None);
        assert!(parse_line("not json").is_err());
        Ok(())
    }

    #[test]
    fn normalizes_names_like_the_tags_list() {
        assert_eq!(normalize("llama3.2"), "llama3.2:latest");
        assert_eq!(normalize("llama3.2:1b"), "llama3.2:1b");
        assert_eq!(normalize("registry.ollama.ai/library/qwen3:8b"), "qwen3:8b");
        assert_eq!(normalize("hf.co/org/model"), "hf.co/org/model:latest");
        assert_eq!(normalize("localhost:5000/m"), "localhost:5000/m:latest");
    }
}
