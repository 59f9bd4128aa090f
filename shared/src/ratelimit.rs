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
//! - **A fixed window, counted by sampling.** Window `w` is `now / rate_window_s`. A
//!   request is counted with probability 1/k, by adding k to
//!   [`keys::rate_counter`]`(org, door, w)` ([`sample_unit`]: k = limit / 900, at least 1),
//!   and is refused when the count after it exceeds the limit. So most requests make no
//!   store call for the limit at all: with the default REST limit (20 000) k = 22, one
//!   `increment` in 22 requests; a limit under 1 800 is counted exactly (k = 1). No record
//!   is read, compared and swapped (R1, R2) and no key is listed; the counter is only
//!   touched through `increment` (R3). A sliding window or token bucket would smooth the
//!   edges (a fixed window lets an org send up to twice its limit across a window boundary)
//!   but needs a read-modify-write on every request. Replicas share the counter, so the
//!   limit holds across them; a replica whose clock is off counts a request near a boundary
//!   in the neighbouring window.
//! - **Sampling's error.** After n requests the count is k times a binomial of n draws of
//!   1/k: its mean is n and its standard deviation √(n(k − 1)) < √(n·k). At n = limit L
//!   with k ≤ L/900 that is under L/30, so the org is refused within 10 % of its limit
//!   (three standard deviations: 99.7 % of windows). `sampling_tests` holds it.
//! - **Flags.** The sample that finds the org over its limit marks the credential it came
//!   with, and every credential of the org the door serves (the org record lists them), as
//!   throttled until the window's end (`throttled_until` on the token or AccessKey record,
//!   swapped, never written blind: a deleted credential stays deleted). Authentication reads
//!   that record anyway, so a flagged credential is refused without any store call for the
//!   limit. The flagging costs one read of the org and one swap a credential (at most 33),
//!   once a window for an org that goes over; a lost flag only means that credential's own
//!   next sample refuses it and flags again.
//! - **`Retry-After`** is the number of seconds to the window's end, rounded up, at least 1.
//! - **Old counters are purged.** The sample that counts first (the first of its org, door and
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
//! - **Refused requests** are counted as sampled ones too until the flag lands; after it,
//!   not at all.
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
mod sampling_tests;
#[cfg(test)]
mod tests;

use crate::api::Problem;
use crate::due;
use crate::env::Millis;
use crate::keys;
use crate::records::{Change, Store};
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
        seconds_until(self.end_ms, now)
    }
}

/// Whole seconds from `now` to `end_ms`, rounded up, at least 1 (a `Retry-After`).
fn seconds_until(end_ms: Millis, now: Millis) -> u32 {
    let left_ms = end_ms.saturating_sub(now).max(0);
    let secs = left_ms.saturating_add(999) / 1000;
    u32::try_from(secs).unwrap_or(u32::MAX).max(1)
}

/// A credential record that carries the limiter's flag ("Flags").
trait Flagged: serde::Serialize + serde::de::DeserializeOwned + Clone {
    fn throttled_until(&mut self) -> &mut Option<Millis>;
}

impl Flagged for crate::auth::TokenRecord {
    fn throttled_until(&mut self) -> &mut Option<Millis> {
        &mut self.throttled_until
    }
}

impl Flagged for crate::auth::AccessKeyRecord {
    fn throttled_until(&mut self) -> &mut Option<Millis> {
        &mut self.throttled_until
    }
}

/// Raises the flag on the credential record under `key` to `until` (a swap, never a blind
/// write: a credential deleted meanwhile stays deleted). Best effort.
fn raise_flag<T: Flagged>(st: &Store<'_>, key: &str, until: Millis) {
    let _ = st.update::<T, ()>(key, |r| {
        let mut r = r.clone();
        let flag = r.throttled_until();
        if flag.is_some_and(|c| c >= until) {
            return Change::Unchanged;
        }
        *flag = Some(until);
        Change::Write(r)
    });
}

/// Who sends a request, as authentication read it: the org, the key of the credential
/// record it read, and the flag that record carries.
#[derive(Debug, Clone, PartialEq)]
pub struct Caller {
    pub org: String,
    /// The credential's record (`keys::token` or `keys::access_key`).
    pub credential: String,
    /// The record says its org is over its limit until then ("Flags").
    pub throttled_until: Option<Millis>,
}

