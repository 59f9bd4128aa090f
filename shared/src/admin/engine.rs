//! The engine's admin endpoints: `GET /admin/v1/engine` (the due index's shards and lanes)
//! and `POST /admin/v1/engine/tick`, which advances the engine over HTTP on platforms with
//! no cron trigger (SpinKube's containerd-shim-spin, edge platforms whose scheduler sends
//! HTTP requests; README "Deploy").
//!
//! A tick here is [`crate::health::tick`], the cron component's own tick, under the same
//! shard leases: any number of concurrent callers, replicas and cron ticks are safe together
//! (each shard is worked by one tick at a time, every transition is a compare-and-swap that
//! re-checks the state it starts from). A call cut off mid-way (client gone, process killed)
//! loses nothing: what it did not finish stays due, and its leases lapse.

use super::{AdminError, Answer, Config, Response};
use crate::env::Millis;
use crate::records::Store;
use crate::routing::Params;
use serde::Serialize;

#[cfg(test)]
mod tests;

/// The most seconds one tick call may keep ticking: a scheduler firing once a minute asks
/// for 55; past 60 s proxies and platforms commonly cut a request.
pub const MAX_TICK_SECONDS: u32 = 60;

/// Errors a tick answer lists at most (the count is always exact).
const MAX_LISTED_ERRORS: usize = 5;

/// `GET /admin/v1/engine`: the due index's shards (ring, orgs waiting, leases) and lanes.
pub(super) fn view(st: &Store<'_>, _: &Params<'_>, _: &[u8], config: &Config<'_>) -> Answer {
    let view = crate::due::view::view(st, config.settings.due_shards)?;
    Ok(Response::json(200, &view))
}

/// What a tick call did: the sums of its ticks' reports.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TickCall {
    /// Ticks run (each one [`crate::health::tick`]).
    pub ticks: u32,
    /// Operations moved by one transition.
    pub transitions: u64,
    /// Purge entries carried out.
    pub purges: u64,
    /// Due entries with nothing to do (stale, not due yet, or a race another tick won).
    pub skipped: u64,
    /// Shards worked, summed over the ticks (a shard another tick held is not counted).
    pub shards: u64,
    /// Ticks that stopped early on a store error (their entries stay due).
    pub failed_ticks: u32,
    /// The first errors, at most [`MAX_LISTED_ERRORS`].
    pub errors: Vec<String>,
    /// The last tick stopped at its cap or time budget: more work was due.
    pub more: bool,
    /// Wall-clock time the call took, in milliseconds.
    pub elapsed_ms: u64,
}

/// `POST /admin/v1/engine/tick[?seconds=N]`: one tick; with `seconds` (1 to
/// [`MAX_TICK_SECONDS`]), a tick every `poll_ms` until N seconds have passed, so a scheduler
/// that fires once a minute keeps operations moving at the pace the cron trigger gives.
/// 200 with what was done; 503 only when every tick failed (the store is down): a call
/// that made progress is a success, its failed ticks are counted in the body.
pub(super) fn tick(st: &Store<'_>, _: &Params<'_>, _: &[u8], config: &Config<'_>) -> Answer {
    let seconds = seconds(config.query)?;
    let call = drive(st, config, seconds);
    if call.ticks > 0 && call.failed_ticks == call.ticks {
        let first = call.errors.first().cloned().unwrap_or_default();
        return Err(AdminError::Store(crate::store::StoreError::Transient(
            first,
        )));
    }
    Ok(Response::json(200, &call))
}

/// The `seconds` query parameter: absent means one tick.
fn seconds(query: &str) -> Result<Option<u32>, AdminError> {
    let mut found = None;
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        if name != "seconds" {
            return Err(AdminError::invalid(
                name,
                "UNKNOWN_PARAMETER",
                "the tick route takes only `seconds`",
            ));
        }
        if found.is_some() {
            return Err(AdminError::invalid(
                "seconds",
                "DUPLICATE_PARAMETER",
                "give `seconds` once",
            ));
        }
        match value.parse::<u32>() {
            Ok(n) if (1..=MAX_TICK_SECONDS).contains(&n) => found = Some(n),
            _ => {
                return Err(AdminError::invalid(
                    "seconds",
                    "INVALID_SECONDS",
                    format!("a whole number of seconds from 1 to {MAX_TICK_SECONDS}"),
                ));
            }
        }
    }
    Ok(found)
}

/// Runs the ticks of one call. Each tick starts `poll_ms` after the previous one started
/// (waiting with the environment's pause when it is early; a tick that took longer is
/// followed at once); the call ends when `seconds` have passed. The number of ticks is
/// bounded by `seconds · 1000 / poll_ms` (rounded up) whatever the wall clock does, so a
/// clock that stands still (a test host's) still ends the call.
pub fn drive(st: &Store<'_>, config: &Config<'_>, seconds: Option<u32>) -> TickCall {
    let settings = config.settings;
    let poll = settings.poll_ms.max(1);
    let span_ms = u64::from(seconds.unwrap_or(0)) * 1000;
    let max_ticks = span_ms.div_ceil(poll).max(1);
    let start = st.now_ms();
    let since = |t: Millis| u64::try_from(st.now_ms().saturating_sub(t)).unwrap_or(0);
    let mut call = TickCall::default();
    let mut last_start = start;
    for k in 0..max_ticks {
        if k > 0 {
            if since(start) >= span_ms {
                break;
            }
            let waited = since(last_start);
            if waited < poll {
                st.env().pause_ms(poll - waited);
            }
            last_start = st.now_ms();
        }
        let timestamp = u64::try_from(st.now_ms() / 1000).unwrap_or(0);
        let (report, outcome) = crate::health::tick(st, settings, timestamp);
        call.ticks += 1;
        call.transitions += u64::from(report.advanced);
        call.purges += u64::from(report.purged);
        call.skipped += u64::from(report.skipped);
        call.shards += u64::from(report.shards);
        call.more = report.more;
        if let Err(e) = outcome {
            call.failed_ticks += 1;
            if call.errors.len() < MAX_LISTED_ERRORS {
                call.errors.push(e);
            }
        }
    }
    call.elapsed_ms = u64::try_from(st.now_ms().saturating_sub(start)).unwrap_or(0);
    call
}
