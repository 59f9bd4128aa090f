//! The timing settings of operations, the due index and the advancer, and the doors' per-org
//! rate limits ([`crate::ratelimit`]). Their own module, so that `ops` (which schedules due
//! entries) and `due` (which needs the bucket width) both read them without importing each
//! other.

use serde::{Deserialize, Serialize};

/// Durations, timeouts, attempts and backoff, and the per-org rate limits. The component
/// fills it from Spin variables ([`Settings::from_vars`]); the admin simulation settings may
/// override parts of it (never the rate limits).
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
    /// Due entries one tick processes at most in one shard of the operations index, and in
    /// each cursor lane (legacy operations, housekeeping) (`crate::due`, "Shards"). The
    /// default (1 000) leaves the time budget to end a busy tick.
    pub tick_cap: u32,
    /// How long a tick may work on the operations index before it leaves the rest to the
    /// next tick (a time budget within the cron period; `crate::due`, "A tick").
    pub tick_budget_ms: u64,
    /// How many shards the operations index is spread over (`crate::due`, "Shards"): about
    /// that many replicas can advance operations side by side. Raising it is safe; lowering
    /// it strands what was signalled in the dropped shards (see `crate::due`).
    pub due_shards: u32,
    /// Buckets looked at per tick at most.
    pub max_buckets_per_tick: u32,
    /// Width of a rate-limit window, in seconds ([`crate::ratelimit`]).
    pub rate_window_s: u64,
    /// Requests an org may send through the REST door per window (0: no limit).
    pub rest_rate_limit: u64,
    /// Requests an org may send through the RPC door per window (0: no limit).
    pub rpc_rate_limit: u64,
    /// Image records an org's searched, filtered or sorted listings may read per window,
    /// both doors together (0: no limit; [`crate::ratelimit`], "Scans").
    pub scan_rate_limit: u64,
    /// What one org may hold (`crate::catalog::quota`).
    pub quotas: crate::catalog::quota::Quotas,
}

/// Default of `rate_window_s`: a window of 10 s (one purge entry per org and door per
/// window, [`crate::ratelimit`]).
pub const DEFAULT_RATE_WINDOW_S: u64 = 10;
/// Default of `rest_rate_limit`: 20 000 requests per window, 2 000/s on average. Generous: on
/// the 2-core machine of BENCHMARKS.md one org's fastest REST row reaches about 2 600 req/s
/// for 1.5 s, and the `--spin` rows send about 12 000 in 10 s.
pub const DEFAULT_REST_RATE_LIMIT: u64 = 20_000;
/// Default of `rpc_rate_limit`: 10 000 requests per window, 1 000/s on average (the bench's
/// fastest RPC row, `ListImage`, reaches about 750 req/s).
pub const DEFAULT_RPC_RATE_LIMIT: u64 = 10_000;
/// Default of `scan_rate_limit`: 20 000 records per window, 2 000/s on average: two searches
/// a second of an org at its default image quota, about 3 % of a core on the machine of
/// BENCHMARKS.md, so eight clients searching one org leave another org's p50 within 2x
/// (`bench --isolation`).
pub const DEFAULT_SCAN_RATE_LIMIT: u64 = 20_000;

/// Default of `tick_budget_ms`: 1.5 s of the 2 s cron period, so a tick (and its lease,
/// which outlives the budget by `crate::due::LEASE_MARGIN_MS`) ends before the next one.
pub const DEFAULT_TICK_BUDGET_MS: u64 = 1_500;
/// Default of `due_shards`: 8, so up to eight ticks advance operations side by side (each
/// replica runs two, `spin.toml`); an idle tick costs a handful of store calls per shard, so
/// more shards cost idle calls.
pub const DEFAULT_DUE_SHARDS: u32 = 8;

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
            tick_cap: 1000,
            tick_budget_ms: DEFAULT_TICK_BUDGET_MS,
            due_shards: DEFAULT_DUE_SHARDS,
            max_buckets_per_tick: 120,
            rate_window_s: DEFAULT_RATE_WINDOW_S,
            rest_rate_limit: DEFAULT_REST_RATE_LIMIT,
            rpc_rate_limit: DEFAULT_RPC_RATE_LIMIT,
            scan_rate_limit: DEFAULT_SCAN_RATE_LIMIT,
            quotas: crate::catalog::quota::Quotas::default(),
        }
    }
}

impl Settings {
    /// Reads the Spin variables `step_ms`, `step_timeout_ms`, `poll_ms`, `max_attempts`,
    /// `backoff_ms`, `bucket_ms`, `skew_ms`, `tick_cap`, `tick_budget_ms`, `due_shards`,
    /// `rate_window_s` through `var`
    /// (absent or empty: the default). A value that is not a positive integer is an error
    /// naming the variable. The limits `rest_rate_limit`, `rpc_rate_limit` and
    /// `scan_rate_limit` may also be 0 (no limit).
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Settings, String> {
        let mut s = Settings::default();
        fn parse(
            var: &impl Fn(&str) -> Option<String>,
            name: &str,
            zero_ok: bool,
        ) -> Result<Option<u64>, String> {
            match var(name) {
                None => Ok(None),
                Some(v) if v.trim().is_empty() => Ok(None),
                Some(v) => match v.trim().parse::<u64>() {
                    Ok(n) if n > 0 || zero_ok => Ok(Some(n)),
                    _ if zero_ok => Err(format!(
                        "variable {name} must be a non-negative integer (0: no limit), got {v:?}"
                    )),
                    _ => Err(format!(
                        "variable {name} must be a positive integer, got {v:?}"
                    )),
                },
            }
        }
        fn num(var: &impl Fn(&str) -> Option<String>, name: &str) -> Result<Option<u64>, String> {
            parse(var, name, false)
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
        if let Some(n) = num(&var, "tick_budget_ms")? {
            s.tick_budget_ms = n;
        }
        if let Some(n) = num(&var, "due_shards")? {
            s.due_shards = to_u32(n, "due_shards")?;
        }
        if let Some(n) = num(&var, "rate_window_s")? {
            s.rate_window_s = n;
        }
        if let Some(n) = parse(&var, "rest_rate_limit", true)? {
            s.rest_rate_limit = n;
        }
        if let Some(n) = parse(&var, "rpc_rate_limit", true)? {
            s.rpc_rate_limit = n;
        }
        if let Some(n) = parse(&var, "scan_rate_limit", true)? {
            s.scan_rate_limit = n;
        }
        s.quotas = crate::catalog::quota::Quotas::from_vars(&var)?;
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
