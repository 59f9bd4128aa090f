//! Cron schedules: Spin's cron trigger takes six-field expressions, seconds first
//! (`*/5 * * * * *`), parsed by the `cron` crate (as the plugin does).
use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Result, anyhow, bail};
use chrono::{DateTime, Utc};

pub use ::cron::Schedule;

/// Parses a six-field expression (a seventh, the year, is accepted like the plugin).
pub fn parse_schedule(expr: &str) -> Result<Schedule> {
    let fields = expr.split_whitespace().count();
    if !(6..=7).contains(&fields) {
        bail!(
            "cron_expression {expr:?} has {fields} fields; Spin's cron trigger wants six, seconds first (e.g. \"*/5 * * * * *\")"
        );
    }
    Schedule::from_str(expr).map_err(|e| anyhow!("invalid cron_expression {expr:?}: {e}"))
}

/// The first fire time strictly after `t`.
pub fn next_after(schedule: &Schedule, t: SystemTime) -> Option<SystemTime> {
    let dt: DateTime<Utc> = t.into();
    let next = schedule.after(&dt).next()?;
    let secs = u64::try_from(next.timestamp()).ok()?;
    Some(
        UNIX_EPOCH
            + Duration::from_secs(secs)
            + Duration::from_nanos(u64::from(next.timestamp_subsec_nanos())),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn six_fields_seconds_first() {
        let s = parse_schedule("*/2 * * * * *").unwrap();
        let t = UNIX_EPOCH + Duration::from_secs(1_000);
        assert_eq!(
            next_after(&s, t),
            Some(UNIX_EPOCH + Duration::from_secs(1_002))
        );
        let t = UNIX_EPOCH + Duration::from_secs(1_001);
        assert_eq!(
            next_after(&s, t),
            Some(UNIX_EPOCH + Duration::from_secs(1_002))
        );
    }

    #[test]
    fn five_fields_are_rejected() {
        let e = parse_schedule("* * * * *").unwrap_err();
        assert!(e.to_string().contains("six"), "{e}");
        assert!(parse_schedule("x * * * * *").is_err());
    }
}
