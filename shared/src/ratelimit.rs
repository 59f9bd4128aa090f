//! Per-org rate limits of the two doors: a fixed window counted in the key-value store.
//!
//! One AccessKey or token could otherwise send any rate of requests, and every signed RPC
//! request also schedules background work (its nonce's purge). So each door counts the
//! requests of each org per window and refuses those beyond its limit: REST with `429`
//! problem+json and `Retry-After`, RPC with the vendor's flow-control refusal
//! (`400 Throttling.User`).
//!
//! Design choices:
//! - **Per org, per door, after authentication.** The org is the one the credential
//!   belongs to, so a request with a forged or unknown credential never spends another
//!   org's budget (it is refused by authentication first). The check is the first store
//!   work after authentication. On the RPC door it comes before the request's nonce is
//!   recorded (`appstream::sign::claim_nonce`): a throttled call records no nonce and
//!   schedules no purge. Its nonce stays unused, which is safe: the call never took
//!   effect, so the same signed call sent again runs at most once.
//! - **A fixed window, one `increment` per request.** Window `w` is `now / rate_window_s`;
//!   each request adds one to [`keys::rate_counter`]`(org, door, w)` and is refused when the
//!   count exceeds the limit. No record is read, compared and swapped (R1, R2) and no key is
//!   listed: one store call, on every backend, whatever the concurrency; the counter is only
//!   touched through `increment` (R3). Refused requests count too (the counter only grows,
//!   which changes nothing once it is over). A sliding window or token bucket would smooth
//!   the edges (a fixed window lets an org send up to twice its limit across a window
//!   boundary) but needs a read-modify-write of a record on every request. Replicas share
//!   the counter, so the limit holds across them; a replica whose clock is off counts a
//!   request near a boundary in the neighbouring window.
//! - **`Retry-After`** is the number of seconds to the window's end, rounded up, at least 1.
//! - **Old counters are purged.** The request that counts 1 (the first of its org, door and
//!   window) schedules the counter's deletion through the due index
//!   ([`due::schedule_purge`]) for the window's end plus one more window, so a replica whose
//!   clock lags by less than a window does not see its count reset. That costs three store
//!   calls once per org, door and window, and one purge entry for the advancer: with the
//!   default window of 10 s at most 0.2 entries a second per busy org, in the housekeeping
//!   lane, which the advancer works to `tick_cap` a tick and never less than 32 a second
//!   (`crate::due`, "A tick over the shards"). A counter counted
//!   again after its purge (a replica lagging by more than a window) counts 1 and schedules
//!   its own purge. If the scheduling fails, that one counter stays behind (a few bytes,
//!   never read again); the request is not refused for it.
//! - **Fail open.** If the counter cannot be incremented (a store error after the store's
//!   usual retries of a transient one), the request goes on: the limit protects the
//!   service, it is not an authorization, and a store that fails this call will most
//!   likely fail the request's own work too, which then answers its `503`. A retried
//!   increment that had in fact landed counts the request twice: it errs towards refusing.
//! - **A limit of 0 is no limit** (and no store call).
//!
//! ## Scans
//!
//! A search, a filter or an order other than the index's reads every image of the org
//! (`crate::catalog::listing`): up to `quota_images` records where a page reads ten. Counted
//! as one request, eight clients of one org searching without pause kept the machine's
//! cores busy and raised another org's p50 sixfold (issue 24). So such a listing also
//! spends a second budget, in records: before reading, it adds the number of images it is
//! about to read to the org's scan counter (`keys::rate_counter(org, "scan", w)`, both
//! doors together), and it is refused (REST `429 SCAN_LIMIT_REACHED`, RPC
//! `Throttling.User`, both with the wait) when the window's budget, `scan_rate_limit`
//! records, was already spent before it. So one listing may overshoot the budget, never
//! start past it, and a listing larger than the whole budget is still served once a window.
//! An image's versions listed by search or sort (at most 256, `MAX_SCANNED_VERSIONS`) spend
//! it too. It costs such a listing one `increment`; the default order costs nothing more.

#[cfg(test)]
mod tests;

use crate::api::Problem;
use crate::due;
use crate::env::Millis;
use crate::keys;
use crate::records::Store;
use crate::settings::Settings;

/// The door a request came through: each has its own limit and counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Door {
    Rest,
    Rpc,
}

