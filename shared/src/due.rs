//! The due index: time-bucketed slots the advancer reads in order, so finding due work never
//! lists keys and an idle tick costs a handful of store calls whatever the store holds.
//!
//! An entry for time `t` goes to bucket `t / bucket_ms`, in slot `n` elected by `increment` on
//! the bucket's counter (so `put_new` on the slot is safe, R1). The cursor record says which
//! bucket and how many of its slots were processed; a bucket is read once it ended
//! `skew_ms` ago. Entries are hints: a stale or replayed entry is harmless, because whoever
//! acts on it re-checks the record it names.
//!
//! ## Lanes
//!
//! The index has two lanes, each with its own buckets, slots and cursor ([`Lane`]):
//! operations, and housekeeping (purges of expired nonces, idempotency keys and rate-limit
//! counters). An entry's kind decides its lane. The advancer works the operations lane
//! first, each lane to its own cap, so no amount of signed traffic (each request of the RPC
//! door schedules a nonce purge) delays an operation.

use crate::env::Millis;
use crate::keys;
use crate::records::Store;
use crate::settings::Settings;
use crate::store::StoreError;
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};

/// What a due entry asks for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum DueKind {
    /// Look at an operation (advance it if it is due).
    Operation { org: String, id: String },
    /// Delete these keys (expired RPC nonces, idempotency records, …).
    Purge { keys: Vec<String> },
}

/// A queue of the index: its own buckets, slots and cursor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lane {
    /// Operations to look at ([`DueKind::Operation`]).
    Operations,
    /// Keys to delete ([`DueKind::Purge`]).
    Housekeeping,
}

impl Lane {
    /// Every lane, in the order a tick works them.
    pub const ALL: [Lane; 2] = [Lane::Operations, Lane::Housekeeping];

    /// The start of the lane's keys (`crate::keys::due_*`). The operations lane keeps the
    /// keys of the index from before lanes, so entries written then are still read; purges
    /// among them are carried out there as before.
    pub fn prefix(self) -> &'static str {
        match self {
            Lane::Operations => "due",
            Lane::Housekeeping => "due/housekeeping",
        }
    }

    /// The lane of an entry of kind `kind`.
    pub fn of(kind: &DueKind) -> Lane {
        match kind {
            DueKind::Operation { .. } => Lane::Operations,
            DueKind::Purge { .. } => Lane::Housekeeping,
        }
    }
}

/// One slot of the index.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DueEntry {
    pub at: Timestamp,
    #[serde(flatten)]
    pub kind: DueKind,
}

/// The advancer's position: slots `1..=done` of `bucket` are processed, as is every earlier
/// bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    pub bucket: i64,
    pub done: i64,
}

/// How far back a new cursor starts (covers clock skew between replicas at first use).
pub const CURSOR_LOOKBACK_MS: Millis = 60_000;

/// The bucket of time `ms` (both lanes have buckets of `bucket_ms`).
pub fn bucket_of(settings: &Settings, ms: Millis) -> i64 {
    let width = i64::try_from(settings.bucket_ms.max(1)).unwrap_or(i64::MAX);
    ms.div_euclid(width)
}

/// The last bucket a tick at `now` may read: it ended at least `skew_ms` ago.
pub fn last_readable_bucket(settings: &Settings, now: Millis) -> i64 {
    let skew = i64::try_from(settings.skew_ms).unwrap_or(0);
    bucket_of(settings, now.saturating_sub(skew)) - 1
}

/// Makes sure lane `lane`'s cursor exists (its creator elected with `increment`, R1). One
/// store call when it does: the claim is only read, so a busy index does not keep counting
/// it up.
pub fn ensure_cursor(st: &Store<'_>, settings: &Settings, lane: Lane) -> Result<(), StoreError> {
    let prefix = lane.prefix();
    if st.counter_read(&keys::due_cursor_claim(prefix))? > 0 {
        return Ok(());
    }
    let start = bucket_of(settings, st.now_ms().saturating_sub(CURSOR_LOOKBACK_MS));
    let cursor = Cursor {
        bucket: start,
        done: 0,
    };
    st.create_once(
        &keys::due_cursor_claim(prefix),
        &keys::due_cursor(prefix),
        &cursor,
    )?;
    Ok(())
}

/// Adds an entry due at `at_ms` (at the earliest the current bucket: a past time is "now")
/// to the lane of its kind.
pub fn schedule(
    st: &Store<'_>,
    settings: &Settings,
    at_ms: Millis,
    kind: &DueKind,
) -> Result<(), StoreError> {
    let lane = Lane::of(kind);
    ensure_cursor(st, settings, lane)?;
    let at = at_ms.max(st.now_ms());
    let bucket = bucket_of(settings, at);
    let n = st.counter_next(&keys::due_count(lane.prefix(), bucket))?;
    st.put_new(
        &keys::due_slot(lane.prefix(), bucket, n),
        &DueEntry {
            at: Timestamp(at),
            kind: kind.clone(),
        },
    )?;
    Ok(())
}

/// Schedules the deletion of `keys` at `at_ms` (e.g. a nonce when its window closes).
pub fn schedule_purge(
    st: &Store<'_>,
    settings: &Settings,
    at_ms: Millis,
    keys: Vec<String>,
) -> Result<(), StoreError> {
    schedule(st, settings, at_ms, &DueKind::Purge { keys })
}

#[cfg(test)]
mod tests;
