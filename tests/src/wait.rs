//! Waiting for what a user would watch for, with a deadline and a useful failure message.

use std::{future::Future, time::Duration};

use anyhow::{Result, bail};

/// Polls `check` every 250 ms until it returns `Some`, or fails after `timeout` with the last
/// state `describe` gives.
pub async fn until<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Option<T>>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    let mut last_err = String::new();
    loop {
        match check().await {
            Ok(Some(value)) => return Ok(value),
            Ok(None) => {}
            Err(err) => last_err = format!("{err:#}"),
        }
        if tokio::time::Instant::now() > deadline {
            bail!(
                "timed out after {}s waiting for {what} {last_err}",
                timeout.as_secs()
            );
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
