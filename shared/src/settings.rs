//! The timing settings of operations, the due index and the advancer. Their own module, so
//! that `ops` (which schedules due entries) and `due` (which needs the bucket width) both
//! read them without importing each other.

use serde::{Deserialize, Serialize};

/// Durations, timeouts, attempts and backoff. The component fills it from Spin variables
/// ([`Settings::from_vars`]); the admin simulation settings may override parts of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Settings {
    /// How long each step takes.
    pub step_ms: u64,
    /// A step still unfinished this long after it started fails (if it can time out).
    pub step_timeout_ms: u64,
    /// How often a stalled step is looked at again.
    pub poll_ms: u64,
    /// Attempts per step before the operation fails.
    pub max_attempts: u32,
    /// Pause before the first retry; doubles with each further attempt.
    pub backoff_ms: u64,
    /// Width of a due-index bucket.
    pub bucket_ms: u64,
    /// A bucket is read only once it ended this long ago (tolerates replicas' clock skew).
    pub skew_ms: u64,
    /// Due entries processed per tick at most.
    pub tick_cap: u32,
    /// Buckets looked at per tick at most.
    pub max_buckets_per_tick: u32,
}

impl Default for Settings {
    fn default() -> Self {
        // A demo copy (3 steps) finishes in about 3 × (2 s + a tick): well under a minute.
        Settings {
            step_ms: 2_000,
            step_timeout_ms: 60_000,
            poll_ms: 2_000,
            max_attempts: 3,
            backoff_ms: 2_000,
            bucket_ms: 2_000,
            skew_ms: 500,
            tick_cap: 50,
            max_buckets_per_tick: 120,
        }
    }
}

impl Settings {
    /// Reads the Spin variables `step_ms`, `step_timeout_ms`, `poll_ms`, `max_attempts`,
    /// `backoff_ms`, `bucket_ms`, `skew_ms`, `tick_cap` through `var` (absent or empty: the
    /// default). A value that is not a positive integer is an error naming the variable.
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Settings, String> {
        let mut s = Settings::default();
        fn num(var: &impl Fn(&str) -> Option<String>, name: &str) -> Result<Option<u64>, String> {
            match var(name) {
                None => Ok(None),
                Some(v) if v.trim().is_empty() => Ok(None),
                Some(v) => match v.trim().parse::<u64>() {
                    Ok(n) if n > 0 => Ok(Some(n)),
                    _ => Err(format!(
                        "variable {name} must be a positive integer, got {v:?}"
                    )),
                },
            }
        }
        let to_u32 = |n: u64, name: &str| {
            u32::try_from(n).map_err(|_| format!("variable {name} is too large"))
        };
        if let Some(n) = num(&var, "step_ms")? {
            s.step_ms = n;
        }
        if let Some(n) = num(&var, "step_timeout_ms")? {
            s.step_timeout_ms = n;
        }
        if let Some(n) = num(&var, "poll_ms")? {
            s.poll_ms = n;
        }
        if let Some(n) = num(&var, "max_attempts")? {
            s.max_attempts = to_u32(n, "max_attempts")?;
        }
        if let Some(n) = num(&var, "backoff_ms")? {
            s.backoff_ms = n;
        }
        if let Some(n) = num(&var, "bucket_ms")? {
            s.bucket_ms = n;
        }
        if let Some(n) = num(&var, "skew_ms")? {
            s.skew_ms = n;
        }
        if let Some(n) = num(&var, "tick_cap")? {
            s.tick_cap = to_u32(n, "tick_cap")?;
        }
        Ok(s)
    }

    /// The pause before attempt `next_attempt` (2, 3, …): `backoff_ms · 2^(next_attempt-2)`.
    pub fn backoff_before(&self, next_attempt: u32) -> u64 {
        let exp = next_attempt.saturating_sub(2).min(20);
        self.backoff_ms.saturating_mul(1u64 << exp)
    }
}

#[cfg(test)]
mod tests;
