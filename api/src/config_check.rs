//! The verdict of `openclaw-supervisor check-config`: the OpenClaw image's own
//! `openclaw config validate --json` run on the configuration an instance would get, before
//! auto-update rolls the instance onto that image. Written by the supervisor as the check pod's
//! termination message, read by the operator.

use serde::{Deserialize, Serialize};

/// Bytes of a termination message Kubernetes keeps.
pub const TERMINATION_MESSAGE_LIMIT: usize = 4096;

/// Issues kept in a verdict (the message must fit in [`TERMINATION_MESSAGE_LIMIT`]).
pub const MAX_ISSUES: usize = 8;

/// What the check found.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConfigVerdict {
    /// The image accepts the configuration.
    pub valid: bool,
    /// Why it refuses it, key by key.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub issues: Vec<ConfigIssue>,
    /// What it accepts with a warning (an unset `${VAR}`: the check runs without the
    /// instance's secrets).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<ConfigIssue>,
    /// The check itself failed (the validator did not run or answered something else).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// One key the validator complains about.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConfigIssue {
    /// Dotted path of the key (`gateway.bind`, `<root>`).
    pub path: String,
    /// What is wrong with it.
    pub message: String,
}

impl ConfigVerdict {
    /// The issues on one line: `gateway: Unrecognized key: "bogus"; agents.entries: …`.
    pub fn summary(&self) -> String {
        if let Some(error) = &self.error {
            return error.clone();
        }
        self.issues
            .iter()
            .map(|i| format!("{}: {}", i.path, i.message))
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// The verdict as a termination message: JSON within [`TERMINATION_MESSAGE_LIMIT`] bytes
    /// (issues, then warnings, cut to fit; messages shortened).
    pub fn to_message(&self) -> String {
        let mut verdict = self.clone();
        verdict.issues.truncate(MAX_ISSUES);
        verdict.warnings.truncate(MAX_ISSUES);
        for issue in verdict.issues.iter_mut().chain(verdict.warnings.iter_mut()) {
            shorten(&mut issue.message, 300);
            shorten(&mut issue.path, 200);
        }
        if let Some(error) = verdict.error.as_mut() {
            shorten(error, 2000);
        }
        loop {
            let text = serde_json::to_string(&verdict).unwrap_or_default();
            if text.len() <= TERMINATION_MESSAGE_LIMIT
                || (verdict.warnings.is_empty() && verdict.issues.len() <= 1)
            {
                return text;
            }
            if verdict.warnings.pop().is_none() {
                verdict.issues.pop();
            }
        }
    }
}

fn shorten(text: &mut String, max: usize) {
    if text.len() > max {
        let mut end = max;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push('…');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_verdict_fits_a_termination_message_and_reads_back() {
        let issue = |n: usize| ConfigIssue {
            path: format!("channels.c{n}"),
            message: "x".repeat(1000),
        };
        let verdict = ConfigVerdict {
            valid: false,
            issues: (0..20).map(issue).collect(),
            warnings: (0..20).map(issue).collect(),
            error: None,
        };
        let message = verdict.to_message();
        assert!(
            message.len() <= TERMINATION_MESSAGE_LIMIT,
            "{}",
            message.len()
        );
        let back: ConfigVerdict = serde_json::from_str(&message).unwrap_or_default();
        assert!(!back.valid && !back.issues.is_empty());
        assert!(back.summary().starts_with("channels.c0: xxx"));
    }
}