impl Door {
    /// The door's segment of the counter key.
    pub fn as_str(self) -> &'static str {
        match self {
            Door::Rest => "rest",
            Door::Rpc => "rpc",
        }
    }

    /// The door's limit per org and window (0: no limit).
    pub fn limit(self, settings: &Settings) -> u64 {
        match self {
            Door::Rest => settings.rest_rate_limit,
            Door::Rpc => settings.rpc_rate_limit,
        }
    }
}

/// What the limiter decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Go on: under the limit, no limit, or the count failed (fail open).
    Pass,
    /// Over the org's limit in this window: retry after this many seconds (at least 1).
    Throttled { retry_after_s: u32 },
}

/// The window of time `now`: its index and its end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub index: i64,
    pub end_ms: Millis,
    pub width_ms: Millis,
}

impl Window {
    pub fn at(settings: &Settings, now: Millis) -> Window {
        let width_ms =
            i64::try_from(settings.rate_window_s.max(1).saturating_mul(1000)).unwrap_or(i64::MAX);
        let index = now.div_euclid(width_ms);
        Window {
            index,
            end_ms: index.saturating_add(1).saturating_mul(width_ms),
            width_ms,
        }
    }

    /// Whole seconds from `now` to the window's end, rounded up, at least 1.
    pub fn retry_after_s(&self, now: Millis) -> u32 {
        let left_ms = self.end_ms.saturating_sub(now).max(0);
        let secs = left_ms.saturating_add(999) / 1000;
        u32::try_from(secs).unwrap_or(u32::MAX).max(1)
    }
}

/// Counts this request of `org` through `door` and decides. Never an error: a store
/// failure passes the request (fail open, see the module's documentation).
pub fn check(st: &Store<'_>, settings: &Settings, door: Door, org: &str) -> Verdict {
    spend(st, settings, door.as_str(), org, door.limit(settings), 1)
}

/// Spends `records` of `org`'s scan budget for a listing about to read that many (module
/// docs, "Scans"); `Throttled` when the budget was spent before it. Fail open, as [`check`].
pub fn charge_scan(st: &Store<'_>, settings: &Settings, org: &str, records: u64) -> Verdict {
    spend(
        st,
        settings,
        "scan",
        org,
        settings.scan_rate_limit,
        records.max(1),
    )
}

/// Adds `amount` to `org`'s counter `budget` of this window; refuses when the counter
/// already held `limit` or more before it (for requests, counted one each, that is a count
/// over the limit).
fn spend(
    st: &Store<'_>,
    settings: &Settings,
    budget: &str,
    org: &str,
    limit: u64,
    amount: u64,
) -> Verdict {
    if limit == 0 {
        return Verdict::Pass;
    }
    let now = st.now_ms();
    let window = Window::at(settings, now);
    let key = keys::rate_counter(org, budget, window.index);
    let amount = i64::try_from(amount).unwrap_or(i64::MAX);
    let before = match st.counter_add(&key, amount) {
        Ok(n) => n.saturating_sub(amount),
        Err(_) => return Verdict::Pass,
    };
    if before <= 0 {
        // The first of this window: the counter's purge. Failing it leaves one small key.
        let purge_at = window.end_ms.saturating_add(window.width_ms);
        let _ = due::schedule_purge(st, settings, purge_at, vec![key]);
    }
    if u64::try_from(before).unwrap_or(0) >= limit {
        Verdict::Throttled {
            retry_after_s: window.retry_after_s(now),
        }
    } else {
        Verdict::Pass
    }
}

/// The REST door's refusal: `429 TOO_MANY_REQUESTS` with `Retry-After`.
pub fn too_many_requests(retry_after_s: u32) -> Problem {
    Problem {
        retry_after: Some(retry_after_s),
        ..Problem::new(
            429,
            "TOO_MANY_REQUESTS",
            format!(
                "the org's request limit for this window is reached; retry in {retry_after_s} s"
            ),
        )
    }
}

/// The REST door's refusal of a scan past the org's budget: `429 SCAN_LIMIT_REACHED` with
/// `Retry-After`, naming the variable and the way that is not limited.
pub fn scan_limit_reached(retry_after_s: u32) -> Problem {
    Problem {
        retry_after: Some(retry_after_s),
        ..Problem::new(
            429,
            "SCAN_LIMIT_REACHED",
            format!(
                "a search, filter or sort reads every image; the org has read its budget of \
                 records for this window that way (scan_rate_limit): retry in {retry_after_s} s, \
                 or page in the default order, which is not limited by it"
            ),
        )
    }
}