/// The sampling unit for `limit`: a request is counted with probability 1/k, as k. The
/// largest k whose count keeps three standard deviations within 10 % of the limit when the
/// limit is reached (module docs, "Sampling"): at least 1 (exact counting).
pub fn sample_unit(limit: u64) -> u64 {
    (limit / 900).max(1)
}

/// Decides on this request of `caller` through `door`. Never an error: a store failure
/// passes the request (fail open, see the module's documentation).
pub fn check(st: &Store<'_>, settings: &Settings, door: Door, caller: &Caller) -> Verdict {
    let limit = door.limit(settings);
    if limit == 0 {
        return Verdict::Pass;
    }
    let now = st.now_ms();
    if let Some(until) = caller.throttled_until.filter(|u| *u > now) {
        // Flagged by the request that found the org over its limit: no store call.
        return Verdict::Throttled {
            retry_after_s: seconds_until(until, now),
        };
    }
    let k = sample_unit(limit);
    if k > 1 && !st.env().random_u64().is_multiple_of(k) {
        return Verdict::Pass;
    }
    // The estimate of the window's requests, this one included, is the count after it.
    match add(st, settings, door.as_str(), &caller.org, k) {
        Some((_, after)) if after > limit => {
            // Past the limit, and this credential did not know it: tell every credential
            // of the org, so its next requests are refused without a store call.
            flag(st, door, caller, Window::at(settings, now).end_ms);
            throttled(settings, now)
        }
        _ => Verdict::Pass,
    }
}

/// Marks `caller`'s credential and every credential of its org the door serves as over the
/// limit until `until` (best effort: an unflagged credential is still refused by its own
/// sampled requests, and flags it then). One read of the org's record, then one swap per
/// credential whose flag changes: at most 1 + 2 × (1 + 32) calls, once a window per org.
fn flag(st: &Store<'_>, door: Door, caller: &Caller, until: Millis) {
    let mut keys = vec![caller.credential.clone()];
    if let Ok(Some(org)) = st.get::<crate::admin::Org>(&keys::org(&caller.org)) {
        match door {
            Door::Rest => keys.extend(org.value.tokens.iter().map(|t| keys::token(&t.hash))),
            Door::Rpc => keys.extend(
                org.value
                    .access_keys
                    .iter()
                    .map(|a| keys::access_key(&a.id)),
            ),
        }
    }
    keys.sort();
    keys.dedup();
    for key in keys {
        match door {
            Door::Rest => raise_flag::<crate::auth::TokenRecord>(st, &key, until),
            Door::Rpc => raise_flag::<crate::auth::AccessKeyRecord>(st, &key, until),
        }
    }
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

/// Adds `amount` to `org`'s counter `budget` of this window and returns what it held
/// before and after (`None`: the count failed, so the caller passes: fail open). The first
/// of a window schedules the counter's purge.
fn add(
    st: &Store<'_>,
    settings: &Settings,
    budget: &str,
    org: &str,
    amount: u64,
) -> Option<(u64, u64)> {
    let window = Window::at(settings, st.now_ms());
    let key = keys::rate_counter(org, budget, window.index);
    let amount = i64::try_from(amount).unwrap_or(i64::MAX);
    let after = st.counter_add(&key, amount).ok()?;
    let before = after.saturating_sub(amount);
    if before <= 0 {
        // The first of this window: the counter's purge. Failing it leaves one small key.
        let purge_at = window.end_ms.saturating_add(window.width_ms);
        let _ = due::schedule_purge(st, settings, purge_at, vec![key]);
    }
    let n = |v: i64| u64::try_from(v).unwrap_or(0);
    Some((n(before), n(after)))
}

/// Spends `amount` of `org`'s budget `budget` (`limit` a window): refused when the budget
/// was already spent before it.
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
    match add(st, settings, budget, org, amount) {
        Some((before, _)) if before >= limit => throttled(settings, st.now_ms()),
        _ => Verdict::Pass,
    }
}

/// Refused until the end of the window of `now`.
fn throttled(settings: &Settings, now: Millis) -> Verdict {
    Verdict::Throttled {
        retry_after_s: Window::at(settings, now).retry_after_s(now),
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
