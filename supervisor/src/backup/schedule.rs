//! The backup schedule: a five-field cron expression read in UTC, when it next comes due, and a
//! loop that acts each time it does.

use std::future::Future;

use chrono::{DateTime, SecondsFormat, TimeZone, Utc};
use croner::{Cron, parser::CronParser, parser::Seconds};

/// Why a schedule could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ScheduleError {
    /// The expression does not parse.
    #[error("invalid backup schedule {expression:?}")]
    Parse {
        /// The expression as written.
        expression: String,
        #[source]
        source: croner::errors::CronError,
    },
}

/// A parsed schedule.
#[derive(Debug, Clone)]
pub struct Schedule {
    cron: Cron,
}

impl Schedule {
    /// Parses a five-field cron expression (minute hour day month weekday), UTC.
    pub fn parse(expression: &str) -> Result<Schedule, ScheduleError> {
        CronParser::builder()
            .seconds(Seconds::Disallowed)
            .build()
            .parse(expression)
            .map(|cron| Schedule { cron })
            .map_err(|source| ScheduleError::Parse {
                expression: expression.to_owned(),
                source,
            })
    }

    /// The first time strictly after `after` the schedule comes due, `None` when it never does.
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.cron.find_next_occurrence(&after, false).ok()
    }
}

/// The current time in UTC.
pub fn now() -> DateTime<Utc> {
    Utc::now()
}

/// `time` as RFC 3339 with whole seconds and a `Z`.
pub fn rfc3339(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Unix seconds as a UTC time (the epoch for values chrono cannot represent).
pub fn from_unix(seconds: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(seconds, 0).single().unwrap_or_default()
}

/// Runs `act` each time `expression` comes due, until `shutdown` resolves (also while `act`
/// runs); `announce` sees each next time first. Returns at once for an expression that does not
/// parse (logged as `what` being off).
pub async fn every<F: Future<Output = ()>>(
    expression: &str,
    what: &str,
    shutdown: impl Future<Output = ()>,
    announce: impl Fn(DateTime<Utc>),
    mut act: impl FnMut(DateTime<Utc>) -> F,
) {
    let schedule = match Schedule::parse(expression) {
        Ok(schedule) => schedule,
        Err(error) => {
            tracing::error!(error = %error, "{what} are off");
            return;
        }
    };
    tokio::pin!(shutdown);
    while let Some(next) = schedule.next_after(now()) {
        announce(next);
        let wait = (next - now()).to_std().unwrap_or_default();
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = &mut shutdown => return,
        }
        tokio::select! {
            () = act(next) => {}
            () = &mut shutdown => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap_or_else(|e| panic!("{text}: {e}"))
            .with_timezone(&Utc)
    }

    #[test]
    fn daily_at_three_comes_due_at_three_utc() -> Result<(), ScheduleError> {
        let schedule = Schedule::parse("0 3 * * *")?;
        assert_eq!(
            schedule.next_after(at("2026-11-26T02:59:59Z")),
            Some(at("2026-11-26T03:00:00Z"))
        );
        // Strictly after: a backup started at 03:00:00 does not come due again at once.
        assert_eq!(
            schedule.next_after(at("2026-11-26T03:00:00Z")),
            Some(at("2026-11-27T03:00:00Z"))
        );
        Ok(())
    }

    #[test]
    fn every_fifteen_minutes() -> Result<(), ScheduleError> {
        let schedule = Schedule::parse("*/15 * * * *")?;
        assert_eq!(
            schedule.next_after(at("2026-11-26T10:16:00Z")),
            Some(at("2026-11-26T10:30:00Z"))
        );
        Ok(())
    }

    #[test]
    fn refuses_garbage_and_six_fields() {
        for bad in ["", "every day", "61 * * * *", "0 0 3 * * *"] {
            assert!(Schedule::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn formats_rfc3339_in_utc() {
        assert_eq!(rfc3339(from_unix(1_795_650_123)), "2026-11-25T23:42:03Z");
    }
}
