//! Why a channel fails, from the gateway's own log file: `/readyz` names failing channels but
//! not the reason, which the gateway logs as an ERROR line of subsystem `channels/<id>`.
//!
//! openclaw 2026.9.6 writes JSON lines to `/tmp/openclaw/openclaw-YYYY-MM-DD.log` (a fixed path
//! that ignores `$TMPDIR`), one object per line: `"0"` is `{"subsystem":"channels/telegram"}`,
//! `"1"` the message, `_meta.logLevelName` the level. With a Telegram token that `getMe`
//! refuses it logs `[default] Telegram bot token unauthorized for account "default" (getMe
//! returned 401 from Telegram; source: config token). Update channels.telegram.botToken, …`.
//! The file is read incrementally, only while a channel fails, and at most [`MAX_READ`] bytes
//! per look.

use std::{
    collections::BTreeMap,
    fs::File,
    io::{Read, Seek, SeekFrom},
    path::{Path, PathBuf},
};

use serde::Deserialize;

/// Where the gateway writes its log files.
pub const LOG_DIR: &str = "/tmp/openclaw";

/// Bytes read from the log at most per look (the newest ones are kept when more was written).
pub const MAX_READ: u64 = 1024 * 1024;

/// Longest reason kept, in characters.
const MAX_REASON: usize = 400;

#[derive(Deserialize)]
struct Line {
    #[serde(rename = "0", default)]
    logger: Option<String>,
    #[serde(rename = "1", default)]
    message: Option<serde_json::Value>,
    #[serde(rename = "_meta", default)]
    meta: Option<Meta>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Meta {
    #[serde(default)]
    log_level_name: Option<String>,
}

#[derive(Deserialize)]
struct Logger {
    subsystem: String,
}

/// The channel and message of an ERROR line of a channel's subsystem.
pub fn channel_error(line: &str) -> Option<(String, String)> {
    let line: Line = serde_json::from_str(line).ok()?;
    let level = line.meta?.log_level_name?;
    if level != "ERROR" && level != "FATAL" {
        return None;
    }
    let logger: Logger = serde_json::from_str(&line.logger?).ok()?;
    let channel = logger.subsystem.strip_prefix("channels/")?.to_owned();
    let message = match line.message? {
        serde_json::Value::String(text) => text,
        other => other.to_string(),
    };
    let message = message
        .trim()
        .strip_prefix("[default] ")
        .unwrap_or(message.trim());
    let message = message.strip_prefix("channel exited: ").unwrap_or(message);
    Some((channel, message.chars().take(MAX_REASON).collect()))
}

/// Follows the newest log file of a directory, keeping the last error of each channel.
#[derive(Debug, Clone)]
pub struct ChannelErrors {
    dir: PathBuf,
    file: Option<PathBuf>,
    offset: u64,
    last: BTreeMap<String, String>,
}

impl ChannelErrors {
    /// Follows the log files in `dir` (normally [`LOG_DIR`]).
    pub fn new(dir: &Path) -> Self {
        Self {
            dir: dir.to_owned(),
            file: None,
            offset: 0,
            last: BTreeMap::new(),
        }
    }

    /// The last error the gateway logged for `channel`, after reading what is new.
    pub fn reason(&mut self, channel: &str) -> Option<&str> {
        self.read_new();
        self.last.get(channel).map(String::as_str)
    }

    fn read_new(&mut self) {
        let Some(newest) = newest_log(&self.dir) else {
            return;
        };
        if self.file.as_ref() != Some(&newest) {
            self.file = Some(newest.clone());
            self.offset = 0;
        }
        let Ok(mut file) = File::open(&newest) else {
            return;
        };
        let Ok(len) = file.metadata().map(|m| m.len()) else {
            return;
        };
        if len < self.offset {
            self.offset = 0; // truncated or replaced
        }
        let start = self.offset.max(len.saturating_sub(MAX_READ));
        if start >= len || file.seek(SeekFrom::Start(start)).is_err() {
            return;
        }
        let mut bytes = Vec::new();
        if file.take(len - start).read_to_end(&mut bytes).is_err() {
            return;
        }
        // Only whole lines; a partial last line is read again next time.
        let Some(end) = bytes.iter().rposition(|b| *b == b'\n') else {
            return;
        };
        self.offset = start + end as u64 + 1;
        for line in bytes[..end].split(|b| *b == b'\n') {
            if let Some((channel, message)) = std::str::from_utf8(line).ok().and_then(channel_error)
            {
                self.last.insert(channel, message);
            }
        }
    }
}

/// The most recently modified `openclaw-*.log` of `dir`.
fn newest_log(dir: &Path) -> Option<PathBuf> {
    std::fs::read_dir(dir)
        .ok()?
        .filter_map(Result::ok)
        .filter(|e| {
            let name = e.file_name();
            let name = name.to_string_lossy();
            name.starts_with("openclaw-") && name.ends_with(".log")
        })
        .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
        .max()
        .map(|(_, path)| path)
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    /// A line as openclaw 2026.9.6 writes it (path metadata shortened).
    const UNAUTHORIZED: &str = r#"{"0":"{\"subsystem\":\"channels/telegram\"}","1":"[default] Telegram bot token unauthorized for account \"default\" (getMe returned 401 from Telegram; source: config token). Update channels.telegram.botToken, channels.telegram.tokenFile, or TELEGRAM_BOT_TOKEN with the current BotFather token.","_meta":{"runtime":"node","logLevelId":5,"logLevelName":"ERROR","name":"{\"subsystem\":\"channels/telegram\"}"},"time":"2026-12-04T01:55:21.227+00:00"}"#;
    const INFO: &str = r#"{"0":"{\"subsystem\":\"channels/telegram\"}","1":"[default] starting provider","_meta":{"logLevelName":"INFO"}}"#;
    const GATEWAY: &str =
        r#"{"0":"{\"subsystem\":\"gateway\"}","1":"boom","_meta":{"logLevelName":"ERROR"}}"#;

    #[test]
    fn reads_channel_errors_only() {
        let (channel, message) = channel_error(UNAUTHORIZED).unwrap_or_default();
        assert_eq!(channel, "telegram");
        assert!(
            message.starts_with(
                "Telegram bot token unauthorized for account \"default\" (getMe returned 401"
            ),
            "{message}"
        );
        assert_eq!(channel_error(INFO), None);
        assert_eq!(channel_error(GATEWAY), None);
        assert_eq!(channel_error("not json"), None);
    }

    #[test]
    fn follows_the_newest_file_incrementally() -> std::io::Result<()> {
        let dir = tempfile::tempdir()?;
        let mut errors = ChannelErrors::new(dir.path());
        assert_eq!(errors.reason("telegram"), None);
        let path = dir.path().join("openclaw-2026-12-04.log");
        let mut file = File::create(&path)?;
        writeln!(file, "{INFO}")?;
        assert_eq!(errors.reason("telegram"), None);
        // A line still being written is not read yet.
        write!(file, "{UNAUTHORIZED}")?;
        assert_eq!(errors.reason("telegram"), None);
        writeln!(file)?;
        assert!(
            errors
                .reason("telegram")
                .is_some_and(|r| r.contains("getMe returned 401"))
        );
        assert_eq!(errors.reason("slack"), None);
        Ok(())
    }
}
